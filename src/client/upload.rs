//! Storing a file on the storage nodes in bounded memory: its metadata is computed in a
//! first pass over the file, one stripe at a time; the upload encodes it again, stripe
//! by stripe, and streams each node all its slivers in one request (stripe-major, as
//! the node's `PUT /v1/blobs/{id}/slivers?shards=` reads them). A node that stops
//! taking bytes for the stall timeout is dropped, so one hung node cannot stall the rest.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::encoding::{encode_stripe, BlobMetadata, EncodingError, Layout, MetadataBuilder};

/// Called with the blob bytes just encoded or sent (progress bars).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Stripes queued for each node: the encoder runs at most this far ahead of a node.
const QUEUED_STRIPES: usize = 2;
/// The slowest a node may be after the last byte is handed to the connection, in
/// bytes per second: it still has to read what the sockets buffer, and it fsyncs its
/// slivers at the end. Its answer window is the stall timeout plus the body and the
/// socket buffers at this rate.
const FINISH_BYTES_PER_SEC_MIN: u64 = 64 << 20;
/// What loopback or a fast link may hold in socket buffers between the two ends.
const SOCKET_BUFFERS_MAX: u64 = 16 << 20;

/// The HTTP client for uploads: it times only connecting. An upload may run for
/// minutes with no byte of answer; `upload` gives up on a node silent for its stall
/// timeout itself (a client read timeout would fire during a long body).
pub fn http_client(stall: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_idle_timeout(super::POOL_IDLE_TIMEOUT)
        .connect_timeout(stall)
        .build()
}

/// Why a file could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The file cannot be encoded (too large, bad shard count).
    #[error("cannot encode: {0}")]
    Encoding(#[from] EncodingError),
}

/// Reads stripe after stripe of a file of `layout.size` bytes and hands each stripe's
/// pieces to `each` (blocking: run it off the async threads).
pub fn for_each_stripe(
    path: &Path,
    layout: &Layout,
    mut each: impl FnMut(u64, Vec<Vec<u8>>) -> bool,
) -> Result<(), SourceError> {
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut data = Vec::new();
    for stripe in 0..layout.stripes {
        let range = layout.stripe_range(stripe);
        data.resize(
            usize::try_from(range.end - range.start)
                .map_err(|_| EncodingError::TooLarge(layout.size))?,
            0,
        );
        file.read_exact(&mut data)?;
        if !each(range.end - range.start, encode_stripe(layout, &data)?) {
            break;
        }
    }
    Ok(())
}

/// The file's metadata for `n_shards` shards (blocking), one stripe in memory at a time.
pub fn file_metadata(
    path: &Path,
    n_shards: u32,
    progress: &Progress,
) -> Result<BlobMetadata, SourceError> {
    let size = std::fs::metadata(path)?.len();
    let layout = Layout::new(size, n_shards)?;
    let mut builder = MetadataBuilder::new(layout);
    for_each_stripe(path, &layout, |bytes, pieces| {
        builder.push_stripe(&pieces);
        progress(bytes);
        true
    })?;
    Ok(builder.finish())
}

/// A node to upload to: the shards it holds of the blob.
#[derive(Clone, Debug)]
pub struct Target {
    /// The node's id at the ledger.
    pub node_id: String,
    /// Its base URL.
    pub endpoint: String,
    /// The shards whose slivers it gets, in this order in the stream.
    pub shards: Vec<u32>,
}

/// What one node made of its upload: its answer (with its confirmation), or why not.
pub type Outcome = (Target, Result<Value, String>);

struct Lane {
    target: Target,
    frames: Option<mpsc::Sender<Result<Bytes, std::io::Error>>>,
    /// Cancels the lane's request: a node given up on keeps nothing (its body is cut).
    request: tokio::task::AbortHandle,
    failure: Option<String>,
}

