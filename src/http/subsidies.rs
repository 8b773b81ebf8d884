//! `POST /v1/subsidies` (signed by anyone who pays).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use crate::auth::SignedJson;
use crate::error::Error;
use crate::ledger::epochs::lock_shared;
use crate::rewards::subsidy::{self, Subsidy, SubsidyRequest};

/// Spreads WAL over the reward slots of the current epoch and the next `epochs - 1`.
#[utoipa::path(post, path = "/v1/subsidies", operation_id = "create_subsidy", request_body = SubsidyRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = Subsidy), super::doc::SignedErrors, super::doc::Conflict))]
pub async fn create(
    State(state): State<AppState>,
    request: SignedJson<SubsidyRequest>,
) -> Result<Response, Error> {
    let total_supply = state.network.total_supply;
    request
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            let lock = lock_shared(conn).await?;
            let params = crate::params::load(conn).await?;
            subsidy::validate(&request.body, params.epochs_ahead_max, total_supply)?;
            subsidy::add(conn, &lock, request.signer(), &request.body).await
        })
        .await
}
