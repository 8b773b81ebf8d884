//! The prices of past epochs with the bands the clamps allowed them (the explorer's price
//! charts and `GET /v1/prices/history`).

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

use super::rules::{price_band, rate_band};
use super::store::EpochPrices;
use crate::error::Error;
use crate::money::Wal;

/// The most epochs one history page holds.
pub const HISTORY_EPOCHS_MAX: i64 = 500;

/// A closed interval the clamp allowed a value to take, from the previous epoch's value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Band<T> {
    /// The lowest value allowed.
    pub low: T,
    /// The highest value allowed.
    pub high: T,
}

/// One epoch's rate and prices, and the bands the ±limits allowed them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PricePoint {
    /// The epoch the prices are in force in.
    pub epoch: i64,
    /// The rate and prices, as `GET /v1/epochs/{epoch}` shows them (flattened here).
    #[serde(flatten)]
    pub prices: EpochPrices,
    /// The rates the clamp allowed (±`rate_change_max` of the previous epoch's); null for
    /// epoch 0.
    #[schema(value_type = Option<Object>)]
    pub wal_usd_band: Option<Band<Decimal>>,
    /// The storage prices the clamp allowed (±`price_change_max` of the last price before
    /// this epoch); null when there was none.
    #[schema(value_type = Option<Object>)]
    pub storage_price_band: Option<Band<Wal>>,
    /// The write prices the clamp allowed, likewise.
    #[schema(value_type = Option<Object>)]
    pub write_price_band: Option<Band<Wal>>,
}

/// The value a parameter had in `epoch`, from its changes `(epoch, value)` in epoch order.
pub fn in_force_at(changes: &[(i64, Decimal)], epoch: i64) -> Option<Decimal> {
    changes
        .iter()
        .take_while(|(from, _)| *from <= epoch)
        .last()
        .map(|(_, value)| *value)
}

/// The epochs `from..from + limit` that have begun, oldest first, with their bands:
/// each band from the previous epoch's value and the limit in force in the epoch itself
/// (the change into an epoch sets its prices after applying the parameters it passed).
pub async fn history(pool: &PgPool, from: i64, limit: i64) -> Result<Vec<PricePoint>, Error> {
    let rate_limits = limit_changes(pool, "rate_change_max").await?;
    let price_limits = limit_changes(pool, "price_change_max").await?;
    let rows = sqlx::query!(
        r#"SELECT p.epoch, p.wal_usd, p.observations, p.storage_usd, p.write_usd,
                  p.storage_price, p.write_price,
                  (SELECT q.wal_usd FROM epoch_prices q WHERE q.epoch = p.epoch - 1) AS previous_rate,
                  l.storage_price AS "last_storage?", l.write_price AS "last_write?"
           FROM epoch_prices p
           LEFT JOIN LATERAL (
               SELECT q.storage_price, q.write_price FROM epoch_prices q
               WHERE q.epoch < p.epoch AND q.storage_price IS NOT NULL
               ORDER BY q.epoch DESC LIMIT 1) l ON true
           WHERE p.epoch >= $1 ORDER BY p.epoch LIMIT $2"#,
        from,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let rate_limit = in_force_at(&rate_limits, r.epoch);
            let price_limit = in_force_at(&price_limits, r.epoch);
            let wal_band = |last: Option<Decimal>| {
                Some(band(price_band(
                    Wal::from_decimal_unchecked(last?),
                    price_limit?,
                )))
            };
            let prices = EpochPrices::from_columns(
                r.wal_usd,
                r.observations,
                [r.storage_usd, r.write_usd],
                [r.storage_price, r.write_price],
            );
            PricePoint {
                epoch: r.epoch,
                prices,
                wal_usd_band: r.previous_rate.zip(rate_limit).map(|(previous, max)| {
                    let (low, high) = rate_band(previous, max);
                    Band {
                        low: low.normalize(),
                        high: high.normalize(),
                    }
                }),
                storage_price_band: wal_band(r.last_storage),
                write_price_band: wal_band(r.last_write),
            }
        })
        .collect())
}

fn band<T>((low, high): (T, T)) -> Band<T> {
    Band { low, high }
}

/// Every change of the decimal parameter `name`, in epoch order (genesis included).
async fn limit_changes(pool: &PgPool, name: &str) -> Result<Vec<(i64, Decimal)>, Error> {
    let rows = sqlx::query!(
        "SELECT epoch, value FROM param_changes WHERE name = $1 ORDER BY epoch",
        name
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let value = r.value.parse::<Decimal>().map_err(Error::internal)?;
            Ok((r.epoch, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The value in force is the last change at or before the epoch, none before the first.
        #[test]
        fn in_force_is_the_last_change_not_after(
            starts in proptest::collection::btree_set(0i64..50, 1..6),
            epoch in 0i64..60,
        ) {
            let changes: Vec<(i64, Decimal)> =
                starts.iter().map(|&e| (e, Decimal::from(e))).collect();
            let expected = starts.iter().filter(|&&e| e <= epoch).max().map(|&e| Decimal::from(e));
            prop_assert_eq!(in_force_at(&changes, epoch), expected);
        }
    }
}
