//! Storage contracts: `POST /v1/storage/contracts`, `.../{id}/extend`,
//! `.../{id}/certificate`, `DELETE .../{id}` (signed); `GET /v1/storage/contracts/{id}`,
//! `GET /v1/storage/contracts?owner=&blob_id=`; `GET /v1/blobs/{blob_id}/status`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{doc, path_param, AppState};
use crate::auth::{Signed, SignedTx};
use crate::error::Error;
use crate::ledger::entries::page_limit;
use crate::ledger::epochs::current_epoch;
use crate::storage::contracts::{self, BuyRequest, CertifyRequest, Contract, ExtendRequest};
use crate::wire::Address;

/// Buys storage for a blob: quote, `max_total` guard, payment into the epoch slots.
#[utoipa::path(post, path = "/v1/storage/contracts", request_body = BuyRequest,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Contract), doc::SignedErrors, doc::Conflict))]
pub async fn buy(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    let request: BuyRequest = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        let params = crate::params::load(stx.conn()).await?;
        let network = &state.network;
        contracts::buy(
            stx.conn(),
            signed.signer(),
            &request,
            network.n_shards,
            network.total_supply,
            epoch,
            &params,
        )
        .await
    }
    .await;
    stx.finish(done, StatusCode::CREATED).await
}

/// Extends a contract (its owner) by `epochs` at the current price.
#[utoipa::path(post, path = "/v1/storage/contracts/{id}/extend", request_body = ExtendRequest,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn extend(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let request: ExtendRequest = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        let params = crate::params::load(stx.conn()).await?;
        contracts::extend(
            stx.conn(),
            signed.signer(),
            &id,
            &request,
            state.network.total_supply,
            epoch,
            &params,
        )
        .await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// Records storage nodes' confirmations; certified at 2f+1 shards.
