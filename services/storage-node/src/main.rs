//! `wal-storage-node`: keeps the slivers of the shards this node holds, verified
//! against the blob metadata before it confirms them, on disk crash-safe; serves them
//! and answers chunk challenges, signed with its protocol key.
//!
//! Configuration (environment): `WAL_NODE_KEY_FILE` (its protocol key),
//! `WAL_NODE_DATA_DIR`, `WAL_NODE_LISTEN_ADDR` (default 127.0.0.1:9000; `:0` picks a
//! port and the node prints `listening on http://ADDR`), `WAL_LEDGER_URL`,
//! `WAL_NODE_SLIVER_BYTES_MAX` (default 64 MiB), `WAL_NODE_CONCURRENCY_MAX` (64),
//! `WAL_NODE_EXPIRY_INTERVAL_SECS` (30: how often it drops the slivers of blobs no
//! longer paid for).
//! It learns its node id and its shards from the ledger by its protocol key.

mod disk;
mod error;
mod ledger;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ed25519_dalek::SigningKey;
use serde::Serialize;

use crate::error::Error;
use wal::encoding::chunk_proof;
use wal::wire::{challenge, confirmation};

use crate::disk::Disk;
use crate::ledger::Ledger;

struct Node {
    key: SigningKey,
    disk: Disk,
    ledger: Ledger,
    /// Uploads hold it shared from their payment check to their write; expiry holds it
    /// exclusively while it re-checks and drops, so it never deletes a sliver that a
    /// new contract just paid for and this node just confirmed.
    expiry: tokio::sync::RwLock<()>,
    stored: AtomicU64,
    served: AtomicU64,
    challenges: AtomicU64,
}

type Shared = Arc<Node>;

fn blob_id_bytes(blob_id: &str) -> Result<[u8; 32], Error> {
    confirmation::blob_id_bytes(blob_id).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "blob id {blob_id:?} is not 64 lowercase hex digits"
        ))
    })
}

fn io(e: std::io::Error) -> Error {
    Error::internal(e)
}

#[derive(Serialize)]
struct Confirmation {
    node_id: String,
    epoch: i64,
    shards: Vec<u32>,
    signature: String,
}

#[derive(Serialize)]
struct Stored {
    blob_id: String,
    shard: u32,
    /// Present once this node holds all its shards' slivers of the blob.
    confirmation: Option<Confirmation>,
}

/// The confirmation, if every shard this node holds has its sliver here.
async fn confirmation_if_complete(
    node: &Node,
    blob_id: &str,
) -> Result<Option<Confirmation>, Error> {
    let (node_id, epoch, shards) = node.ledger.my_shards().await?;
    if shards.is_empty() || !shards.iter().all(|&s| node.disk.has(blob_id, s)) {
        return Ok(None);
    }
    let blob = blob_id_bytes(blob_id)?;
    Ok(Some(Confirmation {
        node_id: node_id.to_string(),
        epoch,
        signature: confirmation::sign(&node.key, &blob, epoch, node_id, &shards),
        shards,
    }))
}

/// Accepts a sliver only for a blob with an active (paid) contract, only for a shard
/// this node holds, and only if it verifies against the blob's metadata.
async fn put_sliver(
    State(node): State<Shared>,
    Path((blob_id, shard)): Path<(String, u32)>,
    body: Bytes,
) -> Result<Json<Stored>, Error> {
    blob_id_bytes(&blob_id)?;
    let _no_expiry = node.expiry.read().await;
    let metadata = node.ledger.paid_metadata(&blob_id).await?;
    let (node_id, epoch, shards) = node.ledger.my_shards().await?;
    if !shards.contains(&shard) {
        return Err(Error::Forbidden(format!(
            "node {node_id} does not hold shard {shard} in epoch {epoch} (it holds {shards:?})"
        )));
    }
    metadata
        .verify_sliver(shard, &body)
        .map_err(|e| Error::InvalidArgument(format!("the sliver does not verify: {e}")))?;
    let shared = node.clone();
    let id = blob_id.clone();
    tokio::task::spawn_blocking(move || shared.disk.put(&id, shard, &body))
        .await
        .map_err(Error::internal)?
        .map_err(io)?;
    node.stored.fetch_add(1, Ordering::Relaxed);
    let confirmation = confirmation_if_complete(&node, &blob_id).await?;
    Ok(Json(Stored {
        blob_id,
        shard,
        confirmation,
    }))
}

