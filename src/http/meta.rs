//! Health, readiness, metrics and the network description.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::error::Error;

/// The answer of `GET /health` and `GET /ready`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `"ok"` from `/health` (the process is up), `"ready"` from `/ready` (the database
    /// answered).
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// How long `/ready` waits for the database: a readiness probe gets its answer within
/// this, whether or not the database is up (the pool itself would wait its whole
/// acquire timeout for a connection).
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// The database is reachable.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Health), super::doc::Unavailable))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    let probe = sqlx::query!("SELECT 1 AS one").fetch_one(&state.pool);
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(Json(Health { status: "ready" })),
        Ok(Err(_)) | Err(_) => Err(Error::Unavailable(
            "the database is not reachable; retry shortly".into(),
        )),
    }
}

/// Prometheus text: requests by route and status, latencies, journal entries, DB pool.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("db_pool_connections").set(state.pool.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.pool.num_idle() as f64);
    if let Ok(Some(last)) = sqlx::query_scalar!("SELECT max(id) FROM journal_entries")
        .fetch_one(&state.pool)
        .await
    {
        metrics::gauge!("wal_journal_last_entry_id").set(last as f64);
    }
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub use crate::wire::Network;

/// The network's identity and current epoch.
#[utoipa::path(get, path = "/v1/network", responses((status = 200, body = Network), super::doc::Unavailable))]
pub async fn network(State(state): State<AppState>) -> Result<Json<Network>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = crate::ledger::epochs::current_epoch(&mut conn).await?;
    let network = &state.network;
    Ok(Json(Network {
        network_id: network.network_id.clone(),
        epoch: epoch.epoch,
        epoch_started_at: epoch.started_at,
        epoch_ends_at: epoch.ends_at,
        n_shards: network.n_shards,
        total_supply: network.total_supply,
        treasury_address: network.treasury_address.clone(),
        genesis_at: network.genesis_at,
        genesis_wal_usd: network.genesis_wal_usd,
        signature_window_secs: state.config.signature_window_secs,
        faucet_enabled: state.config.faucet_address.is_some(),
    }))
}

/// Query parameters of `GET /v1/params`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ParamsQuery {
    /// The epoch whose parameters to show (0 ..= the current one; default: the current one).
    #[param(value_type = Option<i64>, minimum = 0, nullable = false)]
    pub epoch: Option<super::extract::EpochNumber>,
}

/// The governable parameters in force (in the current epoch, or in `?epoch=`), each
/// with the epoch and proposal that last set it.
#[utoipa::path(get, path = "/v1/params", params(ParamsQuery),
    responses((status = 200, body = crate::params::ParamsInForce), super::doc::BadRequest,
              super::doc::NotFound, super::doc::Unavailable))]
pub async fn params(
    State(state): State<AppState>,
    super::extract::ApiQuery(query): super::extract::ApiQuery<ParamsQuery>,
) -> Result<Json<crate::params::ParamsInForce>, Error> {
    let mut conn = state.pool.acquire().await?;
    let current = crate::ledger::epochs::current_epoch(&mut conn).await?.epoch;
    let epoch = query.epoch.map_or(current, |epoch| epoch.0);
    if epoch > current {
        return Err(Error::NotFound(format!(
            "epoch {epoch} has not started (the current epoch is {current}), so no \
             parameters are in force in it yet"
        )));
    }
    Ok(Json(
        crate::params::at_epoch(&mut conn, epoch, current).await?,
    ))
}
