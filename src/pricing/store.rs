//! Prices in the database: oracle observations, the rate and prices of each epoch
//! (set by the epoch change), and quotes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::rules::{cost, next_rate, storage_units, usd_quantile, wal_price};
use crate::encoding::{Encoding, Layout};
use crate::error::Error;
use crate::money::Wal;
use crate::params::Params;

/// The rate and prices in force in an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochPrices {
    /// The WAL/USD reference rate.
    #[schema(value_type = String)]
    pub wal_usd: Decimal,
    /// Oracle observations the rate was taken from (made in the previous epoch).
    pub observations: i32,
    /// The committee's 2/3 quantile votes, USD per unit per epoch and per unit once.
    #[schema(value_type = Option<String>)]
    pub storage_usd: Option<Decimal>,
    /// The write-price quantile vote in USD per storage unit, once; null without a committee.
    #[schema(value_type = Option<String>)]
    pub write_usd: Option<Decimal>,
    /// WAL per storage unit (1 MiB encoded) per epoch; null without a committee.
    pub storage_price: Option<Wal>,
    /// WAL per storage unit, once.
    pub write_price: Option<Wal>,
}

/// The rate and prices of `epoch`, `None` if that epoch has not begun (no row set yet).
pub async fn prices(conn: &mut PgConnection, epoch: i64) -> Result<Option<EpochPrices>, Error> {
    let row = sqlx::query!(
        r#"SELECT wal_usd, observations, storage_usd, write_usd, storage_price, write_price
           FROM epoch_prices WHERE epoch = $1"#,
        epoch
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| {
        EpochPrices::from_columns(
            r.wal_usd,
            r.observations,
            [r.storage_usd, r.write_usd],
            [r.storage_price, r.write_price],
        )
    }))
}

impl EpochPrices {
    /// The prices from `epoch_prices`' columns: the rate, the observations, the USD
    /// votes `[storage, write]` and the WAL prices `[storage, write]`, in their
    /// shortest form (as the API writes them).
    pub fn from_columns(
        wal_usd: Decimal,
        observations: i32,
        [storage_usd, write_usd]: [Option<Decimal>; 2],
        [storage_price, write_price]: [Option<Decimal>; 2],
    ) -> EpochPrices {
        EpochPrices {
            wal_usd: wal_usd.normalize(),
            observations,
            storage_usd: storage_usd.map(|d| d.normalize()),
            write_usd: write_usd.map(|d| d.normalize()),
            storage_price: storage_price.map(Wal::from_decimal_unchecked),
            write_price: write_price.map(Wal::from_decimal_unchecked),
        }
    }
}

