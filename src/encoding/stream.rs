//! The encoding as streams of stripes: the metadata built one stripe at a time (a
//! writer that never holds the whole blob), and the consistency check of a decode that
//! sees one stripe at a time (a reader that never holds it either).

use rayon::prelude::*;

use super::merkle::{Hash, RootBuilder};
use super::{BlobMetadata, Checked, EncodingError, Layout};

/// Builds a blob's metadata from its stripes' pieces, in stripe order.
pub struct MetadataBuilder {
    layout: Layout,
    roots: Vec<RootBuilder>,
}

impl MetadataBuilder {
    /// A builder for a blob of this layout.
    pub fn new(layout: Layout) -> MetadataBuilder {
        let chunk_len = usize::try_from(layout.chunk_len).unwrap_or(usize::MAX);
        MetadataBuilder {
            layout,
            roots: (0..layout.n_shards)
                .map(|_| RootBuilder::new(chunk_len, false))
                .collect(),
        }
    }

    /// Hashes the next stripe's `n_shards` pieces (`encode_stripe`'s output), in parallel.
    pub fn push_stripe(&mut self, pieces: &[Vec<u8>]) {
        self.roots
            .par_iter_mut()
            .zip(pieces)
            .for_each(|(root, piece)| root.push_bytes(piece));
    }

    /// The metadata, once every stripe was pushed.
    pub fn finish(self) -> BlobMetadata {
        let layout = self.layout;
        BlobMetadata {
            encoding: layout.encoding,
            size: layout.size,
            n_shards: layout.n_shards,
            k: layout.k,
            sliver_len: layout.sliver_len,
            chunk_len: layout.chunk_len,
            sliver_roots: self
                .roots
                .into_iter()
                .map(|root| hex::encode(root.finish().map(|(hash, _)| hash).unwrap_or_default()))
                .collect(),
        }
    }
}

/// That the decoded stripes re-encode to the metadata's sliver roots: every sliver, given
/// or derived, must hash to its root, or different sets of k slivers could decode to
/// different blobs. Pieces that were given (checked chunk by chunk against leaves that
/// were checked against the root) contribute those leaves instead of being hashed again.
pub struct ConsistencyCheck {
    checked: Checked,
    roots: Vec<RootBuilder>,
}

impl ConsistencyCheck {
    /// A check against validated metadata.
    pub(crate) fn new(checked: Checked) -> ConsistencyCheck {
        let chunk_len = usize::try_from(checked.layout.chunk_len).unwrap_or(usize::MAX);
        let roots = (0..checked.layout.n_shards)
            .map(|_| RootBuilder::new(chunk_len, false))
            .collect();
        ConsistencyCheck { checked, roots }
    }

    /// The next stripe's `n_shards` pieces (`decode_stripe`'s output), with the verified
    /// leaves of each piece that was given.
    pub fn push_stripe(&mut self, pieces: &[Vec<u8>], given_leaves: &[Option<&[Hash]>]) {
        self.roots
            .par_iter_mut()
            .zip(pieces)
            .enumerate()
            .for_each(|(index, (root, piece))| match given_leaves.get(index) {
                Some(Some(leaves)) => leaves.iter().for_each(|&leaf| root.push_leaf(leaf)),
                _ => root.push_bytes(piece),
            });
    }

    /// `Inconsistent` unless every sliver hashed to its root in the metadata.
    pub fn finish(self) -> Result<(), EncodingError> {
        let matches = self
            .roots
            .into_par_iter()
            .zip(&self.checked.roots)
            .all(|(root, expected)| root.finish().is_some_and(|(hash, _)| &hash == expected));
        if matches {
            Ok(())
        } else {
            Err(EncodingError::Inconsistent)
        }
    }
}
