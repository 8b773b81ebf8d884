//! The journal: the only code that moves WAL.
//!
//! Every movement is one entry whose legs sum to zero. Posting an entry updates the
//! balances of its accounts and appends the entry with its lines, inside the caller's
//! transaction. Balance rows are locked in one global order (by account key, then
//! stripe) so that concurrent entries never deadlock. A debit that would take an
//! account below zero fails with `InsufficientFunds` and the caller's transaction is
//! rolled back whole.

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::PgConnection;

use super::account::{Account, Address};
use super::kind::EntryKind;
use crate::error::Error;
use crate::money::Wal;

/// One side of an entry: a positive amount credits the account, a negative one debits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    /// The account whose balance the leg changes.
    pub account: Account,
    /// Signed WAL: positive credits the account, negative debits it.
    pub amount: Wal,
}

impl Leg {
    /// A leg that adds `amount` (positive) to `account`.
    pub fn credit(account: Account, amount: Wal) -> Leg {
        Leg { account, amount }
    }

    /// A leg that takes `amount` (positive) from `account`: the leg holds `-amount`.
    pub fn debit(account: Account, amount: Wal) -> Leg {
        Leg {
            account,
            amount: -amount,
        }
    }
}

/// An entry to post; `kind` says what happened.
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    /// What the entry records; one of the kinds the database accepts.
    pub kind: EntryKind,
    /// The signer whose request caused this entry, if any.
    pub actor: Option<Address>,
    /// Free text kept with the entry (a transfer's memo, or a note such as the epoch paid).
    pub memo: Option<&'a str>,
    /// The legs; they must sum to zero, and legs of one account are merged before posting.
    pub legs: Vec<Leg>,
}

/// What the database assigned to a posted entry.
#[derive(Clone, Debug)]
pub struct PostedEntry {
    /// The journal entry's id: ids only grow, so later entries have larger ids.
    pub id: i64,
    /// The epoch that was current when the entry was posted.
    pub epoch: i64,
    /// When the entry was posted (the database's `now()` in the caller's transaction).
    pub created_at: DateTime<Utc>,
}

/// Checks the legs balance, merges legs of the same account and orders them by
/// account key: the global lock order.
pub(crate) fn prepare_legs(legs: &[Leg]) -> Result<Vec<(String, Leg)>, Error> {
    if legs.is_empty() {
        return Err(Error::internal("journal entry without legs"));
    }
    let total = Wal::checked_sum(legs.iter().map(|leg| leg.amount))
        .ok_or_else(|| Error::internal("journal entry legs overflow"))?;
    if !total.is_zero() {
        return Err(Error::internal(format!(
            "journal entry does not balance: legs sum to {total}"
        )));
    }
    // A BTreeMap merges per account and yields the keys in lock order; epoch changes
    // post entries with thousands of legs.
    let mut merged: std::collections::BTreeMap<String, Leg> = std::collections::BTreeMap::new();
    for leg in legs {
        match merged.entry(leg.account.key()) {
            std::collections::btree_map::Entry::Occupied(mut existing) => {
                let existing = existing.get_mut();
                existing.amount = existing
                    .amount
                    .checked_add(leg.amount)
                    .ok_or_else(|| Error::internal("journal leg overflow"))?;
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(*leg);
            }
        }
    }
    let merged: Vec<(String, Leg)> = merged
        .into_iter()
        .filter(|(_, leg)| !leg.amount.is_zero())
        .collect();
    if merged.is_empty() {
        return Err(Error::internal("journal entry moves nothing"));
    }
    Ok(merged)
}

/// Posts a balanced entry inside the caller's transaction, in one round trip: the
/// database function `journal_post` (see the migration) applies the legs in the
/// order given here and appends the entry and its lines.
pub async fn post(conn: &mut PgConnection, entry: &NewEntry<'_>) -> Result<PostedEntry, Error> {
    let legs = prepare_legs(&entry.legs)?;
    let mut accounts = Vec::with_capacity(legs.len());
    let mut stripes = Vec::with_capacity(legs.len());
    let mut amounts = Vec::with_capacity(legs.len());
    let mut may_go_negative = Vec::with_capacity(legs.len());
    for (key, leg) in legs {
        stripes.push(stripe_for(&leg));
        amounts.push(leg.amount.as_decimal());
        may_go_negative.push(leg.account.may_go_negative());
        accounts.push(key);
    }
    let actor = entry.actor.map(|a| a.to_string());
    let row = sqlx::query!(
        r#"SELECT new_id AS "id!", new_epoch AS "epoch!", new_created_at AS "created_at!"
           FROM journal_post($1, $2, $3, $4, $5, $6, $7)"#,
        entry.kind.as_str(),
        actor,
        entry.memo,
        &accounts,
        &stripes,
        &amounts,
        &may_go_negative
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(INSUFFICIENT_FUNDS_SQLSTATE) => {
            Error::InsufficientFunds(db.message().to_owned())
        }
        other => other.into(),
    })?;
    Ok(PostedEntry {
        id: row.id,
        epoch: row.epoch,
        created_at: row.created_at,
    })
}

