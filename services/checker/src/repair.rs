//! Repair: rebuilds slivers a holder lacks from any k verified slivers and stores them
//! on that holder, which verifies them before it confirms. Run for every shard that
//! changed holder at an epoch change, and for every sliver a challenge found missing
//! or wrong.

use std::collections::HashMap;

use wal::client::repair::{rebuild, Placed};
use wal::encoding::BlobMetadata;

use crate::ledger::Member;

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
    match http.get(url).timeout(timeout).send().await {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .is_ok_and(|b| metadata.verify_sliver(shard, &b).is_ok()),
        _ => false,
    }
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
        .flat_map(|m| m.shards.iter().map(move |&s| (s, m)))
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
