//! Reed-Solomon coding of a blob into slivers and back, by the blob's `Encoding`
//! (module docs), on every core: the slivers are cut into column segments that are
//! coded independently (a systematic code works column by column, so the result is
//! the same as coding whole slivers), and the slivers are hashed in parallel.

use rayon::prelude::*;
use reed_solomon_erasure::galois_8;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use super::{sliver_root, BlobMetadata, Checked, Encoding, EncodingError, Layout};

/// Columns per segment at least (bytes): below this, the per-call overhead dominates.
const SEGMENT_BYTES_MIN: usize = 4096;
/// Segments per thread: a few, so that one slow segment does not idle the other core.
const SEGMENTS_PER_THREAD: usize = 4;

/// Encodes a blob into its metadata and `n_shards` slivers, with the encoding
/// `Layout::new` chooses for `n_shards`.
pub fn encode(blob: &[u8], n_shards: u32) -> Result<(BlobMetadata, Vec<Vec<u8>>), EncodingError> {
    encode_as(blob, n_shards, Encoding::for_shards(n_shards))
}

/// Encodes a blob with a given encoding (which must support `n_shards`).
pub fn encode_as(
    blob: &[u8],
    n_shards: u32,
    encoding: Encoding,
) -> Result<(BlobMetadata, Vec<Vec<u8>>), EncodingError> {
    let layout = Layout::with_encoding(blob.len() as u64, n_shards, encoding)?;
    let sliver_len = usize_of(layout.sliver_len, &layout)?;
    let k = layout.k as usize;
    let mut slivers: Vec<Vec<u8>> = (0..n_shards as usize)
        .map(|i| {
            let mut sliver = vec![0u8; sliver_len];
            if i < k {
                let start = (i * sliver_len).min(blob.len());
                let end = ((i + 1) * sliver_len).min(blob.len());
                sliver[..end - start].copy_from_slice(&blob[start..end]);
            }
            sliver
        })
        .collect();
    let (data, parity) = slivers.split_at_mut(k);
    code_parity(&layout, data, parity)?;
    let sliver_roots = slivers
        .par_iter()
        .map(|s| hex::encode(sliver_root(s, layout.chunk_len)))
        .collect();
    let metadata = BlobMetadata {
        encoding,
        size: layout.size,
        n_shards,
        k: layout.k,
        sliver_len: layout.sliver_len,
        chunk_len: layout.chunk_len,
        sliver_roots,
    };
    Ok((metadata, slivers))
}

/// Rebuilds the blob from any `k` slivers that verify against the metadata; slivers
/// that do not verify are ignored (so a corrupt node cannot corrupt the blob), and the
/// slivers not given are re-derived and checked against their roots (so an
/// inconsistent encoding is refused instead of read differently by different readers).
pub fn decode(
    metadata: &BlobMetadata,
    slivers: Vec<Option<Vec<u8>>>,
) -> Result<Vec<u8>, EncodingError> {
    let checked = metadata.checked()?;
    let layout = checked.layout;
    let n = layout.n_shards as usize;
    let k = layout.k as usize;
    let sliver_len = usize_of(layout.sliver_len, &layout)?;
    let mut given: Vec<Option<Vec<u8>>> = slivers
        .into_iter()
        .chain(std::iter::repeat(None))
        .take(n)
        .collect();
    given
        .par_iter_mut()
        .zip(0..layout.n_shards)
        .for_each(|(sliver, index)| {
            let ok = sliver
                .as_ref()
                .is_some_and(|s| checked.verify_sliver(index, s).is_ok());
            if !ok {
                *sliver = None;
            }
        });
    let have = given.iter().filter(|s| s.is_some()).count();
    if have < k {
        return Err(EncodingError::NotEnoughSlivers { have, need: k });
    }
    let present: Vec<bool> = given.iter().map(Option::is_some).collect();
    let mut all: Vec<Vec<u8>> = given
        .into_iter()
        .map(|s| s.unwrap_or_else(|| vec![0u8; sliver_len]))
        .collect();
    reconstruct_data(&layout, &mut all, &present)?;
    check_consistent(&checked, &mut all, &present)?;
    let size = usize_of(layout.size, &layout)?;
    let mut blob = Vec::with_capacity(k * sliver_len);
    for sliver in all.iter().take(k) {
        blob.extend_from_slice(sliver);
    }
    // The padding past `size` is zeros in the one true encoding.
    if blob[size..].iter().any(|&b| b != 0) {
        return Err(EncodingError::Inconsistent);
    }
    blob.truncate(size);
    Ok(blob)
}

/// Every sliver matched its own root, but a writer could have committed to parity
/// that does not belong to the data: then different sets of k slivers would decode to
/// different blobs. So the parity is derived again from the (now complete) data: a
/// given parity sliver must equal it byte for byte, and every sliver that was not
/// given (data or parity) must match its root.
fn check_consistent(
    checked: &Checked,
    all: &mut [Vec<u8>],
    present: &[bool],
) -> Result<(), EncodingError> {
    let layout = &checked.layout;
    let k = layout.k as usize;
    let sliver_len = usize_of(layout.sliver_len, layout)?;
    let mut parity: Vec<Vec<u8>> = vec![vec![0u8; sliver_len]; all.len() - k];
    code_parity(layout, &all[..k], &mut parity)?;
    let parity_matches = parity
        .par_iter()
        .zip(&all[k..])
        .zip(&present[k..])
        .all(|((derived, given), &was_given)| !was_given || derived == given);
    if !parity_matches {
        return Err(EncodingError::Inconsistent);
    }
    for (slot, derived) in all[k..].iter_mut().zip(parity) {
        *slot = derived;
    }
    let roots_match =
        all.par_iter()
            .zip(present)
            .zip(0..layout.n_shards)
            .all(|((sliver, &was_given), index)| {
                was_given || checked.verify_sliver(index, sliver).is_ok()
            });
    if roots_match {
        Ok(())
    } else {
        Err(EncodingError::Inconsistent)
    }
}