/// Raised by `journal_post` when a debit would take an account below zero.
const INSUFFICIENT_FUNDS_SQLSTATE: &str = "WL001";

/// Which balance row a leg touches: credits land on a random stripe of a striped
/// account, so concurrent credits to a hot system account never queue on one row;
/// -1 asks `journal_post` to drain a striped account's stripes in order.
pub(crate) fn stripe_for(leg: &Leg) -> i16 {
    match leg.account.stripes() {
        1 => 0,
        _ if leg.amount.is_negative() => -1,
        n => rand::thread_rng().gen_range(0..n),
    }
}

/// An account's balance: the sum of its stripes; "0" for an account never seen.
pub async fn balance_of_key(conn: &mut PgConnection, key: &str) -> Result<Wal, Error> {
    let balance = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(balance), 0) AS "balance!" FROM balances WHERE account = $1"#,
        key
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Wal::from_decimal_unchecked(balance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::account::SystemAccount;

    fn user(n: u8) -> Account {
        Account::User(Address::from_bytes([n; 32]))
    }

    #[test]
    fn unbalanced_entries_are_refused() {
        let legs = [
            Leg::debit(user(1), Wal::from_wal(5)),
            Leg::credit(user(2), Wal::from_wal(4)),
        ];
        assert!(prepare_legs(&legs).is_err());
        assert!(prepare_legs(&[]).is_err());
    }

    #[test]
    fn legs_are_merged_and_ordered_by_key() {
        let burn = Account::System(SystemAccount::Burn);
        let legs = [
            Leg::debit(user(9), Wal::from_wal(5)),
            Leg::credit(user(1), Wal::from_wal(3)),
            Leg::credit(burn, Wal::from_wal(1)),
            Leg::credit(burn, Wal::from_wal(1)),
        ];
        let prepared = prepare_legs(&legs).unwrap();
        let keys: Vec<_> = prepared.iter().map(|(k, _)| k.clone()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(prepared.len(), 3);
        let burn_leg = prepared.iter().find(|(_, l)| l.account == burn).unwrap();
        assert_eq!(burn_leg.1.amount, Wal::from_wal(2));
    }

    #[test]
    fn legs_that_cancel_out_move_nothing() {
        let legs = [
            Leg::debit(user(1), Wal::from_wal(5)),
            Leg::credit(user(1), Wal::from_wal(5)),
        ];
        assert!(prepare_legs(&legs).is_err());
    }

    use proptest::prelude::*;

    proptest! {
        /// Any balanced set of legs: merging keeps each account's net change, leaves
        /// each account once, in lock order, and the result still sums to zero.
        #[test]
        fn merging_conserves_each_accounts_net(
            moves in proptest::collection::vec((0u8..6, 0u8..6, 1i64..1_000_000_000_000), 1..12)
        ) {
            let legs: Vec<Leg> = moves
                .iter()
                .flat_map(|&(from, to, frost)| {
                    [Leg::debit(user(from), Wal::from_frost(frost)), Leg::credit(user(to), Wal::from_frost(frost))]
                })
                .collect();
            let mut net = std::collections::BTreeMap::<String, Wal>::new();
            for leg in &legs {
                let entry = net.entry(leg.account.key()).or_insert(Wal::ZERO);
                *entry = entry.checked_add(leg.amount).unwrap();
            }
            net.retain(|_, amount| !amount.is_zero());
            match prepare_legs(&legs) {
                Ok(prepared) => {
                    let merged: std::collections::BTreeMap<String, Wal> =
                        prepared.iter().map(|(k, leg)| (k.clone(), leg.amount)).collect();
                    prop_assert_eq!(merged.len(), prepared.len());
                    prop_assert_eq!(&merged, &net);
                    let keys: Vec<&String> = prepared.iter().map(|(k, _)| k).collect();
                    prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(Wal::checked_sum(merged.values().copied()).unwrap().is_zero());
                }
                // Only an entry whose moves all cancel out is refused.
                Err(_) => prop_assert!(net.is_empty()),
            }
        }
    }
}
