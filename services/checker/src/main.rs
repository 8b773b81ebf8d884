//! `wal-checker`: the proof-of-storage checker. Each epoch it challenges every
//! committee node `audit_challenges_per_epoch` times, spread over the epoch at random
//! moments, for random chunks of random slivers it holds (of certified, unexpired
//! blobs); verifies each answer against the blob metadata and the node's signature
//! over a fresh nonce; reports the results to the ledger (auditor role) in batches,
//! durably and at most once; and repairs, at the start of each epoch: slivers of shards
//! that changed holder at the change (a jailed node's shards move), and slivers the
//! previous epoch's challenges found missing or wrong, are rebuilt from any k verified
//! slivers and stored on their holder. (A loss is repaired only once its epoch has
//! closed, so that every challenge of that epoch still counts it. The losses come from
//! the ledger's record of the closed epoch, so a restarted checker repairs them too.)
//!
//! A timeout or an unreachable node is asked again (a new challenge for the same
//! chunk) up to `WAL_CHECKER_REASKS` times, `WAL_CHECKER_REASK_DELAY_MS` apart, before
//! it counts (Storj-style containment): a node that is briefly slow or restarting is
//! not failed for it.
//!
//! Configuration (environment): `WAL_CHECKER_KEY_FILE` (the auditor key, required),
//! `WAL_LEDGER_URL` (http://127.0.0.1:8080), `WAL_CHECKER_STATE_DIR`
//! (wal-checker-state: the report spool), `WAL_CHECKER_CONCURRENCY` (32 challenges at
//! once), `WAL_CHECKER_TIMEOUT_MS` (5000 per answer), `WAL_CHECKER_REASKS` (2),
//! `WAL_CHECKER_REASK_DELAY_MS` (10000).

mod ledger;
mod plan;
mod probe;
mod repair;
mod report;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::sync::{watch, Semaphore};
use wal::client::LedgerClient;
use wal::wire::{AuditResult, Outcome};

use wal::client::repair::Placed;
use wal::wire::StoredBlob;

use crate::ledger::Member;
use crate::report::{Reported, Reporter};

struct Checker {
    ledger: Arc<LedgerClient>,
    http: reqwest::Client,
    reporter: Reporter,
    permits: Arc<Semaphore>,
    timeout: Duration,
    reasks: u32,
    reask_delay: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    wal::logging::init();
    let key_file = PathBuf::from(
        std::env::var("WAL_CHECKER_KEY_FILE")
            .map_err(|_| anyhow::anyhow!("set WAL_CHECKER_KEY_FILE to the auditor's key file"))?,
    );
    let key = wal::client::keyfile::read(&key_file)?;
    let ledger_url = env_or("WAL_LEDGER_URL", "http://127.0.0.1:8080");
    let state_dir = PathBuf::from(env_or("WAL_CHECKER_STATE_DIR", "wal-checker-state"));
    let concurrency: usize = env_or("WAL_CHECKER_CONCURRENCY", "32").parse()?;
    let timeout = Duration::from_millis(env_or("WAL_CHECKER_TIMEOUT_MS", "5000").parse()?);
    let reasks: u32 = env_or("WAL_CHECKER_REASKS", "2").parse()?;
    let reask_delay = Duration::from_millis(env_or("WAL_CHECKER_REASK_DELAY_MS", "10000").parse()?);
    anyhow::ensure!(
        concurrency > 0,
        "WAL_CHECKER_CONCURRENCY must be at least 1"
    );
    let ledger = Arc::new(LedgerClient::new(
        &ledger_url,
        Some(key),
        Duration::from_secs(10),
    ));
    let reporter = report::start(&state_dir, ledger.clone()).await?;
    let checker = Arc::new(Checker {
        ledger,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
        reporter,
        permits: Arc::new(Semaphore::new(concurrency)),
        timeout,
        reasks,
        reask_delay,
    });
    println!("checking the ledger at {ledger_url}");
    tracing::info!(%ledger_url, "checker running");
    let mut repaired_for: Repairs = None;
    loop {
        if let Err(e) = audit_epoch(&checker, &mut repaired_for).await {
            tracing::warn!(error = %e, "cannot audit now; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A receiver that changes once the ledger's epoch is no longer `epoch`.
fn watch_epoch(ledger: Arc<LedgerClient>, epoch: i64) -> watch::Receiver<bool> {
    let (ended, receiver) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match ledger::current_epoch_number(&ledger).await {
                Ok(now) if now != epoch => {
                    let _ = ended.send(true);
                    return;
                }
                _ if ended.is_closed() => return,
                _ => {}
            }
        }
    });
    receiver
}

/// The committee as the checker sees it during an epoch: refreshed every few seconds,
/// so a node that changes its endpoint or protocol key mid-epoch is asked where it is
/// now and judged by its key now.
type Members = Arc<RwLock<HashMap<String, Member>>>;

/// (blob, shard) pairs whose holder may not have the sliver yet (its shard moved at
/// the change, or the closed epoch found it lost), each with how often its holder
/// refused the rebuilt sliver or could not be reached: not challenged until repaired,
/// or until the holder has had `HOLDER_CHANCES` and not taken it (then it is its own
/// fault, and challenges find it).
type Pending = Arc<Mutex<HashMap<(String, u32), u32>>>;

const HOLDER_CHANCES: u32 = 3;

/// The epoch whose repairs have started, and what they still have to do.
type Repairs = Option<(i64, Pending)>;

fn refresh_members(ledger: Arc<LedgerClient>, members: Members, mut ended: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = ended.changed() => return,
            }
            if let Ok(epoch) = ledger::epoch(&ledger, None).await {
                let mut known = members.write().expect("not poisoned");
                for member in epoch.committee {
                    if let Some(m) = known.get_mut(&member.node_id) {
                        *m = member;
                    }
                }
            }
        }
    });
}