fn usize_of(value: u64, layout: &Layout) -> Result<usize, EncodingError> {
    usize::try_from(value).map_err(|_| EncodingError::TooLarge(layout.size))
}

fn codec_error(e: impl std::fmt::Debug) -> EncodingError {
    EncodingError::Codec(format!("{e:?}"))
}

/// The column segments' length: at least `SEGMENT_BYTES_MIN`, a few per thread,
/// rounded up to 64 bytes (even, as GF(2^16) symbols need; aligned for SIMD).
fn segment_len(sliver_len: usize) -> usize {
    let wanted = rayon::current_num_threads() * SEGMENTS_PER_THREAD;
    let segments = (sliver_len / SEGMENT_BYTES_MIN).clamp(1, wanted);
    sliver_len.div_ceil(segments).next_multiple_of(64)
}

/// Each sliver cut into the same column segments, regrouped by segment: element `s`
/// holds segment `s` of every sliver, in sliver order.
fn by_segment<T: AsMut<[u8]>>(slivers: &mut [T], segment: usize) -> Vec<Vec<&mut [u8]>> {
    let mut columns: Vec<Vec<&mut [u8]>> = Vec::new();
    for sliver in slivers.iter_mut() {
        for (s, piece) in sliver.as_mut().chunks_mut(segment).enumerate() {
            if columns.len() <= s {
                columns.push(Vec::new());
            }
            columns[s].push(piece);
        }
    }
    columns
}

/// Fills `parity` (n - k slivers) from `data` (k slivers). With no parity
/// (n_shards <= 3) the data slivers are the whole code.
fn code_parity<D: AsRef<[u8]> + Sync>(
    layout: &Layout,
    data: &[D],
    parity: &mut [Vec<u8>],
) -> Result<(), EncodingError> {
    if parity.is_empty() {
        return Ok(());
    }
    let k = layout.k as usize;
    let segment = segment_len(usize_of(layout.sliver_len, layout)?);
    let columns = by_segment(parity, segment);
    match layout.encoding {
        Encoding::RsGf8 => {
            let rs = galois_8::ReedSolomon::new(k, parity_count(layout)).map_err(codec_error)?;
            columns
                .into_par_iter()
                .enumerate()
                .try_for_each(|(s, mut out)| {
                    let inputs: Vec<&[u8]> = data
                        .iter()
                        .map(|d| segment_of(d.as_ref(), s, segment))
                        .collect();
                    rs.encode_sep(&inputs, &mut out).map_err(codec_error)
                })
        }
        Encoding::RsGf16Leopard => {
            columns
                .into_par_iter()
                .enumerate()
                .try_for_each(|(s, mut out)| {
                    let len = out[0].len();
                    let mut encoder = ReedSolomonEncoder::new(k, parity_count(layout), len)
                        .map_err(codec_error)?;
                    for d in data {
                        encoder
                            .add_original_shard(segment_of(d.as_ref(), s, segment))
                            .map_err(codec_error)?;
                    }
                    let result = encoder.encode().map_err(codec_error)?;
                    for (slot, recovery) in out.iter_mut().zip(result.recovery_iter()) {
                        slot.copy_from_slice(recovery);
                    }
                    Ok(())
                })
        }
    }
}

fn parity_count(layout: &Layout) -> usize {
    (layout.n_shards - layout.k) as usize
}

fn segment_of(sliver: &[u8], s: usize, segment: usize) -> &[u8] {
    let start = (s * segment).min(sliver.len());
    &sliver[start..(start + segment).min(sliver.len())]
}

/// Rebuilds the data slivers that are not `present` from any k present slivers, in
/// place (the missing ones are zero-filled buffers of the right length on entry).
fn reconstruct_data(
    layout: &Layout,
    all: &mut [Vec<u8>],
    present: &[bool],
) -> Result<(), EncodingError> {
    let k = layout.k as usize;
    if present[..k].iter().all(|&p| p) {
        return Ok(());
    }
    let segment = segment_len(usize_of(layout.sliver_len, layout)?);
    let columns = by_segment(all, segment);
    match layout.encoding {
        Encoding::RsGf8 => {
            let rs = galois_8::ReedSolomon::new(k, parity_count(layout)).map_err(codec_error)?;
            columns.into_par_iter().try_for_each(|column| {
                let mut shards: Vec<(&mut [u8], bool)> =
                    column.into_iter().zip(present.iter().copied()).collect();
                rs.reconstruct_data(&mut shards).map_err(codec_error)
            })
        }
        Encoding::RsGf16Leopard => columns.into_par_iter().try_for_each(|mut column| {
            let len = column[0].len();
            let mut decoder =
                ReedSolomonDecoder::new(k, parity_count(layout), len).map_err(codec_error)?;
            for (index, piece) in column.iter().enumerate().filter(|(i, _)| present[*i]) {
                if index < k {
                    decoder
                        .add_original_shard(index, &**piece)
                        .map_err(codec_error)?;
                } else {
                    decoder
                        .add_recovery_shard(index - k, &**piece)
                        .map_err(codec_error)?;
                }
            }
            let result = decoder.decode().map_err(codec_error)?;
            for (index, restored) in result.restored_original_iter() {
                column[index].copy_from_slice(restored);
            }
            Ok(())
        }),
    }
}
