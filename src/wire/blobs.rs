//! Blobs as the ledger lists them to auditors and clients.

use serde::{Deserialize, Serialize};

use crate::encoding::BlobMetadata;

/// A blob with certified storage that has not expired: what the checker audits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredBlob {
    /// The blob id: 64 lowercase hex digits, the SHA-256 of its canonical metadata encoding.
    pub blob_id: String,
    /// The blob's encoding metadata (size, shards, sliver and chunk lengths, sliver roots).
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub metadata: BlobMetadata,
    /// The first epoch none of its contracts covers.
    pub end_epoch: i64,
}

/// A page of `GET /v1/blobs`: certified blobs covering the current epoch, in blob id order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredBlobsPage {
    /// The current epoch, which every listed blob's storage covers.
    pub epoch: i64,
    /// The blobs of this page, at most the requested `limit` (default 50, max 500).
    pub blobs: Vec<StoredBlob>,
    /// The `cursor` of the next page (the last blob id of this one); null on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/blobs/{blob_id}/status`: a blob's storage contracts, certification and end.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BlobStatus {
    /// The blob id: 64 lowercase hex digits.
    pub blob_id: String,
    /// Some active contract is certified.
    pub certified: bool,
    /// The first epoch no active contract covers (null if none is active).
    pub end_epoch: Option<i64>,
    /// Active contracts for this blob.
    pub contracts: Vec<String>,
    /// The blob's encoding metadata, from which its id is computed.
    pub metadata: BlobMetadata,
}

/// One sliver of a blob as its holder served it just now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SliverHealth {
    /// The shard (sliver index).
    pub shard: u32,
    /// The node holding the shard this epoch; null if no committee member holds it.
    pub node_id: Option<String>,
    /// Where that node serves; null without a holder.
    pub endpoint: Option<String>,
    /// `verified` (length and Merkle root match the metadata), `missing` (404), `corrupt`
    /// (wrong bytes, or the node's 500 for a sliver that rotted), `unreachable`,
    /// `timed out`, `cut off` (the stream broke), `refused` (another status), or
    /// `no holder`.
    pub state: String,
}

/// `GET /v1/blobs/{blob_id}/health`: every sliver fetched from its holder and checked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BlobHealth {
    /// The blob id: 64 lowercase hex digits.
    pub blob_id: String,
    /// The epoch whose committee was asked.
    pub epoch: i64,
    /// The blob's number of shards (slivers).
    pub n_shards: u32,
    /// How many slivers suffice to decode it.
    pub k: u32,
    /// Slivers served verified.
    pub verified: u32,
    /// At least `k` slivers verified: the blob can be read.
    pub readable: bool,
    /// Every sliver verified.
    pub fully_redundant: bool,
    /// Each sliver, in shard order.
    pub slivers: Vec<SliverHealth>,
}
