//! Batched commits of signed writes that are one journal entry and rows of their own
//! (transfers, storage purchases: `ledger::batch::Batched`): requests are verified in
//! parallel by their own tasks, then queued; committer tasks take whatever has queued
//! (up to `requests_max`) and run it in one database transaction: the rows locked and
//! each request decided (`ledger::batch::run`), then one statement that writes the
//! journal, the requests' own rows and every nonce and idempotency key (`claims`), and
//! one COMMIT, which opens the next batch's transaction when that one already waits
//! (`session`). Each request stays all or nothing, and each is answered only after the
//! commit that holds it.
//!
//! Exactly once, as in `signed_tx`: two requests of a batch with the same nonce or key
//! never share a transaction (the later one waits for the next round, where it meets
//! the first's committed claim); a claim that meets another transaction's claim waits
//! for it, and when it was committed the whole batch is rolled back and run again
//! (claiming carefully) without that request, which is answered as a replay. Locks are
//! taken in the global order: balance rows (in one pass), then nonces, then keys, each
//! sorted.

mod claims;
mod session;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::Response;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use self::claims::{Claim, Mode, Taken, Written};
use self::session::{End, Session};
use super::extract::Signed;
use super::signed_tx::{json_response, replayed_nonce};
use crate::error::Error;
use crate::ledger::batch::{run, Batched, Decided, Locking};

/// How requests are grouped (`WAL_BATCH_REQUESTS_MAX`, `WAL_BATCH_COMMITTERS`).
#[derive(Clone, Copy, Debug)]
pub struct BatchSettings {
    /// Most requests in one transaction (1 commits each request on its own).
    pub requests_max: usize,
    /// Transactions in flight at once: one commits while the next batch gathers.
    pub committers: usize,
}

/// The queue of one kind of batched write; its committers start with the first write.
pub struct Batcher<K: Batched> {
    pool: PgPool,
    settings: BatchSettings,
    queue: OnceLock<mpsc::Sender<Job<K>>>,
}

struct Job<K: Batched> {
    signed: Signed,
    request: K::Request,
    status: StatusCode,
    answer: oneshot::Sender<Verdict>,
}

/// What became of a queued request.
enum Verdict {
    /// Committed; the response body.
    Posted(Vec<u8>),
    /// Its entry was refused (say, insufficient funds) and nothing of it was written.
    Refused(Error),
    /// Its nonce was already taken.
    ReplayedNonce,
    /// Its idempotency key was already taken.
    KeyTaken,
    /// The whole batch failed (the database); nothing of it was written.
    Failed(Error),
}

impl<K: Batched> Batcher<K> {
    /// A batcher on `pool`; nothing runs until the first write.
    pub fn new(pool: PgPool, settings: BatchSettings) -> Batcher<K> {
        Batcher {
            pool,
            settings,
            queue: OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Job<K>> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_LEN);
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..self.settings.committers.max(1) {
                let (pool, receiver) = (self.pool.clone(), receiver.clone());
                tokio::spawn(commit_loop(pool, receiver, self.settings.requests_max));
            }
            sender
        })
    }
}

/// Requests waiting beyond this many make their senders wait (back-pressure).
const QUEUE_LEN: usize = 4096;

impl Signed {
    /// Runs a signed write in a batch of its kind: the answer is `status` with its body
    /// once the batch holding it committed, or its refusal.
    pub async fn write_batched<K: Batched>(
        &self,
        batcher: &Batcher<K>,
        status: StatusCode,
        request: K::Request,
    ) -> Result<Response, Error> {
        let gone = || Error::Unavailable("the ledger is shutting down; retry".into());
        let (answer, verdict) = oneshot::channel();
        let job = Job {
            signed: self.clone(),
            request,
            status,
            answer,
        };
        batcher.queue().send(job).await.map_err(|_| gone())?;
        match verdict.await.map_err(|_| gone())? {
            Verdict::Posted(body) => Ok(json_response(status, body, false)),
            Verdict::Refused(error) => self.answer_refused(&batcher.pool, error).await,
            Verdict::ReplayedNonce => Err(replayed_nonce(self, &self.signer().to_string())),
            Verdict::KeyTaken => self.answer_key_taken(&batcher.pool).await,
            Verdict::Failed(error) => Err(error),
        }
    }
}