/// Streams every target its slivers of the file (already paid for, with this
/// metadata). A node that takes no bytes for `stall`, or gives no answer `stall` after
/// its last byte, is dropped with that reason; the others go on.
pub async fn upload(
    http: &reqwest::Client,
    path: &Path,
    metadata: &BlobMetadata,
    targets: Vec<Target>,
    stall: Duration,
    progress: Progress,
) -> Result<Vec<Outcome>, SourceError> {
    let layout = metadata.validate()?;
    let blob_id = metadata.blob_id();
    if let Some(&shard) = targets
        .iter()
        .flat_map(|t| &t.shards)
        .find(|&&s| s >= layout.n_shards)
    {
        return Err(EncodingError::SliverIndex(shard).into());
    }
    let mut lanes = Vec::with_capacity(targets.len());
    let mut requests = tokio::task::JoinSet::new();
    for (slot, target) in targets.into_iter().enumerate() {
        let (frames, queue) = mpsc::channel(QUEUED_STRIPES);
        let (http, blob_id, owned) = (http.clone(), blob_id.clone(), target.clone());
        let body_bytes = layout.sliver_len * target.shards.len() as u64;
        let window = stall
            + Duration::from_secs_f64(
                (body_bytes + SOCKET_BUFFERS_MAX) as f64 / FINISH_BYTES_PER_SEC_MIN as f64,
            );
        let request = requests.spawn(async move {
            let (ended, body_ended) = oneshot::channel();
            let request = put_slivers(&http, &blob_id, &owned, queue, ended);
            // From the last byte of the body, the node has `window` to answer.
            let answer = async {
                let _ = body_ended.await;
                tokio::time::sleep(window).await;
            };
            tokio::select! {
                result = request => (slot, result),
                () = answer => (slot, Err(format!("node {}: no answer within {} s of the last byte", owned.node_id, window.as_secs()))),
            }
        });
        lanes.push(Lane {
            target,
            frames: Some(frames),
            request,
            failure: None,
        });
    }
    let (done, finished) = oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let result = feed(&handle, &path, &layout, &mut lanes, stall, &progress);
        let _ = done.send((result, lanes));
    });
    let (fed, lanes) = finished
        .await
        .map_err(|e| SourceError::Io(std::io::Error::other(e)))?;
    fed?;
    collect(requests, lanes).await
}

/// Pairs each lane with its request's answer; a lane the feeder dropped keeps the
/// feeder's reason when its request has none better.
async fn collect(
    mut requests: tokio::task::JoinSet<(usize, Result<Value, String>)>,
    lanes: Vec<Lane>,
) -> Result<Vec<Outcome>, SourceError> {
    let mut answers: Vec<Option<Result<Value, String>>> = vec![None; lanes.len()];
    while let Some(joined) = requests.join_next().await {
        if let Ok((slot, answer)) = joined {
            answers[slot] = Some(answer);
        }
    }
    Ok(lanes
        .into_iter()
        .zip(answers)
        .map(|(lane, answer)| {
            let result = match (answer, lane.failure) {
                (Some(Ok(value)), _) => Ok(value),
                (Some(Err(e)), None) => Err(e),
                (Some(Err(e)), Some(reason)) => Err(format!("{reason}: {e}")),
                (None, Some(reason)) => Err(format!("node {}: {reason}", lane.target.node_id)),
                (None, None) => Err("the upload task ended without an answer".to_owned()),
            };
            (lane.target, result)
        })
        .collect())
}

/// Encodes the file again, stripe by stripe, and queues each lane its pieces (blocking).
fn feed(
    handle: &tokio::runtime::Handle,
    path: &Path,
    layout: &Layout,
    lanes: &mut [Lane],
    stall: Duration,
    progress: &Progress,
) -> Result<(), SourceError> {
    for_each_stripe(path, layout, |bytes, pieces| {
        let bodies: Vec<Option<Bytes>> = lanes
            .iter()
            .map(|lane| {
                lane.frames
                    .as_ref()
                    .map(|_| lane_body(&lane.target, &pieces))
            })
            .collect();
        // Every lane at once against one deadline: a hung node costs one stall in all.
        let deadline = tokio::time::Instant::now() + stall;
        let sends = lanes.iter().zip(bodies).map(|(lane, body)| async move {
            let (Some(frames), Some(body)) = (&lane.frames, body) else {
                return None;
            };
            Some(
                match tokio::time::timeout_at(deadline, frames.send(Ok(body))).await {
                    Ok(Ok(())) => None,
                    Ok(Err(_)) => Some("the node ended the upload".to_owned()),
                    Err(_) => Some(format!("the node took no bytes for {} s", stall.as_secs())),
                },
            )
        });
        let outcomes = handle.block_on(futures_util::future::join_all(sends));
        for (lane, outcome) in lanes.iter_mut().zip(outcomes) {
            if let Some(Some(failure)) = outcome {
                lane.failure = Some(failure);
                lane.frames = None;
                lane.request.abort();
            }
        }
        progress(bytes);
        lanes.iter().any(|lane| lane.frames.is_some())
    })?;
    for lane in lanes.iter_mut() {
        lane.frames = None;
    }
    Ok(())
}

