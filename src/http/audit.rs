//! `GET /v1/audit`: the invariants, checked at most once a second whoever asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;

use super::AppState;
use crate::error::Error;
use crate::ledger::audit::{self, AuditReport};

/// How long a report is served again. Anyone may call the audit, so callers share one
/// run a second: the database does at most one audit's work a second however many
/// ask, and callers that arrive during a run wait for its report.
const REPORT_REUSE: Duration = Duration::from_secs(1);

/// The last report and when it was made; the lock makes concurrent callers share a run.
#[derive(Clone, Default)]
pub struct Cache(Arc<tokio::sync::Mutex<Option<(Instant, AuditReport)>>>);

/// Checks the ledger's invariants on one snapshot; `ok` is false if any is broken. The
/// journal is checked from its checkpoint on, so the cost does not grow with it; a
/// report may be up to a second old (`checked_at`).
#[utoipa::path(get, path = "/v1/audit", responses((status = 200, body = AuditReport), super::doc::Unavailable))]
pub async fn audit(State(state): State<AppState>) -> Result<Json<AuditReport>, Error> {
    let mut last = state.audit_cache.0.lock().await;
    if let Some((made, report)) = last.as_ref() {
        if made.elapsed() < REPORT_REUSE {
            return Ok(Json(report.clone()));
        }
    }
    let report = audit::run(&state.pool).await?;
    *last = Some((Instant::now(), report.clone()));
    Ok(Json(report))
}
