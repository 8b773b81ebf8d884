//! Reading a blob from the storage nodes in bounded memory: k slivers streamed from
//! their holders (one request per node for all its chosen shards, stripe-major), each
//! piece checked chunk by chunk against leaves that were checked against the metadata,
//! one stripe decoded at a time and handed to a sink. A source that errs, sends a bad
//! chunk, or stalls for the stall timeout is replaced by a spare holder from that very
//! stripe on, so one slow or hung node costs one timeout, not the read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

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
    let mut reader = StripeReader::new(http, metadata, endpoints, stall)?;
    while let Some(stripe) = reader.next().await? {
        sink(&stripe.data).map_err(ReadError::Sink)?;
        progress(stripe.data.len() as u64);
    }
    Ok(reader.report())
}

/// One decoded stripe.
pub struct Stripe {
    /// Its number, from 0.
    pub index: u64,
    /// All `n_shards` pieces: the data rebuilt, the parity derived again.
    pub pieces: Vec<Vec<u8>>,
    /// The blob's bytes in it, without the padding.
    pub data: Vec<u8>,
}

/// The blob stripe by stripe (`next`), from k verified sources at a time; the
/// consistency check ends with the last stripe, whose `next` fails if it fails. Runs
/// on any tokio runtime: the hashing and decoding go to the blocking pool.
pub struct StripeReader<'a> {
    reader: Reader<'a>,
    sources: Vec<Source>,
    /// The check, while no decode holds it.
    check: Option<ConsistencyCheck>,
    /// The stripe being decoded on the blocking pool (it holds the check), so the next
    /// stripe's pieces are fetched meanwhile.
    decoding: Option<(u64, Decoding)>,
    /// The next stripe to fetch.
    next_stripe: u64,
    used: HashSet<u32>,
}

/// A stripe's decode on the blocking pool: it gives the check back with its result.
type Decoding =
    tokio::task::JoinHandle<(ConsistencyCheck, Result<(Vec<Vec<u8>>, Vec<u8>), ReadError>)>;

impl<'a> StripeReader<'a> {
    /// A reader of the blob from holders `endpoints` (shard -> base URL); a source
    /// silent for `stall`, or slower than one stripe's pieces per `stall`, is replaced.
    pub fn new(
        http: &'a reqwest::Client,
        metadata: &'a BlobMetadata,
        endpoints: &'a HashMap<u32, String>,
        stall: Duration,
    ) -> Result<StripeReader<'a>, ReadError> {
        let checked = metadata.checked()?;
        let layout = checked.layout;
        let reader = Reader {
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
        Ok(StripeReader {
            reader,
            sources: Vec::new(),
            check: Some(ConsistencyCheck::new(checked)),
            decoding: None,
            next_stripe: 0,
            used: HashSet::new(),
        })
    }

    /// The next stripe, or `None` after the last (once the blob was found consistent).
    /// While one stripe decodes, the pieces of the next are fetched.
    pub async fn next(&mut self) -> Result<Option<Stripe>, ReadError> {
        if self.decoding.is_none() {
            match self.check.take() {
                None => return Ok(None),
                Some(check) if self.next_stripe == self.reader.layout.stripes => {
                    blocking(move || check.finish()).await??;
                    return Ok(None);
                }
                Some(check) => {
                    let given = self.fetch().await?;
                    self.start_decode(check, given);
                }
            }
        }
        let Some((index, decoding)) = self.decoding.take() else {
            return Ok(None);
        };
        let more = self.next_stripe < self.reader.layout.stripes;
        let (decoded, fetched) = if more {
            let (decoded, fetched) = tokio::join!(decoding, self.fetch());
            (decoded, Some(fetched?))
        } else {
            (decoding.await, None)
        };
        let (check, result) =
            decoded.map_err(|e| ReadError::Encoding(EncodingError::Codec(e.to_string())))?;
        let (pieces, data) = result?;
        match fetched {
            Some(given) => self.start_decode(check, given),
            None => self.check = Some(check),
        }
        self.reader.report.bytes += data.len() as u64;
        Ok(Some(Stripe {
            index,
            pieces,
            data,
        }))
    }

