//! `GET /v1/epochs/current` and `GET /v1/epochs/{epoch}`. (What each epoch change did,
//! committee, rewards and prices, is added with the epoch change itself.)

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;

use super::{path_param, AppState};
use crate::error::Error;
use crate::ledger::genesis::{self, EpochInfo};

/// The epoch in progress.
#[utoipa::path(get, path = "/v1/epochs/current", responses((status = 200, body = EpochInfo)))]
pub async fn current(State(state): State<AppState>) -> Result<Json<EpochInfo>, Error> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(genesis::current_epoch(&mut conn).await?))
}

/// An epoch that has started (genesis is epoch 0).
#[utoipa::path(get, path = "/v1/epochs/{epoch}", params(("epoch" = i64, Path)),
    responses((status = 200, body = EpochInfo), (status = 400, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn by_number(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<EpochInfo>, Error> {
    let text = path_param(path)?;
    let number = text
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("epoch {text:?} is not an epoch number (0, 1, ...)"))
        })?;
    let mut conn = state.pool.acquire().await?;
    genesis::epoch(&mut conn, number)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("epoch {number} has not started yet")))
}
