//! `GET /v1/price` (quotes) and `POST /v1/oracle/prices` (oracle role).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;

use super::extract::ApiQuery;
use super::AppState;
use crate::auth::{require, Role, Signed};
use crate::error::Error;
use crate::ledger::epochs::{current_epoch, lock_shared};
use crate::pricing::store::{self, Observation, Quote, RecordedObservation};

/// Query parameters of `GET /v1/price`: what to store and for how long.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuoteQuery {
    /// The blob's size in bytes.
    #[param(minimum = 1)]
    pub size: u64,
    /// Epochs to store it, the current one included (at most the parameter
    /// `epochs_ahead_max` of `GET /v1/params`).
    #[param(minimum = 1)]
    pub epochs: u32,
}

/// What storing `size` bytes for `epochs` epochs costs now (the same all epoch).
#[utoipa::path(get, path = "/v1/price", params(QuoteQuery),
    responses((status = 200, body = Quote), super::doc::BadRequest, super::doc::Unavailable))]
pub async fn quote(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<QuoteQuery>,
) -> Result<Json<Quote>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let params = crate::params::load(&mut conn).await?;
    Ok(Json(
        store::quote(
            &mut conn,
            query.size,
            crate::encoding::Encoding::for_shards(state.network.n_shards),
            query.epochs,
            state.network.n_shards,
            epoch,
            &params,
        )
        .await?,
    ))
}

/// Records a WAL/USD observation (oracle role); the median of an epoch's observations
/// sets the next epoch's rate, within ±10%.
#[utoipa::path(post, path = "/v1/oracle/prices", request_body = Observation,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = RecordedObservation), super::doc::SignedErrors,
              super::doc::Forbidden))]
pub async fn observe(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    // The role first: who may not post learns that before anything about the body.
    require(Role::Oracle, state.config.oracle_address, signed.signer())?;
    let observation: Observation = signed.json()?;
    signed
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            let lock = lock_shared(conn).await?;
            store::record(conn, &lock, &observation).await
        })
        .await
}
