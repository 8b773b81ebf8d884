//! Quilts, Walrus's API for many small files in one blob (layout and patch id:
//! `wal::encoding::quilt`): `PUT /v1/quilts` (multipart, one part per file named by its
//! identifier, an optional `_metadata` part `[{"identifier", "tags"}]`), and the reads
//! `GET /v1/blobs/by-quilt-patch-id/{id}`, `GET /v1/blobs/by-quilt-id/{quilt}/{identifier}`
//! and `GET /v1/quilts/{quilt}/patches`. Every read is a range read of the quilt's blob.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use wal::encoding::quilt::{self, Patch, PatchId, QuiltError, QuiltWriter};
use wal::encoding::Consistency;

use crate::aggregator::{response, served, Served};
use crate::cache::{read_cached, CACHED_RANGE_BYTES_MAX};
use crate::publisher::{admit, store_file, too_large, upload_permit, Spool};
use crate::query::Params;
use crate::streaming::stream;
use crate::walrus::WalrusError;
use crate::Gateway;

/// An entry of the `_metadata` part.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    identifier: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn quilt_error(e: QuiltError) -> WalrusError {
    match e {
        QuiltError::Io(e) => WalrusError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SPOOL_FAILED",
            e.to_string(),
        ),
        other => WalrusError::invalid("INVALID_QUILT", other.to_string()),
    }
}

fn malformed(e: impl std::fmt::Display) -> WalrusError {
    WalrusError::invalid(
        "MALFORMED_MULTIPART",
        format!("the multipart body is malformed: {e}"),
    )
}

/// Writes the parts into a quilt in the spool, within the body limit; its index.
async fn spool_quilt(
    gateway: &Gateway,
    mut parts: Multipart,
) -> Result<(Spool, Vec<Patch>), WalrusError> {
    let spooled = Spool::new(gateway);
    let file = std::fs::File::create(&spooled.0).map_err(|e| quilt_error(e.into()))?;
    let mut writer = QuiltWriter::new(std::io::BufWriter::new(file));
    let (mut tags, mut total) = (BTreeMap::new(), 0u64);
    while let Some(part) = parts.next_field().await.map_err(malformed)? {
        let name = part
            .name()
            .map(str::to_owned)
            .ok_or_else(|| malformed("a part has no name (its identifier)"))?;
        let bytes = part.bytes().await.map_err(malformed)?;
        total += bytes.len() as u64;
        if total > gateway.config.blob_bytes_max {
            return Err(too_large(gateway.config.blob_bytes_max));
        }
        if name == "_metadata" {
            let metas: Vec<Meta> = serde_json::from_slice(&bytes)
                .map_err(|e| WalrusError::invalid("INVALID_METADATA", format!("_metadata: {e}")))?;
            tags.extend(metas.into_iter().map(|m| (m.identifier, m.tags)));
        } else {
            writer.add(&name, bytes.as_ref()).map_err(quilt_error)?;
        }
    }
    let (mut out, patches) = writer.finish(tags).map_err(quilt_error)?;
    out.flush().map_err(|e| quilt_error(e.into()))?;
    Ok((spooled, patches))
}

pub async fn put_quilt(
    State(gateway): State<Arc<Gateway>>,
    Params(query): Params,
    headers: HeaderMap,
    parts: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, WalrusError> {
    let (publisher, asked, claims) = admit(&gateway, &query, &headers)?;
    let parts = parts.map_err(malformed)?;
    let _permit = upload_permit(&gateway)?;
    let (spooled, patches) = spool_quilt(&gateway, parts).await?;
    if let Some((auth, claims)) = &claims {
        let size = std::fs::metadata(&spooled.0).map(|m| m.len()).unwrap_or(0);
        auth.check_size(claims, size)?;
    }
    let (result, metadata) =
        store_file(&gateway, publisher, &asked, &spooled, BTreeMap::new()).await?;
    let quilt_id = blob_bytes(&metadata.blob_id())?;
    let stored: Vec<Value> = patches
        .iter()
        .map(|p| json!({"identifier": p.identifier, "quiltPatchId": PatchId::of(quilt_id, p).to_string()}))
        .collect();
    Ok(Json(
        json!({"blobStoreResult": result, "storedQuiltBlobs": stored}),
    ))
}

fn blob_bytes(blob_id: &str) -> Result<[u8; 32], WalrusError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(blob_id, &mut bytes).map_err(|_| {
        WalrusError::invalid("INVALID_BLOB_ID", format!("{blob_id:?} is not a blob id"))
    })?;
    Ok(bytes)
}

