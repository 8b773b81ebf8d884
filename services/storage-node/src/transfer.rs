//! Slivers in as streams: an upload carries one sliver, or all of a node's slivers of a
//! blob in one request (stripe-major: for each stripe, each listed shard's piece in the
//! order listed; downloads, in `serving`, are the same from a given stripe on). It never
//! holds more than a few frames in memory, whatever the blob's size: the length allowed
//! is the metadata's (so the sliver limit follows from the blob limit).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use wal::encoding::merkle::Hash;
use wal::encoding::{BlobMetadata, Layout};

use crate::disk::{Disk, SliverWriter};
use crate::error::Error;
use crate::routes::{confirmation_if_complete, io, parse_blob_id, Shared, Stored};

/// An upload that sends nothing for this long is dropped (it would hold a slot).
const UPLOAD_IDLE: Duration = Duration::from_secs(60);
/// Frames queued between the network and the disk, each side's way.
pub(crate) const QUEUED_FRAMES: usize = 8;

/// The shards of a multi-sliver request, `?shards=1,5,9`, and the first stripe served.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub(crate) shards: Option<String>,
    pub(crate) from_stripe: Option<u64>,
}

pub(crate) fn shard_list(selection: &Selection) -> Result<Vec<u32>, Error> {
    let text = selection.shards.as_deref().ok_or_else(|| {
        Error::InvalidArgument(
            "shards is required: a comma-separated list such as ?shards=1,5,9".into(),
        )
    })?;
    let mut shards = Vec::new();
    for part in text.split(',') {
        let shard: u32 = part.parse().map_err(|_| {
            Error::InvalidArgument(format!("shards: {part:?} is not a shard number"))
        })?;
        if shards.contains(&shard) {
            return Err(Error::InvalidArgument(format!(
                "shards: {shard} is listed twice"
            )));
        }
        shards.push(shard);
    }
    Ok(shards)
}

/// `PUT /v1/blobs/{blob_id}/slivers/{shard}`: one sliver.
pub async fn put_sliver(
    State(node): State<Shared>,
    Path((blob_id, shard)): Path<(String, u32)>,
    body: Body,
) -> Result<Json<Stored>, Error> {
    receive(node, &blob_id, vec![shard], body).await.map(Json)
}

/// `PUT /v1/blobs/{blob_id}/slivers?shards=...`: several slivers, stripe-major.
pub async fn put_slivers(
    State(node): State<Shared>,
    Path(blob_id): Path<String>,
    Query(selection): Query<Selection>,
    body: Body,
) -> Result<Json<Stored>, Error> {
    let shards = shard_list(&selection)?;
    receive(node, &blob_id, shards, body).await.map(Json)
}

/// Accepts slivers only for a blob with an active (paid) contract, only for shards this
/// node holds, and only if each hashes to its root in the blob's metadata; nothing is
/// kept unless every sliver of the request verifies.
async fn receive(
    node: Shared,
    blob_id: &str,
    shards: Vec<u32>,
    body: Body,
) -> Result<Stored, Error> {
    let blob_id = parse_blob_id(blob_id)?.to_string();
    let metadata = node.ledger.paid_metadata(&blob_id).await?;
    let (node_id, epoch, held) = node.ledger.my_shards().await?;
    if let Some(shard) = shards.iter().find(|s| !held.contains(s)) {
        return Err(Error::Forbidden(format!(
            "node {node_id} does not hold shard {shard} in epoch {epoch} (it holds {held:?})"
        )));
    }
    let layout = metadata.validate().map_err(Error::internal)?;
    if let Some(shard) = shards.iter().find(|&&s| s >= layout.n_shards) {
        return Err(Error::InvalidArgument(format!(
            "blob {blob_id} has no sliver {shard}"
        )));
    }
    let expected = layout.sliver_len * shards.len() as u64;
    let (frames, queue) = mpsc::channel::<Bytes>(QUEUED_FRAMES);
    let writer = {
        let (disk, blob_id, shards) = (node.disk.clone(), blob_id.clone(), shards.clone());
        tokio::task::spawn_blocking(move || {
            write_slivers(&disk, &blob_id, &metadata, &shards, queue)
        })
    };
    forward_body(body, &frames, expected, &layout, shards.len()).await?;
    drop(frames);
    let verified = writer.await.map_err(Error::internal)??;
    // Expiry is held off only from here: the payment is checked again and the slivers
    // are renamed into place, so expiry never drops a sliver a new contract just paid
    // for, and a slow upload never holds expiry (nor, behind it, other uploads) back.
    let _no_expiry = node.expiry.read().await;
    node.ledger.paid_metadata(&blob_id).await?;
    tokio::task::spawn_blocking(move || {
        verified
            .into_iter()
            .try_for_each(|(writer, leaves)| writer.commit(&leaves))
    })
    .await
    .map_err(Error::internal)?
    .map_err(io)?;
    node.stored
        .fetch_add(shards.len() as u64, Ordering::Relaxed);
    let confirmation = confirmation_if_complete(&node, &blob_id).await?;
    Ok(Stored {
        blob_id,
        shards,
        confirmation,
    })
}

