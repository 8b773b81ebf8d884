//! The governable parameters in force (ECONOMICS.md; defaults in the staking
//! migration). Stored as text in the `params` table so that governance can change them;
//! read and checked here into one typed struct.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::Error;
use crate::money::Wal;

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Params {
    /// The least WAL one stake may hold.
    pub stake_min: Wal,
    /// The least active stake a node needs to join the committee.
    pub node_stake_min: Wal,
    pub committee_size_max: u32,
    /// Share of each epoch's reward pool that is burned.
    #[schema(value_type = String)]
    pub reward_burn_rate: Decimal,
    /// Subsidy drawn from the subsidy pool per epoch, as a fraction of the reward slot.
    #[schema(value_type = String)]
    pub subsidy_rate: Decimal,
    /// The most epochs a contract or subsidy may cover.
    pub epochs_ahead_max: u32,
    #[schema(value_type = String)]
    pub rate_change_max: Decimal,
    #[schema(value_type = String)]
    pub price_change_max: Decimal,
    /// Challenges the checker draws per committee node and epoch.
    pub audit_challenges_per_epoch: u32,
    /// Fewest challenges in an epoch for a node to be slashed.
    pub audit_challenges_min: u32,
    #[schema(value_type = String)]
    pub slash_threshold: Decimal,
    #[schema(value_type = String)]
    pub slash_rate: Decimal,
    #[schema(value_type = String)]
    pub jail_threshold: Decimal,
    pub jail_epochs: u32,
}

fn bad(name: &str, value: &str) -> Error {
    Error::internal(format!("parameter {name} has the invalid value {value:?}"))
}

fn wal(name: &str, value: &str) -> Result<Wal, Error> {
    Wal::parse(value).map_err(|_| bad(name, value))
}

fn count(name: &str, value: &str) -> Result<u32, Error> {
    value.parse().map_err(|_| bad(name, value))
}

fn rate(name: &str, value: &str) -> Result<Decimal, Error> {
    crate::money::rates::parse_rate(value).map_err(|_| bad(name, value))
}

impl Params {
    /// Builds the struct from (name, value) rows; every parameter must be present.
    pub fn from_rows(rows: &[(String, String)]) -> Result<Params, Error> {
        let get = |name: &str| -> Result<&str, Error> {
            rows.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| Error::internal(format!("parameter {name} is missing")))
        };
        let params = Params {
            stake_min: wal("stake_min", get("stake_min")?)?,
            node_stake_min: wal("node_stake_min", get("node_stake_min")?)?,
            committee_size_max: count("committee_size_max", get("committee_size_max")?)?,
            reward_burn_rate: rate("reward_burn_rate", get("reward_burn_rate")?)?,
            subsidy_rate: rate("subsidy_rate", get("subsidy_rate")?)?,
            epochs_ahead_max: count("epochs_ahead_max", get("epochs_ahead_max")?)?,
            rate_change_max: rate("rate_change_max", get("rate_change_max")?)?,
            price_change_max: rate("price_change_max", get("price_change_max")?)?,
            audit_challenges_per_epoch: count(
                "audit_challenges_per_epoch",
                get("audit_challenges_per_epoch")?,
            )?,
            audit_challenges_min: count("audit_challenges_min", get("audit_challenges_min")?)?,
            slash_threshold: rate("slash_threshold", get("slash_threshold")?)?,
            slash_rate: rate("slash_rate", get("slash_rate")?)?,
            jail_threshold: rate("jail_threshold", get("jail_threshold")?)?,
            jail_epochs: count("jail_epochs", get("jail_epochs")?)?,
        };
        if params.committee_size_max == 0 || params.epochs_ahead_max == 0 {
            return Err(Error::internal(
                "committee_size_max and epochs_ahead_max must be positive",
            ));
        }
        Ok(params)
    }
}

/// The parameters in force now.
pub async fn load(conn: &mut PgConnection) -> Result<Params, Error> {
    let rows = sqlx::query_as!(NameValue, "SELECT name, value FROM params ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    let rows: Vec<(String, String)> = rows.into_iter().map(|r| (r.name, r.value)).collect();
    Params::from_rows(&rows)
}

struct NameValue {
    name: String,
    value: String,
}

#[cfg(test)]
pub(crate) mod tests {
    /// The defaults as the migrations insert them: every `('name', 'value')` pair in
    /// the statements that seed `params`.
    pub fn default_rows() -> Vec<(String, String)> {
        let seeds = [
            include_str!("../migrations/20261130000002_staking.sql"),
            include_str!("../migrations/20261201000001_audits.sql"),
        ];
        let mut rows = Vec::new();
        for sql in seeds {
            let Some(start) = sql.find("INSERT INTO params") else {
                continue;
            };
            let statement = &sql[start..start + sql[start..].find(';').unwrap()];
            for pair in statement.split('(').skip(2) {
                let fields: Vec<&str> = pair.split('\'').collect();
                rows.push((fields[1].to_owned(), fields[3].to_owned()));
            }
        }
        rows
    }

    #[test]
    fn the_migrations_seed_every_parameter() {
        let params = super::Params::from_rows(&default_rows()).unwrap();
        assert_eq!(params.audit_challenges_per_epoch, 66);
        assert_eq!(params.jail_epochs, 2);
    }
}
