//! What the checker reads from the ledger: the epoch, its committee with endpoints and
//! protocol keys, the blobs to audit, the parameter, and what is already recorded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use serde_json::Value;
use wal::client::{ClientError, LedgerClient};
use wal::wire::StoredBlob;

#[derive(Clone, Debug, Deserialize)]
pub struct Member {
    pub node_id: String,
    pub endpoint: String,
    pub protocol_public_key: String,
    pub shards: Vec<u32>,
}

impl Member {
    pub fn key(&self) -> Option<VerifyingKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&self.protocol_public_key, &mut bytes).ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Epoch {
    pub epoch: i64,
    pub ends_at: DateTime<Utc>,
    pub committee: Vec<Member>,
}

pub async fn epoch(ledger: &LedgerClient, number: Option<i64>) -> Result<Epoch, ClientError> {
    match number {
        Some(n) => ledger.get(&format!("/v1/epochs/{n}")).await,
        None => ledger.get("/v1/epochs/current").await,
    }
}

pub async fn current_epoch_number(ledger: &LedgerClient) -> Result<i64, ClientError> {
    let network: Value = ledger.get("/v1/network").await?;
    Ok(network["epoch"].as_i64().unwrap_or(-1))
}

/// Every blob with certified storage in the current epoch.
pub async fn stored_blobs(ledger: &LedgerClient) -> Result<Vec<StoredBlob>, ClientError> {
    #[derive(Deserialize)]
    struct Page {
        blobs: Vec<StoredBlob>,
        next_cursor: Option<String>,
    }
    let mut blobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/blobs?limit=500&cursor={c}"),
            None => "/v1/blobs?limit=500".to_owned(),
        };
        let page: Page = ledger.get(&path).await?;
        blobs.extend(page.blobs);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(blobs),
        }
    }
}

pub async fn challenges_per_epoch(ledger: &LedgerClient) -> Result<u32, ClientError> {
    let params: Value = ledger.get("/v1/params").await?;
    Ok(params["audit_challenges_per_epoch"].as_u64().unwrap_or(66) as u32)
}

/// Challenges already recorded per node in `epoch` (a restarted checker continues).
pub async fn recorded(
    ledger: &LedgerClient,
    epoch: i64,
) -> Result<HashMap<String, u32>, ClientError> {
    let audits: Value = ledger.get(&format!("/v1/audits?epoch={epoch}")).await?;
    Ok(audits["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            Some((
                n["node_id"].as_str()?.to_owned(),
                n["challenges"].as_u64()? as u32,
            ))
        })
        .collect())
}

/// The distinct (blob, shard) found missing or wrong in `epoch`.
pub async fn losses(ledger: &LedgerClient, epoch: i64) -> Result<Vec<(String, u32)>, ClientError> {
    let audits: Value = ledger.get(&format!("/v1/audits?epoch={epoch}")).await?;
    Ok(audits["losses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some((
                l["blob_id"].as_str()?.to_owned(),
                l["shard"].as_u64()? as u32,
            ))
        })
        .collect())
}
