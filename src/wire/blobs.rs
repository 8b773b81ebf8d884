//! Blobs as the ledger lists them to auditors and clients.

use serde::{Deserialize, Serialize};

use crate::encoding::BlobMetadata;

/// A blob with certified storage that has not expired: what the checker audits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredBlob {
    pub blob_id: String,
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub metadata: BlobMetadata,
    /// The first epoch none of its contracts covers.
    pub end_epoch: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredBlobsPage {
    pub epoch: i64,
    pub blobs: Vec<StoredBlob>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BlobStatus {
    pub blob_id: String,
    /// Some active contract is certified.
    pub certified: bool,
    /// The first epoch no active contract covers (null if none is active).
    pub end_epoch: Option<i64>,
    /// Active contracts for this blob.
    pub contracts: Vec<String>,
    pub metadata: BlobMetadata,
}