/// Genesis: epoch 0's rate from the genesis config, no prices (no committee yet).
pub async fn set_genesis(conn: &mut PgConnection, wal_usd: Decimal) -> Result<(), Error> {
    sqlx::query!(
        "INSERT INTO epoch_prices (epoch, wal_usd, observations) VALUES (0, $1, 0)",
        wal_usd
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Step 5 of the change into `next`: the rate from the observations of `next - 1`,
/// the committee's quantile votes, and the WAL prices clamped against the last ones.
/// Runs after the committee of `next` is chosen.
pub async fn set_next(
    conn: &mut PgConnection,
    next: i64,
    n_shards: u32,
    params: &Params,
) -> Result<EpochPrices, Error> {
    let ended = next - 1;
    let previous = prices(conn, ended).await?;
    let genesis_rate = sqlx::query_scalar!("SELECT genesis_wal_usd FROM network")
        .fetch_one(&mut *conn)
        .await?;
    let previous_rate = previous.as_ref().map_or(genesis_rate, |p| p.wal_usd);
    let observations = sqlx::query_scalar!(
        "SELECT wal_usd FROM oracle_observations WHERE epoch = $1",
        ended
    )
    .fetch_all(&mut *conn)
    .await?;
    let rate = next_rate(previous_rate, &observations, params.rate_change_max);
    let votes = sqlx::query!(
        r#"SELECT n.storage_price_vote, n.write_price_vote, cardinality(c.shards) AS "shards!"
           FROM committee_members c JOIN nodes n ON n.id = c.node_id WHERE c.epoch = $1"#,
        next
    )
    .fetch_all(&mut *conn)
    .await?;
    let storage_votes: Vec<(Decimal, u32)> = votes
        .iter()
        .map(|v| (v.storage_price_vote, v.shards as u32))
        .collect();
    let write_votes: Vec<(Decimal, u32)> = votes
        .iter()
        .map(|v| (v.write_price_vote, v.shards as u32))
        .collect();
    let storage_usd = usd_quantile(&storage_votes, n_shards);
    let write_usd = usd_quantile(&write_votes, n_shards);
    // The last prices in force, however long ago (an epoch without a committee has none).
    let last = sqlx::query!(
        r#"SELECT storage_price AS "storage!", write_price AS "write!" FROM epoch_prices
           WHERE epoch <= $1 AND storage_price IS NOT NULL ORDER BY epoch DESC LIMIT 1"#,
        ended
    )
    .fetch_optional(&mut *conn)
    .await?;
    let last_storage = last
        .as_ref()
        .map(|l| Wal::from_decimal_unchecked(l.storage));
    let last_write = last.as_ref().map(|l| Wal::from_decimal_unchecked(l.write));
    let max = params.price_change_max;
    let storage_price = storage_usd.map(|usd| wal_price(usd, rate, last_storage, max));
    let write_price = write_usd.map(|usd| wal_price(usd, rate, last_write, max));
    sqlx::query!(
        r#"INSERT INTO epoch_prices (epoch, wal_usd, observations, storage_usd, write_usd,
                                     storage_price, write_price)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        next,
        rate,
        i32::try_from(observations.len()).map_err(Error::internal)?,
        storage_usd,
        write_usd,
        storage_price.map(Wal::as_decimal),
        write_price.map(Wal::as_decimal)
    )
    .execute(&mut *conn)
    .await?;
    prices(conn, next)
        .await?
        .ok_or_else(|| Error::internal("the prices just set vanished"))
}

/// The body of `POST /v1/oracle/prices`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// USD per WAL, a positive decimal string.
    pub wal_usd: String,
    /// When the price was observed (RFC 3339); not in the future, not before the
    /// current epoch began.
    pub observed_at: DateTime<Utc>,
}

/// An oracle observation as recorded, the answer to `POST /v1/oracle/prices`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedObservation {
    /// The observation's id, an opaque string.
    pub id: String,
    /// The epoch it was recorded in (the current one); it feeds the rate of the next epoch.
    pub epoch: i64,
    /// USD per WAL, as parsed from the request.
    #[schema(value_type = String)]
    pub wal_usd: Decimal,
    /// When the price was observed, as the oracle sent it (RFC 3339).
    pub observed_at: DateTime<Utc>,
}

/// Tolerated clock skew of `observed_at` into the future.
const OBSERVATION_FUTURE_SECS: i64 = 300;

