//! The read-only views the explorer pages draw, public like every other read:
//! `GET /v1/stats` (supply, burned, stake, stored bytes), `GET /v1/prices/history`,
//! `GET /v1/nodes/{id}/history` and `GET /v1/blobs/{blob_id}/health`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, ApiQuery, EpochNumber};
use super::{doc, AppState};
use crate::audits::history::{node_epochs, NodeEpoch};
use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::epochs::current_epoch;
use crate::ledger::journal::balance_of_key;
use crate::money::Wal;
use crate::pricing::history::{history, PricePoint, HISTORY_EPOCHS_MAX};
use crate::wire::blobs::BlobHealth;
use crate::wire::ids::{BlobId, NodeId};

/// `GET /v1/stats`: the network's totals now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkStats {
    /// The current epoch.
    pub epoch: i64,
    /// The supply minted at genesis (it never grows).
    pub total_supply: Wal,
    /// WAL burned so far (reward burns, slashes, vetoed deposits): `sys:burn`'s balance.
    pub burned: Wal,
    /// The WAL of every node's pool: active stake with its rewards, less slashes.
    pub total_stake: Wal,
    /// Stake made this epoch, active from the next.
    pub pending_stake: Wal,
    /// The subsidy pool's WAL.
    pub subsidy_pool: Wal,
    /// Registered storage nodes.
    pub nodes: i64,
    /// Blobs with certified storage covering the current epoch.
    pub stored_blobs: i64,
    /// Their sizes summed (each blob once), bytes.
    pub stored_bytes: i64,
    /// Their encoded sizes summed (what the nodes hold), bytes.
    pub stored_encoded_bytes: i64,
}

/// The network's totals now.
#[utoipa::path(get, path = "/v1/stats", responses((status = 200, body = NetworkStats), doc::Unavailable))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<NetworkStats>, Error> {
    let mut conn = state.pool.acquire().await?;
    let epoch = current_epoch(&mut conn).await?.epoch;
    let burned = balance_of_key(&mut conn, &Account::System(SystemAccount::Burn).key()).await?;
    let subsidy_pool = balance_of_key(
        &mut conn,
        &Account::System(SystemAccount::SubsidyPool).key(),
    )
    .await?;
    let (nodes, total_stake, pending_stake) =
        crate::staking::totals::stake_totals(&mut conn).await?;
    let (stored_blobs, stored_bytes, stored_encoded_bytes) =
        crate::storage::contracts::stored_totals(&mut conn, epoch).await?;
    Ok(Json(NetworkStats {
        epoch,
        total_supply: state.network.total_supply,
        burned,
        total_stake,
        pending_stake,
        subsidy_pool,
        nodes,
        stored_blobs,
        stored_bytes,
        stored_encoded_bytes,
    }))
}

/// Which epochs a history shows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The first epoch; default: the one that makes the page end at the current epoch.
    #[param(value_type = Option<i64>, minimum = 0, nullable = false)]
    pub from: Option<EpochNumber>,
    /// Epochs per page, 1..=500, default 100.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
}

/// The checked epoch range of a history query: (first epoch, epochs at most).
fn epoch_range(query: &HistoryQuery, current: i64) -> Result<(i64, i64), Error> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=HISTORY_EPOCHS_MAX).contains(&limit) {
        return Err(Error::InvalidArgument(format!(
            "limit must be 1..={HISTORY_EPOCHS_MAX}, got {limit}"
        )));
    }
    let from = query
        .from
        .as_ref()
        .map_or((current - limit + 1).max(0), |e| e.0);
    Ok((from, limit))
}

/// `GET /v1/prices/history`: epochs oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceHistory {
    /// The current epoch.
    pub current_epoch: i64,
    /// The epochs of the page that have begun, oldest first.
    pub epochs: Vec<PricePoint>,
}

/// Each epoch's rate and prices, with the bands the ±10% clamps allowed them.
#[utoipa::path(get, path = "/v1/prices/history", params(HistoryQuery),
    responses((status = 200, body = PriceHistory), doc::BadRequest, doc::Unavailable))]
