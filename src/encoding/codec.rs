//! Reed-Solomon coding of a blob into slivers and back: GF(2^8) up to 256 shards,
//! GF(2^16) above; the metadata's roots are recomputed and compared on decode.

use reed_solomon_erasure::{galois_16, galois_8};

use super::{sliver_root, BlobMetadata, EncodingError, Layout, GF8_SHARDS_MAX};

/// Encodes a blob into its metadata and `n_shards` slivers.
pub fn encode(blob: &[u8], n_shards: u32) -> Result<(BlobMetadata, Vec<Vec<u8>>), EncodingError> {
    let layout = Layout::new(blob.len() as u64, n_shards)?;
    let sliver_len =
        usize::try_from(layout.sliver_len).map_err(|_| EncodingError::TooLarge(layout.size))?;
    let mut slivers: Vec<Vec<u8>> = (0..n_shards as usize)
        .map(|i| {
            let start = (i * sliver_len).min(blob.len());
            let end = ((i + 1) * sliver_len).min(blob.len());
            let mut sliver = vec![0u8; sliver_len];
            if i < layout.k as usize {
                sliver[..end - start].copy_from_slice(&blob[start..end]);
            }
            sliver
        })
        .collect();
    code(&layout, Codec::Encode(&mut slivers))?;
    let sliver_roots = slivers
        .iter()
        .map(|s| hex::encode(sliver_root(s, layout.chunk_len)))
        .collect();
    let metadata = BlobMetadata {
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
/// result is re-encoded and checked against every root (so an inconsistent encoding
/// is refused instead of read differently by different readers).
pub fn decode(
    metadata: &BlobMetadata,
    slivers: Vec<Option<Vec<u8>>>,
) -> Result<Vec<u8>, EncodingError> {
    let layout = metadata.validate()?;
    let mut verified: Vec<Option<Vec<u8>>> = vec![None; layout.n_shards as usize];
    for (index, sliver) in (0..layout.n_shards).zip(slivers) {
        if let Some(sliver) = sliver {
            if metadata.verify_sliver(index, &sliver).is_ok() {
                verified[index as usize] = Some(sliver);
            }
        }
    }
    let have = verified.iter().filter(|s| s.is_some()).count();
    if have < layout.k as usize {
        return Err(EncodingError::NotEnoughSlivers {
            have,
            need: layout.k as usize,
        });
    }
    code(&layout, Codec::Reconstruct(&mut verified))?;
    let too_large = || EncodingError::TooLarge(layout.size);
    let sliver_len = usize::try_from(layout.sliver_len).map_err(|_| too_large())?;
    let size = usize::try_from(layout.size).map_err(|_| too_large())?;
    let mut blob = Vec::with_capacity(layout.k as usize * sliver_len);
    for (index, sliver) in verified.into_iter().take(layout.k as usize).enumerate() {
        let sliver = sliver.ok_or_else(|| {
            EncodingError::Codec(format!("data sliver {index} was not reconstructed"))
        })?;
        blob.extend_from_slice(&sliver);
    }
    // Every sliver matched its own root, but a writer could have committed to parity
    // that does not belong to the data: then different sets of k slivers would decode
    // to different blobs. Re-encoding and comparing every root rules that out (and
    // checks the padding past `size` was zeros).
    let padded_ok = blob[size..].iter().all(|&b| b == 0);
    blob.truncate(size);
    let (again, _) = encode(&blob, layout.n_shards)?;
    if !padded_ok || again.sliver_roots != metadata.sliver_roots {
        return Err(EncodingError::Inconsistent);
    }
    Ok(blob)
}

enum Codec<'a> {
    Encode(&'a mut Vec<Vec<u8>>),
    Reconstruct(&'a mut Vec<Option<Vec<u8>>>),
}

fn codec_error(e: reed_solomon_erasure::Error) -> EncodingError {
    EncodingError::Codec(format!("{e:?}"))
}

/// Runs Reed-Solomon over GF(2^8) or GF(2^16) as `n_shards` requires. With no parity
/// (n_shards <= 3) the data slivers are the whole code.
fn code(layout: &Layout, codec: Codec<'_>) -> Result<(), EncodingError> {
    let k = layout.k as usize;
    let parity = layout.n_shards as usize - k;
    if parity == 0 {
        return Ok(());
    }
    if layout.n_shards <= GF8_SHARDS_MAX {
        let rs = galois_8::ReedSolomon::new(k, parity).map_err(codec_error)?;
        match codec {
            Codec::Encode(slivers) => rs.encode(slivers).map_err(codec_error),
            Codec::Reconstruct(slivers) => rs.reconstruct_data(slivers).map_err(codec_error),
        }
    } else {
        let rs = galois_16::ReedSolomon::new(k, parity).map_err(codec_error)?;
        let to_pairs =
            |s: &[u8]| -> Vec<[u8; 2]> { s.chunks_exact(2).map(|p| [p[0], p[1]]).collect() };
        let to_bytes = |s: Vec<[u8; 2]>| -> Vec<u8> { s.into_iter().flatten().collect() };
        match codec {
            Codec::Encode(slivers) => {
                let mut pairs: Vec<Vec<[u8; 2]>> = slivers.iter().map(|s| to_pairs(s)).collect();
                rs.encode(&mut pairs).map_err(codec_error)?;
                for (sliver, coded) in slivers.iter_mut().zip(pairs).skip(k) {
                    *sliver = to_bytes(coded);
                }
                Ok(())
            }
            Codec::Reconstruct(slivers) => {
                let mut pairs: Vec<Option<Vec<[u8; 2]>>> =
                    slivers.iter().map(|s| s.as_deref().map(to_pairs)).collect();
                rs.reconstruct_data(&mut pairs).map_err(codec_error)?;
                for (sliver, coded) in slivers.iter_mut().zip(pairs).take(k) {
                    if sliver.is_none() {
                        *sliver = coded.map(to_bytes);
                    }
                }
                Ok(())
            }
        }
    }
}
