//! Batched commits of signed writes that are one journal entry and rows of their own
//! (transfers, storage purchases: `ledger::batch::Batched`): requests are verified in
//! parallel by their own tasks, then queued; committer tasks take whatever has queued
//! (up to `requests_max`) and run it in one database transaction: the rows locked and
//! each request decided (`ledger::batch::run`), then one statement that writes the
//! journal, the requests' own rows and every nonce and idempotency key, and one COMMIT. Each request stays all or nothing, and each
//! is answered only after the commit that holds it.
//!
//! Exactly once, as in `signed_tx`: two requests of a batch with the same nonce or key
//! never share a transaction (the later one waits for the next round, where it meets
//! the first's committed claim); a claim that meets another transaction's claim waits
//! for it, and when it was committed the whole batch is rolled back and run again
//! without that request, which is answered as a replay. Locks are taken in the global
//! order: balance rows (in one pass), then nonces, then keys, each sorted.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::Response;
use sqlx::types::Json;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::extract::Signed;
use super::signed_tx::{json_response, replayed_nonce};
use crate::error::Error;
use crate::ledger::batch::{run, Batched, Decided, Write};

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
    loop {
        let mut jobs = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
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
            commit(&pool, now).await;
            jobs = later;
        }
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

/// Commits `jobs` in one transaction and answers each; a request whose claim meets a
/// committed one is answered as a replay and the rest run again without it.
async fn commit<K: Batched>(pool: &PgPool, mut jobs: Vec<Job<K>>) {
    while !jobs.is_empty() {
        match attempt(pool, &jobs).await {
            Ok(Attempt::Committed(verdicts)) => {
                for (job, verdict) in jobs.into_iter().zip(verdicts) {
                    let _ = job.answer.send(verdict);
                }
                return;
            }
            Ok(Attempt::Clashed(mut clashes)) => {
                clashes.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
                for (i, verdict) in clashes {
                    let _ = jobs.swap_remove(i).answer.send(verdict);
                }
            }
            Err(error) => {
                for job in jobs {
                    let _ = job.answer.send(Verdict::Failed(same_error(&error)));
                }
                return;
            }
        }
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
}

async fn attempt<K: Batched>(pool: &PgPool, jobs: &[Job<K>]) -> Result<Attempt, Error> {
    let mut tx = pool.begin().await?;
    let requests: Vec<&K::Request> = jobs.iter().map(|job| &job.request).collect();
    let Decided {
        outcomes,
        mut write,
        ..
    } = run::<K>(&mut tx, &requests).await?;
    let mut verdicts = Vec::with_capacity(jobs.len());
    let mut claims = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        verdicts.push(match outcome {
            Ok(body) => {
                claims.push((i, body.clone()));
                Verdict::Posted(body)
            }
            Err(refused) => Verdict::Refused(refused),
        });
    }
    push_claims(&mut write, jobs, &claims);
    let (Json(fresh_nonces), Json(claimed_keys)): Claimed = write
        .select(
            "SELECT (SELECT coalesce(json_agg(json_build_array(address, nonce)), '[]') FROM nonce),
                    (SELECT coalesce(json_agg(json_build_array(address, key)), '[]') FROM claim)",
        )
        .build_query_as()
        .fetch_one(&mut *tx)
        .await?;
    let clashes = clashes(jobs, &claims, fresh_nonces, claimed_keys);
    if clashes.is_empty() {
        tx.commit().await?;
        Ok(Attempt::Committed(verdicts))
    } else {
        tx.rollback().await?;
        Ok(Attempt::Clashed(clashes))
    }
}

type Claimed = (Json<Vec<(String, String)>>, Json<Vec<(String, String)>>);

/// The nonces and keys of the posted jobs (`claims`: index and body) as CTEs `nonce` and
/// `claim` of the batch's write statement, as `signed_tx::claim` does for one: sorted,
/// so that batches claim in one order.
fn push_claims<K: Batched>(write: &mut Write<'_>, jobs: &[Job<K>], claims: &[(usize, Vec<u8>)]) {
    let mut nonces = (Vec::new(), Vec::new(), Vec::new());
    let mut keys = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, body) in claims {
        let job = &jobs[*i];
        let signer = job.signed.signer().to_string();
        nonces.0.push(signer.clone());
        nonces.1.push(job.signed.verified.nonce.clone());
        nonces.2.push(job.signed.nonce_expires_unix_secs as f64);
        if let Some(key) = &job.signed.idempotency_key {
            keys.0.push(signer);
            keys.1.push(key.clone());
            keys.2.push(job.signed.fingerprint.to_vec());
            keys.3.push(job.status.as_u16() as i16);
            keys.4.push(body.clone());
        }
    }
    write
        .cte("nonce")
        .push("INSERT INTO signature_nonces (address, nonce, expires_at)")
        .push(" SELECT n.address, n.nonce, to_timestamp(n.expires) FROM unnest(")
        .push_bind(nonces.0)
        .push("::text[], ")
        .push_bind(nonces.1)
        .push("::text[], ")
        .push_bind(nonces.2)
        .push("::float8[]) AS n(address, nonce, expires)")
        .push(r#" ORDER BY n.address COLLATE "C", n.nonce COLLATE "C""#)
        .push(" ON CONFLICT (address, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at")
        .push(" WHERE signature_nonces.expires_at < now() RETURNING address, nonce)");
    write
        .cte("claim")
        .push("INSERT INTO idempotency_keys")
        .push(" (address, key, fingerprint, response_status, response_body)")
        .push(" SELECT * FROM unnest(")
        .push_bind(keys.0)
        .push("::text[], ")
        .push_bind(keys.1)
        .push("::text[], ")
        .push_bind(keys.2)
        .push("::bytea[], ")
        .push_bind(keys.3)
        .push("::smallint[], ")
        .push_bind(keys.4)
        .push("::bytea[]) AS k(address, key, fingerprint, status, body)")
        .push(r#" ORDER BY k.address COLLATE "C", k.key COLLATE "C""#)
        .push(" ON CONFLICT (address, key) DO NOTHING RETURNING address, key)");
}

/// The posted jobs whose nonce or key the claim found taken.
fn clashes<K: Batched>(
    jobs: &[Job<K>],
    claims: &[(usize, Vec<u8>)],
    fresh_nonces: Vec<(String, String)>,
    claimed_keys: Vec<(String, String)>,
) -> Vec<(usize, Verdict)> {
    let fresh_nonces: HashSet<(String, String)> = fresh_nonces.into_iter().collect();
    let claimed_keys: HashSet<(String, String)> = claimed_keys.into_iter().collect();
    let mut clashes = Vec::new();
    for (i, _) in claims {
        let signed = &jobs[*i].signed;
        let signer = signed.signer().to_string();
        if !fresh_nonces.contains(&(signer.clone(), signed.verified.nonce.clone())) {
            clashes.push((*i, Verdict::ReplayedNonce));
        } else if let Some(key) = &signed.idempotency_key {
            if !claimed_keys.contains(&(signer, key.clone())) {
                clashes.push((*i, Verdict::KeyTaken));
            }
        }
    }
    clashes
}
