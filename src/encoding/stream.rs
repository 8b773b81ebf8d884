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

/// How much of the encoding a read checks (Walrus's two checks, by Walrus's names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// The bytes returned are the data slivers the writer committed to: a data piece
    /// that was read was verified against its root on the way, and a data sliver rebuilt
    /// from parity must hash to its root. Two reads that succeed therefore return the
    /// same bytes whichever slivers they read. The parity is not coded again, so a blob
    /// whose parity does not belong to its data (its writer's fault) reads for a reader
    /// of the data slivers and fails for one who needed that parity.
    #[default]
    Default,
    /// The parity is coded again too, and every sliver, read or derived, must hash to its
    /// root: a blob so inconsistent fails for every reader. Repair needs this (it writes
    /// derived slivers), and so does a reader who must know the blob is repairable.
    Strict,
}

impl Consistency {
    /// `Strict` if asked for, else `Default`.
    pub fn strict_if(strict: bool) -> Consistency {
        if strict {
            Consistency::Strict
        } else {
            Consistency::Default
        }
    }

    /// Its name in Walrus's terms: `default` or `strict`.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Default => "default",
            Consistency::Strict => "strict",
        }
    }

    /// The slivers whose roots the check recomputes: the k data slivers, or all.
    pub fn slivers_checked(self, layout: &Layout) -> u32 {
        match self {
            Consistency::Default => layout.k,
            Consistency::Strict => layout.n_shards,
        }
    }
}

/// That the decoded stripes hash to the metadata's sliver roots: the data slivers'
/// (`Consistency::Default`) or every sliver's (`Strict`). Pieces that were given
/// (checked chunk by chunk against leaves that were checked against the root)
/// contribute those leaves instead of being hashed again.
pub struct ConsistencyCheck {
    checked: Checked,
    consistency: Consistency,
    roots: Vec<RootBuilder>,
}

impl ConsistencyCheck {
    /// A check against validated metadata.
    pub(crate) fn new(checked: Checked, consistency: Consistency) -> ConsistencyCheck {
        let chunk_len = usize::try_from(checked.layout.chunk_len).unwrap_or(usize::MAX);
        let roots = (0..consistency.slivers_checked(&checked.layout))
            .map(|_| RootBuilder::new(chunk_len, false))
            .collect();
        ConsistencyCheck {
            checked,
            consistency,
            roots,
        }
    }

    /// Which check this is.
    pub fn consistency(&self) -> Consistency {
        self.consistency
    }

    /// The next stripe's pieces (`decode_stripe`'s output: the k data pieces, or all
    /// `n_shards` for `Strict`), with the verified leaves of each piece that was given.
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

    /// `Inconsistent` unless every sliver checked hashed to its root in the metadata.
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
