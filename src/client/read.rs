//! Reading a blob back from the storage nodes (walctl read, and the ledger's
//! aggregator endpoint): fetch the slivers from their holders in parallel, keep only
//! those that verify against the metadata, decode from any k of them.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::encoding::{decode, BlobMetadata, EncodingError};

/// Called after each sliver fetch (progress bars).
pub type Progress = Arc<dyn Fn() + Send + Sync>;

/// Fetches every sliver from `endpoints[shard]` (at most `parallel` at once) and
/// decodes the blob. Returns the blob and how many slivers verified.
pub async fn fetch_blob(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    endpoints: &HashMap<u32, String>,
    parallel: usize,
    progress: Progress,
) -> Result<(Vec<u8>, usize), EncodingError> {
    let blob_id = metadata.blob_id();
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for shard in 0..metadata.n_shards {
        let Some(endpoint) = endpoints.get(&shard).cloned() else {
            continue;
        };
        let (http, permits, progress, metadata) = (
            http.clone(),
            permits.clone(),
            progress.clone(),
            metadata.clone(),
        );
        let url = format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}");
        tasks.spawn(async move {
            #[expect(
                clippy::expect_used,
                reason = "the semaphore is never closed, so acquiring only waits"
            )]
            let _permit = permits.acquire_owned().await.expect("open semaphore");
            let sliver = match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.ok().map(|b| b.to_vec()),
                _ => None,
            };
            progress();
            (
                shard,
                sliver.filter(|s| metadata.verify_sliver(shard, s).is_ok()),
            )
        });
    }
    let mut slivers: Vec<Option<Vec<u8>>> = vec![None; metadata.n_shards as usize];
    while let Some(done) = tasks.join_next().await {
        if let Ok((shard, sliver)) = done {
            slivers[shard as usize] = sliver;
        }
    }
    let verified = slivers.iter().filter(|s| s.is_some()).count();
    let metadata = metadata.clone();
    let blob = tokio::task::spawn_blocking(move || decode(&metadata, slivers))
        .await
        .map_err(|e| EncodingError::Codec(e.to_string()))??;
    Ok((blob, verified))
}
