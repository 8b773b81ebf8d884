//! Reading a blob from the storage nodes in bounded memory: k slivers streamed from
//! their holders (one request per node for all its chosen shards, stripe-major), each
//! piece checked chunk by chunk against leaves that were checked against the metadata,
//! one stripe decoded at a time and handed to a sink. A source that errs, sends a bad
//! chunk, or stalls for the stall timeout is replaced by a spare holder from that very
//! stripe on, so one slow or hung node costs one timeout, not the read.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

mod served;
mod sources;

pub use served::{served_sliver, Served};
use sources::{Given, Reader, Source};

use super::upload::Progress;
use crate::encoding::merkle::Hash;
use crate::encoding::{
    data_slices, decode_stripe, stripe_data_len, BlobMetadata, Consistency, ConsistencyCheck,
    EncodingError, Layout,
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

/// Where and how to read a blob from.
pub struct ReadFrom<'a> {
    /// The client for the nodes.
    pub http: &'a reqwest::Client,
    /// The holders' base URLs by shard.
    pub endpoints: &'a HashMap<u32, String>,
    /// How long a source may stay silent before a spare replaces it.
    pub stall: Duration,
    /// The consistency check to run.
    pub consistency: Consistency,
}

/// Stripes decoded and waiting for the sink: the reader runs at most this far ahead.
const QUEUED_STRIPES: usize = 1;

/// Reads the blob into `sink`, and gives the sink back flushed. The sink writes on a
/// blocking thread of its own while the next stripes are fetched and decoded (writing a
/// file costs about as much as reading from the nodes). Every byte given to the sink
/// was read verified or rebuilt from verified pieces; a rebuilt data sliver (or, with
/// `Strict`, any sliver) whose root turns out wrong at the end (its writer's fault) is
/// an error after its bytes were given.
pub async fn read_blob<W: std::io::Write + Send + 'static>(
    from: ReadFrom<'_>,
    metadata: &BlobMetadata,
    sink: W,
    progress: Progress,
) -> Result<(ReadReport, W), ReadError> {
    let reader = StripeReader::new(from, metadata)?;
    read_stripes(reader, 0..metadata.size, sink, progress).await
}

/// Reads the blob's bytes `range` (clipped to its size) into `sink`: only the stripes
/// that hold them are fetched, each piece verified chunk by chunk; the whole blob's
/// consistency is not checked unless the range covers it (`StripeReader::only_stripes`).
pub async fn read_range<W: std::io::Write + Send + 'static>(
    from: ReadFrom<'_>,
    metadata: &BlobMetadata,
    range: std::ops::Range<u64>,
    sink: W,
) -> Result<(ReadReport, W), ReadError> {
    let layout = metadata.validate()?;
    let range = range.start.min(layout.size)..range.end.min(layout.size);
    let per_stripe = layout.stripe_data_len().max(1);
    let stripes = range.start / per_stripe..range.end.div_ceil(per_stripe);
    let reader = StripeReader::new(from, metadata)?.only_stripes(stripes);
    read_stripes(reader, range, sink, std::sync::Arc::new(|_| {})).await
}

/// Hands the reader's stripes to the sink (on its own thread), keeping the bytes of
/// `range` only.
async fn read_stripes<W: std::io::Write + Send + 'static>(
    mut reader: StripeReader<'_>,
    range: std::ops::Range<u64>,
    sink: W,
    progress: Progress,
) -> Result<(ReadReport, W), ReadError> {
    let per_stripe = reader.reader.layout.stripe_data_len();
    let (stripes, mut queue) = tokio::sync::mpsc::channel::<Stripe>(QUEUED_STRIPES);
    let writer = tokio::task::spawn_blocking(move || {
        write_stripes(sink, &mut queue, per_stripe, &range, &progress)
    });
    let read = async {
        while let Some(stripe) = reader.next().await? {
            if stripes.send(stripe).await.is_err() {
                break; // the sink failed: its error is the read's
            }
        }
        Ok::<(), ReadError>(())
    }
    .await;
    drop(stripes);
    let written = writer
        .await
        .map_err(|e| ReadError::Sink(std::io::Error::other(e.to_string())))?;
    read?;
    let sink = written.map_err(ReadError::Sink)?;
    Ok((reader.report(), sink))
}

/// Writes the bytes of `range` of each stripe (`per_stripe` blob bytes each) to the
/// sink as it comes; the sink, flushed.
fn write_stripes<W: std::io::Write>(
    mut sink: W,
    queue: &mut tokio::sync::mpsc::Receiver<Stripe>,
    per_stripe: u64,
    range: &std::ops::Range<u64>,
    progress: &Progress,
) -> std::io::Result<W> {
    while let Some(stripe) = queue.blocking_recv() {
        let mut at = stripe.index * per_stripe;
        for slice in stripe.data() {
            let (start, end) = (at, at + slice.len() as u64);
            at = end;
            let (from, to) = (start.max(range.start), end.min(range.end));
            if from < to {
                let (from, to) = (
                    usize::try_from(from - start).unwrap_or(0),
                    usize::try_from(to - start).unwrap_or(0),
                );
                sink.write_all(&slice[from..to])?;
            }
        }
        progress(stripe.data_len as u64);
    }
    sink.flush()?;
    Ok(sink)
}

