//! Streaming a read into an HTTP body: the shared read path (`wal::client::download`)
//! decodes on a blocking thread into a bounded channel that the body drains, so a slow
//! client holds back the reader instead of filling memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use wal::client::download::{read_blob, read_range, ReadFrom};
use wal::encoding::{BlobMetadata, Consistency};

use crate::walrus::WalrusError;
use crate::Gateway;

/// Decoded chunks waiting for a slow HTTP client: the reader runs at most this far ahead.
const QUEUED_CHUNKS: usize = 4;

/// The endpoints of every shard's holder now.
pub(crate) async fn endpoints(gateway: &Gateway) -> Result<HashMap<u32, String>, WalrusError> {
    let (_, holders) = wal::client::store::holders(&gateway.ledger)
        .await
        .map_err(|e| {
            WalrusError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "LEDGER_UNAVAILABLE",
                e.to_string(),
            )
        })?;
    Ok(holders
        .into_iter()
        .map(|(shard, holder)| (shard, holder.endpoint.clone()))
        .collect())
}

/// A sink that hands each decoded slice to the HTTP body (on the reader's blocking
/// thread; a client gone away ends the read).
struct BodySink {
    chunks: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    gateway: Arc<Gateway>,
}

impl std::io::Write for BodySink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.chunks
            .blocking_send(Ok(Bytes::copy_from_slice(data)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        let served = &self.gateway.metrics.bytes_served;
        served.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts the read and waits for its first bytes, so that a blob that cannot be read
/// at all is a 503 in Walrus's envelope rather than a cut-off 200; a failure after that
/// cuts the body (the client sees fewer bytes than `Content-Length`).
pub(crate) async fn stream(
    gateway: Arc<Gateway>,
    metadata: BlobMetadata,
    bytes: Option<std::ops::Range<u64>>,
    consistency: Consistency,
) -> Result<Body, WalrusError> {
    let endpoints = endpoints(&gateway).await?;
    let (chunks, mut received) = tokio::sync::mpsc::channel(QUEUED_CHUNKS);
    let failed = chunks.clone();
    let sink = BodySink {
        chunks,
        gateway: gateway.clone(),
    };
    tokio::spawn(async move {
        let from = ReadFrom {
            http: &gateway.nodes,
            endpoints: &endpoints,
            stall: gateway.config.stall,
            consistency,
        };
        let read = match bytes {
            Some(range) => read_range(from, &metadata, range, sink).await.map(|_| ()),
            None => read_blob(from, &metadata, sink, Arc::new(|_| {}))
                .await
                .map(|_| ()),
        };
        if let Err(e) = read {
            tracing::warn!(blob_id = %metadata.blob_id(), error = %e, "read failed");
            let _ = failed.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let first = received.recv().await;
    let first = match first {
        None => return Ok(Body::empty()),
        Some(Err(e)) => {
            return Err(WalrusError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "BLOB_NOT_RETRIEVABLE",
                format!("the blob cannot be read from the storage nodes now: {e}"),
            ))
        }
        Some(Ok(first)) => first,
    };
    let rest = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|chunk| (chunk, received))
    });
    let all = futures_util::StreamExt::chain(futures_util::stream::once(async { Ok(first) }), rest);
    Ok(Body::from_stream(all))
}
