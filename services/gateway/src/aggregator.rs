//! The aggregator: `GET`/`HEAD /v1/blobs/{blob_id}` and `/v1/blobs/by-object-id/{id}`
//! (the object id is our contract id). The bytes are streamed as they are decoded from
//! k verified slivers (the shared read path, `wal::client::download`: a slow or hung
//! node costs one timeout, never the read); `Range` reads fetch only the stripes that
//! hold the range. Headers as Walrus's aggregator sends them: `ETag` (the blob id),
//! immutable `Cache-Control`, `X-Content-Type-Options: nosniff`, `Accept-Ranges`, and
//! the blob's allow-listed attributes (`content-type`, ...).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use wal::encoding::{BlobMetadata, Consistency};
use wal::wire::ids::BlobId;

use crate::cache::{read_cached, CACHED_RANGE_BYTES_MAX};
use crate::query::Params;
use crate::range::{self, Asked};
use crate::streaming::stream;
use crate::walrus::WalrusError;
use crate::Gateway;

/// Attributes served as response headers (API.md, "Gateway").
const HEADER_ATTRIBUTES: [&str; 4] = [
    "content-type",
    "content-disposition",
    "content-encoding",
    "content-language",
];

/// A certified blob as the aggregator serves it.
pub(crate) struct Served {
    pub(crate) metadata: BlobMetadata,
    pub(crate) attributes: BTreeMap<String, String>,
}

/// The consistency a read's query asks for: Walrus's `strict_consistency_check` and
/// `skip_consistency_check` (at most one of them true). Skipping is answered with our
/// default check: every sliver is verified against the blob's metadata anyway, and the
/// default check costs no extra fetch, so nothing is gained by skipping more.
fn consistency_of<'a>(
    query: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Consistency, WalrusError> {
    let (mut strict, mut skip) = (false, false);
    for (name, value) in query {
        let flag = match name.as_str() {
            "strict_consistency_check" => &mut strict,
            "skip_consistency_check" => &mut skip,
            other => {
                return Err(WalrusError::invalid(
                    "INVALID_QUERY",
                    format!(
                        "unknown query parameter {other:?}; reads take strict_consistency_check \
                         or skip_consistency_check"
                    ),
                ))
            }
        };
        *flag = match value.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(WalrusError::invalid(
                    "INVALID_QUERY",
                    format!("{name} must be true or false, not {other:?}"),
                ))
            }
        };
    }
    if strict && skip {
        return Err(WalrusError::invalid(
            "INVALID_CONSISTENCY_OPTIONS",
            "strict_consistency_check and skip_consistency_check cannot both be true",
        ));
    }
    Ok(Consistency::strict_if(strict))
}

