//! The network's identity and the governable parameters, as `GET /v1/network` and
//! `GET /v1/params` show them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Wal;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Network {
    /// The `tag` every signature must carry.
    pub network_id: String,
    pub epoch: i64,
    pub epoch_started_at: DateTime<Utc>,
    pub epoch_ends_at: DateTime<Utc>,
    pub n_shards: u32,
    pub total_supply: Wal,
    pub treasury_address: String,
    pub genesis_at: DateTime<Utc>,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub genesis_wal_usd: Decimal,
    pub signature_window_secs: u64,
    pub faucet_enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Params {
    /// The least WAL one stake may hold.
    pub stake_min: Wal,
    /// The least active stake a node needs to join the committee.
    pub node_stake_min: Wal,
    pub committee_size_max: u32,
    /// Share of each epoch's reward pool that is burned.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub reward_burn_rate: Decimal,
    /// Subsidy drawn from the subsidy pool per epoch, as a fraction of the reward slot.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub subsidy_rate: Decimal,
    /// The most epochs a contract or subsidy may cover.
    pub epochs_ahead_max: u32,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub rate_change_max: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub price_change_max: Decimal,
    /// Challenges the checker draws per committee node and epoch.
    pub audit_challenges_per_epoch: u32,
    /// Fewest challenges in an epoch for a node to be slashed.
    pub audit_challenges_min: u32,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub slash_threshold: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub slash_rate: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub jail_threshold: Decimal,
    pub jail_epochs: u32,
}