/// A stored sliver, verified again before it is served.
async fn get_sliver(
    State(node): State<Shared>,
    Path((blob_id, shard)): Path<(String, u32)>,
) -> Result<impl IntoResponse, Error> {
    blob_id_bytes(&blob_id)?;
    let metadata = node.ledger.paid_metadata(&blob_id).await?;
    let bytes = node
        .disk
        .get(&blob_id, shard)
        .map_err(io)?
        .ok_or_else(|| Error::NotFound(format!("no sliver {shard} of blob {blob_id} here")))?;
    metadata
        .verify_sliver(shard, &bytes)
        .map_err(|e| Error::internal(format!("stored sliver failed verification: {e}")))?;
    node.served.fetch_add(1, Ordering::Relaxed);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

async fn get_confirmation(
    State(node): State<Shared>,
    Path(blob_id): Path<String>,
) -> Result<Json<Confirmation>, Error> {
    blob_id_bytes(&blob_id)?;
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
    let blob = blob_id_bytes(&challenge.blob_id)?;
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(&challenge.nonce, &mut nonce)
        .map_err(|_| Error::InvalidArgument("nonce must be 64 hex digits".into()))?;
    let metadata = node.ledger.paid_metadata(&challenge.blob_id).await?;
    let sliver = node
        .disk
        .get(&challenge.blob_id, challenge.shard)
        .map_err(io)?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no sliver {} of blob {} here",
                challenge.shard, challenge.blob_id
            ))
        })?;
    let proof = chunk_proof(&sliver, metadata.chunk_len, challenge.chunk).ok_or_else(|| {
        Error::InvalidArgument(format!("chunk {} does not exist", challenge.chunk))
    })?;
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
fn spawn_expiry(node: Shared, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let Ok(blobs) = node.disk.blobs() else {
                continue;
            };
            for blob_id in blobs {
                if !matches!(node.ledger.is_paid(&blob_id).await, Ok(false)) {
                    continue;
                }
                // Again, with uploads held off: a contract may have been bought since.
                let _exclusive = node.expiry.write().await;
                if let Ok(false) = node.ledger.is_paid(&blob_id).await {
                    match node.disk.drop_blob(&blob_id) {
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

fn router(node: Shared, sliver_bytes_max: usize, concurrency_max: usize) -> Router {
    Router::new()
        .route(
            "/v1/blobs/{blob_id}/slivers/{shard}",
            put(put_sliver).get(get_sliver),
        )
        .route("/v1/blobs/{blob_id}/confirmation", get(get_confirmation))
        .route("/v1/challenges", post(answer_challenge))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(sliver_bytes_max))
        .layer(tower::limit::ConcurrencyLimitLayer::new(concurrency_max))
        .with_state(node)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    wal::logging::init();
    let key_file =
        PathBuf::from(std::env::var("WAL_NODE_KEY_FILE").map_err(|_| {
            anyhow::anyhow!("set WAL_NODE_KEY_FILE to the node's protocol key file")
        })?);
    let key = wal::client::keyfile::read(&key_file)?;
    let data_dir = PathBuf::from(env_or("WAL_NODE_DATA_DIR", "wal-node-data"));
    let listen: SocketAddr = env_or("WAL_NODE_LISTEN_ADDR", "127.0.0.1:9000").parse()?;
    let ledger_url = env_or("WAL_LEDGER_URL", "http://127.0.0.1:8080");
    let sliver_bytes_max: usize = env_or("WAL_NODE_SLIVER_BYTES_MAX", "67108864").parse()?;
    let concurrency_max: usize = env_or("WAL_NODE_CONCURRENCY_MAX", "64").parse()?;
    let expiry_interval_secs: u64 = env_or("WAL_NODE_EXPIRY_INTERVAL_SECS", "30").parse()?;
    anyhow::ensure!(
        expiry_interval_secs > 0,
        "WAL_NODE_EXPIRY_INTERVAL_SECS must be at least 1"
    );
    let disk = Disk::open(&data_dir)?;
    let ledger = Ledger::new(&ledger_url, hex::encode(key.verifying_key().to_bytes()))?;
    let node = Arc::new(Node {
        key,
        disk,
        ledger,
        expiry: tokio::sync::RwLock::new(()),
        stored: AtomicU64::new(0),
        served: AtomicU64::new(0),
        challenges: AtomicU64::new(0),
    });
    spawn_expiry(node.clone(), Duration::from_secs(expiry_interval_secs));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "storage node serving");
    axum::serve(listener, router(node, sliver_bytes_max, concurrency_max))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// An environment variable as text, or `default` when unset.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
