//! Posting the journal entries of many requests in one transaction (batched commits):
//! lock every balance row the batch may touch in one pass in the global lock order,
//! decide entry by entry which apply (`apply`, the same rule as `journal_post`), then
//! write the balances, the entries and their lines in one statement. Each entry stays
//! all or nothing: a refused one writes nothing and the others still apply.
//!
//! Two round trips for the whole batch (the lock pass, then one statement that writes
//! the journal, the kind's own rows and the claims), against one per entry with
//! `journal::post`.

pub mod apply;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use self::apply::{Line, PlannedLeg, Refusal, RowKey, Rows};
use super::account::Address;
use super::journal::{self, Leg, PostedEntry};
use super::kind::EntryKind;
use crate::error::Error;
use crate::money::Wal;

/// An entry of a batch: what `journal::NewEntry` holds, owned (it waits in a queue).
#[derive(Clone, Debug)]
pub struct BatchEntry {
    /// What the entry records.
    pub kind: EntryKind,
    /// The signer whose request caused the entry.
    pub actor: Option<Address>,
    /// Free text kept with the entry.
    pub memo: Option<String>,
    /// The legs; they must sum to zero.
    pub legs: Vec<Leg>,
}

/// A kind of signed write committed in batches (a transfer, a storage purchase): one
/// journal entry per request, and rows of its own, written for all posted requests of
/// the batch in the same statement as their entries. `run` drives it inside the
/// batch's transaction.
pub trait Batched: Send + Sync + 'static {
    /// A request as its handler validated it (everything that needs no database).
    type Request: Send + Sync + 'static;
    /// What the batch reads once, before any request (the epoch lock and prices).
    type Context: Send + Sync;
    /// What `plan` decided for one request and the rows it writes need (a quote).
    type Plan: Send;

    /// Runs first in the batch's transaction, for a batch of `requests` requests.
    fn begin(
        conn: &mut PgConnection,
        requests: usize,
    ) -> impl Future<Output = Result<Self::Context, Error>> + Send;

    /// The request's journal entry in this batch, or why it is refused.
    fn plan(
        context: &Self::Context,
        request: &Self::Request,
    ) -> Result<(BatchEntry, Self::Plan), Error>;

    /// Adds the posted requests' own rows to the batch's write statement, as
    /// data-modifying CTEs (`Write::cte`; none for a kind without rows), and returns each
    /// one's response body, in order.
    fn finish(
        context: &Self::Context,
        posted: &[Posted<'_, Self>],
        write: &mut Write<'_>,
    ) -> Result<Vec<Vec<u8>>, Error>;
}

/// A request whose entry was posted, with its plan and what the journal assigned.
pub struct Posted<'a, K: Batched + ?Sized> {
    /// The request.
    pub request: &'a K::Request,
    /// What `plan` decided for it.
    pub plan: K::Plan,
    /// The entry's id, epoch and time.
    pub entry: PostedEntry,
}

/// The batch's one write statement, built up by the journal, the kind and the claims:
/// `WITH <cte>, <cte>, ... SELECT ...`, each CTE named and binding its own arrays.
pub struct Write<'a> {
    builder: QueryBuilder<'a, Postgres>,
    ctes: usize,
}

impl<'a> Write<'a> {
    fn new() -> Write<'a> {
        Write {
            builder: QueryBuilder::new("WITH "),
            ctes: 0,
        }
    }

    /// Starts the next CTE `name AS (`; the caller pushes its body and `)`.
    pub fn cte(&mut self, name: &str) -> &mut QueryBuilder<'a, Postgres> {
        if self.ctes > 0 {
            self.builder.push(", ");
        }
        self.ctes += 1;
        self.builder.push(name).push(" AS (");
        &mut self.builder
    }

    /// Ends the CTEs with the statement's `SELECT` (its text, then whatever it binds).
    pub fn select(&mut self, select: &str) -> &mut QueryBuilder<'a, Postgres> {
        if self.ctes == 0 {
            self.cte("nothing").push("SELECT 1)");
        }
        self.builder.push(" ").push(select);
        &mut self.builder
    }
}

