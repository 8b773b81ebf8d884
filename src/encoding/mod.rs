//! Blob encoding, shared by the ledger, the storage nodes, the checker and walctl.
//! This module is the one definition of it:
//!
//! **Code.** A blob of `size` bytes is cut into `k = n_shards - 2f` data slivers,
//! `f = floor((n_shards - 1) / 3)`, and a systematic Reed-Solomon code adds
//! `n_shards - k` parity slivers: any `k` of the `n_shards` rebuild the blob. The
//! metadata names the code (`encoding`), so each blob decodes by the code it was
//! written with:
//!
//! - `rs-gf8`: reed-solomon-erasure's code over GF(2^8) (its Vandermonde-derived
//!   matrix), one-byte symbols, up to 256 shards;
//! - `rs-gf16-leopard`: reed-solomon-simd's code (Leopard-RS: FFT over GF(2^16)), the
//!   code Walrus uses, two-byte symbols, up to 1000 shards here.
//!
//! New blobs are written with `Encoding::for_shards(n_shards)`; the README gives the
//! measurements behind that choice.
//!
//! **Layout.** The blob is cut into `stripes` stripes that are coded independently, so a
//! writer or reader holds one stripe at a time however large the blob. A stripe's
//! encoded bytes are at most `STRIPE_ENCODED_BYTES_MAX` (32 MiB): `stripe_max =
//! max(4096, floor(32 MiB / n_shards / 4096) * 4096)` bytes per stripe sliver.
//!
//! - One stripe when `size <= k * stripe_max`: `stripe_sliver_len = ceil(size / k)`
//!   rounded up to the encoding's symbol size (at least one symbol).
//! - Otherwise `m = ceil(size / (k * stripe_max))`, `stripe_sliver_len = ceil(size /
//!   (k * m))` rounded up to a multiple of 4096, and `stripes = ceil(size / (k *
//!   stripe_sliver_len))` (so no stripe is all padding).
//!
//! Stripe `j` holds the blob's bytes `[j * k * stripe_sliver_len, (j + 1) * k *
//! stripe_sliver_len)`, padded with zeros past the end of the blob; within it, data
//! piece `i` (`i < k`) is bytes `[i * stripe_sliver_len, (i + 1) * stripe_sliver_len)`,
//! and pieces k.. are its parity. Sliver `i` is piece `i` of every stripe in stripe
//! order (`sliver_len = stripes * stripe_sliver_len`) and belongs to shard `i`. A
//! one-stripe blob is thus the blob padded to `k * sliver_len`, cut into k slivers.
//!
//! **Chunks and Merkle roots.** `chunk_len = min(4096, sliver_len)`; a sliver is cut into
//! `ceil(sliver_len / chunk_len)` chunks (the last may be shorter). Leaf hash =
//! SHA-256(0x00 ‖ chunk), node hash = SHA-256(0x01 ‖ left ‖ right), levels built
//! pairwise left to right, an odd last node carried up unchanged. `sliver_roots[i]` is
//! the root of sliver i, as 64 lowercase hex digits.
//!
//! **Metadata and blob id.** `metadata = {encoding, size, n_shards, k, sliver_len,
//! chunk_len, sliver_roots}`. Its canonical encoding is the ASCII bytes
//! `wal-blob-metadata-v3`, then the encoding's code (u8: 1 = `rs-gf8`, 2 =
//! `rs-gf16-leopard`), `size` (u64), `n_shards` (u32), `k` (u32), `sliver_len` (u64),
//! `chunk_len` (u32), all big-endian, then the 32-byte roots in shard order. The blob id
//! is the SHA-256 of that encoding as 64 lowercase hex digits. Every field but the roots
//! is determined by `encoding`, `size` and `n_shards`, so `validate` refuses any other
//! values (and an encoding that does not support `n_shards`). (v3: the striped layout;
//! v2 coded the whole blob as one stripe.)
//!
//! **Streams.** A sliver's root can be computed as its bytes arrive
//! (`merkle::RootBuilder`: the tree above is the binary-counter forest of its leaves,
//! merged right to left), and a stream of stripes decodes one stripe at a time
//! (`decode_stripe`), so nodes and clients never need a whole sliver or blob in memory.
//!
//! **Quilts.** Many small files stored as one blob: the layout and the quilt patch id
//! are defined in `quilt`.

mod code;
mod codec;
mod error;
mod layout;
pub mod merkle;
pub mod quilt;
mod stream;
mod whole;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use code::Encoding;
pub use codec::{data_slices, decode_stripe, encode_stripe, stripe_data_len};
pub use error::EncodingError;
pub use layout::{data_shards, faulty_shards, Layout};
use merkle::Hash;
pub use stream::{Consistency, ConsistencyCheck, MetadataBuilder};
pub use whole::{append_data, decode, decode_with, encode, encode_as};

