//! The node's HTTP API: sliver uploads and reads (streamed, in `transfer`),
//! confirmations, challenge answers, health and metrics; and the expiry of slivers no
//! longer paid for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use wal::encoding::merkle;
use wal::encoding::{BlobMetadata, ChunkProof};
use wal::wire::ids::{BlobId, IdError};
use wal::wire::{challenge, confirmation};

use crate::disk::Disk;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::{serving, transfer};

pub struct Node {
    pub key: SigningKey,
    pub disk: Disk,
    pub ledger: Ledger,
    /// Uploads hold it shared from their payment check to their write; expiry holds it
    /// exclusively while it re-checks and drops, so it never deletes a sliver that a
    /// new contract just paid for and this node just confirmed.
    pub expiry: tokio::sync::RwLock<()>,
    pub stored: AtomicU64,
    pub served: AtomicU64,
    pub challenges: AtomicU64,
}

pub type Shared = Arc<Node>;

/// A blob id by the one rule of `wire::ids::BlobId` (either case); its canonical
/// (lower-case) spelling names it on disk and at the ledger.
pub(crate) fn parse_blob_id(text: &str) -> Result<BlobId, Error> {
    text.parse()
        .map_err(|e: IdError| Error::InvalidArgument(format!("blob_id: {e}")))
}

pub(crate) fn io(e: std::io::Error) -> Error {
    Error::internal(e)
}

#[derive(Serialize)]
pub(crate) struct Confirmation {
    node_id: String,
    epoch: i64,
    shards: Vec<u32>,
    signature: String,
}

/// The answer to an upload.
#[derive(Serialize)]
pub(crate) struct Stored {
    pub(crate) blob_id: String,
    /// The shards whose slivers the upload carried (and this node now keeps).
    pub(crate) shards: Vec<u32>,
    /// Present once this node holds all its shards' slivers of the blob.
    pub(crate) confirmation: Option<Confirmation>,
}

/// The confirmation, if every shard this node holds has its sliver here.
pub(crate) async fn confirmation_if_complete(
    node: &Node,
    blob_id: &str,
) -> Result<Option<Confirmation>, Error> {
    let (node_id, epoch, shards) = node.ledger.my_shards().await?;
    if shards.is_empty() || !node.disk.has_all(blob_id, &shards).await.map_err(io)? {
        return Ok(None);
    }
    let blob = *parse_blob_id(blob_id)?.bytes();
    Ok(Some(Confirmation {
        node_id: node_id.to_string(),
        epoch,
        signature: confirmation::sign(&node.key, &blob, epoch, node_id, &shards),
        shards,
    }))
}

async fn get_confirmation(
    State(node): State<Shared>,
    Path(blob_id): Path<String>,
) -> Result<Json<Confirmation>, Error> {
    let blob_id = parse_blob_id(&blob_id)?.to_string();
    node.ledger.paid_metadata(&blob_id).await?;
    confirmation_if_complete(&node, &blob_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "this node does not hold all its slivers of blob {blob_id} yet"
            ))
        })
}

/// One chunk of one sliver with its Merkle proof, signed over the challenger's nonce.
async fn answer_challenge(
    State(node): State<Shared>,
    Json(challenge): Json<challenge::Challenge>,
) -> Result<Json<challenge::Answer>, Error> {
    let blob_id = parse_blob_id(&challenge.blob_id)?;
    let blob = *blob_id.bytes();
    let blob_id = blob_id.to_string();
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(&challenge.nonce, &mut nonce)
        .map_err(|_| Error::InvalidArgument("nonce must be 64 hex digits".into()))?;
    let metadata = node.ledger.paid_metadata(&blob_id).await?;
    let proof =
        chunk_with_proof(&node, &blob_id, &metadata, challenge.shard, challenge.chunk).await?;
    node.challenges.fetch_add(1, Ordering::Relaxed);
    let signed = challenge::Signed {
        nonce: &nonce,
        blob_id: &blob,
        shard: challenge.shard,
        chunk_index: challenge.chunk,
        chunk: &proof.chunk,
        siblings: &proof.siblings,
    };
    Ok(Json(challenge::Answer {
        signature: signed.sign(&node.key),
        chunk: hex::encode(&proof.chunk),
        siblings: proof.siblings.iter().map(hex::encode).collect(),
    }))
}

