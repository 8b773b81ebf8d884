//! Rebuilding slivers (the checker's repair): decode the blob from any k verified
//! slivers, re-encode it, and store the lost slivers on their holders, which verify
//! them before they confirm.

use std::collections::HashMap;
use std::sync::Arc;

use super::read::fetch_blob;
use crate::encoding::{encode, BlobMetadata};

/// How many slivers are fetched at once while decoding one blob.
const FETCH_PARALLEL: usize = 16;

/// Rebuilds slivers `shards` of a blob from the slivers at `sources` (shard ->
/// endpoint) and PUTs each to `targets[shard]`. Returns how many were stored.
pub async fn rebuild(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    shards: &[u32],
    sources: &HashMap<u32, String>,
    targets: &HashMap<u32, String>,
) -> Result<usize, String> {
    let blob_id = metadata.blob_id();
    let (blob, _) = fetch_blob(http, metadata, sources, FETCH_PARALLEL, Arc::new(|| {}))
        .await
        .map_err(|e| format!("blob {blob_id} cannot be decoded now: {e}"))?;
    let n_shards = metadata.n_shards;
    let (_, slivers) = tokio::task::spawn_blocking(move || encode(&blob, n_shards))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut stored = 0;
    for &shard in shards {
        let Some(endpoint) = targets.get(&shard) else {
            continue;
        };
        let url = format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}");
        match http
            .put(url)
            .body(slivers[shard as usize].clone())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => stored += 1,
            Ok(r) => {
                tracing::warn!(%blob_id, shard, status = %r.status(), "holder refused a rebuilt sliver")
            }
            Err(e) => tracing::warn!(%blob_id, shard, error = %e, "holder unreachable for repair"),
        }
    }
    Ok(stored)
}
