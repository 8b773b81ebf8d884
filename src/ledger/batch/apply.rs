//! The pure rule of a batch: entries applied one after another to the balance rows the
//! batch holds locked, each all or nothing. `journal_post` (the migration) is the same
//! rule for one entry inside the database; tests/batch.rs checks the two agree.

use std::collections::BTreeMap;

use crate::money::Wal;

/// A balance row: the account's key and the stripe.
pub type RowKey = (String, i16);

/// The balances of the rows a batch holds locked (a row never seen holds nothing).
pub type Rows = BTreeMap<RowKey, Wal>;

/// One leg ready to apply: legs are merged per account and sorted (`journal::prepare_legs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLeg {
    /// The account's key (`Account::key`).
    pub account: String,
    /// The row a credit or single-row debit touches; -1 drains the account's stripes in order.
    pub stripe: i16,
    /// Signed WAL: positive credits, negative debits.
    pub amount: Wal,
    /// Whether the account may go below zero (the issuance account).
    pub may_go_negative: bool,
}

/// One journal line: the change of one balance row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The account's key.
    pub account: String,
    /// The row's stripe.
    pub stripe: i16,
    /// Signed WAL moved on the row.
    pub amount: Wal,
}

/// Why an entry was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A debit larger than what the account (or its row) holds.
    Shortfall {
        /// The account's key.
        account: String,
        /// What the whole account holds, all stripes together.
        available: Wal,
        /// What the debit needed.
        needed: Wal,
    },
    /// A balance would leave the range of amounts (never with amounts within the supply).
    Overflow,
}

impl Refusal {
    /// The text `journal_post` raises for the same refusal.
    pub fn message(&self) -> String {
        match self {
            Refusal::Shortfall {
                account,
                available,
                needed,
            } => format!("account {account} holds {available} WAL but {needed} WAL are needed"),
            Refusal::Overflow => "a balance would overflow".into(),
        }
    }
}

/// Applies one entry's legs to `rows` and returns its lines, or refuses it and leaves
/// `rows` unchanged. Legs of one entry touch distinct accounts, so each debit is checked
/// against the balances before the entry.
pub fn apply(rows: &mut Rows, legs: &[PlannedLeg]) -> Result<Vec<Line>, Refusal> {
    let mut lines = Vec::with_capacity(legs.len());
    for leg in legs {
        let line = |stripe: i16, amount: Wal| Line {
            account: leg.account.clone(),
            stripe,
            amount,
        };
        if leg.amount.is_positive() || leg.may_go_negative {
            lines.push(line(leg.stripe.max(0), leg.amount));
        } else if leg.stripe >= 0 {
            let held = balance(rows, &leg.account, leg.stripe);
            if held < leg.amount.abs() {
                return Err(shortfall(rows, leg));
            }
            lines.push(line(leg.stripe, leg.amount));
        } else {
            let drained = drain(rows, leg)?;
            lines.extend(
                drained
                    .into_iter()
                    .map(|(stripe, take)| line(stripe, -take)),
            );
        }
    }
    let mut after = Vec::with_capacity(lines.len());
    for line in &lines {
        let now = balance(rows, &line.account, line.stripe)
            .checked_add(line.amount)
            .ok_or(Refusal::Overflow)?;
        after.push(((line.account.clone(), line.stripe), now));
    }
    rows.extend(after);
    Ok(lines)
}

fn balance(rows: &Rows, account: &str, stripe: i16) -> Wal {
    rows.get(&(account.to_owned(), stripe))
        .copied()
        .unwrap_or(Wal::ZERO)
}

/// The stripes of `leg`'s account in stripe order, each giving what it holds until the
/// debit is covered: (stripe, WAL taken), as `journal_post` drains.
fn drain(rows: &Rows, leg: &PlannedLeg) -> Result<Vec<(i16, Wal)>, Refusal> {
    let mut remaining = leg.amount.abs();
    let mut taken = Vec::new();
    let stripes = (leg.account.clone(), 0)..=(leg.account.clone(), i16::MAX);
    for ((_, stripe), &held) in rows.range(stripes) {
        if remaining.is_zero() {
            break;
        }
        let take = held.min(remaining);
        if take.is_positive() {
            taken.push((*stripe, take));
            remaining = remaining.checked_sub(take).ok_or(Refusal::Overflow)?;
        }
    }
    if remaining.is_positive() {
        return Err(shortfall(rows, leg));
    }
    Ok(taken)
}