/// The most shards a blob may be encoded for: `n_shards` must be 1..=1000.
pub const N_SHARDS_MAX: u32 = 1000;
/// Shards above this need GF(2^16): `rs-gf8` codes at most this many.
pub const GF8_SHARDS_MAX: u32 = 256;
/// The longest Merkle chunk, in bytes: `chunk_len = min(4096, sliver_len)`.
pub const CHUNK_LEN_MAX: u64 = 4096;
/// The largest blob the encoding accepts (the API may set a lower limit).
pub const BLOB_SIZE_MAX: u64 = 1 << 36;
/// The most encoded bytes (all `n_shards` pieces) of one stripe: 32 MiB.
pub const STRIPE_ENCODED_BYTES_MAX: u64 = 32 << 20;
const METADATA_DOMAIN: &[u8] = b"wal-blob-metadata-v3";

/// A blob's metadata: its layout and one Merkle root per sliver. Its canonical encoding
/// hashes to the blob id; `validate` checks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlobMetadata {
    /// The Reed-Solomon code the blob was written with (`rs-gf8`, `rs-gf16-leopard`).
    pub encoding: Encoding,
    /// The blob's length, in bytes: at most `BLOB_SIZE_MAX` (2^36).
    pub size: u64,
    /// The number of shards the blob is encoded for, one sliver each: 1..=1000.
    pub n_shards: u32,
    /// Data slivers, `n_shards - 2f`: any `k` slivers rebuild the blob. Must match the layout.
    pub k: u32,
    /// Bytes per sliver, as the layout of `size` and `n_shards` computes it.
    pub sliver_len: u64,
    /// Bytes per Merkle chunk, `min(4096, sliver_len)`, as the layout computes it.
    pub chunk_len: u64,
    /// Merkle root of each sliver, 64 lowercase hex digits, in shard order.
    pub sliver_roots: Vec<String>,
}

impl BlobMetadata {
    /// Checks every field against what `size` and `n_shards` determine.
    pub fn validate(&self) -> Result<Layout, EncodingError> {
        let layout = Layout::with_encoding(self.size, self.n_shards, self.encoding)?;
        let fields = [
            ("k", u64::from(self.k), u64::from(layout.k)),
            ("sliver_len", self.sliver_len, layout.sliver_len),
            ("chunk_len", self.chunk_len, layout.chunk_len),
        ];
        for (field, given, expected) in fields {
            if given != expected {
                return Err(EncodingError::Field {
                    field,
                    given,
                    expected,
                });
            }
        }
        if self.sliver_roots.len() != self.n_shards as usize {
            return Err(EncodingError::RootCount {
                given: self.sliver_roots.len(),
                expected: self.n_shards as usize,
            });
        }
        for index in 0..self.sliver_roots.len() {
            self.root(index)?;
        }
        Ok(layout)
    }

    /// Sliver `index`'s Merkle root; `SliverIndex` past the shards, `RootSyntax` if it is
    /// not 64 lowercase hex digits.
    pub fn sliver_root_hash(&self, index: u32) -> Result<Hash, EncodingError> {
        if index >= self.n_shards || index as usize >= self.sliver_roots.len() {
            return Err(EncodingError::SliverIndex(index));
        }
        self.root(index as usize)
    }