/// What a batch decided for its requests, before anything is written.
pub struct Decided {
    /// Each request's body, or its refusal.
    pub outcomes: Vec<Result<Vec<u8>, Error>>,
    /// The write statement so far: the journal's and the kind's rows.
    pub write: Write<'static>,
}

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

/// Runs a batch of `K` requests in the caller's transaction up to its write statement:
/// begin, plan each, lock (as `locking` says) and decide (one round trip), render the
/// posted ones. The caller adds its CTEs and the `SELECT` to `write` and runs it:
/// nothing is written before. The outer error fails the whole batch; `None`: see
/// `Locking::Existing`.
pub async fn run<K: Batched>(
    conn: &mut PgConnection,
    requests: &[&K::Request],
    locking: Locking,
) -> Result<Option<Decided>, Error> {
    let context = K::begin(conn, requests.len()).await?;
    let mut planned = Vec::with_capacity(requests.len());
    let mut outcomes: Vec<Option<Result<Vec<u8>, Error>>> = Vec::with_capacity(requests.len());
    let mut entries = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        match K::plan(&context, request) {
            Ok((entry, plan)) => {
                entries.push(entry);
                planned.push((i, plan));
                outcomes.push(None);
            }
            Err(refused) => outcomes.push(Some(Err(refused))),
        }
    }
    let entry_refs: Vec<&BatchEntry> = entries.iter().collect();
    let Some((results, mut write)) = decide(conn, &entry_refs, locking).await? else {
        return Ok(None);
    };
    let mut posted = Vec::new();
    let mut posted_at = Vec::new();
    for ((i, plan), result) in planned.into_iter().zip(results) {
        match result {
            Ok(entry) => {
                posted.push(Posted {
                    request: requests[i],
                    plan,
                    entry,
                });
                posted_at.push(i);
            }
            Err(refused) => outcomes[i] = Some(Err(refused)),
        }
    }
    let bodies = K::finish(&context, &posted, &mut write)?;
    for (i, body) in posted_at.into_iter().zip(bodies) {
        outcomes[i] = Some(Ok(body));
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| Error::internal("a batched request got no answer")))
        .collect::<Result<_, _>>()?;
    Ok(Some(Decided { outcomes, write }))
}

/// What the lock pass returned: the rows as they stand, and what the entries will carry.
struct Locked {
    rows: Rows,
    created: BTreeSet<RowKey>,
    epoch: i64,
    now: DateTime<Utc>,
    ids: Vec<i64>,
}

/// The accepted entries and their lines, ready to write.
#[derive(Default)]
struct Writes {
    ids: Vec<i64>,
    kinds: Vec<String>,
    actors: Vec<Option<String>>,
    memos: Vec<Option<String>>,
    lines: Vec<(i64, Line)>,
}

/// Posts `entries` in the caller's transaction, in order: each is posted or refused on
/// its own (`InsufficientFunds` with `journal_post`'s text). The outer error is a
/// failure of the whole batch (the database), after which the caller rolls back.
pub async fn post_all(
    conn: &mut PgConnection,
    entries: &[&BatchEntry],
) -> Result<Vec<Result<PostedEntry, Error>>, Error> {
    let (outcomes, mut write) = decide(conn, entries, Locking::Upsert)
        .await?
        .ok_or_else(|| Error::internal("the upsert lock pass made no row"))?;
    write.select("SELECT 1").build().execute(&mut *conn).await?;
    Ok(outcomes)
}