async fn commit_loop<K: Batched>(
    pool: PgPool,
    queue: Arc<Mutex<mpsc::Receiver<Job<K>>>>,
    requests_max: usize,
) {
    let mut held: Option<Session> = None;
    loop {
        let mut jobs = {
            let mut queue = match queue.try_lock() {
                Ok(queue) => queue,
                Err(_) => {
                    // Another committer is gathering or waiting: the next jobs are
                    // not sure to be ours, so nothing stays open while this one waits.
                    release(&mut held).await;
                    queue.lock().await
                }
            };
            let first = match queue.try_recv() {
                Ok(job) => job,
                Err(_) => {
                    release(&mut held).await;
                    let Some(job) = queue.recv().await else {
                        return;
                    };
                    job
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < requests_max {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        metrics::histogram!("wal_batch_requests").record(jobs.len() as f64);
        while !jobs.is_empty() {
            let (now, later) = apart_from_duplicates(jobs);
            let more = !later.is_empty();
            let next_waits = || more || queue.try_lock().is_ok_and(|q| !q.is_empty());
            held = commit(&pool, held, now, &next_waits).await;
            jobs = later;
        }
    }
}

/// Ends a chained transaction no batch used and gives the connection back to the pool
/// (a session that cannot end it closes its connection instead).
async fn release(held: &mut Option<Session>) {
    if let Some(mut session) = held.take() {
        let _ = session.end_unused_chain().await;
    }
}

/// The jobs whose nonce and key are the first of their signer in the batch, and the rest.
fn apart_from_duplicates<K: Batched>(jobs: Vec<Job<K>>) -> (Vec<Job<K>>, Vec<Job<K>>) {
    let mut seen = HashSet::new();
    jobs.into_iter().partition(|job| {
        let signer = job.signed.signer().to_string();
        let nonce = ("nonce", signer.clone(), job.signed.verified.nonce.clone());
        let key = job
            .signed
            .idempotency_key
            .clone()
            .map(|k| ("key", signer, k));
        let fresh = !seen.contains(&nonce) && key.as_ref().is_none_or(|k| !seen.contains(k));
        if fresh {
            seen.insert(nonce);
            seen.extend(key);
        }
        fresh
    })
}

/// Commits `jobs` in one transaction on `held` (or a connection from the pool) and
/// answers each; a request whose claim meets a committed one is answered as a replay
/// and the rest run again without it. `next_waits` says, at the commit, whether another
/// batch is queued (the commit then chains its transaction). Returns the connection
/// unless it failed.
async fn commit<K: Batched>(
    pool: &PgPool,
    held: Option<Session>,
    mut jobs: Vec<Job<K>>,
    next_waits: &(dyn Fn() -> bool + Sync),
) -> Option<Session> {
    let mut session = match held {
        Some(session) => session,
        None => match Session::acquire(pool).await {
            Ok(session) => session,
            Err(error) => {
                fail_all(jobs, &error);
                return None;
            }
        },
    };
    let mut tried = Tried {
        locking: Locking::Existing,
        claims: Mode::Optimistic,
    };
    while !jobs.is_empty() {
        match attempt(&mut session, &jobs, tried, next_waits).await {
            Ok(Attempt::Committed(verdicts)) => {
                for (job, verdict) in jobs.into_iter().zip(verdicts) {
                    let _ = job.answer.send(verdict);
                }
                return Some(session);
            }
            Ok(Attempt::Clashed(mut clashes)) => {
                // Last first, each removed in place: the rest keep their order.
                clashes.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
                for (i, verdict) in clashes {
                    let _ = jobs.remove(i).answer.send(verdict);
                }
            }
            Ok(Attempt::Again(next)) => tried = next,
            Ok(Attempt::CommitFailed {
                verdicts,
                xid,
                error,
            }) => {
                drop(session);
                answer_after_failed_commit(pool, jobs, verdicts, &xid, error).await;
                return None;
            }
            Err(error) => {
                fail_all(jobs, &error);
                return None;
            }
        }
    }
    Some(session)
}

/// Answers a batch whose COMMIT failed as the database says the transaction ended.
async fn answer_after_failed_commit<K: Batched>(
    pool: &PgPool,
    jobs: Vec<Job<K>>,
    verdicts: Vec<Verdict>,
    xid: &str,
    error: sqlx::Error,
) {
    match crate::auth::outcome::after_failed_commit(pool, xid, error).await {
        Ok(()) => {
            for (job, verdict) in jobs.into_iter().zip(verdicts) {
                let _ = job.answer.send(verdict);
            }
        }
        Err(error) => fail_all(jobs, &error),
    }
}

fn fail_all<K: Batched>(jobs: Vec<Job<K>>, error: &Error) {
    for job in jobs {
        let _ = job.answer.send(Verdict::Failed(same_error(error)));
    }
}

fn same_error(error: &Error) -> Error {
    match error {
        Error::Unavailable(detail) => Error::Unavailable(detail.clone()),
        Error::Internal(cause) => Error::Internal(cause.clone()),
        other => Error::Internal(other.to_string()),
    }
}

enum Attempt {
    /// Committed; a verdict per job, in order.
    Committed(Vec<Verdict>),
    /// Rolled back: these jobs (by index) clashed with committed claims.
    Clashed(Vec<(usize, Verdict)>),
    /// COMMIT failed: whether transaction `xid` committed must be asked (the
    /// connection may have been lost after the server committed); the verdicts hold if
    /// it did.
    CommitFailed {
        verdicts: Vec<Verdict>,
        xid: String,
        error: sqlx::Error,
    },
    /// Rolled back, nothing answered: run again as this says (a row to make was
    /// missing, or an optimistic claim met a taken nonce or key).
    Again(Tried),
}

/// How a batch locks and claims: cheaply first, the general way after a miss.
#[derive(Clone, Copy, Debug)]
struct Tried {
    locking: Locking,
    claims: Mode,
}

/// One try at a batch: run, claim (as `tried` says), and commit, chaining the next
/// transaction if `next_waits`; or roll back and chain the retry.
async fn attempt<K: Batched>(
    session: &mut Session,
    jobs: &[Job<K>],
    tried: Tried,
    next_waits: &(dyn Fn() -> bool + Sync),
) -> Result<Attempt, Error> {
    let tx = session.begin().await?;
    let requests: Vec<&K::Request> = jobs.iter().map(|job| &job.request).collect();
    let Some(Decided { outcomes, write }) = run::<K>(tx, &requests, tried.locking).await? else {
        session.rollback(End::Chain).await?;
        return Ok(Attempt::Again(Tried {
            locking: Locking::Upsert,
            ..tried
        }));
    };
    let mut verdicts = Vec::with_capacity(jobs.len());
    let mut posted = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        verdicts.push(match outcome {
            Ok(body) => {
                posted.push((i, body.clone()));
                Verdict::Posted(body)
            }
            Err(refused) => Verdict::Refused(refused),
        });
    }
    let claims: Vec<Claim<'_>> = posted
        .iter()
        .map(|(i, body)| Claim::of(&jobs[*i].signed, jobs[*i].status, body))
        .collect();
    let (clashes, xid) = match claims::write(write, &claims, tried.claims, tx).await {
        Ok(Written { taken, xid }) => (
            taken
                .into_iter()
                .map(|(at, taken)| (posted[at].0, verdict_of(taken)))
                .collect::<Vec<_>>(),
            xid,
        ),
        Err(error) if tried.claims == Mode::Optimistic && claims::is_taken(&error) => {
            session.rollback(End::Chain).await?;
            return Ok(Attempt::Again(Tried {
                claims: Mode::Careful,
                ..tried
            }));
        }
        Err(error) => return Err(error.into()),
    };
    if clashes.is_empty() {
        let end = if next_waits() { End::Chain } else { End::Plain };
        match session.commit(end).await {
            Ok(()) => Ok(Attempt::Committed(verdicts)),
            Err(error) => Ok(Attempt::CommitFailed {
                verdicts,
                xid,
                error,
            }),
        }
    } else {
        session.rollback(End::Chain).await?;
        Ok(Attempt::Clashed(clashes))
    }
}

fn verdict_of(taken: Taken) -> Verdict {
    match taken {
        Taken::Nonce => Verdict::ReplayedNonce,
        Taken::Key => Verdict::KeyTaken,
    }
}
