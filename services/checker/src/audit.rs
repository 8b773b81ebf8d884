//! The audit loop: each epoch, every committee node is challenged
//! `audit_challenges_per_epoch` times at random moments spread over the epoch, for
//! random chunks of random slivers it holds (of certified, unexpired blobs); each
//! answer is verified and reported. A timeout or an unreachable node is asked again
//! (a new challenge for the same chunk) up to `reasks` times before it counts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::time::Instant;
use wal::client::LedgerClient;
use wal::wire::confirmation::blob_id_bytes;
use wal::wire::{AuditResult, EpochView, Outcome, StoredBlob};

use crate::checker::Checker;
use crate::error::Error;
use crate::ledger::{self, Member};
use crate::repairs::{lock_pending, start_repairs, Pending, Repairs};
use crate::report::Reported;
use crate::{plan, probe};

/// The committee as the checker sees it during an epoch: refreshed every few seconds,
/// so a node that changes its endpoint or protocol key mid-epoch is asked where it is
/// now and judged by its key now.
type Members = Arc<RwLock<HashMap<String, Member>>>;

fn refresh_members(ledger: Arc<LedgerClient>, members: Members, mut ended: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = ended.changed() => return,
            }
            if let Ok(epoch) = ledger.epoch(None).await {
                #[expect(
                    clippy::expect_used,
                    reason = "the members lock is held only for map lookups, inserts and clones, which do not panic, so it is never poisoned"
                )]
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

/// Audits epoch after epoch until the checker is asked to stop.
pub async fn run(checker: Arc<Checker>) {
    let mut repaired_for: Repairs = None;
    while !checker.stopping() {
        if let Err(e) = audit_epoch(&checker, &mut repaired_for).await {
            tracing::warn!(error = %e, "cannot audit now; trying again");
            let mut shutdown = checker.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        }
    }
}

/// Audits the current epoch until it ends.
async fn audit_epoch(checker: &Arc<Checker>, repaired_for: &mut Repairs) -> Result<(), Error> {
    let ledger = &checker.ledger;
    let epoch = ledger.epoch(None).await?;
    let mut ended = checker.watch_epoch(epoch.epoch);
    let blobs = Arc::new(ledger.stored_blobs().await?);
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
    let members: Members = Arc::new(RwLock::new(
        epoch
            .committee
            .iter()
            .map(|m| (m.node_id.clone(), m.clone()))
            .collect(),
    ));
    refresh_members(ledger.clone(), members.clone(), ended.clone());
    let schedule = schedule(checker, &epoch).await?;
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

/// When to challenge whom: what is left of `audit_challenges_per_epoch` per member
/// (a restarted checker continues from what is recorded), spread over the epoch.
async fn schedule(
    checker: &Checker,
    epoch: &EpochView,
) -> Result<Vec<(Instant, String, Vec<u32>)>, Error> {
    let ledger = &checker.ledger;
    let target = ledger::challenges_per_epoch(ledger).await?;
    let recorded = ledger::recorded(ledger, epoch.epoch).await?;
    // Leave room at the end of the epoch for the last challenges' re-asks.
    let left = (epoch.ends_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let reserve = (checker.reask_delay + checker.timeout) * (checker.reasks + 1);
    let window = left.saturating_sub(reserve).max(left / 2);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let start = Instant::now();
    let mut schedule = Vec::new();
    for member in &epoch.committee {
        let done = recorded.get(&member.node_id).copied().unwrap_or(0);
        for at in plan::spread(target.saturating_sub(done), window, &mut rng) {
            schedule.push((start + at, member.node_id.clone(), member.shard_numbers()));
        }
    }
    schedule.sort_by_key(|(at, _, _)| *at);
    tracing::info!(
        epoch = epoch.epoch,
        challenges = schedule.len(),
        ?window,
        "auditing"
    );
    Ok(schedule)
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
    /// Draws a sliver, asks (again after a timeout or an unreachable node), reports.
    async fn run(self) {
        let Some((blob, shard, chunk)) = self.draw().await else {
            return;
        };
        let blob = &self.blobs[blob];
        let Some(found) = self.ask(blob, shard, chunk).await else {
            return;
        };
        let reported = Reported {
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
        };
        self.checker.reporter.send(reported).await;
    }

    /// A sliver that is not awaiting repair (waiting while all of the node's are):
    /// (blob index, shard, chunk); None if the epoch ends first.
    async fn draw(&self) -> Option<(usize, u32, u32)> {
        loop {
            let drawn = {
                let pending = lock_pending(&self.pending);
                let mut rng = rand::rngs::StdRng::from_entropy();
                plan::draw(&self.blobs, &self.shards, &mut rng, |blob, shard| {
                    pending.contains_key(&(blob.to_owned(), shard))
                })
            };
            if drawn.is_some() {
                return drawn;
            }
            if *self.ended.borrow() {
                return None;
            }
            // Jittered, so that waiting challenges do not all fire at one moment.
            let wait = rand::rngs::StdRng::from_entropy().gen_range(250..750);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Challenges the node where it is now, asking again after a timeout or an
    /// unreachable node up to `reasks` times. None if its key or the blob id is invalid.
    async fn ask(&self, blob: &StoredBlob, shard: u32, chunk: u32) -> Option<probe::Probe> {
        let checker = &self.checker;
        let Some(blob_bytes) = blob_id_bytes(&blob.blob_id) else {
            tracing::error!(blob = %blob.blob_id, "the ledger gave an invalid blob id");
            return None;
        };
        let mut attempt = 0;
        loop {
            #[expect(
                clippy::expect_used,
                reason = "writers of the members lock (refresh_members) only insert and clone under it, so it is never poisoned"
            )]
            let member = self.members.read().expect("not poisoned")[&self.node_id].clone();
            let Some(key) = member.key() else {
                tracing::error!(node = %member.node_id, "the ledger gave an invalid protocol key");
                return None;
            };
            let found = {
                #[expect(
                    clippy::expect_used,
                    reason = "the checker's semaphore is never closed, so acquiring only waits"
                )]
                let _permit = checker.permits.acquire().await.expect("open semaphore");
                let target = probe::Target {
                    endpoint: &member.endpoint,
                    node_key: &key,
                    metadata: &blob.metadata,
                    blob_id: &blob.blob_id,
                    blob: &blob_bytes,
                    shard,
                    chunk,
                };
                probe::probe(&checker.http, &target, checker.timeout).await
            };
            let retry = matches!(found.outcome, Outcome::Timeout | Outcome::Unreachable);
            if !retry || attempt >= checker.reasks {
                return Some(found);
            }
            attempt += 1;
            tokio::time::sleep(checker.reask_delay).await;
        }
    }
}
