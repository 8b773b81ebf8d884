//! Epochs and committees as `GET /v1/epochs/...` and `GET /v1/committee` show them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Wal;

/// A committee member; the reward fields are filled once its epoch has ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CommitteeMember {
    /// The node's id, an opaque string (`GET /v1/nodes/{node_id}`).
    pub node_id: String,
    /// Where the node serves slivers and challenges (as registered now).
    pub endpoint: String,
    /// The key that signs its confirmations and challenge answers (as registered now).
    pub protocol_public_key: String,
    /// The node's pool WAL when the committee was chosen.
    pub stake: Wal,
    /// The shard indices (0..n_shards) the node holds in this epoch.
    pub shards: Vec<i32>,
    /// Its audit pass rate used for the reward, 0..=1 (1 if not challenged, 0 if slashed);
    /// a decimal string, null until the epoch ended.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub performance: Option<Decimal>,
    /// Its reward from the epoch's pool in WAL, commission included; null until the epoch ended.
    pub reward: Option<Wal>,
    /// The commission rate in force in the epoch, a fraction ("0.1" is 10%); null until it ended.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub commission_rate: Option<Decimal>,
    /// The operator's part of `reward` (reward times the rate, rounded down); null until it ended.
    pub commission: Option<Wal>,
    /// The audits of this epoch as its change counted them (null until it ended).
    pub challenges: Option<i32>,
    /// Of `challenges`, those the node passed (null until the epoch ended).
    pub passed: Option<i32>,
}

impl CommitteeMember {
    /// The protocol key, if it is 64 hex digits of a valid ed25519 point.
    pub fn key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&self.protocol_public_key, &mut bytes).ok()?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
    }

    /// The shards it holds (the ledger never lists a negative one).
    pub fn shard_numbers(&self) -> Vec<u32> {
        self.shards
            .iter()
            .filter_map(|&s| u32::try_from(s).ok())
            .collect()
    }
}

/// What the change that ended an epoch did.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct EpochChange {
    /// The epoch's reward slot (prepaid fees and subsidies) when it ended.
    pub reward_slot: Wal,
    /// Drawn from the subsidy pool.
    pub subsidy: Wal,
    /// slot + subsidy.
    pub reward_pool: Wal,
    /// Burned at the change: `reward_burn_rate` of the reward pool, rounded down (not slashes).
    pub burned: Wal,
    /// Paid to the committee (commission included).
    pub distributed: Wal,
    /// Rounding remainders (or everything, with no committee) into the next slot.
    pub carried_to_next: Wal,
    /// Pending stake that became active in the next epoch.
    pub stake_activated: Wal,
    /// WAL paid to owners for active stake withdrawn during the epoch, at their pools' rates.
    pub withdrawals_paid: Wal,
    /// How many stake withdrawals were paid at the change.
    pub withdrawals: i32,
    /// Taken from slashed nodes (pools and unclaimed commission), half burned and half
    /// to the subsidy pool.
    pub slashed: Wal,
    /// When the epoch change ran.
    pub changed_at: DateTime<Utc>,
    /// The admin who ended it early, or null if its time had come.
    pub advanced_by: Option<String>,
}

/// `GET /v1/committee`: the current epoch's committee and the shards each member holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Committee {
    /// The epoch this committee serves (the current one).
    pub epoch: i64,
    /// The network's number of shards, fixed at genesis.
    pub n_shards: u32,
    /// The committee's members, in node id order.
    pub members: Vec<CommitteeMember>,
}

/// An epoch as a client reads it (`GET /v1/epochs/...`). The ledger's own view
/// (`epoch::view::EpochView`) also carries the epoch's prices, whose type lives with
/// the pricing store; this view leaves them out and ignores fields it does not know.
#[derive(Clone, Debug, Deserialize)]
pub struct EpochView {
    /// The epoch's number (0 is genesis).
    pub epoch: i64,
    /// When the epoch started: the moment of the change into it (genesis for epoch 0).
    pub started_at: DateTime<Utc>,
    /// Its scheduled end (start plus the epoch duration), or when the admin ended it early.
    pub ends_at: DateTime<Utc>,
    /// Whether the epoch's change has run (`change` is then set).
    pub ended: bool,
    /// WAL in this epoch's reward slot now (for an ended epoch: 0, it was paid out).
    pub reward_slot_balance: Wal,
    /// The epoch's committee, in node id order.
    pub committee: Vec<CommitteeMember>,
    /// Null until the epoch has ended.
    pub change: Option<EpochChange>,
}
