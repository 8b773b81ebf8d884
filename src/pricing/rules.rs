//! The stable price (ECONOMICS.md, "Storage price") as pure functions: the
//! shard-weighted 2/3 quantile of the committee's dollar votes, the oracle's WAL/USD
//! rate as a clamped median, the WAL price of an epoch (rounded up to the FROST and
//! clamped to ±`price_change_max` of the previous epoch's), and the cost of storage.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::{Wal, WAL_DECIMALS};

/// A storage unit: 1 MiB of encoded size, rounded up.
pub const STORAGE_UNIT_BYTES: u64 = 1 << 20;
/// Decimal places kept for the WAL/USD rate.
pub const RATE_DECIMALS: u32 = 18;

/// The lowest vote `v` such that the nodes voting at most `v` hold shards `w` with
/// `3w >= 2 n_shards + 1`. `votes` are (vote in USD, shards held); None if the votes
/// never reach that weight (no committee).
pub fn usd_quantile(votes: &[(Decimal, u32)], n_shards: u32) -> Option<Decimal> {
    let mut sorted = votes.to_vec();
    sorted.sort_by_key(|vote| vote.0);
    let mut weight: u64 = 0;
    for (vote, shards) in sorted {
        weight += u64::from(shards);
        if 3 * weight > 2 * u64::from(n_shards) {
            return Some(vote);
        }
    }
    None
}

/// The median of the observations (the mean of the middle two for an even count).
pub fn median(observations: &[Decimal]) -> Option<Decimal> {
    if observations.is_empty() {
        return None;
    }
    let mut sorted = observations.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / Decimal::TWO
    };
    Some(median.round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::MidpointNearestEven))
}

/// rate[e+1]: the median of e's observations, or rate[e] without any, clamped to
/// within ±`max_change` of rate[e].
pub fn next_rate(previous: Decimal, observations: &[Decimal], max_change: Decimal) -> Decimal {
    let proposed = median(observations).unwrap_or(previous);
    let (low, high) = rate_band(previous, max_change);
    proposed
        .clamp(low, high)
        .max(Decimal::new(1, RATE_DECIMALS))
}

/// The rates the next epoch's may take after `previous`: ±`max_change`, the bounds
/// rounded inwards to the rate's decimals (the clamp never moves it further).
pub fn rate_band(previous: Decimal, max_change: Decimal) -> (Decimal, Decimal) {
    let low = (previous * (Decimal::ONE - max_change))
        .round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::AwayFromZero);
    let high = (previous * (Decimal::ONE + max_change))
        .round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::ToZero);
    (low, high)
}

fn to_frost(value: Decimal, rounding: RoundingStrategy) -> Wal {
    Wal::from_decimal_unchecked(value.round_dp_with_strategy(WAL_DECIMALS, rounding))
}

/// The WAL price of an epoch: `usd / rate` rounded up to the FROST (at least one),
/// clamped to within ±`max_change` of the previous epoch's price if there was one
/// (bounds rounded inwards, so the result never moves more than `max_change`).
pub fn wal_price(usd: Decimal, rate: Decimal, previous: Option<Wal>, max_change: Decimal) -> Wal {
    assert!(rate > Decimal::ZERO, "the rate is positive");
    let raw = to_frost(usd / rate, RoundingStrategy::AwayFromZero).max(Wal::frost());
    let Some(previous) = previous else {
        return raw;
    };
    let (low, high) = price_band(previous, max_change);
    raw.clamp(low, high).max(Wal::frost())
}

/// The WAL prices the next epoch's may take after `previous`: ±`max_change`, the
/// bounds rounded inwards to the FROST (`low <= high` always).
pub fn price_band(previous: Wal, max_change: Decimal) -> (Wal, Wal) {
    let low = to_frost(
        previous.as_decimal() * (Decimal::ONE - max_change),
        RoundingStrategy::AwayFromZero,
    );
    let high = to_frost(
        previous.as_decimal() * (Decimal::ONE + max_change),
        RoundingStrategy::ToZero,
    );
    (low.min(high), high)
}

/// Storage units of an encoded size: whole MiB, rounded up.
pub fn storage_units(encoded_size: u64) -> u64 {
    encoded_size.div_ceil(STORAGE_UNIT_BYTES)
}

