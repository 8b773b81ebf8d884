//! Whole blobs in memory, stripe by stripe through `codec`: encoding into whole slivers
//! with their metadata, and decoding from whole slivers (the streaming reader and
//! writer use the stripe functions directly and never hold a whole blob).

use rayon::prelude::*;

use super::codec::{data_slices, decode_stripe, encode_stripe, stripe_data_len, usize_of};
use super::merkle::Hash;
use super::stream::{Consistency, ConsistencyCheck, MetadataBuilder};
use super::{BlobMetadata, Encoding, EncodingError, Layout};

/// Encodes a blob into its metadata and `n_shards` slivers, with the encoding
/// `Layout::new` chooses for `n_shards`.
pub fn encode(blob: &[u8], n_shards: u32) -> Result<(BlobMetadata, Vec<Vec<u8>>), EncodingError> {
    encode_as(blob, n_shards, Encoding::for_shards(n_shards))
}

/// Encodes a blob with a given encoding (which must support `n_shards`), stripe by
/// stripe, into its whole slivers (`MetadataBuilder` is the same without keeping them).
pub fn encode_as(
    blob: &[u8],
    n_shards: u32,
    encoding: Encoding,
) -> Result<(BlobMetadata, Vec<Vec<u8>>), EncodingError> {
    let layout = Layout::with_encoding(blob.len() as u64, n_shards, encoding)?;
    let sliver_len = usize_of(layout.sliver_len, &layout)?;
    let mut slivers: Vec<Vec<u8>> = (0..n_shards)
        .map(|_| Vec::with_capacity(sliver_len))
        .collect();
    let mut metadata = MetadataBuilder::new(layout);
    for stripe in 0..layout.stripes {
        let range = layout.stripe_range(stripe);
        let data = &blob[usize_of(range.start, &layout)?..usize_of(range.end, &layout)?];
        let pieces = encode_stripe(&layout, data)?;
        metadata.push_stripe(&pieces);
        for (sliver, piece) in slivers.iter_mut().zip(pieces) {
            sliver.extend_from_slice(&piece);
        }
    }
    Ok((metadata.finish(), slivers))
}

/// Rebuilds the blob from any `k` slivers that verify against the metadata; slivers
/// that do not verify are ignored (so a corrupt node cannot corrupt the blob), and the
/// slivers not given are derived again and checked against their roots (so an
/// inconsistent encoding is refused by every reader): `decode_with` and
/// `Consistency::Strict`.
pub fn decode(
    metadata: &BlobMetadata,
    slivers: Vec<Option<Vec<u8>>>,
) -> Result<Vec<u8>, EncodingError> {
    decode_with(metadata, slivers, Consistency::Strict)
}

/// Rebuilds the blob from any `k` slivers that verify against the metadata, with the
/// consistency check asked for.
pub fn decode_with(
    metadata: &BlobMetadata,
    slivers: Vec<Option<Vec<u8>>>,
    consistency: Consistency,
) -> Result<Vec<u8>, EncodingError> {
    let checked = metadata.checked()?;
    let layout = checked.layout;
    let n = layout.n_shards as usize;
    let given: Vec<Option<(Vec<u8>, Vec<Hash>)>> = slivers
        .into_iter()
        .chain(std::iter::repeat(None))
        .take(n)
        .collect::<Vec<_>>()
        .into_par_iter()
        .enumerate()
        .map(|(index, sliver)| {
            let sliver = sliver?;
            let leaves = checked
                .verified_leaves(u32::try_from(index).ok()?, &sliver)
                .ok()?;
            Some((sliver, leaves))
        })
        .collect();
    let have = given.iter().filter(|s| s.is_some()).count();
    if have < layout.k as usize {
        return Err(EncodingError::NotEnoughSlivers {
            have,
            need: layout.k as usize,
        });
    }
    let mut check = ConsistencyCheck::new(checked.clone(), consistency);
    let mut blob = Vec::with_capacity(usize_of(layout.size, &layout)?);
    for stripe in 0..layout.stripes {
        let pieces = given
            .iter()
            .map(|s| {
                s.as_ref()
                    .map(|(sliver, _)| piece_of(&layout, sliver, stripe).to_vec())
            })
            .collect();
        let leaves: Vec<Option<&[Hash]>> = given
            .iter()
            .map(|s| {
                s.as_ref()
                    .map(|(_, leaves)| layout.stripe_leaves(leaves, stripe))
            })
            .collect();
        let all = decode_stripe(&layout, pieces, consistency)?;
        check.push_stripe(&all, &leaves);
        append_data(&layout, stripe, &all, &mut blob)?;
    }
    check.finish()?;
    Ok(blob)
}

/// Stripe `stripe`'s piece of a whole sliver (of the layout's length, as `decode`
/// checked).
#[expect(
    clippy::cast_possible_truncation,
    reason = "the sliver is in memory, so its length and every offset into it fit a usize"
)]
fn piece_of<'a>(layout: &Layout, sliver: &'a [u8], stripe: u64) -> &'a [u8] {
    let len = layout.piece_bytes();
    &sliver[stripe as usize * len..][..len]
}

/// Appends stripe `stripe`'s blob bytes (its data pieces, without the padding past the
/// blob's end) to `blob`; padding that is not zeros is `Inconsistent`.
pub fn append_data(
    layout: &Layout,
    stripe: u64,
    pieces: &[Vec<u8>],
    blob: &mut Vec<u8>,
) -> Result<(), EncodingError> {
    let wanted = stripe_data_len(layout, stripe, pieces)?;
    for slice in data_slices(&pieces[..layout.k as usize], wanted) {
        blob.extend_from_slice(slice);
    }
    Ok(())
}
