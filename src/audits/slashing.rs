//! Steps 2 and 3 of the epoch change as pure rules (ECONOMICS.md, "Epoch change"):
//! a node's performance from its audits, whether it is slashed or jailed, and what a
//! slash takes and where it goes.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::money::split::fraction_down;
use crate::money::Wal;
use crate::params::Params;

/// One node's audit results in one epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    /// Challenges recorded for the node in the epoch.
    pub challenges: u32,
    /// Of those, the challenges it passed: at most `challenges`.
    pub passed: u32,
}

impl Tally {
    /// A tally from the database's counts (`count(*)` is a bigint); a count beyond `u32`
    /// is an internal error, never a wrap.
    pub fn from_counts(challenges: i64, passed: i64) -> Result<Tally, crate::error::Error> {
        Ok(Tally {
            challenges: u32::try_from(challenges).map_err(crate::error::Error::internal)?,
            passed: u32::try_from(passed).map_err(crate::error::Error::internal)?,
        })
    }

    /// passed / challenges rounded down to 9 decimals (the column's scale), so a
    /// rounded rate never reaches a threshold the exact rate is below; 1 if the node
    /// was not challenged.
    pub fn pass_rate(self) -> Decimal {
        assert!(self.passed <= self.challenges, "passes are challenges");
        if self.challenges == 0 {
            return Decimal::ONE;
        }
        (Decimal::from(self.passed) / Decimal::from(self.challenges))
            .round_dp_with_strategy(9, RoundingStrategy::ToZero)
    }
}

/// What the epoch change does to a node for its audits in the closing epoch (`verdict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not slashed: fewer than `audit_challenges_min` challenges, or a pass rate of at least
    /// `slash_threshold`.
    Clean,
    /// Slashed (pass rate below `slash_threshold`), but not below `jail_threshold`.
    Slashed,
    /// Slashed, and kept out of the committee for `jail_epochs` epochs.
    SlashedAndJailed,
}

/// Slashed with at least `audit_challenges_min` challenges and a pass rate below
/// `slash_threshold`; also jailed below `jail_threshold`. Compared exactly, as
/// fractions, not through the rounded rate.
pub fn verdict(tally: Tally, params: &Params) -> Verdict {
    if tally.challenges == 0 || tally.challenges < params.audit_challenges_min {
        return Verdict::Clean;
    }
    let below = |threshold: Decimal| {
        Decimal::from(tally.passed) < threshold * Decimal::from(tally.challenges)
    };
    if !below(params.slash_threshold) {
        Verdict::Clean
    } else if below(params.jail_threshold) {
        Verdict::SlashedAndJailed
    } else {
        Verdict::Slashed
    }
}

/// The weight factor of step 2: the pass rate, or 0 if slashed.
pub fn performance(tally: Tally, params: &Params) -> Decimal {
    match verdict(tally, params) {
        Verdict::Clean => tally.pass_rate(),
        Verdict::Slashed | Verdict::SlashedAndJailed => Decimal::ZERO,
    }
}

/// What one slash takes and where it goes, in WAL: pool + commission == burned +
/// to_subsidy_pool, to the FROST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Slash {
    /// `slash_rate` of the pool's WAL, rounded down (the FROST below stays with the
    /// stakers).
    pub pool: Wal,
    /// The whole unclaimed commission.
    pub commission: Wal,
    /// Half of the total, rounded up (the odd FROST is burned).
    pub burned: Wal,
    /// Half of the total, rounded down.
    pub to_subsidy_pool: Wal,
}

