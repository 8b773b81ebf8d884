//! The publisher: `PUT /v1/blobs?epochs=N&deletable=true|permanent=true&force=true&
//! send_object_to=ADDRESS`, the body being the blob. It spools the body (it is read
//! twice: once for the ids, once for the slivers), then stores it through the shared
//! store path (`wal::client::store`, as `walctl store`): a blob certified until at
//! least the end asked pays nothing (`alreadyCertified`); a paid, uncertified contract
//! of the same owner for the same blob (a retried upload) is finished without paying
//! again; otherwise the gateway pays from its own account, for `send_object_to` as the
//! owner when given. The request's `Content-Type` is recorded as the blob's
//! `content-type` attribute.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use wal::client::store::{self, Completing, Prior, Purchase, Quiet};
use wal::client::upload::file_metadata;
use wal::client::LedgerClient;
use wal::encoding::BlobMetadata;
use wal::money::Wal;

use crate::query::{store_query, Params, StoreQuery};
use crate::walrus::WalrusError;
use crate::Gateway;

/// The spooled body; the file goes when this does.
pub(crate) struct Spool(pub(crate) PathBuf);

impl Spool {
    /// A fresh file name in the spool directory.
    pub(crate) fn new(gateway: &Gateway) -> Spool {
        let name = format!("wal-gateway-{}.blob", uuid::Uuid::new_v4());
        Spool(gateway.config.spool_dir.join(name))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn too_large(max: u64) -> WalrusError {
    WalrusError::with_status(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BLOB_TOO_LARGE",
        format!(
            "the blob is larger than this gateway takes ({max} bytes, WAL_GATEWAY_BLOB_BYTES_MAX)"
        ),
    )
}

/// Bytes of a refused body still read (and dropped) before the 413 goes out, so that a
/// client still sending gets the answer instead of a broken pipe; a larger body is cut.
const DRAIN_BYTES_MAX: u64 = 16 << 20;

/// Reads and drops what is left of a refused body, up to `DRAIN_BYTES_MAX`.
async fn drain(stream: &mut axum::body::BodyDataStream) {
    let mut drained = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        drained += chunk.len() as u64;
        if drained > DRAIN_BYTES_MAX {
            break;
        }
    }
}

/// Writes the body to a spool file, refusing it past `max` bytes.
async fn spool(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Spool, u64), WalrusError> {
    let max = gateway.config.blob_bytes_max;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        drain(&mut body.into_data_stream()).await;
        return Err(too_large(max));
    }
    let spooled = Spool::new(gateway);
    let path = spooled.0.clone();
    let internal = |e: std::io::Error| {
        WalrusError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SPOOL_FAILED",
            format!("cannot keep the upload: {e}"),
        )
    };
    let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            WalrusError::invalid("BODY_CUT_OFF", format!("the body could not be read: {e}"))
        })?;
        written += chunk.len() as u64;
        if written > max {
            drain(&mut stream).await;
            return Err(too_large(max));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    Ok((spooled, written))
}