/// What the new epoch must repair before it challenges it: the slivers of shards that
/// changed holder, those the closed epoch found lost, and what the last epoch's
/// repairs left; only of blobs still stored. Starts the repairs.
async fn start_repairs(
    checker: &Arc<Checker>,
    epoch: &ledger::Epoch,
    blobs: &Arc<Vec<StoredBlob>>,
    last: Repairs,
    ended: &watch::Receiver<bool>,
) -> Result<Pending, String> {
    let pending: Pending = Arc::default();
    if epoch.epoch == 0 {
        return Ok(pending);
    }
    let ledger = &checker.ledger;
    let previous = ledger::epoch(ledger, Some(epoch.epoch - 1))
        .await
        .map_err(|e| e.to_string())?;
    // The closed epoch's record is final: results still on their way are refused.
    let losses = ledger::losses(ledger, epoch.epoch - 1)
        .await
        .map_err(|e| e.to_string())?;
    let stored: HashSet<&str> = blobs.iter().map(|b| b.blob_id.as_str()).collect();
    {
        let mut suspects = pending.lock().expect("not poisoned");
        for shard in repair::moved_shards(&previous.committee, &epoch.committee) {
            suspects.extend(blobs.iter().map(|b| ((b.blob_id.clone(), shard), 0)));
        }
        let left_over = last
            .map(|(_, p)| {
                p.lock()
                    .expect("not poisoned")
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for pair in losses.into_iter().chain(left_over) {
            if stored.contains(pair.0.as_str()) {
                suspects.insert(pair, 0);
            }
        }
    }
    let (checker, committee, blobs, repairs, ended) = (
        checker.clone(),
        epoch.committee.clone(),
        blobs.clone(),
        pending.clone(),
        ended.clone(),
    );
    tokio::spawn(async move {
        repair(
            &checker,
            &previous.committee,
            &committee,
            &blobs,
            &repairs,
            ended,
        )
        .await
    });
    Ok(pending)
}

/// Audits the current epoch until it ends.
async fn audit_epoch(checker: &Arc<Checker>, repaired_for: &mut Repairs) -> Result<(), String> {
    let ledger = &checker.ledger;
    let epoch = ledger::epoch(ledger, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut ended = watch_epoch(ledger.clone(), epoch.epoch);
    let blobs = Arc::new(
        ledger::stored_blobs(ledger)
            .await
            .map_err(|e| e.to_string())?,
    );
    let pending = match repaired_for {
        Some((e, pending)) if *e == epoch.epoch => pending.clone(),
        _ => {
            let pending =
                start_repairs(checker, &epoch, &blobs, repaired_for.take(), &ended).await?;
            *repaired_for = Some((epoch.epoch, pending.clone()));
            pending
        }
    };
    if epoch.committee.is_empty() || blobs.is_empty() {
        // Nothing to audit yet: look again soon.
        let _ = tokio::time::timeout(Duration::from_secs(1), ended.changed()).await;
        return Ok(());
    }
    let target = ledger::challenges_per_epoch(ledger)
        .await
        .map_err(|e| e.to_string())?;
    let recorded = ledger::recorded(ledger, epoch.epoch)
        .await
        .map_err(|e| e.to_string())?;
    let members: Members = Arc::new(RwLock::new(
        epoch
            .committee
            .iter()
            .map(|m| (m.node_id.clone(), m.clone()))
            .collect(),
    ));
    refresh_members(ledger.clone(), members.clone(), ended.clone());
    // Leave room at the end of the epoch for the last challenges' re-asks.
    let left = (epoch.ends_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let reserve = (checker.reask_delay + checker.timeout) * (checker.reasks + 1);
    let window = left.saturating_sub(reserve).max(left / 2);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let start = tokio::time::Instant::now();
    let mut schedule = Vec::new();
    for member in &epoch.committee {
        let done = recorded.get(&member.node_id).copied().unwrap_or(0);
        for at in plan::spread(target.saturating_sub(done), window, &mut rng) {
            schedule.push((start + at, member.node_id.clone(), member.shards.clone()));
        }
    }
    schedule.sort_by_key(|(at, _, _)| *at);
    tracing::info!(
        epoch = epoch.epoch,
        challenges = schedule.len(),
        ?window,
        "auditing"
    );
    for (at, node_id, shards) in schedule {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = ended.changed() => return Ok(()),
        }
        let challenge = Challenge {
            checker: checker.clone(),
            epoch: epoch.epoch,
            node_id,
            shards,
            blobs: blobs.clone(),
            members: members.clone(),
            pending: pending.clone(),
            ended: ended.clone(),
        };
        tokio::spawn(challenge.run());
    }
    let _ = ended.changed().await;
    Ok(())
}

/// One scheduled challenge of one node.
struct Challenge {
    checker: Arc<Checker>,
    epoch: i64,
    node_id: String,
    shards: Vec<u32>,
    blobs: Arc<Vec<StoredBlob>>,
    members: Members,
    pending: Pending,
    ended: watch::Receiver<bool>,
}

impl Challenge {
    /// Draws a sliver that is not awaiting repair (waiting while all of the node's
    /// are), asks, re-asks after a timeout or an unreachable node, and reports.
    async fn run(self) {
        let (blob, shard, chunk) = loop {
            let drawn = {
                let pending = self.pending.lock().expect("not poisoned");
                let mut rng = rand::rngs::StdRng::from_entropy();
                plan::draw(&self.blobs, &self.shards, &mut rng, |blob, shard| {
                    pending.contains_key(&(blob.to_owned(), shard))
                })
            };
            if let Some(drawn) = drawn {
                break drawn;
            }
            if *self.ended.borrow() {
                return;
            }
            // Jittered, so that waiting challenges do not all fire at one moment.
            let wait = rand::rngs::StdRng::from_entropy().gen_range(250..750);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        };
        let blob = &self.blobs[blob];
        let checker = &self.checker;
        let mut attempt = 0;
        let found = loop {
            let member = self.members.read().expect("not poisoned")[&self.node_id].clone();
            let Some(key) = member.key() else {
                tracing::error!(node = %member.node_id, "the ledger gave an invalid protocol key");
                return;
            };
            let found = {
                let _permit = checker.permits.acquire().await.expect("open semaphore");
                let target = probe::Target {
                    endpoint: &member.endpoint,
                    node_key: &key,
                    metadata: &blob.metadata,
                    blob_id: &blob.blob_id,
                    shard,
                    chunk,
                };
                probe::probe(&checker.http, &target, checker.timeout).await
            };
            let retry = matches!(found.outcome, Outcome::Timeout | Outcome::Unreachable);
            if !retry || attempt >= checker.reasks {
                break found;
            }
            attempt += 1;
            tokio::time::sleep(checker.reask_delay).await;
        };
        checker.reporter.send(Reported {
            epoch: self.epoch,
            result: AuditResult {
                challenge_id: found.nonce,
                node_id: self.node_id.clone(),
                blob_id: blob.blob_id.clone(),
                shard,
                chunk,
                outcome: found.outcome,
                evidence: found.evidence,
            },
        });
    }
}

/// Repairs of one blob at once, at most.
const REPAIRS_PARALLEL: usize = 8;

/// Stores on their holders the slivers awaiting repair (shards that changed holder,
/// slivers found lost), several blobs at once, retrying with backoff until every one
/// is in place, its holder has had its chances, or the epoch ends.
async fn repair(
    checker: &Arc<Checker>,
    previous: &[Member],
    committee: &[Member],
    blobs: &[StoredBlob],
    pending: &Pending,
    ended: watch::Receiver<bool>,
) {
    let by_id: HashMap<&str, &StoredBlob> = blobs.iter().map(|b| (b.blob_id.as_str(), b)).collect();
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut work: HashMap<&str, (&StoredBlob, Vec<u32>)> = HashMap::new();
        for (blob_id, shard) in pending.lock().expect("not poisoned").keys() {
            if let Some(&blob) = by_id.get(blob_id.as_str()) {
                work.entry(blob.blob_id.as_str())
                    .or_insert_with(|| (blob, Vec::new()))
                    .1
                    .push(*shard);
            }
        }
        let permits = Arc::new(Semaphore::new(REPAIRS_PARALLEL));
        let mut tasks = tokio::task::JoinSet::new();
        for (blob, shards) in work.into_values() {
            let blob = blob.clone();
            let (checker, pending, permits) = (checker.clone(), pending.clone(), permits.clone());
            let (previous, committee) = (previous.to_vec(), committee.to_vec());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("open semaphore");
                repair_one(&checker, &blob, shards, &committee, &previous, &pending).await
            });
        }
        while tasks.join_next().await.is_some() {}
        let left = pending.lock().expect("not poisoned").len();
        if left == 0 || *ended.borrow() {
            return;
        }
        tracing::info!(left, ?backoff, "repairs left; trying again");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One blob's round: slivers its holders already have leave the pending set; the rest
/// are rebuilt and stored. A holder that refuses or cannot be reached loses a chance.
async fn repair_one(
    checker: &Checker,
    blob: &StoredBlob,
    shards: Vec<u32>,
    committee: &[Member],
    previous: &[Member],
    pending: &Pending,
) {
    let holder_of = repair::holders(committee);
    let done = |shard: u32| {
        pending
            .lock()
            .expect("not poisoned")
            .remove(&(blob.blob_id.clone(), shard));
    };
    let mut lacking = Vec::new();
    for shard in shards {
        let held = match holder_of.get(&shard) {
            Some(h) => {
                repair::holds(
                    &checker.http,
                    &h.endpoint,
                    &blob.metadata,
                    &blob.blob_id,
                    shard,
                    checker.timeout,
                )
                .await
            }
            None => true, // no holder: nothing to repair onto
        };
        if held {
            done(shard);
        } else {
            lacking.push(shard);
        }
    }
    if lacking.is_empty() {
        return;
    }
    match repair::repair_blob(&checker.http, &blob.metadata, &lacking, committee, previous).await {
        Ok(placed) => {
            for (shard, outcome) in placed {
                if outcome == Placed::Stored {
                    done(shard);
                    continue;
                }
                let mut pending = pending.lock().expect("not poisoned");
                let key = (blob.blob_id.clone(), shard);
                let chances = pending.get(&key).copied().unwrap_or(0) + 1;
                if chances >= HOLDER_CHANCES {
                    tracing::warn!(blob_id = %blob.blob_id, shard, "the holder did not take the repair; it is challenged as it is");
                    pending.remove(&key);
                } else {
                    pending.insert(key, chances);
                }
            }
        }
        Err(e) => tracing::warn!(blob_id = %blob.blob_id, error = %e, "repair failed; will retry"),
    }
}

/// An environment variable as text, or `default` when unset.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
