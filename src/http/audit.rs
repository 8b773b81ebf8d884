//! `GET /v1/audit`: the invariants, checked now.

use axum::extract::State;
use axum::Json;

use super::AppState;
use crate::error::Error;
use crate::ledger::audit::{self, AuditReport};

/// Checks the ledger's invariants on one snapshot; `ok` is false if any is broken.
#[utoipa::path(get, path = "/v1/audit", responses((status = 200, body = AuditReport), super::doc::Unavailable))]
pub async fn audit(State(state): State<AppState>) -> Result<Json<AuditReport>, Error> {
    Ok(Json(audit::run(&state.pool).await?))
}
