//! What can go wrong encoding, decoding or checking a blob.

use super::{BLOB_SIZE_MAX, N_SHARDS_MAX};

/// Why a blob could not be encoded or decoded, or why metadata, a sliver or a chunk was
/// refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodingError {
    /// `n_shards` is outside 1..=`N_SHARDS_MAX` (1000); holds the count given.
    #[error("n_shards must be 1..={N_SHARDS_MAX}, not {0}")]
    ShardCount(u32),
    /// The metadata's encoding cannot code this many shards (`rs-gf8`: at most 256).
    #[error("encoding {encoding} codes at most {max} shards, not {n_shards}")]
    EncodingShards {
        /// The encoding's name.
        encoding: &'static str,
        /// The most shards it codes.
        max: u32,
        /// The shard count asked for.
        n_shards: u32,
    },
    /// The blob's size in bytes is above `BLOB_SIZE_MAX` (2^36), or the blob or its slivers
    /// do not fit in a `usize` on this machine; holds the size.
    #[error("size {0} is above the largest blob of {BLOB_SIZE_MAX} bytes")]
    TooLarge(u64),
    /// A metadata field (`k`, `sliver_len` or `chunk_len`) differs from the value that `size`
    /// and `n_shards` determine.
    #[error("metadata field {field} is {given}, but size and n_shards make it {expected}")]
    Field {
        /// The name of the field that differs.
        field: &'static str,
        /// The value in the metadata.
        given: u64,
        /// The value `size` and `n_shards` determine.
        expected: u64,
    },
    /// The metadata's `sliver_roots` does not hold exactly one root per shard.
    #[error("metadata has {given} sliver roots; n_shards is {expected}")]
    RootCount {
        /// How many roots the metadata lists.
        given: usize,
        /// How many it must list: `n_shards`.
        expected: usize,
    },
    /// The sliver root at this index (its shard number) is not 64 lowercase hex digits.
    #[error("sliver root {0} is not 64 hex digits")]
    RootSyntax(usize),
    /// A sliver is not `sliver_len` bytes long.
    #[error("sliver {index} is {given} bytes; the metadata says {expected}")]
    SliverLength {
        /// The sliver's index: its shard number.
        index: u32,
        /// The sliver's length, in bytes.
        given: usize,
        /// The metadata's `sliver_len`, in bytes.
        expected: u64,
    },
    /// A sliver index is not below `n_shards`; holds the index given.
    #[error("sliver index {0} is not a shard of this blob")]
    SliverIndex(u32),
    /// A whole sliver's Merkle root differs from its root in the metadata; holds the
    /// sliver's index.
    #[error("sliver {0} does not match its Merkle root in the metadata")]
    SliverRoot(u32),
    /// A chunk was refused: its index is past the sliver's last chunk, its length is wrong for
    /// that index, or its Merkle proof does not lead to the sliver's root.
    #[error("chunk {chunk} of sliver {sliver} does not match its Merkle proof")]
    ChunkProof {
        /// The sliver's index: its shard number.
        sliver: u32,
        /// The chunk's index within the sliver.
        chunk: u32,
    },
    /// Decoding found fewer than `k` slivers that verify against the metadata.
    #[error("{have} verified slivers; at least {need} are needed to decode")]
    NotEnoughSlivers {
        /// How many slivers verified.
        have: usize,
        /// How many are needed: the metadata's `k`.
        need: usize,
    },
    /// The Reed-Solomon library failed, or a data sliver was not reconstructed; holds the
    /// message.
    #[error("Reed-Solomon: {0}")]
    Codec(String),
    /// On decode, the rebuilt blob re-encodes to other sliver roots than the metadata's, or its
    /// padding past `size` is not zeros: the writer encoded it wrongly, so it is refused.
    #[error("the blob's slivers are not one consistent encoding: the decoded bytes re-encode to other sliver roots than the metadata's (the writer encoded it wrongly)")]
    Inconsistent,
}