#[utoipa::path(post, path = "/v1/storage/contracts/{id}/certificate", request_body = CertifyRequest,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::NotFound, doc::Conflict))]
pub async fn certify(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let request: CertifyRequest = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        contracts::certify(stx.conn(), &id, &request, state.network.n_shards, epoch).await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// Deletes a deletable contract (its owner); refunds the whole epochs not yet started.
#[utoipa::path(delete, path = "/v1/storage/contracts/{id}", request_body = super::NoArguments,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn delete(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let _: super::NoArguments = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        contracts::delete(stx.conn(), signed.signer(), &id, epoch).await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// A storage contract by id.
#[utoipa::path(get, path = "/v1/storage/contracts/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]*$")),
    responses((status = 200, body = Contract), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn contract(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Contract>, Error> {
    let id = path_param(path)?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    contracts::find(&mut conn, &id, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no storage contract with id {id:?}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContractsQuery {
    /// Only this owner's contracts.
    #[param(pattern = "^0x[0-9a-fA-F]{64}$", nullable = false)]
    pub owner: Option<String>,
    /// Only contracts for this blob (64 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{64}$", nullable = false)]
    pub blob_id: Option<String>,
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$", nullable = false)]
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContractsPage {
    pub contracts: Vec<Contract>,
    pub next_cursor: Option<String>,
}

fn blob_id_param(text: &str) -> Result<String, Error> {
    crate::wire::confirmation::blob_id_bytes(&text.to_ascii_lowercase())
        .map(hex::encode)
        .ok_or_else(|| Error::InvalidArgument(format!("blob_id {text:?} is not 64 hex digits")))
}

/// Storage contracts in creation order, of one owner and/or blob.
#[utoipa::path(get, path = "/v1/storage/contracts", operation_id = "list_contracts", params(ContractsQuery),
    responses((status = 200, body = ContractsPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ContractsQuery>, QueryRejection>,
) -> Result<Json<ContractsPage>, Error> {
    let Query(query) = query.map_err(|e| Error::InvalidArgument(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let owner = query
        .owner
        .as_deref()
        .map(|o| {
            o.parse::<Address>()
                .map_err(|e| Error::InvalidArgument(format!("owner: {e}")))
        })
        .transpose()?;
    let blob_id = query.blob_id.as_deref().map(blob_id_param).transpose()?;
    let after = super::cursor_after(query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let mut contracts = contracts::page(
        &mut conn,
        owner,
        blob_id.as_deref(),
        after,
        limit + 1,
        epoch,
    )
    .await?;
    let more = contracts.len() as i64 > limit;
    contracts.truncate(usize::try_from(limit).map_err(Error::internal)?);
    let next_cursor = more
        .then(|| contracts.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(ContractsPage {
        contracts,
        next_cursor,
    }))
}

pub use crate::wire::blobs::BlobStatus;

/// A blob's storage: its active contracts, certification and end epoch.
#[utoipa::path(get, path = "/v1/blobs/{blob_id}/status",
    params(("blob_id" = String, Path, pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, body = BlobStatus), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn blob_status(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BlobStatus>, Error> {
    let blob_id = blob_id_param(&path_param(path)?)?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let summary = contracts::blob_summary(&mut conn, &blob_id, epoch)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no storage contract was ever bought for blob {blob_id}"
            ))
        })?;
    Ok(Json(BlobStatus {
        blob_id,
        certified: summary.certified,
        end_epoch: summary.end_epoch,
        contracts: summary.active.iter().map(i64::to_string).collect(),
        metadata: summary.metadata,
    }))
}

/// The largest blob the aggregator endpoint returns; bigger ones: `walctl read`.
pub const AGGREGATOR_BLOB_BYTES_MAX: i64 = 64 << 20;
const AGGREGATOR_PARALLEL: usize = 16;

/// The blob's bytes, read from the storage nodes and decoded (Walrus's aggregator).
#[utoipa::path(get, path = "/v1/blobs/{blob_id}",
    params(("blob_id" = String, Path, pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>,
               description = "the blob's bytes"),
              doc::BadRequest, doc::NotFound, doc::PayloadTooLarge, doc::Unavailable))]
pub async fn blob(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Error> {
    use axum::response::IntoResponse;
    let blob_id = blob_id_param(&path_param(path)?)?;
    let (metadata, endpoints) = {
        let mut conn = state.pool.acquire().await?;
        let epoch = current_epoch(&mut conn).await?.epoch;
        let summary = contracts::blob_summary(&mut conn, &blob_id, epoch)
            .await?
            .filter(|b| b.end_epoch.is_some())
            .ok_or_else(|| {
                Error::NotFound(format!("blob {blob_id} has no active storage contract"))
            })?;
        if summary.metadata.size > AGGREGATOR_BLOB_BYTES_MAX as u64 {
            return Err(Error::PayloadTooLarge(format!(
                "blob {blob_id} is {} bytes; this endpoint returns at most {AGGREGATOR_BLOB_BYTES_MAX}; use walctl read",
                summary.metadata.size
            )));
        }
        (
            summary.metadata,
            contracts::shard_endpoints(&mut conn, epoch).await?,
        )
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(Error::internal)?;
    let (bytes, _) = crate::client::read::fetch_blob(
        &http,
        &metadata,
        &endpoints,
        AGGREGATOR_PARALLEL,
        std::sync::Arc::new(|| {}),
    )
    .await
    .map_err(|e| {
        Error::Unavailable(format!(
            "blob {blob_id} cannot be read from the storage nodes now: {e}"
        ))
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response())
}

pub use crate::wire::blobs::StoredBlobsPage;

/// Query parameters of `GET /v1/blobs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BlobsQuery {
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: the blob id the page continues after.
    #[param(pattern = "^[0-9a-fA-F]{64}$", nullable = false)]
    pub cursor: Option<String>,
}

/// Blobs with certified storage covering the current epoch, with their metadata, in
/// blob id order (what the checker audits).
#[utoipa::path(get, path = "/v1/blobs", params(BlobsQuery),
    responses((status = 200, body = StoredBlobsPage), doc::BadRequest, doc::Unavailable))]
pub async fn stored(
    State(state): State<AppState>,
    query: Result<Query<BlobsQuery>, QueryRejection>,
) -> Result<Json<StoredBlobsPage>, Error> {
    let Query(query) = query.map_err(|e| Error::InvalidArgument(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(blob_id_param)
        .transpose()?
        .unwrap_or_default();
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let mut blobs = contracts::stored_blobs(&mut conn, epoch, &after, limit + 1).await?;
    let more = blobs.len() as i64 > limit;
    blobs.truncate(usize::try_from(limit).map_err(Error::internal)?);
    let next_cursor = more
        .then(|| blobs.last().map(|b| b.blob_id.clone()))
        .flatten();
    Ok(Json(StoredBlobsPage {
        epoch,
        blobs,
        next_cursor,
    }))
}
