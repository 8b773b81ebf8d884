//! Reading a blob from the storage nodes in bounded memory: k slivers streamed from
//! their holders (one request per node for all its chosen shards, stripe-major), each
//! piece checked chunk by chunk against leaves that were checked against the metadata,
//! one stripe decoded at a time and handed to a sink. A source that errs, sends a bad
//! chunk, or stalls for the stall timeout is replaced by a spare holder from that very
//! stripe on, so one slow or hung node costs one timeout, not the read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use rayon::prelude::*;

use super::upload::Progress;
use crate::encoding::merkle::{self, Hash};
use crate::encoding::{
    append_data, decode_stripe, BlobMetadata, ConsistencyCheck, EncodingError, Layout,
};

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The metadata is invalid, or the slivers are not one consistent encoding.
    #[error("{0}")]
    Encoding(#[from] EncodingError),
    /// Fewer than k holders served verified slivers; the reasons, one per failed source.
    #[error("only {have} of the k = {need} slivers needed could be read: {reasons}")]
    NotEnough {
        /// Slivers read for the stripe that could not be completed.
        have: usize,
        /// k.
        need: usize,
        /// What went wrong with each source, joined.
        reasons: String,
    },
    /// The sink refused the bytes (a full disk, a closed pipe).
    #[error("cannot write the blob: {0}")]
    Sink(std::io::Error),
}

/// What a read did.
#[derive(Clone, Debug, Default)]
pub struct ReadReport {
    /// The blob's bytes handed to the sink.
    pub bytes: u64,
    /// Distinct slivers that served verified pieces.
    pub slivers_used: usize,
    /// Sources given up on and replaced by spares (with why).
    pub replaced: Vec<String>,
}

/// One node streaming the pieces of some shards.
struct Source {
    endpoint: String,
    shards: Vec<u32>,
    leaves: Vec<Vec<Hash>>,
    response: reqwest::Response,
    pending: Vec<u8>,
}

/// Takes each decoded stripe: its number, all `n_shards` pieces (data rebuilt, parity
/// derived again) and the blob's bytes in it (without padding), in stripe order.
pub type StripeSink<'a> = dyn FnMut(u64, &[Vec<u8>], &[u8]) -> std::io::Result<()> + Send + 'a;

/// Reads the blob into `sink`, from holders `endpoints` (shard -> base URL); nothing
/// given to the sink is unverified, but a blob found inconsistent at the end (its
/// writer's fault) is an error after its bytes were given.
pub async fn read_blob(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    endpoints: &HashMap<u32, String>,
    stall: Duration,
    sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    progress: Progress,
) -> Result<ReadReport, ReadError> {
    let mut each = |_: u64, _: &[Vec<u8>], data: &[u8]| sink(data);
    read_stripes(http, metadata, endpoints, stall, &mut each, progress).await
}

/// `read_blob`, giving the sink every stripe's pieces too (a repair streams the pieces
/// of lost slivers on to their new holders).
pub async fn read_stripes(
    http: &reqwest::Client,
    metadata: &BlobMetadata,
    endpoints: &HashMap<u32, String>,
    stall: Duration,
    sink: &mut StripeSink<'_>,
    progress: Progress,
) -> Result<ReadReport, ReadError> {
    let checked = metadata.checked()?;
    let layout = metadata.validate()?;
    let mut reader = Reader {
        http,
        layout,
        stall,
        blob_id: metadata.blob_id(),
        metadata,
        spares: (0..layout.n_shards)
            .rev()
            .filter(|s| endpoints.contains_key(s))
            .collect(),
        endpoints,
        bad_endpoints: HashSet::new(),
        report: ReadReport::default(),
    };
    let mut check = ConsistencyCheck::new(&checked);
    let mut sources: Vec<Source> = Vec::new();
    let mut used = HashSet::new();
    for stripe in 0..layout.stripes {
        let given = reader.stripe(&mut sources, stripe).await?;
        used.extend(given.keys().copied());
        let bytes =
            tokio::task::block_in_place(|| decode_into(&layout, stripe, given, &mut check, sink))?;
        reader.report.bytes += bytes;
        progress(bytes);
    }
    check.finish()?;
    reader.report.slivers_used = used.len();
    Ok(reader.report)
}

/// Verified pieces of one stripe by shard, with their leaves.
type Given = BTreeMap<u32, (Vec<u8>, Vec<Hash>)>;

