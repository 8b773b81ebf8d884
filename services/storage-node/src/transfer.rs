//! Slivers in and out as streams: an upload carries one sliver, or all of a node's
//! slivers of a blob in one request (stripe-major: for each stripe, each listed shard's
//! piece in the order listed); a download is the same from a given stripe on. Neither
//! holds more than a few pieces in memory, whatever the blob's size: the length
//! allowed is the metadata's (so the sliver limit follows from the blob limit).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use wal::encoding::merkle::{self, Hash};
use wal::encoding::{BlobMetadata, Layout};

use crate::disk::{read_at, Disk, Leaves, SliverWriter, READ_BYTES};
use crate::error::Error;
use crate::routes::{confirmation_if_complete, io, parse_blob_id, Shared, Stored};

/// An upload that sends nothing for this long is dropped (it would hold a slot).
const UPLOAD_IDLE: Duration = Duration::from_secs(60);
/// Frames queued between the network and the disk, each side's way.
const QUEUED_FRAMES: usize = 8;

/// The shards of a multi-sliver request, `?shards=1,5,9`, and the first stripe served.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    shards: Option<String>,
    from_stripe: Option<u64>,
}

fn shard_list(selection: &Selection) -> Result<Vec<u32>, Error> {
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
        let Some(frame) = frame else { break };
        let frame =
            frame.map_err(|e| Error::InvalidArgument(format!("the upload broke off: {e}")))?;
        received += frame.len() as u64;
        if received > expected {
            return Err(length_error(&layout, shards.len(), received, "at least "));
        }
        if frames.send(frame).await.is_err() {
            break; // the writer failed; its error is the answer
        }
    }
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

/// `GET /v1/blobs/{blob_id}/slivers/{shard}[?from_stripe=j]`: one sliver.
pub async fn get_sliver(
    State(node): State<Shared>,
    Path((blob_id, shard)): Path<(String, u32)>,
    Query(selection): Query<Selection>,
) -> Result<Response, Error> {
    if selection.shards.is_some() {
        return Err(Error::InvalidArgument(
            "shards is for /v1/blobs/{blob_id}/slivers".into(),
        ));
    }
    serve(
        node,
        &blob_id,
        vec![shard],
        selection.from_stripe.unwrap_or(0),
    )
    .await
}

/// `GET /v1/blobs/{blob_id}/slivers?shards=...[&from_stripe=j]`: several, stripe-major.
pub async fn get_slivers(
    State(node): State<Shared>,
    Path(blob_id): Path<String>,
    Query(selection): Query<Selection>,
) -> Result<Response, Error> {
    let shards = shard_list(&selection)?;
    serve(node, &blob_id, shards, selection.from_stripe.unwrap_or(0)).await
}

/// `GET /v1/blobs/{blob_id}/slivers/{shard}/leaves`: the sliver's chunk leaf hashes,
/// 32 bytes each in chunk order, so a reader can verify each chunk as it arrives.
pub async fn get_leaves(
    State(node): State<Shared>,
    Path((blob_id, shard)): Path<(String, u32)>,
) -> Result<Response, Error> {
    let (blob_id, metadata) = paid(&node, &blob_id).await?;
    let leaves = verified_leaves(&node.disk, &blob_id, &metadata, shard).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        leaves.concat(),
    )
        .into_response())
}

async fn paid(node: &Shared, blob_id: &str) -> Result<(String, BlobMetadata), Error> {
    let blob_id = parse_blob_id(blob_id)?.to_string();
    let metadata = node.ledger.paid_metadata(&blob_id).await?;
    Ok((blob_id, metadata))
}

/// The sliver's leaves, checked against its root: 404 if the sliver is not here, 500 if
/// its leaves do not make its root (the node's own data rotted).
pub async fn verified_leaves(
    disk: &Disk,
    blob_id: &str,
    metadata: &BlobMetadata,
    shard: u32,
) -> Result<Vec<Hash>, Error> {
    let expected = metadata
        .sliver_root_hash(shard)
        .map_err(|_| Error::NotFound(format!("blob {blob_id} has no sliver {shard}")))?;
    let (disk, id, chunk_len) = (disk.clone(), blob_id.to_owned(), metadata.chunk_len);
    let leaves =
        tokio::task::spawn_blocking(move || disk.leaves_blocking(&id, shard, chunk_len, &expected))
            .await
            .map_err(Error::internal)?
            .map_err(io)?;
    match leaves {
        Leaves::Verified(leaves) => Ok(leaves),
        Leaves::Absent => Err(Error::NotFound(format!(
            "no sliver {shard} of blob {blob_id} here"
        ))),
        Leaves::Rotten => Err(Error::internal(format!(
            "stored sliver {shard} of blob {blob_id} failed verification"
        ))),
    }
}

