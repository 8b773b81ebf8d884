//! Rebuilding slivers (the checker's repair): decode the blob from any k verified
//! slivers, re-encode it, and store the lost slivers on their holders, which verify
//! them before they confirm.

use std::collections::HashMap;
use std::sync::Arc;

use super::read::fetch_blob;
use crate::encoding::{encode_as, BlobMetadata};

/// How many slivers are fetched at once while decoding one blob.
const FETCH_PARALLEL: usize = 16;

/// What became of one rebuilt sliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// The holder accepted it (a success status to the PUT).
    Stored,
    /// The holder answered, but refused it.
    Refused,
    /// The holder could not be reached.
    Unreachable,
}

/// Rebuilds slivers `shards` of a blob from the slivers at `sources` (shard ->
/// endpoint) and PUTs each to `targets[shard]`. Returns what became of each (shards
/// without a target are left out); an error if the blob cannot be decoded now.
pub async fn rebuild(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    shards: &[u32],
    sources: &HashMap<u32, String>,
    targets: &HashMap<u32, String>,
) -> Result<Vec<(u32, Placed)>, String> {
    let blob_id = metadata.blob_id();
    let (blob, _) = fetch_blob(http, metadata, sources, FETCH_PARALLEL, Arc::new(|| {}))
        .await
        .map_err(|e| format!("blob {blob_id} cannot be decoded now: {e}"))?;
    // The blob's own code, which need not be today's default for its shard count.
    let (n_shards, encoding) = (metadata.n_shards, metadata.encoding);
    let (_, slivers) = tokio::task::spawn_blocking(move || encode_as(&blob, n_shards, encoding))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut placed = Vec::new();
    for &shard in shards {
        let Some(endpoint) = targets.get(&shard) else {
            continue;
        };
        let url = format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}");
        let outcome = match http
            .put(url)
            .body(slivers[shard as usize].clone())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Placed::Stored,
            Ok(r) => {
                tracing::warn!(%blob_id, shard, status = %r.status(), "holder refused a rebuilt sliver");
                Placed::Refused
            }
            Err(e) => {
                tracing::warn!(%blob_id, shard, error = %e, "holder unreachable for repair");
                Placed::Unreachable
            }
        };
        placed.push((shard, outcome));
    }
    Ok(placed)
}
