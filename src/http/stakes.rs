//! `POST /v1/stakes`, `POST /v1/stakes/{id}/withdraw` (signed by the owner),
//! `GET /v1/stakes/{id}`, `GET /v1/stakes?owner=&node_id=`.

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
use crate::staking::stakes::{self, Stake, StakeRequest};
use crate::wire::Address;

/// Stakes the signer's WAL with a node: pending now, active from the next epoch.
#[utoipa::path(post, path = "/v1/stakes", operation_id = "create_stake", request_body = StakeRequest,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Stake), doc::SignedErrors, doc::NotFound, doc::Conflict))]
pub async fn create(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    let request: StakeRequest = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = stakes::stake(
        stx.conn(),
        signed.signer(),
        &request,
        state.network.total_supply,
    )
    .await;
    stx.finish(done, StatusCode::CREATED).await
}

/// Withdraws a stake (its owner only): pending stake is refunded at once, active stake
/// is paid principal + rewards − slashes at the next epoch change.
#[utoipa::path(post, path = "/v1/stakes/{id}/withdraw", request_body = super::NoArguments,
    security(("rfc9421" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Stake), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn withdraw(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let _: super::NoArguments = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        stakes::withdraw(stx.conn(), signed.signer(), &id, epoch).await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// A stake by id, with its current value.
#[utoipa::path(get, path = "/v1/stakes/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]*$")),
    responses((status = 200, body = Stake), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn stake(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Stake>, Error> {
    let id = path_param(path)?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    stakes::find(&mut conn, &id, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no stake with id {id:?}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StakesQuery {
    /// Only this owner's stakes.
    #[param(pattern = "^0x[0-9a-fA-F]{64}$", nullable = false)]
    pub owner: Option<String>,
    /// Only stakes with this node.
    #[param(pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub node_id: Option<String>,
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$", nullable = false)]
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StakesPage {
    pub stakes: Vec<Stake>,
    pub next_cursor: Option<String>,
}

/// Stakes in creation order, of one owner and/or node.
#[utoipa::path(get, path = "/v1/stakes", operation_id = "list_stakes", params(StakesQuery),
    responses((status = 200, body = StakesPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<StakesQuery>, QueryRejection>,
) -> Result<Json<StakesPage>, Error> {
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
    let node_id = query
        .node_id
        .as_deref()
        .map(|n| {
            n.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::InvalidArgument(format!("node_id {n:?} is not a node id")))
        })
        .transpose()?;
    let after = super::cursor_after(query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let mut stakes = stakes::page(&mut conn, owner, node_id, after, limit + 1, epoch).await?;
    let more = stakes.len() as i64 > limit;
    stakes.truncate(usize::try_from(limit).map_err(Error::internal)?);
    let next_cursor = more.then(|| stakes.last().map(|s| s.id.clone())).flatten();
    Ok(Json(StakesPage {
        stakes,
        next_cursor,
    }))
}
