//! The layout of a blob: everything that follows from its encoding, size and shard
//! count (the module docs of `encoding` define it).

use super::merkle::Hash;
use super::{
    Encoding, EncodingError, BLOB_SIZE_MAX, CHUNK_LEN_MAX, N_SHARDS_MAX, STRIPE_ENCODED_BYTES_MAX,
};

/// Everything that follows from the encoding, `size` and `n_shards`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The Reed-Solomon code of the blob.
    pub encoding: Encoding,
    /// The blob's length, in bytes: at most `BLOB_SIZE_MAX` (2^36).
    pub size: u64,
    /// The number of shards, one sliver each: 1..=`N_SHARDS_MAX` (1000).
    pub n_shards: u32,
    /// Data slivers, `n_shards - 2f`: any `k` of the slivers rebuild the blob.
    pub k: u32,
    /// Stripes coded independently: at least 1 (module docs).
    pub stripes: u64,
    /// Bytes of each sliver per stripe: a multiple of the symbol size (1 byte for
    /// `rs-gf8`, 2 for `rs-gf16-leopard`), and of 4096 when there are several stripes.
    pub stripe_sliver_len: u64,
    /// Bytes per sliver: `stripes * stripe_sliver_len`.
    pub sliver_len: u64,
    /// Bytes per Merkle chunk: `min(4096, sliver_len)`; a sliver's last chunk may be shorter.
    pub chunk_len: u64,
}

impl Layout {
    /// The layout of a new blob of `size` bytes over `n_shards` shards (with the
    /// encoding `Encoding::for_shards` picks); `ShardCount` if `n_shards` is not
    /// 1..=1000, `TooLarge` if `size` is above `BLOB_SIZE_MAX`.
    pub fn new(size: u64, n_shards: u32) -> Result<Layout, EncodingError> {
        Layout::with_encoding(size, n_shards, Encoding::for_shards(n_shards))
    }

    /// The layout of a blob written with `encoding`; `ShardCount` also when the
    /// encoding does not support `n_shards`.
    pub fn with_encoding(
        size: u64,
        n_shards: u32,
        encoding: Encoding,
    ) -> Result<Layout, EncodingError> {
        if !(1..=N_SHARDS_MAX).contains(&n_shards) {
            return Err(EncodingError::ShardCount(n_shards));
        }
        if !encoding.supports(n_shards) {
            return Err(EncodingError::EncodingShards {
                encoding: encoding.name(),
                max: encoding.shards_max(),
                n_shards,
            });
        }
        if size > BLOB_SIZE_MAX {
            return Err(EncodingError::TooLarge(size));
        }
        let k = data_shards(n_shards);
        let (stripes, stripe_sliver_len) = stripes_of(size, n_shards, k, encoding.symbol_bytes());
        let sliver_len = stripes * stripe_sliver_len;
        Ok(Layout {
            encoding,
            size,
            n_shards,
            k,
            stripes,
            stripe_sliver_len,
            sliver_len,
            chunk_len: sliver_len.min(CHUNK_LEN_MAX),
        })
    }

    /// `stripe_sliver_len` in memory: at most `STRIPE_ENCODED_BYTES_MAX` (32 MiB), as a
    /// stripe's pieces together are, so it fits any usize.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "stripe_sliver_len is at most max(4096, 32 MiB / n_shards) by construction"
    )]
    pub fn piece_bytes(&self) -> usize {
        self.stripe_sliver_len as usize
    }

    /// `chunk_len` in memory: at most 4096.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "chunk_len is min(4096, sliver_len) by construction"
    )]
    pub fn chunk_bytes(&self) -> usize {
        self.chunk_len as usize
    }

    /// The blob's bytes per stripe (its k data pieces): `k * stripe_sliver_len`.
    pub fn stripe_data_len(&self) -> u64 {
        u64::from(self.k) * self.stripe_sliver_len
    }

    /// The blob's bytes in stripe `stripe`: `[start, end)`, `end` at most `size` (the
    /// rest of the stripe is padding).
    pub fn stripe_range(&self, stripe: u64) -> std::ops::Range<u64> {
        let start = (stripe * self.stripe_data_len()).min(self.size);
        start..(start + self.stripe_data_len()).min(self.size)
    }

    /// Merkle chunks per sliver per stripe: `ceil(stripe_sliver_len / chunk_len)` (a
    /// stripe's pieces are whole chunks when there are several stripes).
    pub fn chunks_per_piece(&self) -> u64 {
        self.stripe_sliver_len.div_ceil(self.chunk_len)
    }

    /// Stripe `stripe`'s part of a sliver's leaf hashes.
    pub fn stripe_leaves<'a>(&self, leaves: &'a [Hash], stripe: u64) -> &'a [Hash] {
        let per = usize::try_from(self.chunks_per_piece()).unwrap_or(usize::MAX);
        let start = usize::try_from(stripe)
            .unwrap_or(usize::MAX)
            .saturating_mul(per);
        &leaves[start.min(leaves.len())..start.saturating_add(per).min(leaves.len())]
    }

    /// The number of chunks in each sliver, `ceil(sliver_len / chunk_len)`: at most 2^24.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Layout::new bounds sliver_len by BLOB_SIZE_MAX (2^36) and makes chunk_len min(4096, sliver_len): at most 2^24 chunks"
    )]
    pub fn chunk_count(&self) -> u32 {
        self.sliver_len.div_ceil(self.chunk_len) as u32
    }

    /// Total bytes of all slivers: what storage is paid for.
    pub fn encoded_size(&self) -> u64 {
        self.sliver_len * u64::from(self.n_shards)
    }
}

/// The stripe count and the bytes per sliver per stripe (module docs).
fn stripes_of(size: u64, n_shards: u32, k: u32, symbol: u64) -> (u64, u64) {
    let k = u64::from(k);
    let per_sliver = STRIPE_ENCODED_BYTES_MAX / u64::from(n_shards);
    let stripe_max = (per_sliver / CHUNK_LEN_MAX * CHUNK_LEN_MAX).max(CHUNK_LEN_MAX);
    if size <= k * stripe_max {
        return (1, size.div_ceil(k).next_multiple_of(symbol).max(symbol));
    }
    let wanted = size.div_ceil(k * stripe_max);
    let stripe_sliver_len = size.div_ceil(k * wanted).next_multiple_of(CHUNK_LEN_MAX);
    (size.div_ceil(k * stripe_sliver_len), stripe_sliver_len)
}

/// f: the shards that may be faulty.
pub fn faulty_shards(n_shards: u32) -> u32 {
    (n_shards - 1) / 3
}

/// k = n - 2f: the slivers any reconstruction needs.
pub fn data_shards(n_shards: u32) -> u32 {
    n_shards - 2 * faulty_shards(n_shards)
}
