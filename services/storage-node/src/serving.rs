//! Slivers out as streams: one sliver, or several stripe-major from a stripe on; and
//! their leaves. What is served is not hashed again here: every reader checks each
//! chunk against the leaves (which are checked against the committed root), so rot
//! costs the reader a replacement source, and the checker's challenges catch it at the
//! node; hashing every byte served would double a read's CPU for no reader's benefit.

use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use wal::encoding::merkle::Hash;
use wal::encoding::{BlobMetadata, Layout};

use crate::disk::{read_at, Disk, Leaves, READ_BYTES};
use crate::error::Error;
use crate::routes::{io, parse_blob_id, Shared};
use crate::transfer::{shard_list, Selection, QUEUED_FRAMES};

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

/// Streams the slivers from stripe `from_stripe` on, once their leaves were found to
/// make their roots (a sliver that is missing is a 404, leaves that rotted a 500).
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
    for &shard in &shards {
        verified_leaves(&node.disk, &blob_id, &metadata, shard).await?;
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
            for file in &files {
                let mut offset = stripe * piece;
                let end = offset + piece;
                while offset < end {
                    let len = usize::try_from(part.min(end - offset)).unwrap_or(READ_BYTES);
                    let bytes = read_at(file, offset, len)?;
                    if sender.blocking_send(Ok(Bytes::from(bytes))).is_err() {
                        return Ok(()); // the reader went away
                    }
                    offset += len as u64;
                }
            }
        }
        Ok(())
    }
}
