//! Nodes as `GET /v1/nodes` shows them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Wal;

/// A commission change waiting for its epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PendingCommission {
    /// The new commission rate, a fraction as a decimal string ("0.1" is 10%).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub rate: Decimal,
    /// The first epoch the rate is in force (two epochs after the one it was asked in).
    pub effective_epoch: i64,
}

/// A node as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Node {
    /// The node's id, a positive decimal integer as a string (`GET /v1/nodes/{node_id}`).
    pub id: String,
    /// The operator's address: it registered the node, may change it and claims its commission.
    pub operator: String,
    /// The display name the operator gave (1..=64 printable characters).
    pub name: String,
    /// The node's public http(s) base URL, where it serves slivers and answers challenges.
    pub endpoint: String,
    /// 64 lowercase hex digits of the ed25519 key that signs its confirmations and answers.
    pub protocol_public_key: String,
    /// The rate in force in the current epoch.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub commission_rate: Decimal,
    /// Commission changes asked for and not yet in force, by epoch.
    pub pending_commission: Vec<PendingCommission>,
    /// The node's storage price vote: USD per storage unit (1 MiB) per epoch, a decimal string.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub storage_price_vote: Decimal,
    /// The node's write price vote: USD per storage unit, paid once, a decimal string.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub write_price_vote: Decimal,
    /// The epoch the node registered in.
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
    /// The commission part of `expected_reward`, in WAL.
    pub expected_commission: Wal,
}

/// A page of `GET /v1/nodes`, in node id order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NodesPage {
    /// The nodes of this page, at most the requested `limit` (default 50, max 500).
    pub nodes: Vec<Node>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
