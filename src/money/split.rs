//! Splitting an epoch's reward pool (ECONOMICS.md, "Epoch change" steps 1, 2 and 4).
//! Pure functions; every division rounds down to the FROST and says where the
//! remainder goes.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::{Wal, WAL_DECIMALS};

/// `amount * rate`, rounded down to the FROST (burns, commissions).
pub fn fraction_down(amount: Wal, rate: Decimal) -> Wal {
    assert!(
        (Decimal::ZERO..=Decimal::ONE).contains(&rate),
        "a rate is within 0..=1"
    );
    let exact = amount.as_decimal() * rate;
    Wal::from_decimal_unchecked(
        exact.round_dp_with_strategy(WAL_DECIMALS, RoundingStrategy::ToZero),
    )
}

/// A count of FROST as an amount: exact for any count up to a `Wal`'s own (a Decimal's
/// 96-bit mantissa, about 7.9·10^28), `None` above. Not `Wal::from_frost`, whose i64
/// stops at about 9.2·10^9 WAL, below what an amount may be (fuzz/amount_parse found
/// splits of larger amounts panicking).
fn wal_of_frost(frost: i128) -> Option<Wal> {
    Decimal::try_from_i128_with_scale(frost, WAL_DECIMALS)
        .ok()
        .map(Wal::from_decimal_unchecked)
}

/// Splits `pool` by `weights` (shards times performance): each share is
/// `pool * weight / sum of weights` rounded down; the remainder, and the whole pool if
/// every weight is zero, is returned to carry into the next epoch's slot.
/// Shares + remainder == pool, to the FROST.
#[expect(
    clippy::expect_used,
    reason = "weights are not negative (asserted), so each share rounds down to at most the pool and the shares sum to at most the pool"
)]
pub fn split_by_weight(pool: Wal, weights: &[Decimal]) -> (Vec<Wal>, Wal) {
    assert!(
        weights.iter().all(|w| !w.is_sign_negative()),
        "weights are not negative"
    );
    let total: Decimal = weights.iter().sum();
    if total.is_zero() {
        return (vec![Wal::ZERO; weights.len()], pool);
    }
    let pool_frost = Decimal::from(pool.to_frost());
    let shares: Vec<Wal> = weights
        .iter()
        .map(|w| {
            let frost = (pool_frost * w / total).floor();
            frost
                .to_i128()
                .and_then(wal_of_frost)
                .expect("a share is at most the pool")
        })
        .collect();
    let paid = Wal::checked_sum(shares.iter().copied()).expect("shares sum within the pool");
    let remainder = pool
        .checked_sub(paid)
        .expect("rounding down never overpays");
    (shares, remainder)
}

/// Splits `amount` into `parts` equal amounts, rounded down to the FROST; the
/// remainder FROST go into the first part (subsidies and, later, contract fees spread
/// over epoch slots). The parts sum to `amount` exactly.
pub fn split_evenly(amount: Wal, parts: u32) -> Vec<Wal> {
    assert!(parts > 0, "at least one part");
    assert!(!amount.is_negative(), "amounts split are not negative");
    let total = amount.to_frost();
    let each = total / i128::from(parts);
    let remainder = total - each * i128::from(parts);
    #[expect(
        clippy::expect_used,
        reason = "every part, the first with the remainder included, is at most the amount, which is a Wal"
    )]
    let frost = |f: i128| wal_of_frost(f).expect("a part is at most the amount");
    (0..parts)
        .map(|i| frost(if i == 0 { each + remainder } else { each }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by fuzz/amount_parse: a part above 2^63 FROST (about 9.2·10^9 WAL, less
    /// than an amount may be) panicked in the conversion to i64.
    #[test]
    fn amounts_above_i64_frost_split_exactly() {
        let amount = Wal::parse("9999999999999999999.999999999").unwrap();
        let parts = split_evenly(amount, 7);
        assert_eq!(Wal::checked_sum(parts.iter().copied()), Some(amount));
        assert_eq!(parts[1].to_frost(), amount.to_frost() / 7);
        let (shares, rest) = split_by_weight(amount, &[Decimal::ONE, Decimal::new(25, 1)]);
        let paid = Wal::checked_sum(shares.iter().copied()).unwrap();
        assert_eq!(paid.checked_add(rest), Some(amount));
        assert!(!rest.is_negative());
    }

    #[test]
    fn remainders_go_to_the_next_slot() {
        let (shares, rest) = split_by_weight(Wal::from_frost(10), &[Decimal::ONE; 3]);
        assert_eq!(shares, vec![Wal::from_frost(3); 3]);
        assert_eq!(rest, Wal::from_frost(1));
        let (shares, rest) = split_by_weight(Wal::from_wal(5), &[Decimal::ZERO, Decimal::ZERO]);
        assert_eq!(shares, vec![Wal::ZERO, Wal::ZERO]);
        assert_eq!(rest, Wal::from_wal(5));
        assert_eq!(
            fraction_down(Wal::from_frost(999), Decimal::new(3, 2)),
            Wal::from_frost(29)
        );
    }

    proptest! {
        #[test]
        fn the_split_sums_to_the_pool_to_the_frost(
            pool in 0i64..5_000_000_000_000_000_000,
            weights in proptest::collection::vec((0u32..1000, 0u32..=100), 1..150)
        ) {
            let weights: Vec<Decimal> =
                weights.iter().map(|&(shards, pass_pct)| Decimal::from(shards) * Decimal::new(pass_pct as i64, 2)).collect();
            let pool = Wal::from_frost(pool);
            let (shares, rest) = split_by_weight(pool, &weights);
            let paid = Wal::checked_sum(shares.iter().copied()).unwrap();
            prop_assert_eq!(paid.checked_add(rest).unwrap(), pool);
            prop_assert!(!rest.is_negative());
            // Rounding leaves less than one FROST per node.
            prop_assert!(rest.to_frost() < weights.len() as i128 || weights.iter().all(|w| w.is_zero()));
            // More weight never means a smaller share.
            for (a, b) in weights.iter().zip(&shares).flat_map(|x| weights.iter().zip(&shares).map(move |y| (x, y))) {
                if a.0 > b.0 { prop_assert!(a.1 >= b.1); }
            }
        }

        #[test]
        fn an_even_split_sums_to_the_amount(amount in 0i64..5_000_000_000_000_000_000, parts in 1u32..=53) {
            let amount = Wal::from_frost(amount);
            let split = split_evenly(amount, parts);
            prop_assert_eq!(split.len(), parts as usize);
            prop_assert_eq!(Wal::checked_sum(split.iter().copied()).unwrap(), amount);
            // Equal parts, except the first carries the remainder (< parts FROST).
            prop_assert!(split.iter().skip(1).all(|&p| p == split[split.len() - 1]));
            prop_assert!(split[0].to_frost() - split[split.len() - 1].to_frost() < parts as i128);
        }

        #[test]
        fn a_fraction_never_exceeds_its_amount(amount in 0i64..5_000_000_000_000_000_000, rate_bp in 0i64..=10_000) {
            let amount = Wal::from_frost(amount);
            let part = fraction_down(amount, Decimal::new(rate_bp, 4));
            prop_assert!(!part.is_negative() && part <= amount);
        }
    }
}
