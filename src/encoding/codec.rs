//! Reed-Solomon coding of one stripe into its pieces and back, by the blob's `Encoding`
//! (module docs), on every core: a stripe's pieces are cut into column segments that
//! are coded independently (a systematic code works column by column, so the result is
//! the same as coding whole pieces).

use rayon::prelude::*;
use reed_solomon_erasure::galois_8;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use super::stream::Consistency;
use super::{Encoding, EncodingError, Layout};

/// Columns per segment at least (bytes): below this, the per-call overhead dominates.
const SEGMENT_BYTES_MIN: usize = 4096;
/// Segments per thread: a few, so that one slow segment does not idle the other core.
const SEGMENTS_PER_THREAD: usize = 4;

/// The `n_shards` pieces of one stripe: its data (at most `stripe_data_len` bytes of
/// the blob, padded with zeros) cut into k pieces, then the parity pieces.
pub fn encode_stripe(layout: &Layout, data: &[u8]) -> Result<Vec<Vec<u8>>, EncodingError> {
    let piece_len = usize_of(layout.stripe_sliver_len, layout)?;
    if data.len() as u64 > layout.stripe_data_len() {
        return Err(EncodingError::Codec(format!(
            "a stripe holds at most {} bytes, not {}",
            layout.stripe_data_len(),
            data.len()
        )));
    }
    let k = layout.k as usize;
    let mut pieces: Vec<Vec<u8>> = (0..layout.n_shards as usize)
        .map(|i| {
            let mut piece = vec![0u8; piece_len];
            if i < k {
                let start = (i * piece_len).min(data.len());
                let end = ((i + 1) * piece_len).min(data.len());
                piece[..end - start].copy_from_slice(&data[start..end]);
            }
            piece
        })
        .collect();
    let (data, parity) = pieces.split_at_mut(k);
    code_parity(layout, data, parity)?;
    Ok(pieces)
}

/// Rebuilds one stripe from the pieces given (any k of them, each already verified
/// against its sliver's chunks). `Consistency::Default`: the k data pieces, rebuilt
/// where not given. `Strict`: all `n_shards` pieces, the parity derived again, and a
/// given parity piece that differs from the derived one is `Inconsistent` (the writer
/// committed to parity that does not belong to the data).
pub fn decode_stripe(
    layout: &Layout,
    given: Vec<Option<Vec<u8>>>,
    consistency: Consistency,
) -> Result<Vec<Vec<u8>>, EncodingError> {
    let k = layout.k as usize;
    let (mut all, present) = rebuild_data(layout, given)?;
    if consistency == Consistency::Default {
        all.truncate(k);
        return Ok(all);
    }
    let piece_len = all[0].len();
    let mut parity: Vec<Vec<u8>> = vec![vec![0u8; piece_len]; all.len() - k];
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
    Ok(all)
}

/// All `n_shards` slots of a stripe with its data pieces rebuilt (the parity slots as
/// given; where not given, zeros if data was rebuilt, else empty), and which pieces
/// were given.
fn rebuild_data(
    layout: &Layout,
    given: Vec<Option<Vec<u8>>>,
) -> Result<(Vec<Vec<u8>>, Vec<bool>), EncodingError> {
    let n = layout.n_shards as usize;
    let k = layout.k as usize;
    let piece_len = usize_of(layout.stripe_sliver_len, layout)?;
    let given: Vec<Option<Vec<u8>>> = given
        .into_iter()
        .chain(std::iter::repeat(None))
        .take(n)
        .collect();
    if let Some(index) = given
        .iter()
        .position(|p| p.as_ref().is_some_and(|p| p.len() != piece_len))
    {
        return Err(EncodingError::SliverLength {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            given: given[index].as_ref().map_or(0, Vec::len),
            expected: layout.stripe_sliver_len,
        });
    }
    let present: Vec<bool> = given.iter().map(Option::is_some).collect();
    let have = present.iter().filter(|&&p| p).count();
    if have < k {
        return Err(EncodingError::NotEnoughSlivers { have, need: k });
    }
    // The codes rebuild in place, into a buffer per slot; with every data piece given
    // there is nothing to rebuild and the empty slots stay unallocated.
    let rebuilding = present[..k].contains(&false);
    let mut all: Vec<Vec<u8>> = given
        .into_iter()
        .map(|p| {
            p.unwrap_or_else(|| {
                if rebuilding {
                    vec![0u8; piece_len]
                } else {
                    Vec::new()
                }
            })
        })
        .collect();
    if rebuilding {
        reconstruct_data(layout, &mut all, &present)?;
    }
    Ok((all, present))
}

/// How many of stripe `stripe`'s bytes are the blob's (a prefix of its k data pieces,
/// in order), once the padding after them was found zeros: `Inconsistent` if not.
pub fn stripe_data_len(
    layout: &Layout,
    stripe: u64,
    pieces: &[Vec<u8>],
) -> Result<usize, EncodingError> {
    let range = layout.stripe_range(stripe);
    let wanted = usize_of(range.end - range.start, layout)?;
    let data = pieces
        .get(..layout.k as usize)
        .ok_or(EncodingError::NotEnoughSlivers {
            have: pieces.len(),
            need: layout.k as usize,
        })?;
    let mut left = wanted;
    for piece in data {
        let take = left.min(piece.len());
        // The padding past `size` is zeros in the one true encoding.
        if piece[take..].iter().any(|&b| b != 0) {
            return Err(EncodingError::Inconsistent);
        }
        left -= take;
    }
    Ok(wanted - left)
}

/// The first `len` bytes of the data pieces, as slices of them.
pub fn data_slices(data_pieces: &[Vec<u8>], len: usize) -> impl Iterator<Item = &[u8]> {
    let mut left = len;
    data_pieces.iter().map_while(move |piece| {
        let take = left.min(piece.len());
        left -= take;
        (take > 0).then(|| &piece[..take])
    })
}

pub(super) fn usize_of(value: u64, layout: &Layout) -> Result<usize, EncodingError> {
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
    let segment = segment_len(parity[0].len());
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
    let segment = segment_len(all[0].len());
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