pub async fn put_blob(
    State(gateway): State<Arc<Gateway>>,
    Params(query): Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, WalrusError> {
    let (publisher, asked, claims) = admit(&gateway, &query, &headers)?;
    let _permit = upload_permit(&gateway)?;
    let (spooled, size) = spool(&gateway, &headers, body).await?;
    if let Some((auth, claims)) = &claims {
        auth.check_size(claims, size)?;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let attributes: BTreeMap<String, String> = content_type
        .map(|v| BTreeMap::from([("content-type".to_owned(), v.to_owned())]))
        .unwrap_or_default();
    let (answer, _) = store_file(&gateway, publisher, &asked, &spooled, attributes).await?;
    Ok(Json(answer))
}

/// An admitted upload: the publisher that pays, what it asks, and its token's claims
/// (when the gateway checks tokens).
pub(crate) type Admitted<'a> = (
    &'a LedgerClient,
    StoreQuery,
    Option<(&'a crate::auth::Auth, crate::auth::Claims)>,
);

/// The checks every upload passes first: a publisher key, the query, the token.
pub(crate) fn admit<'a>(
    gateway: &'a Gateway,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Admitted<'a>, WalrusError> {
    let Some(publisher) = gateway.publisher.as_ref() else {
        return Err(WalrusError::with_status(
            StatusCode::FORBIDDEN,
            "READ_ONLY",
            "this gateway only reads: it has no publisher key (WAL_GATEWAY_KEY_FILE)",
        ));
    };
    let asked = store_query(query, gateway.config.epochs_max)?;
    let claims = match &gateway.auth {
        Some(auth) => {
            let claims = auth.admit(headers)?;
            let owner = asked.owner.map(|o| o.to_string());
            auth.check_request(&claims, asked.epochs, owner.as_deref())?;
            Some((auth, claims))
        }
        None => None,
    };
    Ok((publisher, asked, claims))
}

/// One of the `uploads_max` upload slots, or 503.
pub(crate) fn upload_permit(
    gateway: &Gateway,
) -> Result<tokio::sync::SemaphorePermit<'_>, WalrusError> {
    gateway.uploads.try_acquire().map_err(|_| {
        WalrusError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_UPLOADS",
            format!(
                "{} uploads are in flight, the most at once; retry shortly",
                gateway.config.uploads_max
            ),
        )
    })
}

/// Stores a spooled file through the shared store path: Walrus's `BlobStoreResult`
/// and the blob's metadata.
pub(crate) async fn store_file(
    gateway: &Gateway,
    publisher: &LedgerClient,
    asked: &StoreQuery,
    spooled: &Spool,
    attributes: BTreeMap<String, String>,
) -> Result<(Value, BlobMetadata), WalrusError> {
    let size = std::fs::metadata(&spooled.0).map(|m| m.len()).unwrap_or(0);
    gateway
        .metrics
        .bytes_stored
        .fetch_add(size, Ordering::Relaxed);
    let network = gateway.ledger.network().await?;
    let path = spooled.0.clone();
    let n_shards = network.n_shards;
    let metadata = tokio::task::spawn_blocking(move || {
        file_metadata(&path, n_shards, &(Arc::new(|_| {}) as _))
    })
    .await
    .map_err(|e| {
        WalrusError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ENCODING_FAILED",
            e.to_string(),
        )
    })?
    .map_err(|e| WalrusError::invalid("ENCODING_FAILED", e.to_string()))?;
    let store = Storing {
        gateway,
        publisher,
        metadata: &metadata,
        asked,
        file: &spooled.0,
    };
    let answer = store.run(network.epoch, attributes).await?;
    Ok((answer, metadata))
}

/// One store, from the prior check to the answer.
struct Storing<'a> {
    gateway: &'a Gateway,
    publisher: &'a LedgerClient,
    metadata: &'a BlobMetadata,
    asked: &'a StoreQuery,
    file: &'a std::path::Path,
}