    fn root(&self, index: usize) -> Result<Hash, EncodingError> {
        let text = &self.sliver_roots[index];
        let mut hash = [0u8; 32];
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(EncodingError::RootSyntax(index));
        }
        hex::decode_to_slice(text, &mut hash).map_err(|_| EncodingError::RootSyntax(index))?;
        Ok(hash)
    }

    /// The canonical encoding (module docs); the blob id is its SHA-256.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(METADATA_DOMAIN.len() + 29 + 32 * self.sliver_roots.len());
        out.extend_from_slice(METADATA_DOMAIN);
        out.push(self.encoding.code());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.n_shards.to_be_bytes());
        out.extend_from_slice(&self.k.to_be_bytes());
        out.extend_from_slice(&self.sliver_len.to_be_bytes());
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the field is a u32 in the canonical encoding; validate refuses chunk_len above CHUNK_LEN_MAX (4096), so the cast is exact for any metadata it accepts (unchanged for any other)"
        )]
        let chunk_len = self.chunk_len as u32;
        out.extend_from_slice(&chunk_len.to_be_bytes());
        for index in 0..self.sliver_roots.len() {
            out.extend_from_slice(&self.root(index).unwrap_or([0; 32]));
        }
        out
    }

    /// The blob id: 64 lowercase hex digits.
    pub fn blob_id(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }

    /// Checks a whole sliver against its root.
    pub fn verify_sliver(&self, index: u32, sliver: &[u8]) -> Result<(), EncodingError> {
        let layout = self.validate()?;
        if index >= self.n_shards {
            return Err(EncodingError::SliverIndex(index));
        }
        check_sliver(&layout, &self.root(index as usize)?, index, sliver)
    }

    /// The metadata validated once and its roots parsed, to verify many slivers (a
    /// decode checks up to `n_shards` of them: validating each time would be O(n²)).
    pub(crate) fn checked(&self) -> Result<Checked, EncodingError> {
        let layout = self.validate()?;
        let roots = (0..self.sliver_roots.len())
            .map(|index| self.root(index))
            .collect::<Result<_, _>>()?;
        Ok(Checked { layout, roots })
    }

    /// Checks one chunk of sliver `sliver` with its Merkle proof.
    pub fn verify_chunk(
        &self,
        sliver: u32,
        chunk_index: u32,
        chunk: &[u8],
        siblings: &[Hash],
    ) -> Result<(), EncodingError> {
        let layout = self.validate()?;
        if sliver >= self.n_shards {
            return Err(EncodingError::SliverIndex(sliver));
        }
        let count = layout.chunk_count();
        let bad = || EncodingError::ChunkProof {
            sliver,
            chunk: chunk_index,
        };
        let start = u64::from(chunk_index) * layout.chunk_len;
        let expected_len = layout
            .chunk_len
            .min(layout.sliver_len.saturating_sub(start));
        if chunk_index >= count || chunk.len() as u64 != expected_len {
            return Err(bad());
        }
        let root = self.root(sliver as usize)?;
        if merkle::verify(
            &root,
            merkle::leaf_hash(chunk),
            chunk_index as usize,
            count as usize,
            siblings,
        ) {
            Ok(())
        } else {
            Err(bad())
        }
    }
}

/// Validated metadata with its roots parsed (`BlobMetadata::checked`).
#[derive(Clone)]
pub struct Checked {
    pub(crate) layout: Layout,
    roots: Vec<Hash>,
}

impl Checked {
    /// `BlobMetadata::verify_sliver` without validating the metadata again, returning
    /// the sliver's leaf hashes.
    pub(crate) fn verified_leaves(
        &self,
        index: u32,
        sliver: &[u8],
    ) -> Result<Vec<Hash>, EncodingError> {
        let root = self
            .roots
            .get(index as usize)
            .ok_or(EncodingError::SliverIndex(index))?;
        check_length(&self.layout, index, sliver)?;
        let leaves = chunk_leaves(sliver, self.layout.chunk_len);
        if merkle::root(leaves.clone()) != *root {
            return Err(EncodingError::SliverRoot(index));
        }
        Ok(leaves)
    }
}

/// A sliver has the layout's length and hashes to its root.
fn check_sliver(
    layout: &Layout,
    root: &Hash,
    index: u32,
    sliver: &[u8],
) -> Result<(), EncodingError> {
    check_length(layout, index, sliver)?;
    if sliver_root(sliver, layout.chunk_len) != *root {
        return Err(EncodingError::SliverRoot(index));
    }
    Ok(())
}

fn check_length(layout: &Layout, index: u32, sliver: &[u8]) -> Result<(), EncodingError> {
    if sliver.len() as u64 != layout.sliver_len {
        return Err(EncodingError::SliverLength {
            index,
            given: sliver.len(),
            expected: layout.sliver_len,
        });
    }
    Ok(())
}

fn chunk_leaves(sliver: &[u8], chunk_len: u64) -> Vec<Hash> {
    sliver
        .chunks(usize::try_from(chunk_len).unwrap_or(usize::MAX))
        .map(merkle::leaf_hash)
        .collect()
}

/// The Merkle root of a sliver cut into chunks of `chunk_len` bytes (the last may be
/// shorter).
pub fn sliver_root(sliver: &[u8], chunk_len: u64) -> Hash {
    merkle::root(chunk_leaves(sliver, chunk_len))
}

/// A chunk of a sliver and the sibling hashes that prove it against the sliver root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkProof {
    /// The chunk's bytes: `chunk_len` of them, or fewer for a sliver's last chunk.
    pub chunk: Vec<u8>,
    /// The sibling hashes from the chunk's leaf up to the sliver root, lowest level first.
    pub siblings: Vec<Hash>,
}

/// The proof for chunk `chunk_index` of a sliver (the node's side of a challenge).
pub fn chunk_proof(sliver: &[u8], chunk_len: u64, chunk_index: u32) -> Option<ChunkProof> {
    let chunk = sliver
        .chunks(usize::try_from(chunk_len).unwrap_or(usize::MAX))
        .nth(chunk_index as usize)?
        .to_vec();
    let siblings = merkle::proof(chunk_leaves(sliver, chunk_len), chunk_index as usize);
    Some(ChunkProof { chunk, siblings })
}

#[cfg(test)]
mod tests;
