//! `POST /v1/proposals`, `GET /v1/proposals?status=`, `GET /v1/proposals/{id}`,
//! `POST /v1/proposals/{id}/votes` (signed), `GET /v1/proposals/{id}/votes`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;

use super::extract::{ApiPath, ApiQuery, PathParam};
use super::paging::Paging;
use super::{doc, AppState};
use crate::auth::SignedJson;
use crate::error::Error;
use crate::governance::{proposals, votes};
use crate::ledger::epochs::{current_epoch, lock_shared};
use crate::wire::ids::ProposalId;
use crate::wire::{
    Address, Proposal, ProposalRequest, ProposalStatus, ProposalsPage, Vote, VoteRequest, VotesPage,
};

/// Proposes parameter changes; the signer pays `proposal_deposit`.
#[utoipa::path(post, path = "/v1/proposals", operation_id = "create_proposal",
    request_body = ProposalRequest, security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Proposal), doc::SignedErrors, doc::Conflict))]
pub async fn create(
    State(state): State<AppState>,
    request: SignedJson<ProposalRequest>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            let lock = lock_shared(conn).await?;
            proposals::create(conn, &lock, request.signer(), &request.body).await
        })
        .await
}

/// Votes on a proposal (a later vote replaces the earlier one).
#[utoipa::path(post, path = "/v1/proposals/{id}/votes", operation_id = "vote",
    request_body = VoteRequest, security(("rfc9421" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 201, body = Vote), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn vote(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<VoteRequest>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = ProposalId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            votes::vote(conn, &lock, request.signer(), id, &request.body.choice).await
        })
        .await
}

/// A proposal with its tally: live while voting, final once decided.
#[utoipa::path(get, path = "/v1/proposals/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$")),
    responses((status = 200, body = Proposal), doc::NotFound, doc::Unavailable))]
pub async fn proposal(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProposalId>,
) -> Result<Json<Proposal>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    proposals::find(&mut conn, id, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no proposal with id {id}")))
}

/// Query parameters of `GET /v1/proposals`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProposalsQuery {
    /// Only proposals with this status.
    #[param(nullable = false)]
    pub status: Option<ProposalStatus>,
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub cursor: Option<ProposalId>,
}

/// Proposals, newest first.
#[utoipa::path(get, path = "/v1/proposals", operation_id = "list_proposals", params(ProposalsQuery),
    responses((status = 200, body = ProposalsPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ProposalsQuery>,
) -> Result<Json<ProposalsPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let before = paging.after.map_or(i64::MAX, ProposalId::get);
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let rows =
        proposals::page(&mut conn, query.status, before, paging.fetch_limit(), epoch).await?;
    let (proposals, next_cursor) = paging.page(rows, |p| p.id.clone());
    Ok(Json(ProposalsPage {
        proposals,
        next_cursor,
    }))
}

/// Query parameters of `GET /v1/proposals/{id}/votes`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VotesQuery {
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: the last voter's address.
    #[param(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{64}$", nullable = false)]
    pub cursor: Option<Address>,
}

/// The votes on a proposal, by voter, each with its power (live while voting).
#[utoipa::path(get, path = "/v1/proposals/{id}/votes", operation_id = "list_votes",
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), VotesQuery),
    responses((status = 200, body = VotesPage), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn votes(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProposalId>,
    ApiQuery(query): ApiQuery<VotesQuery>,
) -> Result<Json<VotesPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let rows = votes::page(&mut conn, id, paging.after, paging.fetch_limit(), epoch)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no proposal with id {id}")))?;
    let (votes, next_cursor) = paging.page(rows, |v| v.voter.clone());
    Ok(Json(VotesPage { votes, next_cursor }))
}
