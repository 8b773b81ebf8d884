//! A staking pool's exchange rate (Sui/Walrus style): the pool holds WAL and has
//! shares outstanding; a stake holds shares, so rewards and slashes change the value of
//! every stake without touching its row. Every division rounds down, so the pool keeps
//! what rounding leaves (it can never pay out more than it holds).
//!
//! Amounts enter and leave as `Wal`; inside, the arithmetic is on FROST as u128
//! integers, because `amount * shares` reaches ~10^37, beyond the 28 digits that
//! rust_decimal holds exactly. Integers keep it exact; nothing here is a float.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::money::Wal;

/// A pool's totals: its WAL and its outstanding shares (both in FROST-sized units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// WAL the pool holds, in FROST (1 FROST = 10^-9 WAL).
    pub wal_frost: u128,
    /// Pool shares outstanding, held by the pool's stakes.
    pub shares: u128,
}

impl Pool {
    /// A pool with no WAL and no shares; its first deposit mints one share per FROST.
    pub const EMPTY: Pool = Pool {
        wal_frost: 0,
        shares: 0,
    };

    /// Shares minted for a deposit: 1 per FROST into an empty pool, otherwise at the
    /// current rate, rounded down (the remainder stays with the pool's stakers).
    pub fn shares_for(&self, amount: Wal) -> u128 {
        let amount = frost(amount);
        if self.shares == 0 || self.wal_frost == 0 {
            return amount;
        }
        mul_div(amount, self.shares, self.wal_frost)
    }

    /// WAL that `shares` are worth now, rounded down to the FROST.
    pub fn value_of(&self, shares: u128) -> Wal {
        assert!(
            shares <= self.shares,
            "a stake holds at most the pool's shares"
        );
        if self.shares == 0 {
            return Wal::ZERO;
        }
        to_wal(mul_div(shares, self.wal_frost, self.shares))
    }

    /// The pool after `amount` joins it, and the shares minted for it (`shares_for`).
    pub fn deposit(&self, amount: Wal) -> (Pool, u128) {
        let minted = self.shares_for(amount);
        let pool = Pool {
            wal_frost: self.wal_frost + frost(amount),
            shares: self.shares + minted,
        };
        (pool, minted)
    }

    /// The pool after `shares` leave it, and the WAL they are paid (`value_of`, rounded
    /// down).
    pub fn withdraw(&self, shares: u128) -> (Pool, Wal) {
        let paid = self.value_of(shares);
        let pool = Pool {
            wal_frost: self.wal_frost - frost(paid),
            shares: self.shares - shares,
        };
        (pool, paid)
    }
}

impl Pool {
    /// Pays out several stakes at once, all at the same rate (the pool's value before
    /// any of them leaves), each rounded down: the pool keeps the remainders, so it
    /// never pays more than it holds. Returns the pool after and each payout.
    pub fn pay_out(&self, shares: &[u128]) -> (Pool, Vec<Wal>) {
        let total_shares: u128 = shares.iter().sum();
        assert!(
            total_shares <= self.shares,
            "stakes hold at most the pool's shares"
        );
        let paid: Vec<Wal> = shares.iter().map(|&s| self.value_of(s)).collect();
        let paid_frost: u128 = paid.iter().map(|&w| frost(w)).sum();
        let pool = Pool {
            wal_frost: self.wal_frost - paid_frost,
            shares: self.shares - total_shares,
        };
        (pool, paid)
    }
}

/// `a * b / c` rounded down. The product of a pool's WAL and shares stays below
/// ~10^38 while a share is worth at least a FROST; should slashes ever push it past
/// u128, this stops rather than wrapping around (release builds do not check).
#[expect(
    clippy::expect_used,
    reason = "an overflow is a deliberate stop (see above): below ~10^38 it cannot happen, and past it continuing would corrupt the pool"
)]
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    a.checked_mul(b)
        .expect("pool arithmetic overflows u128; the pool needs rescaling")
        / c
}

#[expect(
    clippy::expect_used,
    reason = "pool amounts come from pool balances and stakes, which are never negative"
)]
fn frost(amount: Wal) -> u128 {
    u128::try_from(amount.to_frost()).expect("pool amounts are not negative")
}

#[expect(
    clippy::expect_used,
    reason = "a pool's share of WAL is at most the pool, which is bounded by the supply"
)]
fn to_wal(frost: u128) -> Wal {
    Wal::from_frost(i64::try_from(frost).expect("a pool holds at most the supply"))
}

/// A pool balance in FROST (pools are never negative).
#[expect(
    clippy::expect_used,
    reason = "no account but issuance goes negative (may_go_negative, checked by the ledger audit), so pool balances are not negative"
)]
pub fn frost_u128(amount: Wal) -> u128 {
    u128::try_from(amount.to_frost()).expect("pool balances are not negative")
}

/// FROST back to WAL (within the supply).
#[expect(
    clippy::expect_used,
    reason = "callers convert pool amounts, which are bounded by the supply (< i64::MAX FROST)"
)]
pub fn wal_of_frost(frost: u128) -> Wal {
    Wal::from_frost(i64::try_from(frost).expect("within the supply"))
}