/// Locks the rows and decides each entry (one round trip); returns the outcomes and the
/// write statement's journal CTEs, not yet run.
async fn decide(
    conn: &mut PgConnection,
    entries: &[&BatchEntry],
    locking: Locking,
) -> Result<Option<(Vec<Result<PostedEntry, Error>>, Write<'static>)>, Error> {
    let mut plans: Vec<Result<Vec<PlannedLeg>, Error>> =
        entries.iter().map(|e| plan(&e.legs)).collect();
    one_stripe_per_account(plans.iter_mut().flatten().flatten());
    let wanted = rows_to_lock(plans.iter().flatten().flatten());
    let planned = plans.iter().filter(|p| p.is_ok()).count();
    let Locked {
        mut rows,
        created,
        epoch,
        now,
        ids,
    } = match lock(conn, &wanted, planned, locking).await? {
        Some(locked) => locked,
        None => return Ok(None),
    };
    let before = rows.clone();
    let mut ids = ids.into_iter();
    let mut writes = Writes::default();
    let mut outcomes = Vec::with_capacity(entries.len());
    for (entry, plan) in entries.iter().zip(plans) {
        let outcome = plan.and_then(|legs| {
            let lines = apply::apply(&mut rows, &legs).map_err(refused)?;
            let id = ids
                .next()
                .ok_or_else(|| Error::internal("batch ids ran out"))?;
            writes.push(id, entry, lines);
            Ok(PostedEntry {
                id,
                epoch,
                created_at: now,
            })
        });
        outcomes.push(outcome);
    }
    let mut write = Write::new();
    push_journal(&mut write, &before, &rows, &created, epoch, writes);
    Ok(Some((outcomes, write)))
}

fn refused(refusal: Refusal) -> Error {
    match refusal {
        Refusal::Shortfall { .. } => Error::InsufficientFunds(refusal.message()),
        Refusal::Overflow => Error::internal(refusal.message()),
    }
}

impl Writes {
    fn push(&mut self, id: i64, entry: &BatchEntry, lines: Vec<Line>) {
        self.ids.push(id);
        self.kinds.push(entry.kind.as_str().to_owned());
        self.actors.push(entry.actor.map(|a| a.to_string()));
        self.memos.push(entry.memo.clone());
        self.lines.extend(lines.into_iter().map(|line| (id, line)));
    }
}

/// The legs of an entry as `journal_post` would apply them: checked to balance, merged
/// per account, in lock order, each with its stripe chosen (`journal::stripe_for`).
fn plan(legs: &[Leg]) -> Result<Vec<PlannedLeg>, Error> {
    Ok(journal::prepare_legs(legs)?
        .into_iter()
        .map(|(account, leg)| PlannedLeg {
            account,
            stripe: journal::stripe_for(&leg),
            amount: leg.amount,
            may_go_negative: leg.account.may_go_negative(),
        })
        .collect())
}

/// Credits of a striped account land on one stripe per batch (the first one chosen for
/// it): a batch then locks one row of a hot account, not up to all its stripes, and a
/// concurrent batch most likely picks another. Single-row accounts are unchanged.
fn one_stripe_per_account<'a>(legs: impl Iterator<Item = &'a mut PlannedLeg>) {
    let mut chosen: BTreeMap<String, i16> = BTreeMap::new();
    for leg in legs {
        if leg.amount.is_positive() {
            leg.stripe = *chosen.entry(leg.account.clone()).or_insert(leg.stripe);
        }
    }
}

/// Every row the legs may touch, in lock order, with whether a missing one is made (a
/// credit's row, or the issuance account's). A drain (-1) sorts before the account's rows.
fn rows_to_lock<'a>(legs: impl Iterator<Item = &'a PlannedLeg>) -> BTreeMap<RowKey, bool> {
    let mut wanted = BTreeMap::new();
    for leg in legs {
        let create = leg.amount.is_positive() || leg.may_go_negative;
        let stripe = if create {
            leg.stripe.max(0)
        } else {
            leg.stripe
        };
        let made = wanted.entry((leg.account.clone(), stripe)).or_insert(false);
        *made |= create;
    }
    wanted
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
async fn lock(
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

/// Each row's net change over the batch (rows that did not change are left out).
fn row_changes(before: &Rows, after: &Rows) -> (Vec<String>, Vec<i16>, Vec<Decimal>) {
    let mut changes = (Vec::new(), Vec::new(), Vec::new());
    for ((account, stripe), balance) in after {
        let was = before.get(&(account.clone(), *stripe)).copied();
        let delta = balance.as_decimal() - was.unwrap_or(Wal::ZERO).as_decimal();
        if !delta.is_zero() {
            changes.0.push(account.clone());
            changes.1.push(*stripe);
            changes.2.push(delta);
        }
    }
    changes
}

/// Rows the lock pass made that no line of the batch touches: removed before COMMIT.
fn unused_rows<'a>(created: &'a BTreeSet<RowKey>, lines: &[(i64, Line)]) -> Vec<&'a RowKey> {
    let touched: BTreeSet<(&str, i16)> = lines
        .iter()
        .map(|(_, l)| (l.account.as_str(), l.stripe))
        .collect();
    created
        .iter()
        .filter(|(a, s)| !touched.contains(&(a.as_str(), *s)))
        .collect()
}

