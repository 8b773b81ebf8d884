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
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::account::{Account, Address};
use crate::error::Error;
use crate::money::Wal;

/// One side of an entry: a positive amount credits the account, a negative one debits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    pub account: Account,
    pub amount: Wal,
}

impl Leg {
    pub fn credit(account: Account, amount: Wal) -> Leg {
        Leg { account, amount }
    }

    pub fn debit(account: Account, amount: Wal) -> Leg {
        Leg {
            account,
            amount: amount.neg(),
        }
    }
}

/// An entry to post. `kind` names what happened ("transfer", "genesis_mint", ...).
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    pub kind: &'static str,
    /// The signer whose request caused this entry, if any.
    pub actor: Option<Address>,
    pub memo: Option<&'a str>,
    pub legs: Vec<Leg>,
}

#[derive(Clone, Debug)]
pub struct PostedEntry {
    pub id: i64,
    pub epoch: i64,
    pub created_at: DateTime<Utc>,
}

/// One row written to `journal_lines`.
struct Line {
    account: String,
    stripe: i16,
    amount: Decimal,
}

/// Checks the legs balance, merges legs of the same account and orders them by
/// account key: the global lock order.
fn prepare_legs(legs: &[Leg]) -> Result<Vec<(String, Leg)>, Error> {
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
    let mut merged: Vec<(String, Leg)> = Vec::with_capacity(legs.len());
    for leg in legs {
        let key = leg.account.key();
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => {
                existing.amount = existing
                    .amount
                    .checked_add(leg.amount)
                    .ok_or_else(|| Error::internal("journal leg overflow"))?;
            }
            None => merged.push((key, *leg)),
        }
    }
    merged.retain(|(_, leg)| !leg.amount.is_zero());
    if merged.is_empty() {
        return Err(Error::internal("journal entry moves nothing"));
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(merged)
}

/// Posts a balanced entry inside the caller's transaction.
pub async fn post(conn: &mut PgConnection, entry: &NewEntry<'_>) -> Result<PostedEntry, Error> {
    let legs = prepare_legs(&entry.legs)?;
    let mut lines = Vec::with_capacity(legs.len());
    for (key, leg) in &legs {
        if leg.amount.is_positive() {
            lines.push(credit(conn, key, leg).await?);
        } else if leg.account.stripes() == 1 {
            lines.push(debit_single(conn, key, leg).await?);
        } else {
            lines.extend(debit_striped(conn, key, leg).await?);
        }
    }
    let posted = insert_entry(conn, entry, &lines).await?;
    metrics::counter!("wal_journal_entries_posted_total", "kind" => entry.kind).increment(1);
    Ok(posted)
}

/// Credits one stripe: a random one for striped accounts, so that concurrent credits
/// to a hot system account land on different rows.
async fn credit(conn: &mut PgConnection, key: &str, leg: &Leg) -> Result<Line, Error> {
    let stripe: i16 = match leg.account.stripes() {
        1 => 0,
        n => rand::thread_rng().gen_range(0..n),
    };
    let amount = leg.amount.as_decimal();
    sqlx::query!(
        r#"INSERT INTO balances (account, stripe, balance) VALUES ($1, $2, $3)
           ON CONFLICT (account, stripe) DO UPDATE SET balance = balances.balance + EXCLUDED.balance"#,
        key,
        stripe,
        amount
    )
    .execute(&mut *conn)
    .await?;
    Ok(Line {
        account: key.to_owned(),
        stripe,
        amount,
    })
}

/// Debits a single-row account, refusing to take it below zero (unless it is the
/// issuance account, whose balance is minus the supply by design).
async fn debit_single(conn: &mut PgConnection, key: &str, leg: &Leg) -> Result<Line, Error> {
    let amount = leg.amount.as_decimal();
    let updated = if leg.account.may_go_negative() {
        sqlx::query_scalar!(
            r#"INSERT INTO balances (account, stripe, balance) VALUES ($1, 0, $2)
               ON CONFLICT (account, stripe) DO UPDATE SET balance = balances.balance + EXCLUDED.balance
               RETURNING balance"#,
            key,
            amount
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_scalar!(
            r#"UPDATE balances SET balance = balance + $2
               WHERE account = $1 AND stripe = 0 AND balance + $2 >= 0
               RETURNING balance"#,
            key,
            amount
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    if updated.is_none() {
        return Err(insufficient_funds(conn, key, leg.amount.abs()).await);
    }
    Ok(Line {
        account: key.to_owned(),
        stripe: 0,
        amount,
    })
}

/// Debits a striped account: locks all its stripes in order and drains them in order.
async fn debit_striped(conn: &mut PgConnection, key: &str, leg: &Leg) -> Result<Vec<Line>, Error> {
    let stripes = sqlx::query!(
        "SELECT stripe, balance FROM balances WHERE account = $1 ORDER BY stripe FOR UPDATE",
        key
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut remaining = leg.amount.abs().as_decimal();
    let mut lines = Vec::new();
    for row in stripes {
        if remaining.is_zero() {
            break;
        }
        let take = remaining.min(row.balance);
        if take.is_zero() {
            continue;
        }
        sqlx::query!(
            "UPDATE balances SET balance = balance - $3 WHERE account = $1 AND stripe = $2",
            key,
            row.stripe,
            take
        )
        .execute(&mut *conn)
        .await?;
        remaining -= take;
        lines.push(Line {
            account: key.to_owned(),
            stripe: row.stripe,
            amount: -take,
        });
    }
    if !remaining.is_zero() {
        return Err(insufficient_funds(conn, key, leg.amount.abs()).await);
    }
    Ok(lines)
}

async fn insufficient_funds(conn: &mut PgConnection, key: &str, needed: Wal) -> Error {
    let available = match balance_of_key(conn, key).await {
        Ok(balance) => balance,
        Err(err) => return err,
    };
    Error::InsufficientFunds(format!(
        "account {key} holds {available} WAL but {needed} WAL are needed"
    ))
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

async fn insert_entry(
    conn: &mut PgConnection,
    entry: &NewEntry<'_>,
    lines: &[Line],
) -> Result<PostedEntry, Error> {
    let accounts: Vec<String> = lines.iter().map(|l| l.account.clone()).collect();
    let stripes: Vec<i16> = lines.iter().map(|l| l.stripe).collect();
    let amounts: Vec<Decimal> = lines.iter().map(|l| l.amount).collect();
    let actor = entry.actor.map(|a| a.to_string());
    let row = sqlx::query!(
        r#"WITH entry AS (
               INSERT INTO journal_entries (kind, epoch, actor, memo)
               VALUES ($1, (SELECT coalesce(max(epoch), 0) FROM epochs), $2, $3)
               RETURNING id, epoch, created_at
           ), lines AS (
               INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)
               SELECT entry.id, l.ord::smallint, l.account, l.stripe, l.amount
               FROM entry, unnest($4::text[], $5::smallint[], $6::numeric[])
                    WITH ORDINALITY AS l(account, stripe, amount, ord)
           )
           SELECT id AS "id!", epoch AS "epoch!", created_at AS "created_at!" FROM entry"#,
        entry.kind,
        actor,
        entry.memo,
        &accounts,
        &stripes,
        &amounts
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(PostedEntry {
        id: row.id,
        epoch: row.epoch,
        created_at: row.created_at,
    })
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
