//! `POST /v1/faucet` (devnet): a fixed drip from the configured faucet account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use crate::auth::Signed;
use crate::error::Error;
use crate::ledger::faucet::{self, FaucetSettings};
use crate::wire::Address;

/// The body of `POST /v1/faucet` (devnet only).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaucetRequest {
    /// Who receives the drip; defaults to the signer.
    pub to: Option<String>,
}

/// Sends the devnet drip (off unless the ledger names a faucet account).
#[utoipa::path(post, path = "/v1/faucet", request_body = FaucetRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = crate::ledger::transfer::Transfer), super::doc::SignedErrors,
              super::doc::Forbidden, super::doc::Conflict))]
pub async fn faucet(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    // Off first: on a network without a faucet, the body does not matter.
    let Some(faucet_address) = state.config.faucet_address else {
        return Err(Error::Forbidden("the faucet is off on this network".into()));
    };
    let request: FaucetRequest = signed.json()?;
    let to = match &request.to {
        Some(text) => Address::parse_spendable(text)
            .map_err(|e| Error::InvalidArgument(format!("to: {e}")))?,
        None => signed.signer(),
    };
    let settings = FaucetSettings {
        faucet: faucet_address,
        drip: state.config.faucet_drip,
        interval_secs: state.config.faucet_interval_secs,
    };
    signed
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            faucet::drip(conn, &settings, signed.signer(), to).await
        })
        .await
}
