//! The sources of a read: which holders stream which shards, their leaves checked
//! against the metadata, and each stripe's pieces checked chunk by chunk; a source that
//! fails is given up on and spares are opened in its place.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::{ReadError, ReadReport};
use crate::encoding::merkle::{self, Hash};
use crate::encoding::{BlobMetadata, Layout};

/// One node streaming the pieces of some shards.
pub(super) struct Source {
    endpoint: String,
    shards: Vec<u32>,
    leaves: Vec<Vec<Hash>>,
    response: reqwest::Response,
    pending: Vec<u8>,
}

/// Verified pieces of one stripe by shard, with their leaves.
pub(super) type Given = BTreeMap<u32, (Vec<u8>, Vec<Hash>)>;

pub(super) struct Reader<'a> {
    pub(super) http: &'a reqwest::Client,
    pub(super) metadata: &'a BlobMetadata,
    pub(super) layout: Layout,
    pub(super) stall: Duration,
    pub(super) blob_id: String,
    /// Shards not read yet, the lowest last (data slivers first: nothing to rebuild).
    pub(super) spares: Vec<u32>,
    pub(super) endpoints: &'a HashMap<u32, String>,
    pub(super) bad_endpoints: HashSet<String>,
    pub(super) report: ReadReport,
}

impl Reader<'_> {
    /// k verified pieces of stripe `stripe`: from the sources (the ones that fail are
    /// dropped), and from spares opened at this stripe until there are k.
    pub(super) async fn stripe(
        &mut self,
        sources: &mut Vec<Source>,
        stripe: u64,
    ) -> Result<Given, ReadError> {
        let k = self.layout.k as usize;
        let mut given = Given::new();
        let mut to_read = std::mem::take(sources);
        loop {
            let read = self.read_all(&mut to_read, stripe).await;
            for (source, result) in to_read.drain(..).zip(read) {
                match result {
                    Ok(pieces) => {
                        given.extend(pieces);
                        sources.push(source);
                    }
                    Err(reason) => self.give_up(&source.endpoint, &reason),
                }
            }
            if given.len() >= k {
                return Ok(given);
            }
            to_read = self.open(k - given.len(), stripe).await;
            if to_read.is_empty() && self.spares.is_empty() {
                return Err(ReadError::NotEnough {
                    have: given.len(),
                    need: k,
                    reasons: self.report.replaced.join("; "),
                });
            }
        }
    }

    fn give_up(&mut self, endpoint: &str, reason: &str) {
        self.bad_endpoints.insert(endpoint.to_owned());
        self.report.replaced.push(format!("{endpoint}: {reason}"));
    }

    /// Opens sources for `wanted` more shards from the spares (one request per node),
    /// streaming from stripe `stripe`.
    async fn open(&mut self, wanted: usize, stripe: u64) -> Vec<Source> {
        let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut picked = 0;
        while picked < wanted {
            let Some(shard) = self.spares.pop() else {
                break;
            };
            let endpoint = &self.endpoints[&shard];
            if self.bad_endpoints.contains(endpoint) {
                continue;
            }
            groups.entry(endpoint.clone()).or_default().push(shard);
            picked += 1;
        }
        let opening = groups
            .into_iter()
            .map(|(endpoint, shards)| self.open_one(endpoint, shards, stripe));
        let mut sources = Vec::new();
        for result in futures_util::future::join_all(opening).await {
            match result {
                Ok(source) => sources.push(source),
                Err((endpoint, reason)) => self.give_up(&endpoint, &reason),
            }
        }
        sources
    }

    /// One node's leaves of its shards (each checked against the metadata), then its
    /// stream of their pieces from `stripe` on.
    async fn open_one(
        &self,
        endpoint: String,
        shards: Vec<u32>,
        stripe: u64,
    ) -> Result<Source, (String, String)> {
        let fetches = shards.iter().map(|&shard| self.leaves(&endpoint, shard));
        let fetched =
            tokio::time::timeout(self.stall, futures_util::future::join_all(fetches)).await;
        let Ok(fetched) = fetched else {
            return Err((endpoint, format!("no leaves in {} s", self.stall.as_secs())));
        };
        let leaves = match fetched.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(leaves) => leaves,
            Err(reason) => return Err((endpoint, reason)),
        };
        let list: Vec<String> = shards.iter().map(u32::to_string).collect();
        let url = format!(
            "{endpoint}/v1/blobs/{}/slivers?shards={}&from_stripe={stripe}",
            self.blob_id,
            list.join(",")
        );
        let response = match tokio::time::timeout(self.stall, self.http.get(&url).send()).await {
            Ok(Ok(r)) if r.status().is_success() => r,
            Ok(Ok(r)) => return Err((endpoint, format!("HTTP {}", r.status()))),
            Ok(Err(e)) => return Err((endpoint, e.to_string())),
            Err(_) => return Err((endpoint, format!("no answer in {} s", self.stall.as_secs()))),
        };
        Ok(Source {
            endpoint,
            shards,
            leaves,
            response,
            pending: Vec::new(),
        })
    }

    async fn leaves(&self, endpoint: &str, shard: u32) -> Result<Vec<Hash>, String> {
        let url = format!(
            "{endpoint}/v1/blobs/{}/slivers/{shard}/leaves",
            self.blob_id
        );
        let expected = u64::from(self.layout.chunk_count()) * 32;
        let fetch = async {
            let mut response = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!(
                    "HTTP {} for the leaves of sliver {shard}",
                    response.status()
                ));
            }
            if response.content_length().is_some_and(|len| len != expected) {
                return Err(format!(
                    "the leaves of sliver {shard} are not {expected} bytes"
                ));
            }
            // Never more than the leaves can be: a node cannot make the reader hoard.
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if (bytes.len() + chunk.len()) as u64 > expected {
                    return Err(format!(
                        "the leaves of sliver {shard} are over {expected} bytes"
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(self.stall, fetch)
            .await
            .map_err(|_| format!("no leaves in {} s", self.stall.as_secs()))??;
        let leaves: Vec<Hash> = bytes
            .chunks_exact(32)
            .map(|l| l.try_into().unwrap_or([0; 32]))
            .collect();
        let root = self
            .metadata
            .sliver_root_hash(shard)
            .map_err(|e| e.to_string())?;
        if leaves.len() as u64 != u64::from(self.layout.chunk_count())
            || merkle::root(leaves.clone()) != root
        {
            return Err(format!(
                "the leaves of sliver {shard} do not match its root"
            ));
        }
        Ok(leaves)
    }

    /// Each source's pieces of the stripe, read concurrently (each within the stall
    /// timeout) and then verified on the blocking pool.
    async fn read_all(&self, sources: &mut [Source], stripe: u64) -> Vec<Result<Given, String>> {
        let (layout, stall) = (self.layout, self.stall);
        let reads = sources.iter_mut().map(|source| async move {
            let bytes = source.next(layout.piece_bytes(), stall).await?;
            let leaves: Vec<Vec<Hash>> = source
                .leaves
                .iter()
                .map(|l| layout.stripe_leaves(l, stripe).to_vec())
                .collect();
            let shards = source.shards.clone();
            tokio::task::spawn_blocking(move || {
                verify_pieces(&layout, stripe, &shards, leaves, bytes)
            })
            .await
            .map_err(|e| e.to_string())?
        });
        futures_util::future::join_all(reads).await
    }
}

impl Source {
    /// The next stripe's bytes of this source's shards (all of them, stripe-major),
    /// within `stall`: a source that trickles is as good as a silent one.
    async fn next(&mut self, piece_len: usize, stall: Duration) -> Result<Vec<u8>, String> {
        let need = piece_len * self.shards.len();
        // The stripe's buffer at its final size: the stream's bytes are copied once.
        let mut stripe = std::mem::take(&mut self.pending);
        stripe.reserve_exact(need.saturating_sub(stripe.len()));
        let fill = async {
            while stripe.len() < need {
                match self.response.chunk().await {
                    Ok(Some(bytes)) => {
                        let fits = bytes.len().min(need - stripe.len());
                        stripe.extend_from_slice(&bytes[..fits]);
                        self.pending.extend_from_slice(&bytes[fits..]);
                    }
                    Ok(None) => return Err("the stream ended early".to_owned()),
                    Err(e) => return Err(format!("the stream broke off: {e}")),
                }
            }
            Ok(())
        };
        tokio::time::timeout(stall, fill)
            .await
            .map_err(|_| format!("did not send a stripe in {} s", stall.as_secs()))??;
        Ok(stripe)
    }
}

/// The pieces of one source's stripe, each chunk checked against its shard's leaves;
/// the pieces are cut out of `bytes` (stripe-major), the first without a copy.
fn verify_pieces(
    layout: &Layout,
    stripe: u64,
    shards: &[u32],
    leaves: Vec<Vec<Hash>>,
    mut bytes: Vec<u8>,
) -> Result<Given, String> {
    let (chunk_len, piece_len) = (layout.chunk_bytes(), layout.piece_bytes());
    for ((piece, leaves), &shard) in bytes.chunks(piece_len).zip(&leaves).zip(shards) {
        let good = piece.chunks(chunk_len).count() == leaves.len()
            && piece
                .chunks(chunk_len)
                .zip(leaves)
                .all(|(c, l)| merkle::leaf_hash(c) == *l);
        if !good {
            return Err(format!(
                "sliver {shard} failed verification in stripe {stripe}"
            ));
        }
    }
    let mut given = Given::new();
    for (index, (leaves, &shard)) in leaves.into_iter().zip(shards).enumerate().rev() {
        let piece = match index {
            0 => std::mem::take(&mut bytes),
            _ => bytes.split_off(index * piece_len),
        };
        given.insert(shard, (piece, leaves));
    }
    Ok(given)
}