/// What storing `units` for `epochs` costs: `units * price * epochs + units * write`.
/// None if it overflows (far beyond the supply).
pub fn cost(
    units: u64,
    epochs: u32,
    price_per_unit_epoch: Wal,
    write_price_per_unit: Wal,
) -> Option<(Wal, Wal)> {
    let units = Decimal::from(units);
    let storage = price_per_unit_epoch
        .as_decimal()
        .checked_mul(units)?
        .checked_mul(Decimal::from(epochs))?;
    let write = write_price_per_unit.as_decimal().checked_mul(units)?;
    Some((
        Wal::try_from_decimal(storage).ok()?,
        Wal::try_from_decimal(write).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn the_quantile_needs_two_thirds_of_the_shards() {
        // 10 shards: 3w >= 21 needs w >= 7.
        let votes = [(d("1"), 3), (d("2"), 3), (d("3"), 4)];
        assert_eq!(usd_quantile(&votes, 10), Some(d("3")));
        let votes = [(d("1"), 4), (d("2"), 3), (d("9"), 3)];
        assert_eq!(usd_quantile(&votes, 10), Some(d("2")));
        assert_eq!(usd_quantile(&[], 10), None);
    }

    #[test]
    fn wild_oracle_inputs_move_the_rate_at_most_ten_percent() {
        let max = d("0.1");
        assert_eq!(next_rate(d("0.10"), &[], max), d("0.10"));
        assert_eq!(next_rate(d("0.10"), &[d("1000000")], max), d("0.11"));
        assert_eq!(
            next_rate(d("0.10"), &[d("0.000000000000000001")], max),
            d("0.09")
        );
        assert_eq!(
            next_rate(d("0.10"), &[d("0.1"), d("0.104"), d("0.2")], max),
            d("0.104")
        );
        assert_eq!(median(&[d("1"), d("2")]), Some(d("1.5")));
    }

    #[test]
    fn prices_round_up_and_clamp() {
        // 0.0001 USD at 0.3 USD/WAL = 0.000333333333.. WAL -> up to 0.000333334.
        assert_eq!(
            wal_price(d("0.0001"), d("0.3"), None, d("0.1")),
            Wal::parse("0.000333334").unwrap()
        );
        let previous = Wal::parse("0.001").unwrap();
        assert_eq!(
            wal_price(d("1"), d("0.1"), Some(previous), d("0.1")),
            Wal::parse("0.0011").unwrap()
        );
        assert_eq!(
            wal_price(d("0"), d("0.1"), Some(previous), d("0.1")),
            Wal::parse("0.0009").unwrap()
        );
        assert_eq!(wal_price(d("0"), d("0.1"), None, d("0.1")), Wal::frost());
        assert_eq!(
            cost(3, 2, Wal::from_wal(5), Wal::from_wal(1)),
            Some((Wal::from_wal(30), Wal::from_wal(3)))
        );
        assert_eq!(storage_units(1), 1);
        assert_eq!(storage_units(STORAGE_UNIT_BYTES + 1), 2);
    }

    fn usd() -> impl Strategy<Value = Decimal> {
        (1i64..1_000_000_000_000, 0u32..=9).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        #[test]
        fn the_quantile_is_a_vote_two_thirds_accept(votes in proptest::collection::vec((usd(), 1u32..50), 1..40)) {
            let n: u32 = votes.iter().map(|v| v.1).sum();
            let q = usd_quantile(&votes, n).unwrap();
            prop_assert!(votes.iter().any(|v| v.0 == q));
            let at_most: u64 = votes.iter().filter(|v| v.0 <= q).map(|v| u64::from(v.1)).sum();
            let below: u64 = votes.iter().filter(|v| v.0 < q).map(|v| u64::from(v.1)).sum();
            prop_assert!(3 * at_most > 2 * u64::from(n));
            prop_assert!(3 * below <= 2 * u64::from(n));
        }

        #[test]
        fn the_rate_moves_at_most_the_limit(previous in usd(), observations in proptest::collection::vec(prop_oneof![usd(), Just(Decimal::new(1, 18)), Just(Decimal::from(1_000_000_000i64))], 0..9)) {
            let max = d("0.1");
            let next = next_rate(previous, &observations, max);
            prop_assert!(next >= previous * d("0.9") - Decimal::new(1, RATE_DECIMALS));
            prop_assert!(next <= previous * d("1.1"));
            prop_assert!(next > Decimal::ZERO);
        }

        #[test]
        fn the_wal_price_moves_at_most_the_limit(usd in usd(), rate in usd(), previous in 1i64..1_000_000_000_000_000) {
            let max = d("0.1");
            let previous = Wal::from_frost(previous);
            let price = wal_price(usd, rate, Some(previous), max);
            prop_assert!(price.is_positive());
            prop_assert!(price.as_decimal() <= previous.as_decimal() * d("1.1"));
            prop_assert!(price.as_decimal() >= previous.as_decimal() * d("0.9") || price == Wal::frost() || previous.to_frost() < 10);
            // Unclamped, more dollars never mean fewer WAL.
            let cheaper = wal_price(usd, rate, None, max);
            let dearer = wal_price(usd * Decimal::TWO, rate, None, max);
            prop_assert!(dearer >= cheaper);
        }

        #[test]
        fn costs_are_exact(units in 1u64..1_000_000, epochs in 1u32..=53, price in 1i64..1_000_000_000, write in 1i64..1_000_000_000) {
            let (storage, write_part) = cost(units, epochs, Wal::from_frost(price), Wal::from_frost(write)).unwrap();
            prop_assert_eq!(storage.to_frost(), i128::from(price) * i128::from(units) * i128::from(epochs));
            prop_assert_eq!(write_part.to_frost(), i128::from(write) * i128::from(units));
        }
    }
}
