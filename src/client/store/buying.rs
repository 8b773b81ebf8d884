//! Before an upload: what the ledger already has for the blob (pay nothing, or finish
//! an unfinished contract), and buying storage when it has nothing.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::client::{ClientError, LedgerClient};
use crate::encoding::BlobMetadata;
use crate::wire::Address;

/// What the ledger already has for a blob, from its would-be owner's point of view.
pub enum Prior {
    /// Certified storage (anyone's) until at least the end asked for.
    Covered {
        /// Its end epoch.
        end_epoch: i64,
    },
    /// The owner's own active certified contract, ending before the end asked for.
    Own {
        /// The contract.
        contract_id: String,
        /// Its end epoch.
        end_epoch: i64,
    },
    /// The owner's own active contract for it on the terms asked: paid, not certified.
    Unfinished(Value),
    /// None of these.
    Nothing,
}

/// Looks for certified storage until `asked_end`, then for `owner`'s own contracts.
pub async fn prior(
    ledger: &LedgerClient,
    blob_id: &str,
    owner: &Address,
    deletable: bool,
    asked_end: i64,
) -> Result<Prior, ClientError> {
    match ledger.blob_status(blob_id).await {
        Ok(status) => {
            let covered = status
                .end_epoch
                .filter(|&end| status.certified && end >= asked_end);
            if let Some(end_epoch) = covered {
                return Ok(Prior::Covered { end_epoch });
            }
        }
        Err(e) if e.code() == Some("NOT_FOUND") => return Ok(Prior::Nothing),
        Err(e) => return Err(e),
    }
    let page: Value = ledger
        .get(&format!(
            "/v1/storage/contracts?owner={owner}&blob_id={blob_id}&limit=500"
        ))
        .await?;
    let active: Vec<&Value> = page["contracts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "active")
        .collect();
    if let Some(own) = active.iter().rev().find(|c| c["certified"] == true) {
        return Ok(Prior::Own {
            contract_id: text(own, "id"),
            end_epoch: own["end_epoch"].as_i64().unwrap_or(0),
        });
    }
    // Only a contract on the terms asked is finished in place of buying one.
    let unfinished = active.into_iter().rev().find(|c| {
        c["certified"] == false
            && c["end_epoch"].as_i64().is_some_and(|end| end >= asked_end)
            && c["deletable"] == deletable
    });
    Ok(unfinished
        .cloned()
        .map_or(Prior::Nothing, Prior::Unfinished))
}

/// A field as text (strings bare, anything else as JSON).
fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What to buy.
pub struct Purchase<'a> {
    /// The blob.
    pub metadata: &'a BlobMetadata,
    /// Epochs of storage.
    pub epochs: u32,
    /// The most to pay, in WAL (default: the quote now).
    pub max_total: Option<String>,
    /// Whether the contract may be deleted early.
    pub deletable: bool,
    /// The contract's owner if not the payer.
    pub owner: Option<Address>,
    /// Attributes to record with the contract (`content-type`, ...).
    pub attributes: BTreeMap<String, String>,
}

/// Buys storage at the current quote (or at most `max_total`); the contract.
pub async fn buy(
    ledger: &LedgerClient,
    signer: &LedgerClient,
    purchase: &Purchase<'_>,
) -> Result<Value, ClientError> {
    let max_total = match &purchase.max_total {
        Some(max) => max.clone(),
        None => {
            let quote: Value = ledger
                .get(&format!(
                    "/v1/price?size={}&epochs={}",
                    purchase.metadata.size, purchase.epochs
                ))
                .await?;
            text(&quote, "total")
        }
    };
    let mut body = json!({"metadata": purchase.metadata, "epochs": purchase.epochs,
        "max_total": max_total, "deletable": purchase.deletable});
    if let Some(owner) = purchase.owner {
        body["owner"] = json!(owner);
    }
    if !purchase.attributes.is_empty() {
        body["attributes"] = json!(purchase.attributes);
    }
    signer
        .post(
            "/v1/storage/contracts",
            &body,
            &uuid::Uuid::new_v4().to_string(),
        )
        .await
}
