//! Storage contracts (ECONOMICS.md, "Storage contracts"): buy, extend, certify, delete,
//! and their views. Every request here holds the shared epoch lock: it reads the
//! epoch's prices and credits or debits epoch slots, which an epoch change pays out.
//! Purchases by different users touch only their own balance row, their own contract
//! rows and random stripes of the slots, so they never queue on one row.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

mod blobs;
mod certify;
mod purchase;
mod purchase_batch;
mod row;

pub use blobs::{
    blob_summary, fold_stored_changes, shard_endpoints, stored_blobs, stored_totals, BlobSummary,
};
pub use certify::certify;
pub use purchase::{delete, extend, patch_attributes};
pub use purchase_batch::{Purchase, PurchaseBatch};
use row::ContractRow;

use crate::encoding::BlobMetadata;
use crate::error::Error;
use crate::ledger::account::Address;
use crate::money::Wal;
use crate::wire::ids::{BlobId, ContractId};

/// The body of `POST /v1/storage/contracts`: the blob, how long to store it, the most to pay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    /// The blob's encoding metadata: it must validate and use this network's `n_shards`.
    pub metadata: BlobMetadata,
    /// Epochs to cover, the current one included (1..=epochs_ahead_max).
    pub epochs: u32,
    /// The most the buyer pays; above it the purchase is refused (409).
    pub max_total: Wal,
    /// Whether the owner may delete it early for a refund (default false).
    pub deletable: Option<bool>,
    /// The contract's owner, when the signer buys for another address (default: the
    /// signer). The signer pays; the owner alone may extend, delete or change it.
    #[schema(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{64}$")]
    pub owner: Option<Address>,
    /// The blob's attributes (`content-type`, `content-disposition`, `content-encoding`,
    /// `content-language`, or `x-*`): at most 16, names at most 64 characters, values
    /// at most 1024, no control characters.
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Names of attributes anyone may set besides `x-*`: the response headers the gateway
/// serves a blob with.
pub const ATTRIBUTE_NAMES: [&str; 4] = [
    "content-type",
    "content-disposition",
    "content-encoding",
    "content-language",
];
/// The most attributes a contract holds.
pub const ATTRIBUTES_MAX: usize = 16;
/// The longest attribute name, in characters.
pub const ATTRIBUTE_NAME_CHARS_MAX: usize = 64;
/// The longest attribute value, in characters.
pub const ATTRIBUTE_VALUE_CHARS_MAX: usize = 1024;

/// Checks attributes: allow-listed or `x-*` lower-case names, bounded count and size,
/// values without control characters (each is served as an HTTP header).
pub fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), Error> {
    let bad = |detail: String| Err(Error::InvalidArgument(format!("attributes: {detail}")));
    if attributes.len() > ATTRIBUTES_MAX {
        return bad(format!(
            "at most {ATTRIBUTES_MAX}, got {}",
            attributes.len()
        ));
    }
    for (name, value) in attributes {
        let custom = name.strip_prefix("x-").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if !(ATTRIBUTE_NAMES.contains(&name.as_str()) || custom)
            || name.chars().count() > ATTRIBUTE_NAME_CHARS_MAX
        {
            return bad(format!(
                "{name:?} is not an attribute name: use one of {} or x-<lower-case letters, \
                 digits, dashes>, at most {ATTRIBUTE_NAME_CHARS_MAX} characters",
                ATTRIBUTE_NAMES.join(", ")
            ));
        }
        if value.chars().count() > ATTRIBUTE_VALUE_CHARS_MAX || value.chars().any(char::is_control)
        {
            return bad(format!(
                "the value of {name} must be at most {ATTRIBUTE_VALUE_CHARS_MAX} characters \
                 without control characters"
            ));
        }
    }
    Ok(())
}

/// The body of `PATCH /v1/storage/contracts/{id}`, by the contract's owner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    /// Attributes to set (a string) or remove (null); the others stay.
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub attributes: BTreeMap<String, Option<String>>,
}

/// The body of `POST /v1/storage/contracts/{id}/extend`, by the contract's owner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Epochs to add after the current end.
    pub epochs: u32,
    /// The most the owner pays, in WAL; above it the extension is refused (409).
    pub max_total: Wal,
}

/// One node's signed confirmation that it stores its shards of the blob.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRequest {
    /// The confirming node's id, as a decimal string: a committee member of the current epoch.
    #[schema(pattern = "^[1-9][0-9]{0,17}$")]
    pub node_id: String,
    /// 128 hex digits: the node's ed25519 signature (storage::confirmation).
    pub signature: String,
}

/// The body of `POST /v1/storage/contracts/{id}/certificate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    /// Confirmations of 1..=n_shards distinct committee members, together covering at least
    /// 2f+1 shards.
    pub confirmations: Vec<ConfirmationRequest>,
}

/// Where a contract stands as of the epoch it is read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Neither deleted nor expired: it covers the epoch.
    Active,
    /// Its `end_epoch` has come: it no longer covers the epoch.
    Expired,
    /// Deleted early by its owner (deletable contracts only); shown even once expired.
    Deleted,
}

/// A storage contract as the API shows it: the blob, the epochs covered, what was paid,
/// and whether it is certified.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contract {
    /// The contract's id, as a decimal string.
    pub id: String,
    /// The buyer's address (`0x` + 64 lowercase hex digits); only it may extend or delete.
    pub owner: String,
    /// The stored blob's id: 64 lowercase hex digits of its metadata's hash.
    pub blob_id: String,
    /// The blob's size, in bytes.
    pub size: i64,
    /// Bytes of all its slivers (`sliver_len * n_shards`): what storage is paid for.
    pub encoded_size: i64,
    /// Storage units billed: the encoded size in whole MiB, rounded up.
    pub storage_units: i64,
    /// The epoch it was bought in: the first epoch covered.
    pub start_epoch: i64,
    /// The first epoch no longer covered.
    pub end_epoch: i64,
    /// Whether the owner may delete it early, for a refund of the whole epochs left.
    pub deletable: bool,
    /// WAL paid in all: the purchase and every extension.
    pub paid: Wal,
    /// Active, expired or deleted, as of the epoch it is read in.
    pub status: ContractStatus,
    /// Whether the nodes' confirmations certified it (`certified_epoch` is set).
    pub certified: bool,
    /// The epoch it was certified in, if it was.
    pub certified_epoch: Option<i64>,
    /// Shards the certifying confirmations covered (at least 2f+1), if certified.
    pub certified_shards: Option<i32>,
    /// The epoch it was deleted in, if it was.
    pub deleted_epoch: Option<i64>,
    /// Set on deletion: the WAL refunded to the owner (the slots of the epochs after the
    /// one it was deleted in).
    pub refunded: Option<Wal>,
    /// The blob's encoding metadata, as the buyer sent it (validated).
    pub metadata: BlobMetadata,
    /// When it was bought (the database clock, UTC).
    pub created_at: DateTime<Utc>,
    /// The blob's attributes (`content-type`, ...), served by the gateway as headers.
    pub attributes: BTreeMap<String, String>,
    /// Who paid, when the buyer bought for another owner; null when the owner paid.
    pub payer: Option<String>,
}

/// Contract `id` as of `epoch` (which decides its status); `None` if there is none.
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
                  refunded, created_at, attributes, payer
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
                  refunded, created_at, attributes, payer
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