/// The blob's metadata and attributes, if some active contract certified it.
pub(crate) async fn served(gateway: &Gateway, blob_id: &str) -> Result<Served, WalrusError> {
    let id: BlobId = blob_id.parse().map_err(|e: wal::wire::ids::IdError| {
        WalrusError::invalid("INVALID_BLOB_ID", format!("blob_id: {e}"))
    })?;
    let status = match gateway.ledger.blob_status(&id.to_string()).await {
        Ok(status) => status,
        Err(e) if e.code() == Some("NOT_FOUND") => {
            return Err(WalrusError::not_found(
                "BLOB_NOT_FOUND",
                format!("blob {id} is not stored on this network"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if !status.certified {
        return Err(WalrusError::not_found(
            "BLOB_NOT_CERTIFIED",
            format!("blob {id} is paid for but not certified yet; retry once it is"),
        ));
    }
    let mut attributes = BTreeMap::new();
    for contract_id in &status.contracts {
        let contract: Value = gateway
            .ledger
            .get(&format!("/v1/storage/contracts/{contract_id}"))
            .await?;
        if contract["certified"] == true {
            attributes = serde_json::from_value(contract["attributes"].clone()).unwrap_or_default();
            break;
        }
    }
    Ok(Served {
        metadata: status.metadata,
        attributes,
    })
}

/// The blob id of a contract (our "object id").
async fn blob_of_object(gateway: &Gateway, object_id: &str) -> Result<String, WalrusError> {
    if object_id.parse::<wal::wire::ids::ContractId>().is_err() {
        return Err(WalrusError::invalid(
            "INVALID_OBJECT_ID",
            format!("object id {object_id:?} is not a storage contract id (a positive integer)"),
        ));
    }
    match gateway
        .ledger
        .get::<Value>(&format!("/v1/storage/contracts/{object_id}"))
        .await
    {
        Ok(contract) => Ok(contract["blob_id"].as_str().unwrap_or_default().to_owned()),
        Err(e) if e.code() == Some("NOT_FOUND") => Err(WalrusError::not_found(
            "OBJECT_NOT_FOUND",
            format!("no storage contract (object) with id {object_id}"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The headers every answer about a blob carries.
fn blob_headers(served: &Served, headers: &mut HeaderMap) {
    let blob_id = served.metadata.blob_id();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, &format!("\"{blob_id}\""));
    set(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::ACCEPT_RANGES, "bytes");
    set(header::CONTENT_TYPE, "application/octet-stream");
    for name in HEADER_ATTRIBUTES {
        if let (Some(value), Ok(header)) = (
            served.attributes.get(name),
            HeaderName::from_bytes(name.as_bytes()),
        ) {
            set(header, value);
        }
    }
}

/// Whether the client already has this blob (`If-None-Match` names its ETag).
fn not_modified(request: &HeaderMap, served: &Served) -> bool {
    let tag = format!("\"{}\"", served.metadata.blob_id());
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

pub(crate) fn response(status: StatusCode, served: &Served, length: u64, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    blob_headers(served, response.headers_mut());
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

pub async fn head_blob(
    State(gateway): State<Arc<Gateway>>,
    Path(blob_id): Path<String>,
    Params(query): Params,
) -> Result<Response, WalrusError> {
    consistency_of(&query)?;
    let served = served(&gateway, &blob_id).await?;
    let size = served.metadata.size;
    Ok(response(StatusCode::OK, &served, size, Body::empty()))
}

pub async fn head_by_object_id(
    State(gateway): State<Arc<Gateway>>,
    Path(object_id): Path<String>,
    query: Params,
) -> Result<Response, WalrusError> {
    let blob_id = blob_of_object(&gateway, &object_id).await?;
    head_blob(State(gateway), Path(blob_id), query).await
}

pub async fn get_blob(
    State(gateway): State<Arc<Gateway>>,
    Path(blob_id): Path<String>,
    Params(query): Params,
    headers: HeaderMap,
) -> Result<Response, WalrusError> {
    let consistency = consistency_of(&query)?;
    let served = served(&gateway, &blob_id).await?;
    if not_modified(&headers, &served) {
        return Ok(response(
            StatusCode::NOT_MODIFIED,
            &served,
            0,
            Body::empty(),
        ));
    }
    let size = served.metadata.size;
    let asked = range::parse(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let (status, bytes) = match asked {
        Asked::Whole => (StatusCode::OK, None),
        Asked::Part { start, end } => (StatusCode::PARTIAL_CONTENT, Some(start..end)),
        Asked::Unsatisfiable(why) => {
            let mut refused =
                axum::response::IntoResponse::into_response(WalrusError::with_status(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RANGE_NOT_SATISFIABLE",
                    why,
                ));
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                refused.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(refused);
        }
    };
    let length = bytes.as_ref().map_or(size, |r| r.end - r.start);
    let body = body_of(gateway, &served, bytes.clone(), consistency).await?;
    let mut answer = response(status, &served, length, body);
    if let Some(range) = bytes {
        if let Ok(value) =
            HeaderValue::from_str(&format!("bytes {}-{}/{size}", range.start, range.end - 1))
        {
            answer.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(answer)
}

/// The bytes of a read, whole or a range: small ranges through the stripe cache, the
/// rest streamed as decoded.
async fn body_of(
    gateway: Arc<Gateway>,
    served: &Served,
    bytes: Option<std::ops::Range<u64>>,
    consistency: Consistency,
) -> Result<Body, WalrusError> {
    match bytes {
        Some(range) if range.end - range.start <= CACHED_RANGE_BYTES_MAX => Ok(Body::from(
            read_cached(&gateway, &served.metadata, range).await?,
        )),
        bytes => stream(gateway, served.metadata.clone(), bytes, consistency).await,
    }
}

/// `GET /v1/blobs/{blob_id}/byte-range?start=&length=` (Walrus's aggregator): `length`
/// bytes from `start`, answered 200; the range must be non-empty and lie within the blob
/// (else 400, as Walrus answers).
pub async fn get_byte_range(
    State(gateway): State<Arc<Gateway>>,
    Path(blob_id): Path<String>,
    Params(mut query): Params,
) -> Result<Response, WalrusError> {
    let mut take = |name: &str| -> Result<u64, WalrusError> {
        let text = query.remove(name).ok_or_else(|| {
            WalrusError::invalid("INVALID_BYTE_RANGE", format!("{name} is required"))
        })?;
        text.parse().map_err(|_| {
            WalrusError::invalid(
                "INVALID_BYTE_RANGE",
                format!("{name} must be a whole number of bytes, not {text:?}"),
            )
        })
    };
    let (start, length) = (take("start")?, take("length")?);
    let consistency = consistency_of(&query)?;
    let served = served(&gateway, &blob_id).await?;
    let size = served.metadata.size;
    let end = start
        .checked_add(length)
        .filter(|&end| length > 0 && end <= size);
    let Some(end) = end else {
        return Err(WalrusError::invalid(
            "INVALID_BYTE_RANGE",
            format!(
                "start {start} and length {length} are not a non-empty range within the blob \
                 ({size} bytes)"
            ),
        ));
    };
    let body = body_of(gateway, &served, Some(start..end), consistency).await?;
    Ok(response(StatusCode::OK, &served, length, body))
}

pub async fn get_by_object_id(
    State(gateway): State<Arc<Gateway>>,
    Path(object_id): Path<String>,
    query: Params,
    headers: HeaderMap,
) -> Result<Response, WalrusError> {
    let blob_id = blob_of_object(&gateway, &object_id).await?;
    get_blob(State(gateway), Path(blob_id), query, headers).await
}