/// Pool shares from the database's NUMERIC.
pub fn shares_from_db(shares: Decimal) -> Result<u128, crate::error::Error> {
    shares
        .to_u128()
        .ok_or_else(|| crate::error::Error::internal(format!("pool shares {shares} out of range")))
}

/// Pool shares as the database stores them (NUMERIC).
pub fn shares_to_db(shares: u128) -> Result<Decimal, crate::error::Error> {
    <Decimal as rust_decimal::prelude::FromPrimitive>::from_u128(shares)
        .ok_or_else(|| crate::error::Error::internal(format!("pool shares {shares} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rewards_raise_every_stake_without_touching_it() {
        let (pool, alice) = Pool::EMPTY.deposit(Wal::from_wal(100));
        let (pool, bob) = pool.deposit(Wal::from_wal(300));
        let rewarded = Pool {
            wal_frost: pool.wal_frost + frost(Wal::from_wal(40)),
            ..pool
        };
        assert_eq!(rewarded.value_of(alice), Wal::from_wal(110));
        assert_eq!(rewarded.value_of(bob), Wal::from_wal(330));
    }

    proptest! {
        /// Whatever the order of deposits, rewards, slashes and withdrawals, the pool
        /// never pays out more than it holds, and everyone's payouts plus what is left
        /// equals what went in.
        #[test]
        fn pools_never_pay_out_more_than_they_hold(
            steps in proptest::collection::vec((0u8..4, 1i64..10_000_000_000_000_000), 1..60)
        ) {
            let mut pool = Pool::EMPTY;
            let mut stakes: Vec<u128> = Vec::new();
            let mut paid_in: u128 = 0;
            let mut paid_out: u128 = 0;
            for (op, amount) in steps {
                match op {
                    0 => {
                        let (next, shares) = pool.deposit(Wal::from_frost(amount));
                        pool = next;
                        paid_in += amount as u128;
                        stakes.push(shares);
                    }
                    1 => {
                        pool.wal_frost += amount as u128 % 1_000_000_000_000; // rewards
                        paid_in += amount as u128 % 1_000_000_000_000;
                    }
                    2 => {
                        let slash = pool.wal_frost / 20; // 5%
                        pool.wal_frost -= slash;
                        paid_out += slash;
                    }
                    _ => {
                        if let Some(shares) = stakes.pop() {
                            let (next, paid) = pool.withdraw(shares);
                            prop_assert!(frost(paid) <= pool.wal_frost);
                            pool = next;
                            paid_out += frost(paid);
                        }
                    }
                }
                let owed: u128 = stakes.iter().map(|&s| frost(pool.value_of(s))).sum();
                prop_assert!(owed <= pool.wal_frost, "owes {} holds {}", owed, pool.wal_frost);
                prop_assert_eq!(paid_in, paid_out + pool.wal_frost);
            }
        }

        /// Stakes that activate together each get their shares at the pool's rate,
        /// rounded down; the pool mints shares for their sum, which is never fewer:
        /// no stake is counted twice. Paying them all out at once never pays more than
        /// the pool holds.
        #[test]
        fn stakes_activated_together_never_hold_more_than_minted(
            wal in 0u128..1_000_000_000_000_000_000, extra_shares_per_100_frost in 0u128..10_000,
            deposits in proptest::collection::vec(1i64..1_000_000_000_000_000, 1..30)
        ) {
            // Reachable pools: up to 100 shares per FROST (see a_round_trip_never_gains).
            let shares = if wal == 0 { 0 } else { wal + wal * extra_shares_per_100_frost / 100 };
            let pool = Pool { wal_frost: wal, shares };
            let each: Vec<u128> = deposits.iter().map(|&d| pool.shares_for(Wal::from_frost(d))).collect();
            let total: i64 = deposits.iter().sum();
            let (after, minted) = pool.deposit(Wal::from_frost(total));
            prop_assert!(each.iter().sum::<u128>() <= minted);
            let (left, paid) = after.pay_out(&each);
            let paid_frost: u128 = paid.iter().map(|&w| frost(w)).sum();
            prop_assert!(paid_frost <= after.wal_frost);
            prop_assert_eq!(left.wal_frost + paid_frost, after.wal_frost);
            for (d, p) in deposits.iter().zip(&paid) {
                prop_assert!(frost(*p) <= *d as u128 + wal, "a payout never exceeds deposit plus the pool's prior WAL");
            }
        }

        /// Depositing and withdrawing at once never gains a FROST. Pools the ledger
        /// can reach: up to 10^9 WAL, between 1/100 and 100 shares per FROST (shares
        /// start at one per FROST; rewards lower the ratio, only slashes raise it).
        #[test]
        fn a_round_trip_never_gains(wal in 1u128..1_000_000_000_000_000_000, shares_per_100_frost in 1u128..=10_000, amount in 1i64..1_000_000_000_000_000_000) {
            let pool = Pool { wal_frost: wal, shares: (wal * shares_per_100_frost / 100).max(1) };
            let (after, minted) = pool.deposit(Wal::from_frost(amount));
            let (_, back) = after.withdraw(minted);
            prop_assert!(back <= Wal::from_frost(amount));
        }
    }
}
