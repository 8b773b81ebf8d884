//! The governable parameters (ECONOMICS.md, "Governance"): one definition of each with
//! its bounds (`definitions`), the values in force (table `params`) and every value
//! each took, from the epoch it came into force, with the proposal that set it (table
//! `param_changes`), so that the parameters of any past epoch can be read back.

mod definitions;

use std::collections::BTreeMap;

use sqlx::PgConnection;

pub use definitions::{check_consistent, not_governable, Definition, Kind, DEFINITIONS};

use crate::error::Error;

/// The parameters in force (a wire type: the ledger and its clients share it).
pub use crate::wire::{ParamSetBy, Params, ParamsInForce};

impl Params {
    /// Builds the struct from stored (name, value) rows; every parameter must be
    /// present, within its bounds, and the set consistent.
    pub fn from_rows(rows: &[(String, String)]) -> Result<Params, Error> {
        let params = Params::from_texts(|name| {
            rows.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
        .map_err(|e| Error::internal(format!("stored parameters: {e}")))?;
        check_consistent(&params)
            .map_err(|e| Error::internal(format!("stored parameters: {e}")))?;
        Ok(params)
    }
}

/// The parameters in force now.
pub async fn load(conn: &mut PgConnection) -> Result<Params, Error> {
    let rows = sqlx::query!("SELECT name, value FROM params ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    let rows: Vec<(String, String)> = rows.into_iter().map(|r| (r.name, r.value)).collect();
    Params::from_rows(&rows)
}

/// The parameters in force in `epoch` (at most `current`, the current epoch), each with
/// the epoch and proposal that last set it: O(parameters x their changes). The current
/// epoch's values are `load`'s, the very ones the ledger applies.
pub async fn at_epoch(
    conn: &mut PgConnection,
    epoch: i64,
    current: i64,
) -> Result<ParamsInForce, Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (name) name, epoch, value, proposal_id
           FROM param_changes WHERE epoch <= $1 ORDER BY name, epoch DESC"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    let params = if epoch >= current {
        load(conn).await?
    } else {
        let values: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.name.clone(), r.value.clone()))
            .collect();
        Params::from_rows(&values)?
    };
    let set_by: BTreeMap<String, ParamSetBy> = rows
        .into_iter()
        .map(|r| {
            let by = ParamSetBy {
                epoch: r.epoch,
                proposal_id: r.proposal_id.map(|id| id.to_string()),
            };
            (r.name, by)
        })
        .collect();
    Ok(ParamsInForce {
        epoch,
        params,
        set_by,
    })
}

/// Puts `params` in force from epoch `from_epoch`, recording each of `names` as set by
/// `proposal_id` (the epoch change that executes a passed proposal; a later proposal of
/// the same change that sets the same parameter overwrites the record).
pub async fn apply(
    conn: &mut PgConnection,
    params: &Params,
    names: &[String],
    from_epoch: i64,
    proposal_id: i64,
) -> Result<(), Error> {
    let values = names
        .iter()
        .map(|name| {
            params
                .text_of(name)
                .ok_or_else(|| Error::internal(not_governable(name)))
        })
        .collect::<Result<Vec<String>, Error>>()?;
    sqlx::query!(
        r#"UPDATE params p SET value = u.value
           FROM unnest($1::text[], $2::text[]) AS u(name, value) WHERE p.name = u.name"#,
        names,
        &values
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO param_changes (name, epoch, value, proposal_id)
           SELECT u.name, $3, u.value, $4 FROM unnest($1::text[], $2::text[]) AS u(name, value)
           ON CONFLICT (name, epoch) DO UPDATE
           SET value = excluded.value, proposal_id = excluded.proposal_id"#,
        names,
        &values,
        from_epoch,
        proposal_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::Params;

    /// The defaults as the migrations insert them: every `('name', 'value')` pair in
    /// the statements that seed `params`.
    pub fn default_rows() -> Vec<(String, String)> {
        let seeds = [
            include_str!("../../migrations/20261130000002_staking.sql"),
            include_str!("../../migrations/20261201000001_audits.sql"),
            include_str!("../../migrations/20261203000001_governance.sql"),
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

    /// The default parameters.
    pub fn defaults() -> Params {
        Params::from_rows(&default_rows()).unwrap()
    }

    #[test]
    fn the_migrations_seed_every_parameter() {
        let params = defaults();
        assert_eq!(params.audit_challenges_per_epoch, 66);
        assert_eq!(params.jail_epochs, 2);
        assert_eq!(params.proposals_open_max, 20);
        assert_eq!(params.gov_quorum.to_string(), "0.334");
    }
}
