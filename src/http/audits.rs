//! `POST /v1/audits`: the checker's challenge results (auditor role);
//! `GET /v1/audits?epoch=`: what is recorded per node.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::ApiQuery;
use super::AppState;
use crate::audits::record::{self, AuditBatch, Loss, Recorded};
use crate::audits::slashing::Tally;
use crate::auth::{require, Role, Signed};
use crate::error::Error;
use crate::ledger::epochs::current_epoch;
use crate::ledger::epochs::lock_shared;

/// Records a batch of challenge results for the current epoch, all or nothing. A
/// `fail` carries the node's signed wrong answer, which the ledger checks. Retry a
/// batch with the same Idempotency-Key: it is recorded once.
#[utoipa::path(post, path = "/v1/audits", request_body = AuditBatch,
    security(("rfc9421" = [])), params(super::doc::SignedHeaders),
    responses((status = 201, body = Recorded), super::doc::SignedErrors, super::doc::Forbidden,
              super::doc::NotFound, super::doc::Conflict))]
pub async fn report(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    // The role first: who may not report learns that before anything about the body.
    require(Role::Auditor, state.config.auditor_address, signed.signer())?;
    let batch: AuditBatch = signed.json()?;
    signed
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            // Shared: the epoch change, which reads these results, waits for this batch.
            let lock = lock_shared(conn).await?;
            record::record(conn, &lock, &batch).await
        })
        .await
}

/// Query parameters of `GET /v1/audits`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditsQuery {
    /// Default: the current epoch.
    #[param(value_type = Option<i64>, minimum = 0, nullable = false)]
    pub epoch: Option<super::extract::EpochNumber>,
}

/// One node's challenge results recorded in the epoch.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeTally {
    /// The node the challenges were put to.
    pub node_id: String,
    /// Challenges recorded for the node in the epoch, and how many it passed.
    #[serde(flatten)]
    pub tally: Tally,
}

/// What `GET /v1/audits` returns: an epoch's audit record so far.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EpochAudits {
    /// The epoch reported on: the one asked for, or the current epoch.
    pub epoch: i64,
    /// Challenges recorded per node so far (nodes with none are left out).
    pub nodes: Vec<NodeTally>,
    /// The distinct slivers found missing or wrong (a `missing` or `fail` result).
    pub losses: Vec<Loss>,
}

/// The challenges recorded for each node in an epoch (a restarted checker resumes
/// from these), and the slivers they found lost (repaired once the epoch has closed).
#[utoipa::path(get, path = "/v1/audits", params(AuditsQuery),
    responses((status = 200, body = EpochAudits), super::doc::BadRequest, super::doc::Unavailable))]
pub async fn tallies(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditsQuery>,
) -> Result<Json<EpochAudits>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = match query.epoch {
        Some(epoch) => epoch.0,
        None => current_epoch(&mut conn).await?.epoch,
    };
    let mut nodes: Vec<NodeTally> = record::tallies(&mut conn, epoch)
        .await?
        .into_iter()
        .map(|(id, tally)| NodeTally {
            node_id: id.to_string(),
            tally,
        })
        .collect();
    nodes.sort_by_key(|n| n.node_id.parse::<i64>().unwrap_or(0));
    let losses = record::losses(&mut conn, epoch).await?;
    Ok(Json(EpochAudits {
        epoch,
        nodes,
        losses,
    }))
}
