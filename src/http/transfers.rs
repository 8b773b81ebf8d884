//! `POST /v1/transfers` (signed) and `GET /v1/transfers/{id}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use super::{path_param, AppState};
use crate::auth::{Signed, SignedTx};
use crate::error::Error;
use crate::ledger::transfer::{self, Transfer, TransferRequest};

/// Sends WAL from the signer to `to`.
#[utoipa::path(post, path = "/v1/transfers", request_body = TransferRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = Transfer), super::doc::SignedErrors, super::doc::Conflict))]
pub async fn create_transfer(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, Error> {
    let request: TransferRequest = signed.json()?;
    let from = signed.signer();
    let (to, amount) = transfer::validate(from, &request, state.network.total_supply)?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let movement = transfer::Movement {
        from,
        to,
        amount,
        memo: request.memo.as_deref(),
        kind: crate::ledger::kind::EntryKind::Transfer,
        actor: from,
    };
    let done = transfer::execute(stx.conn(), &movement).await;
    stx.finish(done, StatusCode::CREATED).await
}

/// A transfer by id.
#[utoipa::path(get, path = "/v1/transfers/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]*$")),
    responses((status = 200, body = Transfer), super::doc::BadRequest, super::doc::NotFound,
              super::doc::Unavailable))]
pub async fn transfer(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Transfer>, Error> {
    let id = path_param(path)?;
    let mut conn = state.pool.acquire().await?;
    transfer::find(&mut conn, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no transfer with id {id:?}")))
}