    /// The verified pieces of the next stripe to fetch.
    async fn fetch(&mut self) -> Result<Given, ReadError> {
        let given = self
            .reader
            .stripe(&mut self.sources, self.next_stripe)
            .await?;
        self.used.extend(given.keys().copied());
        self.next_stripe += 1;
        Ok(given)
    }

    /// Decodes the stripe just fetched on the blocking pool.
    fn start_decode(&mut self, mut check: ConsistencyCheck, given: Given) {
        let (layout, index) = (self.reader.layout, self.next_stripe - 1);
        let decoding = tokio::task::spawn_blocking(move || {
            let decoded = decode_given(&layout, index, given, &mut check);
            (check, decoded)
        });
        self.decoding = Some((index, decoding));
    }

    /// What the read did so far.
    pub fn report(&self) -> ReadReport {
        ReadReport {
            slivers_used: self.used.len(),
            ..self.reader.report.clone()
        }
    }
}

/// Runs CPU work (hashing, coding) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReadError::Encoding(EncodingError::Codec(e.to_string())))
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
                verify_pieces(&layout, stripe, &shards, leaves, &bytes)
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
        let fill = async {
            while self.pending.len() < need {
                match self.response.chunk().await {
                    Ok(Some(bytes)) => self.pending.extend_from_slice(&bytes),
                    Ok(None) => return Err("the stream ended early".to_owned()),
                    Err(e) => return Err(format!("the stream broke off: {e}")),
                }
            }
            Ok(())
        };
        tokio::time::timeout(stall, fill)
            .await
            .map_err(|_| format!("did not send a stripe in {} s", stall.as_secs()))??;
        let rest = self.pending.split_off(need);
        Ok(std::mem::replace(&mut self.pending, rest))
    }
}

/// The pieces of one source's stripe, each chunk checked against its shard's leaves.
fn verify_pieces(
    layout: &Layout,
    stripe: u64,
    shards: &[u32],
    leaves: Vec<Vec<Hash>>,
    bytes: &[u8],
) -> Result<Given, String> {
    let chunk_len = layout.chunk_bytes();
    let mut given = Given::new();
    for ((piece, leaves), &shard) in bytes.chunks(layout.piece_bytes()).zip(leaves).zip(shards) {
        let good = piece.chunks(chunk_len).count() == leaves.len()
            && piece
                .chunks(chunk_len)
                .zip(&leaves)
                .all(|(c, l)| merkle::leaf_hash(c) == *l);
        if !good {
            return Err(format!(
                "sliver {shard} failed verification in stripe {stripe}"
            ));
        }
        given.insert(shard, (piece.to_vec(), leaves));
    }
    Ok(given)
}

/// Decodes one stripe and adds it to the consistency check: its pieces and its bytes.
fn decode_given(
    layout: &Layout,
    stripe: u64,
    given: Given,
    check: &mut ConsistencyCheck,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), ReadError> {
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
    Ok((all, bytes))
}

/// What a served sliver turned out to be, hashed as it arrived (never held whole,
/// never more than `sliver_len` bytes read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// It has the metadata's length and root.
    Verified,
    /// Wrong length or root.
    Corrupt,
    /// The node went silent (the client's read timeout).
    TimedOut,
    /// The stream broke off; a node cuts off a sliver that rotted on its disk.
    CutOff,
}

/// Hashes the body of a successful sliver GET as it streams.
pub async fn served_sliver(
    mut response: reqwest::Response,
    metadata: &BlobMetadata,
    shard: u32,
) -> Served {
    let mut root = merkle::RootBuilder::new(
        usize::try_from(metadata.chunk_len).unwrap_or(usize::MAX),
        false,
    );
    let mut received: u64 = 0;
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                received += bytes.len() as u64;
                if received > metadata.sliver_len {
                    return Served::Corrupt;
                }
                root.push_bytes(&bytes);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Served::TimedOut,
            Err(_) => return Served::CutOff,
        }
    }
    let expected = metadata.sliver_root_hash(shard).ok();
    let got = root.finish().map(|(hash, _)| hash);
    if received == metadata.sliver_len && got.is_some() && got == expected {
        Served::Verified
    } else {
        Served::Corrupt
    }
}
