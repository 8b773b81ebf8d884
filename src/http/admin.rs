//! `POST /v1/admin/epochs/advance` (admin role).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use crate::auth::signed_tx::REPLAYED_HEADER;
use crate::auth::{Signed, SignedTx};
use crate::epoch::change::{self, ChangeSettings, Outcome};
use crate::epoch::view::{self, EpochView};
use crate::error::Error;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// The epoch to end; if given and it is no longer current, nothing happens (409).
    /// Without it, the epoch current when the request arrives is ended.
    pub epoch: Option<i64>,
}

/// Ends the current epoch now. Exactly once: a second request for the same epoch
/// (or the epoch clock) racing this one finds it ended and gets 409.
#[utoipa::path(post, path = "/v1/admin/epochs/advance", request_body = AdvanceRequest,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 200, body = EpochView, description = "the epoch that ended, with what its change did"),
              super::doc::SignedErrors, super::doc::Forbidden, super::doc::Conflict))]
pub async fn advance_epoch(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, Error> {
    let request: AdvanceRequest = signed.json()?;
    if request.epoch.is_some_and(|e| e < 0) {
        return Err(Error::InvalidArgument(
            "epoch must be an epoch number (0, 1, ...)".into(),
        ));
    }
    let Some(admin) = state.config.admin_address else {
        return Err(Error::Forbidden(
            "the admin role is disabled on this ledger (WAL_ADMIN_ADDRESS is unset)".into(),
        ));
    };
    if signed.signer() != admin {
        return Err(Error::Forbidden(format!(
            "only the admin {admin} may advance the epoch, not {}",
            signed.signer()
        )));
    }
    let settings = ChangeSettings {
        n_shards: state.network.n_shards,
        epoch_duration_secs: state.config.epoch_duration_secs,
    };
    let started = std::time::Instant::now();
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let from = match request.epoch {
            Some(epoch) => epoch,
            None => {
                crate::ledger::epochs::current_epoch(stx.conn())
                    .await?
                    .epoch
            }
        };
        match change::advance_in(stx.conn(), from, settings, Some(admin)).await? {
            Outcome::Advanced { ended } => view::epoch(stx.conn(), ended)
                .await?
                .ok_or_else(|| Error::internal("the ended epoch vanished")),
            Outcome::AlreadyEnded { current } => Err(Error::Conflict(format!(
                "epoch {from} is not the current epoch (epoch {current} is); nothing was changed"
            ))),
        }
    }
    .await;
    let ended = done.as_ref().ok().map(|view| view.epoch);
    let response = stx.finish(done, StatusCode::OK).await?;
    // Count only a change that committed (a replayed answer carries the header).
    if let Some(ended) = ended.filter(|_| !response.headers().contains_key(REPLAYED_HEADER)) {
        change::committed(ended, started.elapsed());
    }
    Ok(response)
}