fn shortfall(rows: &Rows, leg: &PlannedLeg) -> Refusal {
    let stripes = (leg.account.clone(), i16::MIN)..=(leg.account.clone(), i16::MAX);
    let available = Wal::checked_sum(rows.range(stripes).map(|(_, &held)| held));
    Refusal::Shortfall {
        account: leg.account.clone(),
        available: available.unwrap_or(Wal::ZERO),
        needed: leg.amount.abs(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leg(account: u8, stripe: i16, frost: i64) -> PlannedLeg {
        PlannedLeg {
            account: format!("user:{account}"),
            stripe,
            amount: Wal::from_frost(frost),
            may_go_negative: false,
        }
    }

    fn total(rows: &Rows) -> Wal {
        Wal::checked_sum(rows.values().copied()).unwrap_or(Wal::ZERO)
    }

    #[test]
    fn a_debit_beyond_the_row_is_refused_and_changes_nothing() {
        let mut rows = Rows::from([(("user:1".into(), 0), Wal::from_frost(5))]);
        let before = rows.clone();
        let refused = apply(&mut rows, &[leg(1, 0, -6), leg(2, 0, 6)]).unwrap_err();
        assert_eq!(
            refused.message(),
            "account user:1 holds 0.000000005 WAL but 0.000000006 WAL are needed"
        );
        assert_eq!(rows, before);
        let lines = apply(&mut rows, &[leg(1, 0, -5), leg(2, 0, 5)]).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(rows[&("user:1".to_owned(), 0)], Wal::ZERO);
        assert_eq!(rows[&("user:2".to_owned(), 0)], Wal::from_frost(5));
    }

    #[test]
    fn a_drain_takes_stripes_in_order() {
        let mut rows = Rows::from([
            (("sys:burn".into(), 0), Wal::from_frost(2)),
            (("sys:burn".into(), 3), Wal::from_frost(4)),
            (("sys:burn".into(), 7), Wal::from_frost(9)),
        ]);
        let mut burn = leg(0, -1, -5);
        burn.account = "sys:burn".into();
        let lines = apply(&mut rows, &[burn, leg(2, 0, 5)]).unwrap();
        let taken: Vec<(i16, i128)> = lines[..2]
            .iter()
            .map(|l| (l.stripe, l.amount.to_frost()))
            .collect();
        assert_eq!(taken, vec![(0, -2), (3, -3)]);
        assert_eq!(rows[&("sys:burn".to_owned(), 3)], Wal::from_frost(1));
    }

    proptest! {
        /// Any sequence of transfers among five funded accounts: an accepted entry's
        /// lines sum to zero, a refused one leaves every row as it was, no row goes
        /// below zero, and the total never changes.
        #[test]
        fn entries_conserve_and_never_overdraw(
            funding in proptest::collection::vec(0i64..1_000, 5),
            moves in proptest::collection::vec((0u8..5, 0u8..5, 1i64..600), 1..40),
        ) {
            let mut rows: Rows = funding.iter().enumerate()
                .map(|(i, &f)| ((format!("user:{i}"), 0), Wal::from_frost(f))).collect();
            let supply = total(&rows);
            for (from, to, frost) in moves {
                if from == to {
                    continue;
                }
                let before = rows.clone();
                let held = before[&(format!("user:{from}"), 0)];
                match apply(&mut rows, &[leg(from, 0, -frost), leg(to, 0, frost)]) {
                    Ok(lines) => {
                        prop_assert!(Wal::checked_sum(lines.iter().map(|l| l.amount)).unwrap().is_zero());
                        prop_assert!(held >= Wal::from_frost(frost));
                    }
                    Err(_) => {
                        prop_assert_eq!(&rows, &before);
                        prop_assert!(held < Wal::from_frost(frost));
                    }
                }
                prop_assert!(rows.values().all(|b| !b.is_negative()));
                prop_assert_eq!(total(&rows), supply);
            }
        }
    }
}