/// A request body fed by `queue`, item by item; `ended` is told once it has all been
/// handed to the connection (the queue closed).
pub(crate) fn body_of(
    queue: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ended: Option<oneshot::Sender<()>>,
) -> reqwest::Body {
    let stream =
        futures_util::stream::unfold((queue, ended), |(mut queue, mut ended)| async move {
            match queue.recv().await {
                Some(item) => Some((item, (queue, ended))),
                None => {
                    if let Some(ended) = ended.take() {
                        let _ = ended.send(());
                    }
                    None
                }
            }
        });
    reqwest::Body::wrap_stream(stream)
}

/// A lane's body for one stripe: its shards' pieces, in its order.
fn lane_body(target: &Target, pieces: &[Vec<u8>]) -> Bytes {
    let mut body = Vec::with_capacity(pieces[0].len() * target.shards.len());
    for &shard in &target.shards {
        body.extend_from_slice(&pieces[shard as usize]);
    }
    Bytes::from(body)
}

/// One node's upload request, its body fed by `queue` (`ended` is told when the body
/// has been sent whole); the node's JSON answer.
async fn put_slivers(
    http: &reqwest::Client,
    blob_id: &str,
    target: &Target,
    queue: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ended: oneshot::Sender<()>,
) -> Result<Value, String> {
    let shards: Vec<String> = target.shards.iter().map(u32::to_string).collect();
    let url = format!(
        "{}/v1/blobs/{blob_id}/slivers?shards={}",
        target.endpoint,
        shards.join(",")
    );
    let request = http.put(&url).body(body_of(queue, Some(ended)));
    let response = request
        .send()
        .await
        .map_err(|e| format!("node {}: {e}", target.node_id))?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| format!("node {}: {e}", target.node_id));
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!(
        "node {} refused the upload: HTTP {status}: {text}",
        target.node_id
    ))
}

#[cfg(all(test, feature = "server"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::body::Body;
    use futures_util::StreamExt;

    /// A node that takes the body steadily but slowly (16 MiB/s), then answers.
    async fn slow_node(body: Body) -> axum::Json<Value> {
        let mut stream = body.into_data_stream();
        let started = std::time::Instant::now();
        let mut received = 0u64;
        while let Some(frame) = stream.next().await {
            received += frame.unwrap().len() as u64;
            let due = Duration::from_secs_f64(received as f64 / f64::from(16u32 << 20));
            tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
        }
        axum::Json(serde_json::json!({"received": received, "confirmation": null}))
    }

    /// An upload that lasts several times the stall timeout, to a node that never stops
    /// taking bytes, is not cut off: the timeout is for silence, not for length (the
    /// 4 GiB store once failed on a read timeout that ran while the body was sent).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_upload_is_not_a_silent_node() {
        let dir = std::env::temp_dir().join(format!("wal-upload-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob.bin");
        std::fs::write(&path, vec![7u8; 24 << 20]).unwrap();
        let metadata = file_metadata(&path, 4, &(Arc::new(|_| {}) as Progress)).unwrap();
        let app =
            axum::Router::new().route("/v1/blobs/{id}/slivers", axum::routing::put(slow_node));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let target = Target {
            node_id: "1".into(),
            endpoint,
            shards: vec![0, 1, 2, 3],
        };
        let stall = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let outcomes = upload(
            &http_client(stall).unwrap(),
            &path,
            &metadata,
            vec![target],
            stall,
            Arc::new(|_| {}),
        )
        .await
        .unwrap();
        let (_, answer) = &outcomes[0];
        let answer = answer
            .as_ref()
            .expect("the slow but steady node is not cut off");
        assert_eq!(answer["received"], metadata.sliver_len * 4);
        assert!(
            started.elapsed() > 2 * stall,
            "the upload outlasted the stall timeout"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