/// Chunk `chunk` of a stored sliver and its Merkle proof, from the chunk's bytes and
/// the sliver's leaves (never the whole sliver).
async fn chunk_with_proof(
    node: &Node,
    blob_id: &str,
    metadata: &BlobMetadata,
    shard: u32,
    chunk: u32,
) -> Result<ChunkProof, Error> {
    let leaves = serving::verified_leaves(&node.disk, blob_id, metadata, shard).await?;
    if chunk as usize >= leaves.len() {
        return Err(Error::InvalidArgument(format!(
            "chunk {chunk} does not exist"
        )));
    }
    let offset = u64::from(chunk) * metadata.chunk_len;
    let len = usize::try_from(metadata.chunk_len.min(metadata.sliver_len - offset))
        .map_err(Error::internal)?;
    let (disk, id) = (node.disk.clone(), blob_id.to_owned());
    let bytes = tokio::task::spawn_blocking(move || disk.read_at_blocking(&id, shard, offset, len))
        .await
        .map_err(Error::internal)?
        .map_err(io)?;
    Ok(ChunkProof {
        chunk: bytes,
        siblings: merkle::proof(leaves, chunk as usize),
    })
}

async fn health() -> &'static str {
    "ok"
}

async fn metrics(State(node): State<Shared>) -> impl IntoResponse {
    let text = format!(
        "# TYPE wal_node_slivers_stored_total counter\nwal_node_slivers_stored_total {}\n\
         # TYPE wal_node_slivers_served_total counter\nwal_node_slivers_served_total {}\n\
         # TYPE wal_node_challenges_answered_total counter\nwal_node_challenges_answered_total {}\n",
        node.stored.load(Ordering::Relaxed),
        node.served.load(Ordering::Relaxed),
        node.challenges.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Drops the slivers of blobs whose storage is no longer paid for, every `interval`.
pub fn spawn_expiry(node: Shared, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let Ok(blobs) = node.disk.blobs().await else {
                continue;
            };
            for blob_id in blobs {
                if !matches!(node.ledger.is_paid(&blob_id).await, Ok(false)) {
                    continue;
                }
                // Again, with uploads held off: a contract may have been bought since.
                let _exclusive = node.expiry.write().await;
                if let Ok(false) = node.ledger.is_paid(&blob_id).await {
                    match node.disk.drop_blob(&blob_id).await {
                        Ok(()) => {
                            tracing::info!(%blob_id, "dropped the slivers of an expired blob")
                        }
                        Err(e) => {
                            tracing::warn!(%blob_id, error = %e, "could not drop an expired blob")
                        }
                    }
                }
            }
        }
    });
}

/// The largest JSON body (a challenge): uploads are streams bounded by the metadata.
const JSON_BYTES_MAX: usize = 64 << 10;

pub fn router(node: Shared, concurrency_max: usize) -> Router {
    Router::new()
        .route(
            "/v1/blobs/{blob_id}/slivers/{shard}",
            put(transfer::put_sliver).get(serving::get_sliver),
        )
        .route(
            "/v1/blobs/{blob_id}/slivers",
            put(transfer::put_slivers).get(serving::get_slivers),
        )
        .route(
            "/v1/blobs/{blob_id}/slivers/{shard}/leaves",
            get(serving::get_leaves),
        )
        .route("/v1/blobs/{blob_id}/confirmation", get(get_confirmation))
        .route("/v1/challenges", post(answer_challenge))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(JSON_BYTES_MAX))
        .layer(tower::limit::ConcurrencyLimitLayer::new(concurrency_max))
        .with_state(node)
}