/// One decoded stripe.
pub struct Stripe {
    /// Its number, from 0.
    pub index: u64,
    /// The k data pieces, rebuilt where not read; with `Consistency::Strict` all
    /// `n_shards`, the parity derived again.
    pub pieces: Vec<Vec<u8>>,
    /// The blob's bytes in it (the padding cut off): a prefix of its data pieces.
    pub data_len: usize,
    k: usize,
}

impl Stripe {
    /// The blob's bytes in this stripe, as slices of its data pieces.
    pub fn data(&self) -> impl Iterator<Item = &[u8]> {
        data_slices(&self.pieces[..self.k], self.data_len)
    }
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
    /// The stripe after the last to read (the blob's stripe count for a whole read).
    end_stripe: u64,
    /// Whether only some stripes are read: then the whole blob's consistency cannot be
    /// checked (as Walrus's range reads), only every piece read or rebuilt.
    partial: bool,
    used: HashSet<u32>,
}

/// A stripe's decode on the blocking pool: it gives the check back with its result.
type Decoding =
    tokio::task::JoinHandle<(ConsistencyCheck, Result<(Vec<Vec<u8>>, usize), ReadError>)>;

impl<'a> StripeReader<'a> {
    /// A reader of the blob from its holders; a source silent for `from.stall`, or
    /// slower than one stripe's pieces per `stall`, is replaced.
    pub fn new(
        from: ReadFrom<'a>,
        metadata: &'a BlobMetadata,
    ) -> Result<StripeReader<'a>, ReadError> {
        let ReadFrom {
            http,
            endpoints,
            stall,
            consistency,
        } = from;
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
            check: Some(ConsistencyCheck::new(checked, consistency)),
            decoding: None,
            next_stripe: 0,
            end_stripe: layout.stripes,
            partial: false,
            used: HashSet::new(),
        })
    }

    /// Reads only the stripes `stripes` (within the blob's): every piece is still
    /// verified chunk by chunk, but a rebuilt data sliver's root and the whole blob's
    /// consistency are not checked, as they need every stripe.
    pub fn only_stripes(mut self, stripes: std::ops::Range<u64>) -> StripeReader<'a> {
        let all = self.reader.layout.stripes;
        self.end_stripe = stripes.end.min(all);
        self.next_stripe = stripes.start.min(self.end_stripe);
        self.partial = self.next_stripe > 0 || self.end_stripe < all;
        self
    }

    /// The next stripe, or `None` after the last (once the blob was found consistent).
    /// While one stripe decodes, the pieces of the next are fetched.
    pub async fn next(&mut self) -> Result<Option<Stripe>, ReadError> {
        if self.decoding.is_none() {
            match self.check.take() {
                None => return Ok(None),
                Some(_) if self.next_stripe == self.end_stripe && self.partial => {
                    return Ok(None);
                }
                Some(check) if self.next_stripe == self.end_stripe => {
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
        let more = self.next_stripe < self.end_stripe;
        let (decoded, fetched) = if more {
            let (decoded, fetched) = tokio::join!(decoding, self.fetch());
            (decoded, Some(fetched?))
        } else {
            (decoding.await, None)
        };
        let (check, result) =
            decoded.map_err(|e| ReadError::Encoding(EncodingError::Codec(e.to_string())))?;
        let (pieces, data_len) = result?;
        match fetched {
            Some(given) => self.start_decode(check, given),
            None => self.check = Some(check),
        }
        self.reader.report.bytes += data_len as u64;
        Ok(Some(Stripe {
            index,
            pieces,
            data_len,
            k: self.reader.layout.k as usize,
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

/// Decodes one stripe and adds it to the consistency check: its pieces and how many
/// of their bytes are the blob's.
fn decode_given(
    layout: &Layout,
    stripe: u64,
    given: Given,
    check: &mut ConsistencyCheck,
) -> Result<(Vec<Vec<u8>>, usize), ReadError> {
    let n = layout.n_shards as usize;
    let mut pieces: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut leaves: Vec<Option<Vec<Hash>>> = vec![None; n];
    for (shard, (piece, piece_leaves)) in given {
        pieces[shard as usize] = Some(piece);
        leaves[shard as usize] = Some(piece_leaves);
    }
    let all = decode_stripe(layout, pieces, check.consistency())?;
    let leaf_refs: Vec<Option<&[Hash]>> = leaves.iter().map(Option::as_deref).collect();
    check.push_stripe(&all, &leaf_refs);
    let data_len = stripe_data_len(layout, stripe, &all)?;
    Ok((all, data_len))
}
