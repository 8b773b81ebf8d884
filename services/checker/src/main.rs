//! `wal-checker`: the proof-of-storage checker. Each epoch it challenges every
//! committee node `audit_challenges_per_epoch` times, spread over the epoch at random
//! moments, for random chunks of random slivers it holds (of certified, unexpired
//! blobs); verifies each answer against the blob metadata and the node's signature
//! over a fresh nonce; reports the results to the ledger (auditor role) in batches,
//! durably and at most once; and repairs, at the start of each epoch: slivers of shards
//! that changed holder at the change (a jailed node's shards move), and slivers the
//! previous epoch's challenges found missing or wrong, are rebuilt from any k verified
//! slivers and stored on their holder. (A loss is repaired only once its epoch has
//! closed, so that every challenge of that epoch still counts it; a checker restart
//! forgets the losses it had noted, and the next epoch's audits find them again.)
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

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use tokio::sync::{watch, Semaphore};
use wal::audits::record::{AuditResult, Outcome};
use wal::client::LedgerClient;
use wal::storage::contracts::StoredBlob;

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
    /// (epoch, blob, shard) that a challenge found missing or wrong: repaired when the
    /// epoch has closed.
    losses: Mutex<HashSet<(i64, String, u32)>>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
        losses: Mutex::new(HashSet::new()),
    });
    println!("checking the ledger at {ledger_url}");
    tracing::info!(%ledger_url, "checker running");
    let mut repaired_for = None;
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

/// Audits the current epoch until it ends.
async fn audit_epoch(checker: &Arc<Checker>, repaired_for: &mut Option<i64>) -> Result<(), String> {
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
    if *repaired_for != Some(epoch.epoch) && epoch.epoch > 0 {
        let previous = ledger::epoch(ledger, Some(epoch.epoch - 1))
            .await
            .map_err(|e| e.to_string())?;
        *repaired_for = Some(epoch.epoch);
        let (checker, committee, blobs) = (checker.clone(), epoch.committee.clone(), blobs.clone());
        let losses: Vec<(String, u32)> = {
            let mut noted = checker.losses.lock().expect("not poisoned");
            let closed = noted
                .iter()
                .filter(|(e, _, _)| *e < epoch.epoch)
                .cloned()
                .collect::<Vec<_>>();
            for loss in &closed {
                noted.remove(loss);
            }
            closed.into_iter().map(|(_, b, s)| (b, s)).collect()
        };
        tokio::spawn(async move {
            repair(&checker, &previous.committee, &committee, &blobs, &losses).await
        });
    }
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
            schedule.push((start + at, member.clone()));
        }
    }
    schedule.sort_by_key(|(at, _)| *at);
    tracing::info!(
        epoch = epoch.epoch,
        challenges = schedule.len(),
        ?window,
        "auditing"
    );
    for (at, member) in schedule {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = ended.changed() => return Ok(()),
        }
        let Some((blob, shard, chunk)) = plan::draw(&blobs, &member.shards, &mut rng) else {
            continue;
        };
        let (checker, blobs) = (checker.clone(), blobs.clone());
        let epoch = epoch.epoch;
        tokio::spawn(async move {
            challenge(&checker, epoch, &member, &blobs[blob], shard, chunk).await
        });
    }
    let _ = ended.changed().await;
    Ok(())
}

/// One challenge, re-asked after a timeout or an unreachable node, then reported; a
/// missing or wrong sliver is noted for repair once the epoch has closed.
async fn challenge(
    checker: &Arc<Checker>,
    epoch: i64,
    member: &Member,
    blob: &StoredBlob,
    shard: u32,
    chunk: u32,
) {
    let Some(key) = member.key() else {
        tracing::error!(node = %member.node_id, "the ledger gave an invalid protocol key");
        return;
    };
    let mut attempt = 0;
    let found = loop {
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
    let outcome = found.outcome;
    checker.reporter.send(Reported {
        epoch,
        result: AuditResult {
            challenge_id: found.nonce,
            node_id: member.node_id.clone(),
            blob_id: blob.blob_id.clone(),
            shard,
            chunk,
            outcome,
            evidence: found.evidence,
        },
    });
    if matches!(outcome, Outcome::Missing | Outcome::Fail) {
        checker
            .losses
            .lock()
            .expect("not poisoned")
            .insert((epoch, blob.blob_id.clone(), shard));
    }
}

/// Stores on their holders the slivers of shards that changed holder, and the slivers
/// found lost in the closed epoch.
async fn repair(
    checker: &Checker,
    previous: &[Member],
    committee: &[Member],
    blobs: &[StoredBlob],
    losses: &[(String, u32)],
) {
    let moved = repair::moved_shards(previous, committee);
    if moved.is_empty() && losses.is_empty() {
        return;
    }
    let holder_of = repair::holders(committee);
    let mut stored = 0;
    for blob in blobs {
        let mut suspects = moved.clone();
        suspects.extend(
            losses
                .iter()
                .filter(|(b, _)| *b == blob.blob_id)
                .map(|(_, s)| *s),
        );
        suspects.sort_unstable();
        suspects.dedup();
        let mut lacking = Vec::new();
        for &shard in &suspects {
            let Some(holder) = holder_of.get(&shard) else {
                continue;
            };
            if !repair::holds(
                &checker.http,
                &holder.endpoint,
                &blob.metadata,
                &blob.blob_id,
                shard,
            )
            .await
            {
                lacking.push(shard);
            }
        }
        if lacking.is_empty() {
            continue;
        }
        match repair::repair_blob(&checker.http, &blob.metadata, &lacking, committee, previous)
            .await
        {
            Ok(n) => stored += n,
            Err(e) => tracing::warn!(blob_id = %blob.blob_id, error = %e, "repair failed"),
        }
    }
    tracing::info!(
        shards = moved.len(),
        slivers = stored,
        "repaired shards that changed holder"
    );
}