impl Storing<'_> {
    async fn run(
        &self,
        epoch: i64,
        attributes: BTreeMap<String, String>,
    ) -> Result<Value, WalrusError> {
        let ledger = &self.gateway.ledger;
        let blob_id = self.metadata.blob_id();
        // The publisher client always has a key: `admit` refused a gateway without one.
        let owner = self
            .asked
            .owner
            .or(self.publisher.address())
            .ok_or_else(|| {
                WalrusError::with_status(StatusCode::FORBIDDEN, "READ_ONLY", "no publisher key")
            })?;
        let asked_end = epoch + i64::from(self.asked.epochs);
        let prior = if self.asked.force {
            Prior::Nothing
        } else {
            store::prior(ledger, &blob_id, &owner, self.asked.deletable, asked_end).await?
        };
        let (contract, resumed) = match prior {
            Prior::Covered { end_epoch } => {
                return self.already_certified(&blob_id, end_epoch).await
            }
            Prior::Unfinished(contract) => (contract, true),
            Prior::Own { .. } | Prior::Nothing => (self.buy(attributes).await?, false),
        };
        let contract_id = contract["id"].as_str().unwrap_or_default().to_owned();
        self.certify(&blob_id, &contract_id).await?;
        let contract: Value = ledger
            .get(&format!("/v1/storage/contracts/{contract_id}"))
            .await?;
        newly_created(&contract, self.metadata, self.asked.epochs, resumed)
    }

    /// Buys storage from the publisher's account, for `send_object_to` if given.
    async fn buy(&self, attributes: BTreeMap<String, String>) -> Result<Value, WalrusError> {
        let purchase = Purchase {
            metadata: self.metadata,
            epochs: self.asked.epochs,
            max_total: None,
            deletable: self.asked.deletable,
            owner: self
                .asked
                .owner
                .filter(|o| Some(*o) != self.publisher.address()),
            attributes,
        };
        Ok(store::buy(&self.gateway.ledger, self.publisher, &purchase).await?)
    }

    /// Uploads and certifies through the shared path; too few confirmations is a 504
    /// that a retry of the same PUT finishes without paying again.
    async fn certify(&self, blob_id: &str, contract_id: &str) -> Result<(), WalrusError> {
        let with = Completing {
            ledger: &self.gateway.ledger,
            signer: self.publisher,
            file: Some(self.file),
            stall: self.gateway.config.stall,
            observer: &Quiet,
        };
        let done = store::complete(&with, self.metadata, contract_id)
            .await
            .map_err(|e| {
                WalrusError::with_status(StatusCode::GATEWAY_TIMEOUT, "STORE_FAILED", e.to_string())
            })?;
        if !done.certified {
            return Err(WalrusError::with_status(
                StatusCode::GATEWAY_TIMEOUT,
                "NOT_ENOUGH_CONFIRMATIONS",
                format!(
                    "blob {blob_id} is paid for (contract {contract_id}) but too few storage nodes \
                     confirmed it in time ({}); the same PUT again finishes it without paying again",
                    done.failures.join("; ")
                ),
            ));
        }
        Ok(())
    }

    /// Walrus's answer for a blob certified long enough already: nothing was paid.
    async fn already_certified(&self, blob_id: &str, end_epoch: i64) -> Result<Value, WalrusError> {
        let status = self.gateway.ledger.blob_status(blob_id).await?;
        let object = status.contracts.first().cloned().unwrap_or_default();
        Ok(
            json!({"alreadyCertified": {"blobId": blob_id, "object": object, "endEpoch": end_epoch}}),
        )
    }
}

/// Walrus's `newlyCreated` answer from our contract: the contract is the blob object
/// and its storage resource; `cost` in FROST (0 when an earlier attempt had paid).
fn newly_created(
    contract: &Value,
    metadata: &BlobMetadata,
    epochs: u32,
    resumed: bool,
) -> Result<Value, WalrusError> {
    let paid = contract["paid"]
        .as_str()
        .and_then(|p| Wal::parse(p).ok())
        .and_then(|w| u64::try_from(w.to_frost()).ok())
        .unwrap_or(0);
    let encoded = contract["encoded_size"].as_i64().unwrap_or(0);
    let operation = if resumed {
        json!({"reuseRegistration": {"encodedLength": encoded}})
    } else {
        json!({"registerFromScratch": {"encodedLength": encoded, "epochsAhead": epochs}})
    };
    Ok(json!({"newlyCreated": {
        "blobObject": {
            "id": contract["id"],
            "registeredEpoch": contract["start_epoch"],
            "blobId": metadata.blob_id(),
            "size": metadata.size,
            "encodingType": metadata.encoding.name(),
            "certifiedEpoch": contract["certified_epoch"],
            "storage": {
                "id": contract["id"],
                "startEpoch": contract["start_epoch"],
                "endEpoch": contract["end_epoch"],
                "storageSize": encoded,
            },
            "deletable": contract["deletable"],
        },
        "resourceOperation": operation,
        "cost": if resumed { 0 } else { paid },
    }}))
}