type LineColumns = (Vec<i64>, Vec<i16>, Vec<String>, Vec<i16>, Vec<Decimal>);

/// The lines as columns, numbered from 1 within each entry (as `journal_post` does).
fn line_columns(lines: &[(i64, Line)]) -> LineColumns {
    let mut columns: LineColumns = Default::default();
    let mut line_no = 0i16;
    for (i, (id, line)) in lines.iter().enumerate() {
        let same_entry = i > 0 && lines[i - 1].0 == *id;
        line_no = if same_entry { line_no + 1 } else { 1 };
        columns.0.push(*id);
        columns.1.push(line_no);
        columns.2.push(line.account.clone());
        columns.3.push(line.stripe);
        columns.4.push(line.amount.as_decimal());
    }
    columns
}

/// The journal's part of the write statement: each changed row moves by its net change,
/// rows made by the lock pass that no entry credited are removed again, and the entries
/// and lines are appended.
fn push_journal(
    write: &mut Write<'static>,
    before: &Rows,
    after: &Rows,
    created: &BTreeSet<RowKey>,
    epoch: i64,
    writes: Writes,
) {
    let unused = unused_rows(created, &writes.lines);
    let moved = row_changes(before, after);
    let lines = line_columns(&writes.lines);
    write
        .cte("moved")
        .push("UPDATE balances b SET balance = b.balance + d.delta FROM unnest(")
        .push_bind(moved.0)
        .push("::text[], ")
        .push_bind(moved.1)
        .push("::smallint[], ")
        .push_bind(moved.2)
        .push("::numeric[]) AS d(account, stripe, delta)")
        .push(" WHERE b.account = d.account AND b.stripe = d.stripe)");
    write
        .cte("unused")
        .push("DELETE FROM balances b USING unnest(")
        .push_bind(unused.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>())
        .push("::text[], ")
        .push_bind(unused.iter().map(|(_, s)| *s).collect::<Vec<_>>())
        .push("::smallint[]) AS u(account, stripe)")
        .push(" WHERE b.account = u.account AND b.stripe = u.stripe)");
    write
        .cte("entries")
        .push("INSERT INTO journal_entries (id, kind, epoch, actor, memo) OVERRIDING SYSTEM VALUE")
        .push(" SELECT u.id, u.kind, ")
        .push_bind(epoch)
        .push(", u.actor, u.memo FROM unnest(")
        .push_bind(writes.ids)
        .push("::bigint[], ")
        .push_bind(writes.kinds)
        .push("::text[], ")
        .push_bind(writes.actors)
        .push("::text[], ")
        .push_bind(writes.memos)
        .push("::text[]) AS u(id, kind, actor, memo))");
    write
        .cte("lines")
        .push("INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)")
        .push(" SELECT * FROM unnest(")
        .push_bind(lines.0)
        .push("::bigint[], ")
        .push_bind(lines.1)
        .push("::smallint[], ")
        .push_bind(lines.2)
        .push("::text[], ")
        .push_bind(lines.3)
        .push("::smallint[], ")
        .push_bind(lines.4)
        .push("::numeric[]))");
}
