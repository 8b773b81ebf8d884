//! Storage contracts (ECONOMICS.md, "Storage contracts"): buy, extend, certify, delete,
//! and their views. Every request here holds the shared epoch lock: it reads the
//! epoch's prices and credits or debits epoch slots, which an epoch change pays out.
//! Purchases by different users touch only their own balance row, their own contract
//! rows and random stripes of the slots, so they never queue on one row.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

mod blobs;
mod certify;
mod purchase;
mod row;

pub use blobs::{blob_summary, shard_endpoints, stored_blobs, BlobSummary};
pub use certify::certify;
pub use purchase::{buy, delete, extend};
use row::ContractRow;

use crate::encoding::BlobMetadata;
use crate::error::Error;
use crate::ledger::account::Address;
use crate::money::Wal;
use crate::wire::ids::{BlobId, ContractId, NodeId};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    pub metadata: BlobMetadata,
    /// Epochs to cover, the current one included (1..=epochs_ahead_max).
    pub epochs: u32,
    /// The most the buyer pays; above it the purchase is refused (409).
    pub max_total: Wal,
    /// Whether the owner may delete it early for a refund (default false).
    pub deletable: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Epochs to add after the current end.
    pub epochs: u32,
    pub max_total: Wal,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRequest {
    #[schema(value_type = String, pattern = "^[1-9][0-9]{0,17}$")]
    pub node_id: NodeId,
    /// 128 hex digits: the node's ed25519 signature (storage::confirmation).
    pub signature: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    pub confirmations: Vec<ConfirmationRequest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Active,
    Expired,
    Deleted,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contract {
    pub id: String,
    pub owner: String,
    pub blob_id: String,
    pub size: i64,
    pub encoded_size: i64,
    pub storage_units: i64,
    pub start_epoch: i64,
    /// The first epoch no longer covered.
    pub end_epoch: i64,
    pub deletable: bool,
    pub paid: Wal,
    pub status: ContractStatus,
    pub certified: bool,
    pub certified_epoch: Option<i64>,
    pub certified_shards: Option<i32>,
    pub deleted_epoch: Option<i64>,
    pub refunded: Option<Wal>,
    pub metadata: BlobMetadata,
    pub created_at: DateTime<Utc>,
}

pub async fn find(
    conn: &mut PgConnection,
    id: ContractId,
    epoch: i64,
) -> Result<Option<Contract>, Error> {
    let id = id.get();
    let row = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at
           FROM contracts WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.view(epoch)).transpose()
}

/// Contracts by id, of one owner and/or one blob, after the id `after`.
pub async fn page(
    conn: &mut PgConnection,
    owner: Option<Address>,
    blob_id: Option<BlobId>,
    after: i64,
    limit: i64,
    epoch: i64,
) -> Result<Vec<Contract>, Error> {
    let rows = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at
           FROM contracts
           WHERE ($1::text IS NULL OR owner = $1) AND ($2::text IS NULL OR blob_id = $2) AND id > $3
           ORDER BY id LIMIT $4"#,
        owner.map(|o| o.to_string()),
        blob_id.map(|b| b.to_string()),
        after,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|r| r.view(epoch)).collect()
}