struct Reader<'a> {
    http: &'a reqwest::Client,
    metadata: &'a BlobMetadata,
    layout: Layout,
    stall: Duration,
    blob_id: String,
    /// Shards not read yet, the lowest last (data slivers first: nothing to rebuild).
    spares: Vec<u32>,
    endpoints: &'a HashMap<u32, String>,
    bad_endpoints: HashSet<String>,
    report: ReadReport,
}

impl Reader<'_> {
    /// k verified pieces of stripe `stripe`: from the sources (the ones that fail are
    /// dropped), and from spares opened at this stripe until there are k.
    async fn stripe(&mut self, sources: &mut Vec<Source>, stripe: u64) -> Result<Given, ReadError> {
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
        let mut leaves = Vec::with_capacity(shards.len());
        for &shard in &shards {
            match self.leaves(&endpoint, shard).await {
                Ok(l) => leaves.push(l),
                Err(reason) => return Err((endpoint, reason)),
            }
        }
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
        let fetch = async {
            let response = self
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
            response.bytes().await.map_err(|e| e.to_string())
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

    /// Each source's pieces of the stripe, read concurrently and then verified.
    async fn read_all(&self, sources: &mut [Source], stripe: u64) -> Vec<Result<Given, String>> {
        let piece_len = self.layout.piece_bytes();
        let reads = sources.iter_mut().map(|s| s.next(piece_len, self.stall));
        let raw = futures_util::future::join_all(reads).await;
        let layout = &self.layout;
        tokio::task::block_in_place(|| {
            raw.into_par_iter()
                .zip(sources.par_iter())
                .map(|(bytes, source)| source.verify(layout, stripe, bytes?))
                .collect()
        })
    }
}

impl Source {
    /// The next stripe's bytes of this source's shards (all of them, stripe-major).
    async fn next(&mut self, piece_len: usize, stall: Duration) -> Result<Vec<u8>, String> {
        let need = piece_len * self.shards.len();
        while self.pending.len() < need {
            match tokio::time::timeout(stall, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.pending.extend_from_slice(&bytes),
                Ok(Ok(None)) => return Err("the stream ended early".into()),
                Ok(Err(e)) => return Err(format!("the stream broke off: {e}")),
                Err(_) => return Err(format!("stalled for {} s", stall.as_secs())),
            }
        }
        let rest = self.pending.split_off(need);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    /// The pieces, each chunk checked against the shard's leaves.
    fn verify(&self, layout: &Layout, stripe: u64, bytes: Vec<u8>) -> Result<Given, String> {
        let piece_len = layout.piece_bytes();
        let chunk_len = layout.chunk_bytes();
        let mut given = Given::new();
        for (slot, piece) in bytes.chunks(piece_len).enumerate() {
            let leaves = layout.stripe_leaves(&self.leaves[slot], stripe);
            let good = piece.chunks(chunk_len).count() == leaves.len()
                && piece
                    .chunks(chunk_len)
                    .zip(leaves)
                    .all(|(c, l)| merkle::leaf_hash(c) == *l);
            if !good {
                return Err(format!(
                    "sliver {} failed verification in stripe {stripe}",
                    self.shards[slot]
                ));
            }
            given.insert(self.shards[slot], (piece.to_vec(), leaves.to_vec()));
        }
        Ok(given)
    }
}

/// Decodes one stripe, adds it to the consistency check and gives its bytes to the
/// sink; the bytes given.
fn decode_into(
    layout: &Layout,
    stripe: u64,
    given: Given,
    check: &mut ConsistencyCheck<'_>,
    sink: &mut StripeSink<'_>,
) -> Result<u64, ReadError> {
    let n = layout.n_shards as usize;
    let mut pieces: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut leaves: Vec<Option<Vec<Hash>>> = vec![None; n];
    for (shard, (piece, piece_leaves)) in given {
        pieces[shard as usize] = Some(piece);
        leaves[shard as usize] = Some(piece_leaves);
    }
    let all = decode_stripe(layout, pieces)?;
    let leaf_refs: Vec<Option<&[Hash]>> = leaves.iter().map(Option::as_deref).collect();
    check.push_stripe(&all, &leaf_refs);
    let mut bytes = Vec::new();
    append_data(layout, stripe, &all, &mut bytes)?;
    sink(stripe, &all, &bytes).map_err(ReadError::Sink)?;
    Ok(bytes.len() as u64)
}
