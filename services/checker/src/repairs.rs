//! Repair: rebuilds slivers a holder lacks from any k verified slivers and stores them
//! on that holder, which verifies them before it confirms. Run at the start of each
//! epoch for every shard that changed holder at the change, and for every sliver the
//! closed epoch's challenges found missing or wrong.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use wal::client::download::{served_sliver, Served};
use wal::client::repair::{rebuild, Placed};
use wal::encoding::BlobMetadata;
use wal::wire::StoredBlob;

use crate::checker::Checker;
use crate::error::Error;
use crate::ledger::{self, Member};

/// (blob, shard) pairs whose holder may not have the sliver yet (its shard moved at
/// the change, or the closed epoch found it lost), each with how often its holder
/// refused the rebuilt sliver or could not be reached: not challenged until repaired,
/// or until the holder has had `HOLDER_CHANCES` and not taken it (then it is its own
/// fault, and challenges find it).
pub type Pending = Arc<Mutex<HashMap<(String, u32), u32>>>;

/// Locks a pending set.
#[expect(
    clippy::expect_used,
    reason = "the pending set is only looked up, inserted into and removed from under its lock, none of which panics, so it is never poisoned"
)]
pub fn lock_pending(pending: &Pending) -> MutexGuard<'_, HashMap<(String, u32), u32>> {
    pending.lock().expect("not poisoned")
}

const HOLDER_CHANCES: u32 = 3;

/// The epoch whose repairs have started, and what they still have to do.
pub type Repairs = Option<(i64, Pending)>;

/// What the new epoch must repair before it challenges it: the slivers of shards that
/// changed holder, those the closed epoch found lost, and what the last epoch's
/// repairs left; only of blobs still stored. Starts the repairs.
pub async fn start_repairs(
    checker: &Arc<Checker>,
    epoch: &wal::wire::EpochView,
    blobs: &Arc<Vec<StoredBlob>>,
    last: Repairs,
    ended: &watch::Receiver<bool>,
) -> Result<Pending, Error> {
    let pending: Pending = Arc::default();
    if epoch.epoch == 0 {
        return Ok(pending);
    }
    let ledger = &checker.ledger;
    let previous = ledger.epoch(Some(epoch.epoch - 1)).await?;
    // The closed epoch's record is final: results still on their way are refused.
    let losses = ledger::losses(ledger, epoch.epoch - 1).await?;
    let stored: HashSet<&str> = blobs.iter().map(|b| b.blob_id.as_str()).collect();
    {
        let mut suspects = lock_pending(&pending);
        for shard in moved_shards(&previous.committee, &epoch.committee) {
            suspects.extend(blobs.iter().map(|b| ((b.blob_id.clone(), shard), 0)));
        }
        let left_over = last
            .map(|(_, p)| lock_pending(&p).keys().cloned().collect::<Vec<_>>())
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
    mut ended: watch::Receiver<bool>,
) {
    let by_id: HashMap<&str, &StoredBlob> = blobs.iter().map(|b| (b.blob_id.as_str(), b)).collect();
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut work: HashMap<&str, (&StoredBlob, Vec<u32>)> = HashMap::new();
        for (blob_id, shard) in lock_pending(pending).keys() {
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
                #[expect(
                    clippy::expect_used,
                    reason = "the semaphore is never closed, so acquiring only waits"
                )]
                let _permit = permits.acquire_owned().await.expect("open semaphore");
                repair_one(&checker, &blob, shards, &committee, &previous, &pending).await
            });
        }
        while tasks.join_next().await.is_some() {}
        let left = lock_pending(pending).len();
        if left == 0 || *ended.borrow() {
            return;
        }
        tracing::info!(left, ?backoff, "repairs left; trying again");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = ended.changed() => return,
        }
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
    let holder_of = holders(committee);
    let done = |shard: u32| {
        lock_pending(pending).remove(&(blob.blob_id.clone(), shard));
    };
    let mut lacking = Vec::new();
    for shard in shards {
        let held = match holder_of.get(&shard) {
            Some(h) => {
                holds(
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
    match repair_blob(
        &checker.transfer_http,
        &blob.metadata,
        &lacking,
        committee,
        previous,
    )
    .await
    {
        Ok(placed) => record_placed(blob, placed, pending),
        Err(e) => tracing::warn!(blob_id = %blob.blob_id, error = %e, "repair failed; will retry"),
    }
}

/// Rebuilt slivers that were stored leave the pending set; a holder that did not take
/// one loses a chance, and after `HOLDER_CHANCES` it is challenged as it is.
fn record_placed(blob: &StoredBlob, placed: Vec<(u32, Placed)>, pending: &Pending) {
    let mut pending = lock_pending(pending);
    for (shard, outcome) in placed {
        let key = (blob.blob_id.clone(), shard);
        if outcome == Placed::Stored {
            pending.remove(&key);
            continue;
        }
        let chances = pending.get(&key).copied().unwrap_or(0) + 1;
        if chances >= HOLDER_CHANCES {
            tracing::warn!(blob_id = %blob.blob_id, shard, "the holder did not take the repair; it is challenged as it is");
            pending.remove(&key);
        } else {
            pending.insert(key, chances);
        }
    }
}

/// Whether `endpoint` serves a verified copy of the sliver.
pub async fn holds(
    http: &reqwest::Client,
    endpoint: &str,
    metadata: &BlobMetadata,
    blob_id: &str,
    shard: u32,
    timeout: std::time::Duration,
) -> bool {
    let url = format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}");
    let check = async {
        match http.get(url).send().await {
            Ok(r) if r.status().is_success() => {
                served_sliver(r, metadata, shard).await == Served::Verified
            }
            _ => false,
        }
    };
    tokio::time::timeout(timeout, check).await.unwrap_or(false)
}

/// Rebuilds the slivers `shards` of one blob and stores each on its holder in
/// `committee`. Slivers are read from the current holders and, for shards that moved,
/// from `previous` holders too. Returns what became of each.
pub async fn repair_blob(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    shards: &[u32],
    committee: &[Member],
    previous: &[Member],
) -> Result<Vec<(u32, Placed)>, String> {
    let holder_of = holders(committee);
    // Read each sliver from where it should be now, or else where it was.
    let mut sources: HashMap<u32, String> = holders(previous)
        .into_iter()
        .map(|(shard, m)| (shard, m.endpoint.clone()))
        .collect();
    for (&shard, member) in &holder_of {
        if !shards.contains(&shard) || !sources.contains_key(&shard) {
            sources.insert(shard, member.endpoint.clone());
        }
    }
    let targets: HashMap<u32, String> = holder_of
        .iter()
        .map(|(&shard, m)| (shard, m.endpoint.clone()))
        .collect();
    rebuild(http, metadata, shards, &sources, &targets).await
}

/// shard -> its holder.
pub fn holders(committee: &[Member]) -> HashMap<u32, &Member> {
    committee
        .iter()
        .flat_map(|m| m.shard_numbers().into_iter().map(move |s| (s, m)))
        .collect()
}

/// Shards whose holder differs between two committees (none if there was no
/// committee before: the first uploads put every sliver in place).
pub fn moved_shards(previous: &[Member], committee: &[Member]) -> Vec<u32> {
    if previous.is_empty() {
        return Vec::new();
    }
    let before = holders(previous);
    let mut moved: Vec<u32> = holders(committee)
        .into_iter()
        .filter(|(shard, m)| before.get(shard).is_none_or(|b| b.node_id != m.node_id))
        .map(|(shard, _)| shard)
        .collect();
    moved.sort_unstable();
    moved
}
