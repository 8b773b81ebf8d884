//! The network's identity and the governable parameters, as `GET /v1/network` and
//! `GET /v1/params` show them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Wal;

/// `GET /v1/network`: the network's identity, its genesis settings and the current epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Network {
    /// The `tag` every signature must carry.
    pub network_id: String,
    /// The current epoch (0 is genesis).
    pub epoch: i64,
    /// When the current epoch started.
    pub epoch_started_at: DateTime<Utc>,
    /// When the current epoch is scheduled to end (its start plus the epoch duration).
    pub epoch_ends_at: DateTime<Utc>,
    /// Number of shards, fixed at genesis (`WAL_N_SHARDS`).
    pub n_shards: u32,
    /// WAL minted at genesis; the sum of all balances (burn account included) always equals it.
    pub total_supply: Wal,
    /// The address that received the genesis mint.
    pub treasury_address: String,
    /// When genesis ran; epoch 0 started then.
    pub genesis_at: DateTime<Utc>,
    /// The WAL/USD reference rate of epoch 0, USD per WAL, as a decimal string.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub genesis_wal_usd: Decimal,
    /// Accepted clock skew of a signature's `created`, in seconds (±, default 300).
    pub signature_window_secs: u64,
    /// Whether the devnet faucet (`POST /v1/faucet`) is on, i.e. `WAL_FAUCET_ADDRESS` is set.
    pub faucet_enabled: bool,
}

/// The governable parameters in force, as `GET /v1/params` shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Params {
    /// The least WAL one stake may hold.
    pub stake_min: Wal,
    /// The least active stake a node needs to join the committee.
    pub node_stake_min: Wal,
    /// The most nodes a committee may have; the largest by active stake are chosen (default 150).
    pub committee_size_max: u32,
    /// Share of each epoch's reward pool that is burned.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub reward_burn_rate: Decimal,
    /// Subsidy drawn from the subsidy pool per epoch, as a fraction of the reward slot.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub subsidy_rate: Decimal,
    /// The most epochs a contract or subsidy may cover.
    pub epochs_ahead_max: u32,
    /// The most the WAL/USD reference rate may move from one epoch to the next, a fraction (0.1).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub rate_change_max: Decimal,
    /// The most a WAL storage or write price may move from one epoch to the next, a fraction (0.1).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub price_change_max: Decimal,
    /// Challenges the checker draws per committee node and epoch.
    pub audit_challenges_per_epoch: u32,
    /// Fewest challenges in an epoch for a node to be slashed.
    pub audit_challenges_min: u32,
    /// Pass rate below which a node with at least `audit_challenges_min` challenges is slashed,
    /// a fraction (default 0.9).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub slash_threshold: Decimal,
    /// Share of a slashed node's pool WAL that is taken, a fraction (default 0.05).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub slash_rate: Decimal,
    /// Pass rate below which a slashed node is also jailed, a fraction (default 0.5).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub jail_threshold: Decimal,
    /// Epochs a node jailed at an epoch change stays out of the committee (default 2).
    pub jail_epochs: u32,
    /// WAL a proposer pays into `sys:gov:deposits`; refunded unless the proposal fails
    /// quorum or is vetoed (default 1000).
    pub proposal_deposit: Wal,
    /// Whole epochs a proposal votes after the one it was made in (default 1).
    pub voting_epochs: u32,
    /// Share of the total power that must take part for a tally to count (default 0.334).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub gov_quorum: Decimal,
    /// Share of yes + no + veto that yes must exceed to pass (default 0.5).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub gov_threshold: Decimal,
    /// Share of the participation at which veto rejects and burns the deposit (default 0.334).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub gov_veto: Decimal,
    /// The most proposals voting at once (default 20).
    pub proposals_open_max: u32,
}

/// `GET /v1/params?epoch=`: the parameters in force in an epoch, each with the epoch
/// and proposal that last set it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ParamsInForce {
    /// The epoch asked for (the current one by default).
    pub epoch: i64,
    /// The values in force in that epoch, by name.
    #[serde(flatten)]
    pub params: Params,
    /// For each parameter, when and by which proposal it got that value.
    pub set_by: std::collections::BTreeMap<String, ParamSetBy>,
}

/// Where a parameter's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ParamSetBy {
    /// The first epoch in which the value was in force.
    pub epoch: i64,
    /// The proposal that set it; null for the genesis default.
    pub proposal_id: Option<String>,
}
