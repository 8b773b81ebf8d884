//! `GET /v1/audit`: the invariants, checked at most once a second whoever asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;

use super::AppState;
use crate::error::Error;
use crate::ledger::audit::{self, AuditReport};

/// The least time between the starts of two audits. Anyone may call the audit, so
/// callers share runs: the database does at most one audit's work a second however
/// many ask.
const RUNS_APART: Duration = Duration::from_secs(1);

/// The last run's start and report; the lock queues callers behind a run.
#[derive(Clone, Default)]
pub struct Cache(Arc<tokio::sync::Mutex<Option<(Instant, AuditReport)>>>);

/// Checks the ledger's invariants on one snapshot; `ok` is false if any is broken. The
/// journal is checked from its checkpoint on, so the cost does not grow with it. The
/// report is never older than the request: callers that ask during a run share the
/// next one, which starts at least a second after the one before.
#[utoipa::path(get, path = "/v1/audit", responses((status = 200, body = AuditReport), super::doc::Unavailable))]
pub async fn audit(State(state): State<AppState>) -> Result<Json<AuditReport>, Error> {
    let asked = Instant::now();
    let mut last = state.audit_cache.0.lock().await;
    if let Some((started, report)) = last.as_ref() {
        if *started >= asked {
            return Ok(Json(report.clone()));
        }
        tokio::time::sleep_until((*started + RUNS_APART).into()).await;
    }
    let started = Instant::now();
    let report = audit::run(&state.pool).await?;
    *last = Some((started, report.clone()));
    Ok(Json(report))
}
