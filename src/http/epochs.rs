//! `GET /v1/epochs/current`, `GET /v1/epochs/{epoch}` (bounds, committee, reward slot,
//! and what the change that ended it did), `GET /v1/committee`.

use axum::extract::State;
use axum::Json;

use super::extract::{ApiPath, EpochNumber};
use super::AppState;
use crate::epoch::view::{self, EpochView};
use crate::error::Error;

/// The epoch in progress.
#[utoipa::path(get, path = "/v1/epochs/current", responses((status = 200, body = EpochView), super::doc::Unavailable))]
pub async fn current(State(state): State<AppState>) -> Result<Json<EpochView>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = crate::ledger::epochs::current_epoch(&mut conn).await?.epoch;
    view::epoch(&mut conn, epoch)
        .await?
        .map(Json)
        .ok_or_else(|| Error::internal("the current epoch vanished"))
}

/// An epoch that has started (genesis is epoch 0).
#[utoipa::path(get, path = "/v1/epochs/{epoch}", params(("epoch" = i64, Path, minimum = 0)),
    responses((status = 200, body = EpochView), super::doc::BadRequest, super::doc::NotFound,
              super::doc::Unavailable))]
pub async fn by_number(
    State(state): State<AppState>,
    ApiPath(EpochNumber(number)): ApiPath<EpochNumber>,
) -> Result<Json<EpochView>, Error> {
    let mut conn = state.pool.acquire().await?;
    view::epoch(&mut conn, number)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("epoch {number} has not started yet")))
}

pub use crate::wire::epochs::Committee;

/// The committee of the current epoch and the shards each member holds.
#[utoipa::path(get, path = "/v1/committee", responses((status = 200, body = Committee), super::doc::Unavailable))]
pub async fn committee(State(state): State<AppState>) -> Result<Json<Committee>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = crate::ledger::epochs::current_epoch(&mut conn).await?.epoch;
    Ok(Json(Committee {
        epoch,
        n_shards: state.network.n_shards,
        members: view::committee(&mut conn, epoch).await?,
    }))
}