/// What a slash takes from a pool holding `pool_wal` and an operator with
/// `unclaimed_commission`, and how it is divided. pool + commission == burned +
/// to_subsidy_pool, to the FROST.
#[expect(
    clippy::expect_used,
    reason = "amounts are bounded by the supply (< i64::MAX FROST), so the sum cannot overflow and half of it fits"
)]
pub fn slash(pool_wal: Wal, unclaimed_commission: Wal, slash_rate: Decimal) -> Slash {
    let pool = fraction_down(pool_wal, slash_rate);
    let total = pool
        .checked_add(unclaimed_commission)
        .expect("within the supply");
    let to_subsidy_pool =
        Wal::from_frost(i64::try_from(total.to_frost() / 2).expect("within the supply"));
    Slash {
        pool,
        commission: unclaimed_commission,
        burned: total.checked_sub(to_subsidy_pool).expect("half of it"),
        to_subsidy_pool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params() -> Params {
        crate::params::Params::from_rows(&crate::params::tests::default_rows()).unwrap()
    }

    #[test]
    fn the_defaults_slash_below_90_percent_and_jail_below_half() {
        let p = params();
        let t = |challenges, passed| verdict(Tally { challenges, passed }, &p);
        assert_eq!(t(100, 90), Verdict::Clean);
        assert_eq!(t(100, 89), Verdict::Slashed);
        assert_eq!(t(100, 50), Verdict::Slashed);
        assert_eq!(t(100, 49), Verdict::SlashedAndJailed);
        assert_eq!(t(19, 0), Verdict::Clean, "fewer than audit_challenges_min");
        assert_eq!(t(20, 0), Verdict::SlashedAndJailed);
        assert_eq!(t(0, 0), Verdict::Clean);
        assert_eq!(Tally::default().pass_rate(), Decimal::ONE);
        assert_eq!(
            Tally {
                challenges: 3,
                passed: 2
            }
            .pass_rate(),
            Decimal::new(666_666_666, 9)
        );
    }

    #[test]
    fn a_slash_takes_five_percent_and_all_unclaimed_commission() {
        let s = slash(Wal::from_wal(100), Wal::from_frost(3), Decimal::new(5, 2));
        assert_eq!(s.pool, Wal::from_wal(5));
        assert_eq!(s.commission, Wal::from_frost(3));
        assert_eq!(s.to_subsidy_pool, Wal::from_frost(2_500_000_001));
        assert_eq!(s.burned, Wal::from_frost(2_500_000_002));
    }

    proptest! {
        #[test]
        fn a_slash_conserves_every_frost(
            pool in 0i64..=5_000_000_000_000_000_000,
            commission in 0i64..=1_000_000_000_000_000,
            rate_billionths in 0i64..=1_000_000_000,
        ) {
            let rate = Decimal::new(rate_billionths, 9);
            let s = slash(Wal::from_frost(pool), Wal::from_frost(commission), rate);
            prop_assert_eq!(
                s.pool.to_frost() + s.commission.to_frost(),
                s.burned.to_frost() + s.to_subsidy_pool.to_frost()
            );
            prop_assert!(s.burned.to_frost() - s.to_subsidy_pool.to_frost() <= 1);
            prop_assert!(s.burned >= s.to_subsidy_pool);
            // The pool part is the rate, rounded down by less than one FROST.
            let exact = Decimal::from(pool) * rate;
            prop_assert!(Decimal::from(s.pool.to_frost()) <= exact);
            prop_assert!(exact - Decimal::from(s.pool.to_frost()) < Decimal::ONE);
            prop_assert!(s.pool.to_frost() <= i128::from(pool));
        }

        #[test]
        fn a_higher_rate_never_slashes_less(
            pool in 0i64..=5_000_000_000_000_000_000,
            a in 0i64..=1_000_000_000,
            b in 0i64..=1_000_000_000,
        ) {
            let (low, high) = (a.min(b), a.max(b));
            let slash_at = |r| slash(Wal::from_frost(pool), Wal::ZERO, Decimal::new(r, 9)).pool;
            prop_assert!(slash_at(low) <= slash_at(high));
        }

        #[test]
        fn more_passes_never_make_the_verdict_worse(
            challenges in 0u32..500,
            passed_a in 0u32..500,
            passed_b in 0u32..500,
        ) {
            let p = params();
            let (a, b) = (passed_a.min(challenges), passed_b.min(challenges));
            let (fewer, more) = (a.min(b), a.max(b));
            let rank = |v| match v {
                Verdict::Clean => 0,
                Verdict::Slashed => 1,
                Verdict::SlashedAndJailed => 2,
            };
            let worse = rank(verdict(Tally { challenges, passed: fewer }, &p));
            let better = rank(verdict(Tally { challenges, passed: more }, &p));
            prop_assert!(better <= worse);
            let perf_fewer = performance(Tally { challenges, passed: fewer }, &p);
            let perf_more = performance(Tally { challenges, passed: more }, &p);
            prop_assert!(perf_fewer <= perf_more);
            prop_assert!((Decimal::ZERO..=Decimal::ONE).contains(&perf_more));
        }
    }
}
