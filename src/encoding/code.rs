//! The Reed-Solomon codes a blob may be written with (the module docs of `encoding`
//! define them).

use serde::{Deserialize, Serialize};

use super::{GF8_SHARDS_MAX, N_SHARDS_MAX};

/// The Reed-Solomon code a blob is written with (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum Encoding {
    /// reed-solomon-erasure over GF(2^8): one-byte symbols, at most 256 shards.
    #[serde(rename = "rs-gf8")]
    RsGf8,
    /// reed-solomon-simd (Leopard-RS, FFT over GF(2^16)): two-byte symbols.
    #[serde(rename = "rs-gf16-leopard")]
    RsGf16Leopard,
}

impl Encoding {
    /// The encoding new blobs over `n_shards` shards are written with.
    pub fn for_shards(n_shards: u32) -> Encoding {
        if n_shards <= GF8_SHARDS_MAX {
            Encoding::RsGf8
        } else {
            Encoding::RsGf16Leopard
        }
    }

    /// The most shards this code spreads a blob over.
    pub fn shards_max(self) -> u32 {
        match self {
            Encoding::RsGf8 => GF8_SHARDS_MAX,
            Encoding::RsGf16Leopard => N_SHARDS_MAX,
        }
    }

    /// Whether this code can spread a blob over `n_shards` shards.
    pub fn supports(self, n_shards: u32) -> bool {
        n_shards <= self.shards_max()
    }

    /// Bytes per symbol: every sliver is a whole number of them.
    pub fn symbol_bytes(self) -> u64 {
        match self {
            Encoding::RsGf8 => 1,
            Encoding::RsGf16Leopard => 2,
        }
    }

    /// The byte that names the encoding in the canonical metadata.
    pub(super) fn code(self) -> u8 {
        match self {
            Encoding::RsGf8 => 1,
            Encoding::RsGf16Leopard => 2,
        }
    }

    /// The name in the metadata's JSON (`rs-gf8`, `rs-gf16-leopard`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::RsGf8 => "rs-gf8",
            Encoding::RsGf16Leopard => "rs-gf16-leopard",
        }
    }
}
