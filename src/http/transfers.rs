//! `POST /v1/transfers` (signed) and `GET /v1/transfers/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use super::extract::ApiPath;
use super::AppState;
use crate::auth::SignedJson;
use crate::error::Error;
use crate::ledger::transfer::{self, Transfer, TransferRequest};
use crate::wire::ids::TransferId;

/// Sends WAL from the signer to `to`.
#[utoipa::path(post, path = "/v1/transfers", request_body = TransferRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = Transfer), super::doc::SignedErrors, super::doc::Conflict))]
pub async fn create_transfer(
    State(state): State<AppState>,
    request: SignedJson<TransferRequest>,
) -> Result<Response, Error> {
    let from = request.signer();
    let (to, amount) = transfer::validate(from, &request.body, state.network.total_supply)?;
    let payment = transfer::Payment {
        from,
        to,
        amount,
        memo: request.body.memo.clone(),
    };
    request
        .signed
        .write_batched(&state.transfers, StatusCode::CREATED, payment)
        .await
}

/// A transfer by id.
#[utoipa::path(get, path = "/v1/transfers/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$")),
    responses((status = 200, body = Transfer), super::doc::BadRequest, super::doc::NotFound,
              super::doc::Unavailable))]
pub async fn transfer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<TransferId>,
) -> Result<Json<Transfer>, Error> {
    let mut conn = state.pool.acquire().await?;
    transfer::find(&mut conn, id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no transfer with id {id}")))
}