pub async fn prices(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<PriceHistory>, Error> {
    let current = {
        let mut conn = state.pool.acquire().await?;
        current_epoch(&mut conn).await?.epoch
    };
    let (from, limit) = epoch_range(&query, current)?;
    Ok(Json(PriceHistory {
        current_epoch: current,
        epochs: history(&state.pool, from, limit).await?,
    }))
}

/// `GET /v1/nodes/{id}/history`: a node's epochs, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeHistory {
    /// The node's id.
    pub node_id: String,
    /// The current epoch.
    pub current_epoch: i64,
    /// The node's epochs of the page since its registration, oldest first.
    pub epochs: Vec<NodeEpoch>,
}

/// A node's pool, exchange rate, committee seat and audits, epoch by epoch.
#[utoipa::path(get, path = "/v1/nodes/{id}/history",
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), HistoryQuery),
    responses((status = 200, body = NodeHistory), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn node_history(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<NodeId>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<NodeHistory>, Error> {
    let mut conn = state.pool.acquire().await?;
    crate::staking::nodes::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no node with id {id}")))?;
    let current = current_epoch(&mut conn).await?.epoch;
    let (from, limit) = epoch_range(&query, current)?;
    Ok(Json(NodeHistory {
        node_id: id.to_string(),
        current_epoch: current,
        epochs: node_epochs(&mut conn, id.get(), from, limit).await?,
    }))
}

/// How long a node may stay silent before its sliver counts as `timed out`.
const HEALTH_STALL_SECS: u64 = 5;

/// Health checks running at once: each reads a blob's slivers whole, so more callers
/// would only make the ledger a way to load the nodes.
static HEALTH_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Every sliver of the blob fetched from its holder now and checked against the metadata
/// (at most `AGGREGATOR_BLOB_BYTES_MAX` of encoded slivers; a bigger blob: `walctl blob health`).
#[utoipa::path(get, path = "/v1/blobs/{blob_id}/health",
    params(("blob_id" = String, Path, pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, body = BlobHealth), doc::BadRequest, doc::NotFound,
              doc::PayloadTooLarge, doc::Unavailable))]
pub async fn blob_health(
    State(state): State<AppState>,
    ApiPath(blob_id): ApiPath<BlobId>,
) -> Result<Json<BlobHealth>, Error> {
    let _running = HEALTH_CHECKS.try_acquire().map_err(|_| {
        Error::Unavailable("other blob health checks are running; retry in a few seconds".into())
    })?;
    let (epoch, metadata, members) = {
        let mut conn = state.pool.acquire().await?;
        let epoch = current_epoch(&mut conn).await?.epoch;
        let summary = crate::storage::contracts::blob_summary(&mut conn, &blob_id, epoch)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no storage contract was ever bought for blob {blob_id}"
                ))
            })?;
        let encoded = summary
            .metadata
            .sliver_len
            .saturating_mul(u64::from(summary.metadata.n_shards));
        if encoded > super::contracts::AGGREGATOR_BLOB_BYTES_MAX as u64 {
            return Err(Error::PayloadTooLarge(format!(
                "blob {blob_id} has {encoded} bytes of slivers; the ledger checks at most \
                 {}; use walctl blob health",
                super::contracts::AGGREGATOR_BLOB_BYTES_MAX
            )));
        }
        let members = crate::epoch::view::committee(&mut conn, epoch).await?;
        (epoch, summary.metadata, members)
    };
    let holders = crate::client::store::holders_of(members).map_err(Error::internal)?;
    let stall = std::time::Duration::from_secs(HEALTH_STALL_SECS);
    let http = crate::client::store::node_http(stall).map_err(Error::internal)?;
    let id = blob_id.to_string();
    Ok(Json(
        crate::client::health::check(&http, &metadata, &id, epoch, &holders).await,
    ))
}
