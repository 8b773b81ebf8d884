//! Storage contracts: `POST /v1/storage/contracts`, `.../{id}/extend`,
//! `.../{id}/certificate`, `DELETE .../{id}`, `PATCH .../{id}` (attributes) (signed); `GET /v1/storage/contracts/{id}`,
//! `GET /v1/storage/contracts?owner=&blob_id=`; `GET /v1/blobs/{blob_id}/status`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, ApiQuery, PathParam};
use super::paging::Paging;
use super::{doc, AppState, NoArguments};
use crate::auth::SignedJson;
use crate::client::download::ReadFrom;
use crate::encoding::Consistency;
use crate::error::Error;
use crate::ledger::epochs::{current_epoch, lock_shared};
use crate::storage::contracts::{
    self, BuyRequest, CertifyRequest, Contract, ExtendRequest, Purchase,
};
use crate::wire::ids::{BlobId, ContractId};
use crate::wire::Address;

/// Buys storage for a blob: quote, `max_total` guard, payment into the epoch slots.
#[utoipa::path(post, path = "/v1/storage/contracts", request_body = BuyRequest,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Contract), doc::SignedErrors, doc::Conflict))]
pub async fn buy(
    State(state): State<AppState>,
    request: SignedJson<BuyRequest>,
) -> Result<Response, Error> {
    let network = &state.network;
    let (n_shards, total_supply) = (network.n_shards, network.total_supply);
    let purchase = match Purchase::check(request.signer(), &request.body, n_shards, total_supply) {
        Ok(purchase) => purchase,
        // Judged as a signed request first: a replay is 401, a retried key its response.
        Err(refused) => return request.signed.answer_refused(&state.pool, refused).await,
    };
    request
        .signed
        .write_batched(&state.purchases, StatusCode::CREATED, purchase)
        .await
}

/// Extends a contract (its owner) by `epochs` at the current price.
#[utoipa::path(post, path = "/v1/storage/contracts/{id}/extend", request_body = ExtendRequest,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn extend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<ExtendRequest>,
) -> Result<Response, Error> {
    let total_supply = state.network.total_supply;
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = ContractId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            let params = crate::params::load(conn).await?;
            let owner = request.signer();
            contracts::extend(conn, &lock, owner, id, &request.body, total_supply, &params).await
        })
        .await
}

/// Records storage nodes' confirmations; certified at 2f+1 shards.
#[utoipa::path(post, path = "/v1/storage/contracts/{id}/certificate", request_body = CertifyRequest,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::NotFound, doc::Conflict))]
pub async fn certify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<CertifyRequest>,
) -> Result<Response, Error> {
    let n_shards = state.network.n_shards;
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = ContractId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            contracts::certify(conn, &lock, id, &request.body, n_shards).await
        })
        .await
}

/// Deletes a deletable contract (its owner); refunds the whole epochs not yet started.
#[utoipa::path(delete, path = "/v1/storage/contracts/{id}", request_body = NoArguments,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<NoArguments>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = ContractId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            contracts::delete(conn, &lock, request.signer(), id).await
        })
        .await
}

/// Changes a contract's attributes (its owner): a string sets one, null removes it.
#[utoipa::path(patch, path = "/v1/storage/contracts/{id}", request_body = contracts::PatchRequest,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Contract), doc::SignedErrors, doc::Forbidden, doc::NotFound))]
pub async fn patch(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<contracts::PatchRequest>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = ContractId::from_path(&id)?;
            let epoch = current_epoch(conn).await?.epoch;
            let attributes = &request.body.attributes;
            contracts::patch_attributes(conn, request.signer(), id, attributes, epoch).await
        })
        .await
}

/// A storage contract by id.
#[utoipa::path(get, path = "/v1/storage/contracts/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$")),
    responses((status = 200, body = Contract), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn contract(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ContractId>,
) -> Result<Json<Contract>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    contracts::find(&mut conn, id, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no storage contract with id {id}")))
}

/// Query parameters of `GET /v1/storage/contracts`: filters and paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContractsQuery {
    /// Only this owner's contracts.
    #[param(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{64}$", nullable = false)]
    pub owner: Option<Address>,
    /// Only contracts for this blob (64 hex digits).
    #[param(value_type = Option<String>, pattern = "^[0-9a-fA-F]{64}$", nullable = false)]
    pub blob_id: Option<BlobId>,
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub cursor: Option<ContractId>,
}