/// Hands the body's frames to the writer, refusing a body that goes silent for
/// `UPLOAD_IDLE`, breaks off, or runs past `expected` bytes. A writer that failed
/// stops the forwarding: its error is the answer.
async fn forward_body(
    body: Body,
    frames: &mpsc::Sender<Bytes>,
    expected: u64,
    layout: &Layout,
    count: usize,
) -> Result<(), Error> {
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    loop {
        let frame = tokio::time::timeout(UPLOAD_IDLE, stream.next())
            .await
            .map_err(|_| {
                Error::InvalidArgument(format!(
                    "the upload sent nothing for {} s",
                    UPLOAD_IDLE.as_secs()
                ))
            })?;
        let Some(frame) = frame else { return Ok(()) };
        let frame =
            frame.map_err(|e| Error::InvalidArgument(format!("the upload broke off: {e}")))?;
        received += frame.len() as u64;
        if received > expected {
            return Err(length_error(layout, count, received, "at least "));
        }
        if frames.send(frame).await.is_err() {
            return Ok(());
        }
    }
}

fn length_error(layout: &Layout, count: usize, got: u64, qualifier: &str) -> Error {
    Error::InvalidArgument(format!(
        "the body is {qualifier}{got} bytes; {count} sliver(s) of {} bytes are {}",
        layout.sliver_len,
        layout.sliver_len * count as u64
    ))
}

/// Demultiplexes the frames into one temporary file per shard, then checks every root:
/// the slivers ready to commit, with their leaves (blocking pool).
fn write_slivers(
    disk: &Disk,
    blob_id: &str,
    metadata: &BlobMetadata,
    shards: &[u32],
    mut queue: mpsc::Receiver<Bytes>,
) -> Result<Vec<(SliverWriter, Vec<Hash>)>, Error> {
    let layout = metadata.validate().map_err(Error::internal)?;
    let piece = layout.stripe_sliver_len;
    let mut writers = shards
        .iter()
        .map(|&shard| disk.begin_blocking(blob_id, shard, layout.chunk_len))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    let count = writers.len() as u64;
    let mut position: u64 = 0;
    while let Some(frame) = queue.blocking_recv() {
        let mut bytes = &frame[..];
        while !bytes.is_empty() {
            let slot = usize::try_from(position / piece % count).unwrap_or(0);
            let take = usize::try_from(piece - position % piece)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            writers[slot].write(&bytes[..take]).map_err(io)?;
            bytes = &bytes[take..];
            position += take as u64;
        }
    }
    if position != layout.sliver_len * count {
        return Err(length_error(&layout, shards.len(), position, ""));
    }
    let mut verified = Vec::with_capacity(writers.len());
    for (mut writer, &shard) in writers.into_iter().zip(shards) {
        let expected = metadata.sliver_root_hash(shard).map_err(Error::internal)?;
        match writer.finish_root() {
            Some((root, leaves)) if root == expected => verified.push((writer, leaves)),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "sliver {shard} does not verify: it does not hash to its root in the blob's metadata"
                )))
            }
        }
    }
    Ok(verified)
}