/// Records an observation in the locked (current) epoch.
pub async fn record(
    conn: &mut PgConnection,
    lock: &crate::ledger::epochs::EpochLock,
    observation: &Observation,
) -> Result<RecordedObservation, Error> {
    let epoch = lock.epoch();
    let wal_usd = crate::money::rates::parse_usd(&observation.wal_usd)
        .map_err(|e| Error::InvalidArgument(format!("wal_usd: {e}")))?;
    let bounds = crate::ledger::epochs::epoch(conn, epoch)
        .await?
        .ok_or_else(|| Error::internal("the current epoch vanished"))?;
    let now = Utc::now();
    if observation.observed_at > now + chrono::Duration::seconds(OBSERVATION_FUTURE_SECS) {
        return Err(Error::InvalidArgument(format!(
            "observed_at {} is in the future",
            observation.observed_at
        )));
    }
    if observation.observed_at < bounds.started_at {
        return Err(Error::InvalidArgument(format!(
            "observed_at {} is before the current epoch {epoch} began ({}); only fresh observations count",
            observation.observed_at, bounds.started_at
        )));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO oracle_observations (epoch, wal_usd, observed_at) VALUES ($1, $2, $3) RETURNING id",
        epoch,
        wal_usd,
        observation.observed_at
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(RecordedObservation {
        id: id.to_string(),
        epoch,
        wal_usd,
        observed_at: observation.observed_at,
    })
}

/// `GET /v1/price`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    /// The blob's size in bytes, as asked (at least 1).
    pub size: u64,
    /// Bytes of all slivers together (sliver length times `n_shards`): what storage is paid for.
    pub encoded_size: u64,
    /// Storage units paid for: the encoded size in MiB (2^20 bytes), rounded up.
    pub storage_units: u64,
    /// Epochs bought, the current one included (1..=`epochs_ahead_max`).
    pub epochs: u32,
    /// WAL per storage unit per epoch in force in `epoch`.
    pub price_per_unit_epoch: Wal,
    /// WAL per storage unit, paid once, in force in `epoch`.
    pub write_price_per_unit: Wal,
    /// The storage part: `storage_units * price_per_unit_epoch * epochs`, in WAL.
    pub storage_cost: Wal,
    /// The write part: `storage_units * write_price_per_unit`, in WAL.
    pub write_cost: Wal,
    /// What the contract costs: `storage_cost + write_cost`, in WAL.
    pub total: Wal,
    /// The epoch whose prices these are; the quote holds until its end.
    pub epoch: i64,
    /// The last epoch in which this quote's prices apply (the quoting epoch itself).
    pub valid_until_epoch: i64,
}

/// A quote at the prices of `epoch` (the current one).
pub async fn quote(
    conn: &mut PgConnection,
    size: u64,
    encoding: Encoding,
    epochs: u32,
    n_shards: u32,
    epoch: i64,
    params: &Params,
) -> Result<Quote, Error> {
    let in_force = prices(conn, epoch).await?;
    quote_at(
        size,
        encoding,
        epochs,
        n_shards,
        epoch,
        in_force.as_ref(),
        params,
    )
}

/// The quote at the prices `in_force` in `epoch` (as `prices` read them): the pure rule
/// behind `quote`, for callers that read the prices once for many quotes.
pub fn quote_at(
    size: u64,
    encoding: Encoding,
    epochs: u32,
    n_shards: u32,
    epoch: i64,
    in_force: Option<&EpochPrices>,
    params: &Params,
) -> Result<Quote, Error> {
    if size == 0 {
        return Err(Error::InvalidArgument(
            "size must be at least 1 byte".into(),
        ));
    }
    if !(1..=params.epochs_ahead_max).contains(&epochs) {
        return Err(Error::InvalidArgument(format!(
            "epochs must be 1..={} (the current epoch counts), not {epochs}",
            params.epochs_ahead_max
        )));
    }
    let layout = Layout::with_encoding(size, n_shards, encoding)
        .map_err(|e| Error::InvalidArgument(format!("size: {e}")))?;
    let (Some(price), Some(write)) = (
        in_force.and_then(|p| p.storage_price),
        in_force.and_then(|p| p.write_price),
    ) else {
        return Err(Error::Unavailable(format!(
            "epoch {epoch} has no storage price: the network has no committee yet"
        )));
    };
    let units = storage_units(layout.encoded_size());
    let (storage_cost, write_cost) = cost(units, epochs, price, write)
        .ok_or_else(|| Error::InvalidArgument("the cost overflows; store less".into()))?;
    let total = storage_cost
        .checked_add(write_cost)
        .ok_or_else(|| Error::InvalidArgument("the cost overflows; store less".into()))?;
    Ok(Quote {
        size,
        encoded_size: layout.encoded_size(),
        storage_units: units,
        epochs,
        price_per_unit_epoch: price,
        write_price_per_unit: write,
        storage_cost,
        write_cost,
        total,
        epoch,
        valid_until_epoch: epoch,
    })
}
