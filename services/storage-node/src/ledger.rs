//! What the node asks the ledger: its own id (by its protocol key), the shards it
//! holds in the current epoch (cached for a second), and whether a blob is paid for,
//! with its metadata. Every call has a timeout.

use std::time::{Duration, Instant};

use crate::error::Error;
use serde_json::Value;
use tokio::sync::Mutex;
use wal::client::{ClientError, LedgerClient};
use wal::encoding::BlobMetadata;

const SHARDS_CACHE: Duration = Duration::from_secs(1);

pub struct Ledger {
    client: LedgerClient,
    protocol_key_hex: String,
    node_id: Mutex<Option<i64>>,
    shards: Mutex<Option<(Instant, i64, Vec<u32>)>>,
}

fn unreachable(e: ClientError) -> Error {
    Error::Unavailable(format!("the ledger cannot be asked now: {e}"))
}

impl Ledger {
    pub fn new(url: &str, protocol_key_hex: String) -> anyhow::Result<Ledger> {
        Ok(Ledger {
            client: LedgerClient::new(url, None, Duration::from_secs(10)),
            protocol_key_hex,
            node_id: Mutex::new(None),
            shards: Mutex::new(None),
        })
    }

    async fn node_id(&self) -> Result<i64, Error> {
        let mut cached = self.node_id.lock().await;
        if let Some(id) = *cached {
            return Ok(id);
        }
        let page: Value = self
            .client
            .get(&format!(
                "/v1/nodes?protocol_public_key={}",
                self.protocol_key_hex
            ))
            .await
            .map_err(unreachable)?;
        let id = page["nodes"][0]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "no node is registered with this node's protocol key {} yet",
                    self.protocol_key_hex
                ))
            })?;
        *cached = Some(id);
        Ok(id)
    }

    /// (node id, current epoch, shards this node holds in it).
    pub async fn my_shards(&self) -> Result<(i64, i64, Vec<u32>), Error> {
        let node_id = self.node_id().await?;
        let mut cached = self.shards.lock().await;
        if let Some((at, epoch, shards)) = cached.as_ref() {
            if at.elapsed() < SHARDS_CACHE {
                return Ok((node_id, *epoch, shards.clone()));
            }
        }
        let committee: Value = self
            .client
            .get("/v1/committee")
            .await
            .map_err(unreachable)?;
        let epoch = committee["epoch"]
            .as_i64()
            .ok_or_else(|| Error::internal("committee without epoch"))?;
        let me = node_id.to_string();
        let shards: Vec<u32> = committee["members"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["node_id"] == me.as_str())
            .and_then(|m| m["shards"].as_array())
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as u32)
                    .collect()
            })
            .unwrap_or_default();
        *cached = Some((Instant::now(), epoch, shards.clone()));
        Ok((node_id, epoch, shards))
    }

    /// The metadata of a blob with an active contract; otherwise 403.
    pub async fn paid_metadata(&self, blob_id: &str) -> Result<BlobMetadata, Error> {
        let status: Value = match self
            .client
            .get(&format!("/v1/blobs/{blob_id}/status"))
            .await
        {
            Ok(status) => status,
            Err(ClientError::Problem(p)) if p.status == 404 => {
                return Err(Error::Forbidden(format!(
                    "blob {blob_id} has no storage contract on the ledger; buy one before uploading"
                )))
            }
            Err(e) => return Err(unreachable(e)),
        };
        if status["end_epoch"].is_null() {
            return Err(Error::Forbidden(format!(
                "the storage of blob {blob_id} has expired or was deleted"
            )));
        }
        let metadata: BlobMetadata =
            serde_json::from_value(status["metadata"].clone()).map_err(Error::internal)?;
        if metadata.blob_id() != blob_id {
            return Err(Error::internal(
                "the ledger's metadata does not hash to the blob id",
            ));
        }
        Ok(metadata)
    }

    /// Whether a blob still has an active contract (errors other than "no" are "yes":
    /// never drop data because the ledger was unreachable).
    pub async fn is_paid(&self, blob_id: &str) -> Result<bool, Error> {
        match self.paid_metadata(blob_id).await {
            Ok(_) => Ok(true),
            Err(Error::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
