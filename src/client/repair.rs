//! Rebuilding slivers (the checker's repair): k verified slivers are streamed from their
//! holders and decoded one stripe at a time (`download::read_stripes`), and each lost
//! sliver's piece of every stripe is streamed on to its new holder, which verifies the
//! whole sliver against its root before it keeps it. Memory: a few stripes, whatever
//! the blob's size.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::download::{ReadError, ReadFrom, StripeReader};
use super::upload::body_of;
use crate::encoding::BlobMetadata;
use crate::encoding::Consistency;

/// How long a source or a target may stay silent before the repair gives up on it.
const REPAIR_STALL: Duration = Duration::from_secs(30);
/// Pieces queued for each target.
const QUEUED_PIECES: usize = 2;

/// What became of one rebuilt sliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// The holder accepted it (a success status to the PUT).
    Stored,
    /// The holder answered, but refused it.
    Refused,
    /// The holder could not be reached, or stopped taking bytes.
    Unreachable,
}

/// A rebuilt sliver on its way to its holder.
struct Lane {
    shard: u32,
    frames: Option<mpsc::Sender<Result<Bytes, std::io::Error>>>,
    request: tokio::task::JoinHandle<Placed>,
}

/// Rebuilds slivers `shards` of a blob from the slivers at `sources` (shard ->
/// endpoint) and streams each to `targets[shard]`. Returns what became of each (shards
/// without a target are left out); an error if the blob cannot be decoded now.
pub async fn rebuild(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    shards: &[u32],
    sources: &HashMap<u32, String>,
    targets: &HashMap<u32, String>,
) -> Result<Vec<(u32, Placed)>, String> {
    let blob_id = metadata.blob_id();
    let mut lanes: Vec<Lane> = shards
        .iter()
        .filter(|&&shard| shard < metadata.n_shards)
        .filter_map(|&shard| Some(open_lane(http, &blob_id, shard, targets.get(&shard)?)))
        .collect();
    if lanes.is_empty() {
        return Ok(Vec::new());
    }
    if let Err(e) = forward(http, metadata, sources, &mut lanes).await {
        // Cut every body off: a holder keeps nothing of a sliver that was not whole.
        lanes.iter().for_each(|lane| lane.request.abort());
        return Err(format!("blob {blob_id} cannot be decoded now: {e}"));
    }
    let mut placed = Vec::with_capacity(lanes.len());
    for mut lane in lanes {
        lane.frames = None; // ends the body
        placed.push((
            lane.shard,
            lane.request.await.unwrap_or(Placed::Unreachable),
        ));
    }
    Ok(placed)
}

/// Decodes the blob stripe by stripe and sends each lane its piece of every stripe; a
/// lane whose holder takes nothing for `REPAIR_STALL` is cut off.
async fn forward(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    sources: &HashMap<u32, String>,
    lanes: &mut [Lane],
) -> Result<(), ReadError> {
    // Strict: the lost slivers are parity as often as data, derived and checked.
    let from = ReadFrom {
        http,
        endpoints: sources,
        stall: REPAIR_STALL,
        consistency: Consistency::Strict,
    };
    let mut reader = StripeReader::new(from, metadata)?;
    while let Some(stripe) = reader.next().await? {
        for lane in lanes.iter_mut() {
            let Some(frames) = &lane.frames else { continue };
            let piece = Bytes::from(stripe.pieces[lane.shard as usize].clone());
            let sent = tokio::time::timeout(REPAIR_STALL, frames.send(Ok(piece))).await;
            if !matches!(sent, Ok(Ok(()))) {
                lane.frames = None;
                lane.request.abort();
            }
        }
    }
    Ok(())
}

/// Starts the PUT of sliver `shard` to `endpoint`, its body fed piece by piece.
fn open_lane(http: &reqwest::Client, blob_id: &str, shard: u32, endpoint: &str) -> Lane {
    let (frames, queue) = mpsc::channel(QUEUED_PIECES);
    let request = http
        .put(format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}"))
        .body(body_of(queue, None));
    let blob_id = blob_id.to_owned();
    let request = tokio::spawn(async move {
        match request.send().await {
            Ok(r) if r.status().is_success() => Placed::Stored,
            Ok(r) => {
                tracing::warn!(%blob_id, shard, status = %r.status(), "holder refused a rebuilt sliver");
                Placed::Refused
            }
            Err(e) => {
                tracing::warn!(%blob_id, shard, error = %e, "holder unreachable for repair");
                Placed::Unreachable
            }
        }
    });
    Lane {
        shard,
        frames: Some(frames),
        request,
    }
}
