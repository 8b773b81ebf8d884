//! A contract row as read from the database, and its API view.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Contract, ContractStatus};
use crate::error::Error;
use crate::money::Wal;

pub(super) struct ContractRow {
    pub(super) id: i64,
    pub(super) owner: String,
    pub(super) blob_id: String,
    pub(super) metadata: serde_json::Value,
    pub(super) size: i64,
    pub(super) encoded_size: i64,
    pub(super) storage_units: i64,
    pub(super) start_epoch: i64,
    pub(super) end_epoch: i64,
    pub(super) deletable: bool,
    pub(super) paid: Decimal,
    pub(super) certified_epoch: Option<i64>,
    pub(super) certified_shards: Option<i32>,
    pub(super) deleted_epoch: Option<i64>,
    pub(super) refunded: Option<Decimal>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) attributes: serde_json::Value,
    pub(super) payer: Option<String>,
}

impl ContractRow {
    pub(super) fn view(self, epoch: i64) -> Result<Contract, Error> {
        let status = if self.deleted_epoch.is_some() {
            ContractStatus::Deleted
        } else if self.end_epoch <= epoch {
            ContractStatus::Expired
        } else {
            ContractStatus::Active
        };
        Ok(Contract {
            id: self.id.to_string(),
            owner: self.owner,
            blob_id: self.blob_id,
            size: self.size,
            encoded_size: self.encoded_size,
            storage_units: self.storage_units,
            start_epoch: self.start_epoch,
            end_epoch: self.end_epoch,
            deletable: self.deletable,
            paid: Wal::from_decimal_unchecked(self.paid),
            status,
            certified: self.certified_epoch.is_some(),
            certified_epoch: self.certified_epoch,
            certified_shards: self.certified_shards,
            deleted_epoch: self.deleted_epoch,
            refunded: self.refunded.map(Wal::from_decimal_unchecked),
            metadata: serde_json::from_value(self.metadata).map_err(Error::internal)?,
            created_at: self.created_at,
            attributes: serde_json::from_value(self.attributes).map_err(Error::internal)?,
            payer: self.payer,
        })
    }
}
