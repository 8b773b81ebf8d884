//! `POST /v1/subsidies` (signed by anyone who pays).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use crate::auth::{Signed, SignedTx};
use crate::error::Error;
use crate::rewards::subsidy::{self, Subsidy, SubsidyRequest};

/// Spreads WAL over the reward slots of the current epoch and the next `epochs - 1`.
#[utoipa::path(post, path = "/v1/subsidies", operation_id = "create_subsidy", request_body = SubsidyRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = Subsidy), super::doc::SignedErrors, super::doc::Conflict))]
pub async fn create(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    let request: SubsidyRequest = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let epoch = crate::ledger::epochs::lock_shared(stx.conn()).await?;
        let params = crate::params::load(stx.conn()).await?;
        subsidy::validate(
            &request,
            params.epochs_ahead_max,
            state.network.total_supply,
        )?;
        subsidy::add(stx.conn(), signed.signer(), &request, epoch).await
    }
    .await;
    stx.finish(done, StatusCode::CREATED).await
}
