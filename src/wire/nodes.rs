//! Nodes as `GET /v1/nodes` shows them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Wal;

/// A commission change waiting for its epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PendingCommission {
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub rate: Decimal,
    pub effective_epoch: i64,
}

/// A node as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: String,
    pub operator: String,
    pub name: String,
    pub endpoint: String,
    pub protocol_public_key: String,
    /// The rate in force in the current epoch.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub commission_rate: Decimal,
    /// Commission changes asked for and not yet in force, by epoch.
    pub pending_commission: Vec<PendingCommission>,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub storage_price_vote: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub write_price_vote: Decimal,
    pub registered_epoch: i64,
    /// The node may rejoin the committee from this epoch on.
    pub jailed_until_epoch: Option<i64>,
    /// WAL in the node's pool: active stake with its rewards (and withdrawing stake
    /// until it is paid).
    pub stake: Wal,
    /// Stake made this epoch, active from the next.
    pub pending_stake: Wal,
    /// Shards the node holds in the current epoch (empty outside the committee).
    pub shards: Vec<i32>,
    /// Commission earned and not yet claimed.
    pub unclaimed_commission: Wal,
    /// What this epoch would pay the node if it ended now (its reward slot as it
    /// stands, the performance its audits give so far): the whole reward and the
    /// commission part of it.
    pub expected_reward: Wal,
    pub expected_commission: Wal,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NodesPage {
    pub nodes: Vec<Node>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
