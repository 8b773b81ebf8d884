//! `POST /v1/stakes`, `POST /v1/stakes/{id}/withdraw` (signed by the owner),
//! `GET /v1/stakes/{id}`, `GET /v1/stakes?owner=&node_id=`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, ApiQuery, PathParam};
use super::paging::Paging;
use super::{doc, AppState, NoArguments};
use crate::auth::SignedJson;
use crate::error::Error;
use crate::ledger::epochs::{current_epoch, lock_shared};
use crate::staking::stakes::{self, Stake, StakeRequest};
use crate::wire::ids::{NodeId, StakeId};
use crate::wire::Address;

/// Stakes the signer's WAL with a node: pending now, active from the next epoch.
#[utoipa::path(post, path = "/v1/stakes", operation_id = "create_stake", request_body = StakeRequest,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Stake), doc::SignedErrors, doc::NotFound, doc::Conflict))]
pub async fn create(
    State(state): State<AppState>,
    request: SignedJson<StakeRequest>,
) -> Result<Response, Error> {
    let total_supply = state.network.total_supply;
    request
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            let lock = lock_shared(conn).await?;
            stakes::stake(conn, &lock, request.signer(), &request.body, total_supply).await
        })
        .await
}

/// Withdraws a stake (its owner only): pending stake is refunded at once, active stake
/// is paid principal + rewards − slashes at the next epoch change.
#[utoipa::path(post, path = "/v1/stakes/{id}/withdraw", request_body = NoArguments,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Stake), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn withdraw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<NoArguments>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = StakeId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            stakes::withdraw(conn, &lock, request.signer(), id).await
        })
        .await
}

/// A stake by id, with its current value.
#[utoipa::path(get, path = "/v1/stakes/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$")),
    responses((status = 200, body = Stake), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn stake(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<StakeId>,
) -> Result<Json<Stake>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    stakes::find(&mut conn, id, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no stake with id {id}")))
}

/// Query parameters of `GET /v1/stakes`: filters and paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StakesQuery {
    /// Only this owner's stakes.
    #[param(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{64}$", nullable = false)]
    pub owner: Option<Address>,
    /// Only stakes with this node.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub node_id: Option<NodeId>,
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub cursor: Option<StakeId>,
}

/// A page of `GET /v1/stakes`, in creation order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StakesPage {
    /// At most `limit` stakes, oldest first, after the cursor's stake.
    pub stakes: Vec<Stake>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Stakes in creation order, of one owner and/or node.
#[utoipa::path(get, path = "/v1/stakes", operation_id = "list_stakes", params(StakesQuery),
    responses((status = 200, body = StakesPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StakesQuery>,
) -> Result<Json<StakesPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let after = paging.after.map_or(0, StakeId::get);
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let rows = stakes::page(
        &mut conn,
        query.owner,
        query.node_id,
        after,
        paging.fetch_limit(),
        epoch,
    )
    .await?;
    let (stakes, next_cursor) = paging.page(rows, |s| s.id.clone());
    Ok(Json(StakesPage {
        stakes,
        next_cursor,
    }))
}