/// Streams the slivers from stripe `from_stripe` on, each piece checked against its
/// leaves as it is read: a piece that rotted breaks the stream off instead of being served.
async fn serve(
    node: Shared,
    blob_id: &str,
    shards: Vec<u32>,
    from_stripe: u64,
) -> Result<Response, Error> {
    let (blob_id, metadata) = paid(&node, blob_id).await?;
    let layout = metadata.validate().map_err(Error::internal)?;
    if from_stripe >= layout.stripes {
        return Err(Error::InvalidArgument(format!(
            "from_stripe {from_stripe} is past the blob's {} stripes",
            layout.stripes
        )));
    }
    let mut all_leaves = Vec::with_capacity(shards.len());
    for &shard in &shards {
        all_leaves.push(verified_leaves(&node.disk, &blob_id, &metadata, shard).await?);
    }
    node.served
        .fetch_add(shards.len() as u64, Ordering::Relaxed);
    let length = (layout.stripes - from_stripe) * layout.stripe_sliver_len * shards.len() as u64;
    let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(QUEUED_FRAMES);
    let disk = node.disk.clone();
    tokio::task::spawn_blocking(move || {
        let pieces = Pieces {
            disk: &disk,
            blob_id: &blob_id,
            layout: &layout,
            shards: &shards,
            leaves: &all_leaves,
        };
        if let Err(e) = pieces.send_from(from_stripe, &sender) {
            let _ = sender.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// What a download reads: the slivers of some shards of one blob.
struct Pieces<'a> {
    disk: &'a Disk,
    blob_id: &'a str,
    layout: &'a Layout,
    shards: &'a [u32],
    leaves: &'a [Vec<Hash>],
}

impl Pieces<'_> {
    /// Sends every piece from `from_stripe` on, in stripe-major order (blocking pool).
    fn send_from(
        &self,
        from_stripe: u64,
        sender: &mpsc::Sender<std::io::Result<Bytes>>,
    ) -> std::io::Result<()> {
        let piece = self.layout.stripe_sliver_len;
        let chunk = self.layout.chunk_len;
        let part = (READ_BYTES as u64 / chunk).max(1) * chunk;
        let files = self
            .shards
            .iter()
            .map(|&shard| self.disk.open_sliver_blocking(self.blob_id, shard))
            .collect::<std::io::Result<Vec<_>>>()?;
        for stripe in from_stripe..self.layout.stripes {
            for (slot, file) in files.iter().enumerate() {
                let mut offset = stripe * piece;
                let end = offset + piece;
                while offset < end {
                    let len = usize::try_from(part.min(end - offset)).unwrap_or(READ_BYTES);
                    let bytes = read_at(file, offset, len)?;
                    self.check(slot, offset, &bytes)?;
                    if sender.blocking_send(Ok(Bytes::from(bytes))).is_err() {
                        return Ok(()); // the reader went away
                    }
                    offset += len as u64;
                }
            }
        }
        Ok(())
    }

    /// Bytes at `offset` of a sliver (starting at a chunk boundary) match its leaves.
    fn check(&self, slot: usize, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let chunk = self.layout.chunk_len;
        let first = usize::try_from(offset / chunk).unwrap_or(usize::MAX);
        let rotten = bytes
            .chunks(usize::try_from(chunk).unwrap_or(usize::MAX))
            .enumerate()
            .any(|(i, c)| self.leaves[slot].get(first + i) != Some(&merkle::leaf_hash(c)));
        if rotten {
            tracing::error!(
                blob_id = self.blob_id,
                shard = self.shards[slot],
                offset,
                "a stored sliver failed verification"
            );
            return Err(std::io::Error::other("a stored sliver failed verification"));
        }
        Ok(())
    }
}
