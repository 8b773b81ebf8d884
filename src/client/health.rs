//! A blob's health: every sliver fetched from the node that holds its shard this epoch
//! and checked against the metadata as it streams (`walctl blob health`, the ledger's
//! `GET /v1/blobs/{blob_id}/health`).

use std::collections::HashMap;
use std::sync::Arc;

use super::download::{served_sliver, Served};
use super::store::Holder;
use crate::encoding::BlobMetadata;
use crate::wire::blobs::{BlobHealth, SliverHealth};

/// Fetches every sliver of `blob_id` from its holder in `epoch` (all at once) and says
/// what each holder served.
pub async fn check(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    blob_id: &str,
    epoch: i64,
    holders: &HashMap<u32, Arc<Holder>>,
) -> BlobHealth {
    let mut tasks = tokio::task::JoinSet::new();
    for shard in 0..metadata.n_shards {
        let holder = holders.get(&shard).cloned();
        let (http, metadata, blob_id) = (http.clone(), metadata.clone(), blob_id.to_owned());
        tasks.spawn(async move { probe(&http, &metadata, &blob_id, shard, holder).await });
    }
    let mut slivers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        // A probe that panicked says nothing of its sliver; the rest still do.
        if let Ok(sliver) = done {
            slivers.push(sliver);
        }
    }
    slivers.sort_by_key(|s| s.shard);
    let verified =
        u32::try_from(slivers.iter().filter(|s| s.state == "verified").count()).unwrap_or(u32::MAX);
    BlobHealth {
        blob_id: blob_id.to_owned(),
        epoch,
        n_shards: metadata.n_shards,
        k: metadata.k,
        verified,
        readable: verified >= metadata.k,
        fully_redundant: verified == metadata.n_shards,
        slivers,
    }
}

/// Fetches one sliver from its holder and says what came back.
async fn probe(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    blob_id: &str,
    shard: u32,
    holder: Option<Arc<Holder>>,
) -> SliverHealth {
    let Some(holder) = holder else {
        return SliverHealth {
            shard,
            node_id: None,
            endpoint: None,
            state: "no holder".into(),
        };
    };
    let url = format!("{}/v1/blobs/{blob_id}/slivers/{shard}", holder.endpoint);
    let state = match http.get(url).send().await {
        Err(e) if e.is_timeout() => "timed out",
        Err(_) => "unreachable",
        Ok(r) if r.status().as_u16() == 404 => "missing",
        Ok(r) if r.status().as_u16() == 500 => "corrupt",
        Ok(r) if !r.status().is_success() => "refused",
        Ok(r) => match served_sliver(r, metadata, shard).await {
            Served::Verified => "verified",
            Served::Corrupt => "corrupt",
            Served::TimedOut => "timed out",
            Served::CutOff => "cut off",
        },
    };
    SliverHealth {
        shard,
        node_id: Some(holder.node_id.clone()),
        endpoint: Some(holder.endpoint.clone()),
        state: state.into(),
    }
}
