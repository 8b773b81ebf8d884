//! `POST /v1/admin/epochs/advance` (admin role).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use crate::auth::signed_tx::REPLAYED_HEADER;
use crate::auth::{require, Role, SignedJson};
use crate::epoch::change::{self, ChangeSettings, Outcome};
use crate::epoch::view::{self, EpochView};
use crate::error::Error;

/// The body of `POST /v1/admin/epochs/advance`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// The epoch to end; if given and it is no longer current, nothing happens (409).
    /// Without it, the epoch current when the request arrives is ended.
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub epoch: Option<super::extract::EpochNumber>,
}

/// Ends the current epoch now. Exactly once: a second request for the same epoch
/// (or the epoch clock) racing this one finds it ended and gets 409.
#[utoipa::path(post, path = "/v1/admin/epochs/advance", request_body = AdvanceRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 200, body = EpochView, description = "the epoch that ended, with what its change did"),
              super::doc::SignedErrors, super::doc::Forbidden, super::doc::Conflict))]
pub async fn advance_epoch(
    State(state): State<AppState>,
    request: SignedJson<AdvanceRequest>,
) -> Result<Response, Error> {
    let admin = request.signer();
    require(Role::Admin, state.config.admin_address, admin)?;
    let settings = ChangeSettings {
        n_shards: state.network.n_shards,
        epoch_duration_secs: state.config.epoch_duration_secs,
    };
    let started = std::time::Instant::now();
    let mut ended = None;
    let response = request
        .write(&state.pool, StatusCode::OK, async |conn| {
            let from = match request.body.epoch {
                Some(epoch) => epoch.0,
                None => crate::ledger::epochs::current_epoch(conn).await?.epoch,
            };
            let view = match change::advance_in(conn, from, settings, Some(admin)).await? {
                Outcome::Advanced { ended } => view::epoch(conn, ended)
                    .await?
                    .ok_or_else(|| Error::internal("the ended epoch vanished"))?,
                Outcome::AlreadyEnded { current } => {
                    return Err(Error::Conflict(format!(
                        "epoch {from} is not the current epoch (epoch {current} is); nothing was changed"
                    )))
                }
            };
            ended = Some(view.epoch);
            Ok(view)
        })
        .await?;
    // Count only a change that committed (a replayed answer carries the header).
    if let Some(ended) = ended.filter(|_| !response.headers().contains_key(REPLAYED_HEADER)) {
        change::committed(ended, started.elapsed());
    }
    Ok(response)
}