/// A page of `GET /v1/storage/contracts`, in creation order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ContractsPage {
    /// At most `limit` contracts, oldest first, after the cursor's contract.
    pub contracts: Vec<Contract>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Storage contracts in creation order, of one owner and/or blob.
#[utoipa::path(get, path = "/v1/storage/contracts", operation_id = "list_contracts", params(ContractsQuery),
    responses((status = 200, body = ContractsPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ContractsQuery>,
) -> Result<Json<ContractsPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let after = paging.after.map_or(0, ContractId::get);
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let (owner, blob_id, limit) = (query.owner, query.blob_id, paging.fetch_limit());
    let rows = contracts::page(&mut conn, owner, blob_id, after, limit, epoch).await?;
    let (contracts, next_cursor) = paging.page(rows, |c| c.id.clone());
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
    ApiPath(blob_id): ApiPath<BlobId>,
) -> Result<Json<BlobStatus>, Error> {
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
        blob_id: blob_id.to_string(),
        certified: summary.certified,
        end_epoch: summary.end_epoch,
        contracts: summary.active.iter().map(i64::to_string).collect(),
        metadata: summary.metadata,
    }))
}

/// The largest blob the aggregator endpoint returns; bigger ones: `walctl read`.
pub const AGGREGATOR_BLOB_BYTES_MAX: i64 = 64 << 20;
/// How long a storage node may stay silent before the aggregator reads from another.
const AGGREGATOR_STALL_SECS: u64 = 10;

/// Query parameters of `GET /v1/blobs/{blob_id}` (Walrus's aggregator's name).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BlobReadQuery {
    /// Also code the parity again and check every sliver's root (default false: the
    /// bytes are checked to be the data slivers the writer committed to).
    #[param(nullable = false)]
    pub strict_consistency_check: Option<bool>,
}

/// The blob's bytes, read from the storage nodes and decoded (Walrus's aggregator).
#[utoipa::path(get, path = "/v1/blobs/{blob_id}",
    params(("blob_id" = String, Path, pattern = "^[0-9a-fA-F]{64}$"), BlobReadQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>,
               description = "the blob's bytes"),
              doc::BadRequest, doc::NotFound, doc::PayloadTooLarge, doc::Unavailable))]
pub async fn blob(
    State(state): State<AppState>,
    ApiPath(blob_id): ApiPath<BlobId>,
    ApiQuery(query): ApiQuery<BlobReadQuery>,
) -> Result<Response, Error> {
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
    let stall = std::time::Duration::from_secs(AGGREGATOR_STALL_SECS);
    let http = reqwest::Client::builder()
        .pool_idle_timeout(crate::client::POOL_IDLE_TIMEOUT)
        .connect_timeout(stall)
        .read_timeout(stall)
        .build()
        .map_err(Error::internal)?;
    let bytes = Vec::with_capacity(usize::try_from(metadata.size).map_err(Error::internal)?);
    let from = ReadFrom {
        http: &http,
        endpoints: &endpoints,
        stall,
        consistency: Consistency::strict_if(query.strict_consistency_check == Some(true)),
    };
    let read =
        crate::client::download::read_blob(from, &metadata, bytes, std::sync::Arc::new(|_| {}))
            .await;
    let (_, bytes) = read.map_err(|e| {
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
    #[param(value_type = Option<String>, pattern = "^[0-9a-fA-F]{64}$", nullable = false)]
    pub cursor: Option<BlobId>,
}

/// Blobs with certified storage covering the current epoch, with their metadata, in
/// blob id order (what the checker audits).
#[utoipa::path(get, path = "/v1/blobs", params(BlobsQuery),
    responses((status = 200, body = StoredBlobsPage), doc::BadRequest, doc::Unavailable))]
pub async fn stored(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<BlobsQuery>,
) -> Result<Json<StoredBlobsPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let rows =
        contracts::stored_blobs(&mut conn, epoch, paging.after, paging.fetch_limit()).await?;
    let (blobs, next_cursor) = paging.page(rows, |b| b.blob_id.clone());
    Ok(Json(StoredBlobsPage {
        epoch,
        blobs,
        next_cursor,
    }))
}
