//! What the API shows of an epoch: its bounds, its committee and shards, its reward
//! slot, and, once it has ended, what its change did.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::journal::balance_of_key;
use crate::money::Wal;

/// A committee member; the reward fields are filled once its epoch has ended.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommitteeMember {
    pub node_id: String,
    /// Where the node serves slivers and challenges (as registered now).
    pub endpoint: String,
    /// The key that signs its confirmations and challenge answers (as registered now).
    pub protocol_public_key: String,
    /// The node's pool WAL when the committee was chosen.
    pub stake: Wal,
    pub shards: Vec<i32>,
    #[schema(value_type = Option<String>)]
    pub performance: Option<Decimal>,
    pub reward: Option<Wal>,
    #[schema(value_type = Option<String>)]
    pub commission_rate: Option<Decimal>,
    pub commission: Option<Wal>,
    /// The audits of this epoch as its change counted them (null until it ended).
    pub challenges: Option<i32>,
    pub passed: Option<i32>,
}

/// What the change that ended an epoch did.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochChange {
    /// The epoch's reward slot (prepaid fees and subsidies) when it ended.
    pub reward_slot: Wal,
    /// Drawn from the subsidy pool.
    pub subsidy: Wal,
    /// slot + subsidy.
    pub reward_pool: Wal,
    pub burned: Wal,
    /// Paid to the committee (commission included).
    pub distributed: Wal,
    /// Rounding remainders (or everything, with no committee) into the next slot.
    pub carried_to_next: Wal,
    /// Pending stake that became active in the next epoch.
    pub stake_activated: Wal,
    pub withdrawals_paid: Wal,
    pub withdrawals: i32,
    /// Taken from slashed nodes (pools and unclaimed commission), half burned and half
    /// to the subsidy pool.
    pub slashed: Wal,
    pub changed_at: DateTime<Utc>,
    /// The admin who ended it early, or null if its time had come.
    pub advanced_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochView {
    pub epoch: i64,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub ended: bool,
    /// WAL in this epoch's reward slot now (for an ended epoch: 0, it was paid out).
    pub reward_slot_balance: Wal,
    pub committee: Vec<CommitteeMember>,
    /// The rate and storage prices in force for the whole epoch.
    pub prices: Option<crate::pricing::store::EpochPrices>,
    /// Null until the epoch has ended.
    pub change: Option<EpochChange>,
}

/// The committee of `epoch`, in node id order.
pub async fn committee(conn: &mut PgConnection, epoch: i64) -> Result<Vec<CommitteeMember>, Error> {
    let rows = sqlx::query!(
        r#"SELECT c.node_id, n.endpoint, n.protocol_public_key, c.stake, c.shards, c.performance, c.reward,
                  c.commission_rate, c.commission, c.challenges, c.passed
           FROM committee_members c JOIN nodes n ON n.id = c.node_id
           WHERE c.epoch = $1 ORDER BY c.node_id"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CommitteeMember {
            node_id: r.node_id.to_string(),
            endpoint: r.endpoint,
            protocol_public_key: r.protocol_public_key,
            stake: Wal::from_decimal_unchecked(r.stake),
            shards: r.shards,
            performance: r.performance.map(|d| d.normalize()),
            reward: r.reward.map(Wal::from_decimal_unchecked),
            commission_rate: r.commission_rate.map(|d| d.normalize()),
            commission: r.commission.map(Wal::from_decimal_unchecked),
            challenges: r.challenges,
            passed: r.passed,
        })
        .collect())
}

/// Epoch `epoch` if it has started.
pub async fn epoch(conn: &mut PgConnection, epoch: i64) -> Result<Option<EpochView>, Error> {
    let Some(bounds) = crate::ledger::epochs::epoch(conn, epoch).await? else {
        return Ok(None);
    };
    let change = sqlx::query!(
        r#"SELECT reward_slot, subsidy, reward_pool, burned, distributed, carried_to_next,
                  stake_activated, withdrawals_paid, withdrawals, changed_at, advanced_by, slashed
           FROM epoch_changes WHERE epoch = $1"#,
        epoch
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| EpochChange {
        reward_slot: Wal::from_decimal_unchecked(r.reward_slot),
        subsidy: Wal::from_decimal_unchecked(r.subsidy),
        reward_pool: Wal::from_decimal_unchecked(r.reward_pool),
        burned: Wal::from_decimal_unchecked(r.burned),
        distributed: Wal::from_decimal_unchecked(r.distributed),
        carried_to_next: Wal::from_decimal_unchecked(r.carried_to_next),
        stake_activated: Wal::from_decimal_unchecked(r.stake_activated),
        withdrawals_paid: Wal::from_decimal_unchecked(r.withdrawals_paid),
        withdrawals: r.withdrawals,
        slashed: Wal::from_decimal_unchecked(r.slashed),
        changed_at: r.changed_at,
        advanced_by: r.advanced_by,
    });
    let slot = Account::System(SystemAccount::Slot(epoch)).key();
    Ok(Some(EpochView {
        epoch,
        started_at: bounds.started_at,
        ends_at: bounds.ends_at,
        ended: change.is_some(),
        reward_slot_balance: balance_of_key(conn, &slot).await?,
        committee: committee(conn, epoch).await?,
        prices: crate::pricing::store::prices(conn, epoch).await?,
        change,
    }))
}
