//! The batch's lock pass: every balance row the batch may touch, locked in the global
//! lock order in one round trip, with the epoch the entries are posted in and their ids.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::apply::{RowKey, Rows};
use crate::error::Error;
use crate::money::Wal;

/// How the lock pass takes the balance rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locking {
    /// `SELECT ... FOR UPDATE` in lock order: no new row versions, but it makes no row.
    /// When a row that a credit needs is missing, nothing is decided (`None`), and the
    /// caller runs the batch again in a fresh transaction with `Upsert` (taking the
    /// missing row now would break the lock order).
    Existing,
    /// One upsert in lock order that makes the missing rows too (and writes a new
    /// version of every row it locks).
    Upsert,
}

/// What the lock pass returned: the rows as they stand, and what the entries will carry.
pub(super) struct Locked {
    pub(super) rows: Rows,
    pub(super) created: BTreeSet<RowKey>,
    pub(super) epoch: i64,
    pub(super) now: DateTime<Utc>,
    pub(super) ids: Vec<i64>,
}

type LockRow = (
    i64,
    DateTime<Utc>,
    Vec<i64>,
    Option<Vec<String>>,
    Option<Vec<i16>>,
    Option<Vec<Decimal>>,
    Option<Vec<bool>>,
);

/// Without drains, one upsert in lock order locks the rows that exist and makes the
/// missing ones (a no-op update locks an existing row; `xmax = 0` marks a new one),
/// several times cheaper than `balances_lock`'s statement per row. A made row that no
/// line touches is removed again by `write`.
const LOCK_UPSERT: &str = "WITH l AS (
     INSERT INTO balances AS b (account, stripe, balance)
     SELECT w.account, w.stripe, 0 FROM unnest($1::text[], $2::smallint[], $3::bool[])
         AS w(account, stripe, made)
     ORDER BY w.account COLLATE \"C\", w.stripe
     ON CONFLICT (account, stripe) DO UPDATE SET balance = b.balance
     RETURNING b.account AS locked_account, b.stripe AS locked_stripe,
               b.balance AS locked_balance, (b.xmax = 0) AS created)";

/// The rows that exist, locked in lock order without writing them (the batch's write
/// statement then writes each changed row once, not twice).
const LOCK_EXISTING: &str = "WITH l AS MATERIALIZED (
     SELECT b.account AS locked_account, b.stripe AS locked_stripe,
            b.balance AS locked_balance, false AS created
     FROM balances b
     JOIN unnest($1::text[], $2::smallint[], $3::bool[]) AS w(account, stripe, made)
         ON b.account = w.account AND b.stripe = w.stripe
     ORDER BY b.account COLLATE \"C\", b.stripe
     FOR UPDATE OF b)";

/// One round trip: locks the rows (as `locking` says; with drains, `balances_lock`),
/// reads the epoch the entries are posted in and takes `ids` entry ids. `None` when
/// `Existing` found a row to make missing.
pub(super) async fn lock(
    conn: &mut PgConnection,
    wanted: &BTreeMap<RowKey, bool>,
    ids: usize,
    locking: Locking,
) -> Result<Option<Locked>, Error> {
    let accounts: Vec<&str> = wanted.keys().map(|(a, _)| a.as_str()).collect();
    let stripes: Vec<i16> = wanted.keys().map(|&(_, s)| s).collect();
    let create: Vec<bool> = wanted.values().copied().collect();
    let drains = stripes.iter().any(|&s| s < 0);
    let (with, source) = match (drains, locking) {
        (true, _) => ("", "balances_lock($1, $2, $3) AS l"),
        (false, Locking::Upsert) => (LOCK_UPSERT, "l"),
        (false, Locking::Existing) => (LOCK_EXISTING, "l"),
    };
    let sql = format!(
        "{with} SELECT (SELECT coalesce(max(e.epoch), 0) FROM epochs e), now(),
                ARRAY(SELECT nextval(pg_get_serial_sequence('journal_entries', 'id'))
                      FROM generate_series(1, $4)),
                array_agg(l.locked_account), array_agg(l.locked_stripe),
                array_agg(l.locked_balance), array_agg(l.created)
         FROM {source}"
    );
    let (epoch, now, ids, accounts, stripes, balances, made): LockRow = sqlx::query_as(&sql)
        .bind(&accounts)
        .bind(&stripes)
        .bind(&create)
        .bind(i32::try_from(ids).map_err(Error::internal)?)
        .fetch_one(&mut *conn)
        .await?;
    let mut rows = Rows::new();
    let mut created = BTreeSet::new();
    let locked = accounts.unwrap_or_default().into_iter();
    let locked = locked.zip(stripes.unwrap_or_default());
    let locked = locked.zip(
        balances
            .unwrap_or_default()
            .into_iter()
            .zip(made.unwrap_or_default()),
    );
    for ((account, stripe), (balance, made)) in locked {
        if made {
            created.insert((account.clone(), stripe));
        }
        rows.insert((account, stripe), Wal::from_decimal_unchecked(balance));
    }
    let missing = wanted
        .iter()
        .any(|(row, &made)| made && !rows.contains_key(row));
    if missing && !drains && locking == Locking::Existing {
        return Ok(None);
    }
    Ok(Some(Locked {
        rows,
        created,
        epoch,
        now,
        ids,
    }))
}