/// The quilt's index, read from its blob (the footer, then the index).
async fn index_of(gateway: &Gateway, served: &Served) -> Result<Vec<Patch>, WalrusError> {
    let size = served.metadata.size;
    let not_a_quilt = |e: QuiltError| {
        WalrusError::not_found(
            "NOT_A_QUILT",
            format!("blob {}: {e}", served.metadata.blob_id()),
        )
    };
    if size < quilt::FOOTER_LEN {
        return Err(not_a_quilt(QuiltError::NotAQuilt(
            "it is shorter than a footer".into(),
        )));
    }
    let footer = read_cached(gateway, &served.metadata, size - quilt::FOOTER_LEN..size).await?;
    let len = quilt::index_len(&footer, size).map_err(not_a_quilt)?;
    let start = size - quilt::FOOTER_LEN - len;
    let index = read_cached(gateway, &served.metadata, start..start + len).await?;
    quilt::parse_index(&index, size).map_err(not_a_quilt)
}

/// A patch's bytes, with its identifier and tags as headers.
async fn patch_response(
    gateway: Arc<Gateway>,
    served: &Served,
    patch: &Patch,
) -> Result<Response, WalrusError> {
    let range = patch.offset..patch.offset + patch.length;
    let body = if patch.length == 0 {
        Body::empty()
    } else if patch.length <= CACHED_RANGE_BYTES_MAX {
        Body::from(read_cached(&gateway, &served.metadata, range).await?)
    } else {
        stream(
            gateway,
            served.metadata.clone(),
            Some(range),
            Consistency::Default,
        )
        .await?
    };
    let patch_view = Served {
        metadata: served.metadata.clone(),
        attributes: BTreeMap::new(),
    };
    let mut answer = response(StatusCode::OK, &patch_view, patch.length, body);
    let headers = answer.headers_mut();
    let quilt_id = blob_bytes(&served.metadata.blob_id())?;
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", PatchId::of(quilt_id, patch))) {
        headers.insert(axum::http::header::ETAG, tag);
    }
    if let Ok(identifier) = HeaderValue::from_str(&patch.identifier) {
        headers.insert("x-quilt-patch-identifier", identifier);
    }
    for (name, value) in &patch.tags {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    Ok(answer)
}

pub async fn by_patch_id(
    State(gateway): State<Arc<Gateway>>,
    Path(patch_id): Path<String>,
) -> Result<Response, WalrusError> {
    let id: PatchId = patch_id
        .parse()
        .map_err(|e: QuiltError| WalrusError::invalid("INVALID_PATCH_ID", e.to_string()))?;
    let served = served(&gateway, &hex::encode(id.quilt)).await?;
    let index = index_of(&gateway, &served).await?;
    let patch = index
        .iter()
        .find(|p| p.offset == id.offset && p.length == id.length)
        .ok_or_else(|| {
            WalrusError::not_found(
                "PATCH_NOT_FOUND",
                format!("quilt {} has no patch {patch_id}", hex::encode(id.quilt)),
            )
        })?
        .clone();
    patch_response(gateway, &served, &patch).await
}

pub async fn by_quilt_id(
    State(gateway): State<Arc<Gateway>>,
    Path((quilt_id, identifier)): Path<(String, String)>,
) -> Result<Response, WalrusError> {
    let served = served(&gateway, &quilt_id).await?;
    let index = index_of(&gateway, &served).await?;
    let patch = index
        .iter()
        .find(|p| p.identifier == identifier)
        .ok_or_else(|| {
            WalrusError::not_found(
                "PATCH_NOT_FOUND",
                format!("quilt {quilt_id} has no file {identifier:?}"),
            )
        })?
        .clone();
    patch_response(gateway, &served, &patch).await
}

pub async fn patches(
    State(gateway): State<Arc<Gateway>>,
    Path(quilt_id): Path<String>,
) -> Result<Json<Value>, WalrusError> {
    let served = served(&gateway, &quilt_id).await?;
    let index = index_of(&gateway, &served).await?;
    let id = blob_bytes(&served.metadata.blob_id())?;
    let items: Vec<Value> = index
        .iter()
        .map(|p| json!({"identifier": p.identifier, "patch_id": PatchId::of(id, p).to_string(), "tags": p.tags}))
        .collect();
    Ok(Json(Value::Array(items)))
}
