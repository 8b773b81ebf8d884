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
mod journal_rows;
mod lock;

use std::collections::BTreeMap;
use std::future::Future;

use sqlx::{PgConnection, Postgres, QueryBuilder};

use self::apply::{Line, PlannedLeg, Refusal, RowKey};
use self::journal_rows::push_journal;
pub use self::lock::Locking;
use self::lock::{lock, Locked};
use super::account::Address;
use super::journal::{self, Leg, PostedEntry};
use super::kind::EntryKind;
use crate::error::Error;

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
