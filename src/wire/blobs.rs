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
