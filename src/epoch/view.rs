//! What the API shows of an epoch: its bounds, its committee and shards, its reward
//! slot, and, once it has ended, what its change did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::journal::balance_of_key;
use crate::money::Wal;

pub use crate::wire::epochs::{CommitteeMember, EpochChange};

/// An epoch as `GET /v1/epochs/{epoch}` and `GET /v1/epochs/current` show it: its bounds,
/// committee, reward slot and prices, and once it has ended what its change did.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochView {
    /// The epoch's number; genesis is epoch 0.
    pub epoch: i64,
    /// When the epoch started: at genesis, or at the change out of the previous epoch.
    pub started_at: DateTime<Utc>,
    /// When the epoch is due to end (its start plus the epoch duration); once it has ended,
    /// when it did, if that was earlier (an admin advance).
    pub ends_at: DateTime<Utc>,
    /// Whether the change out of this epoch has run (then `change` is set).
    pub ended: bool,
    /// WAL in this epoch's reward slot now (for an ended epoch: 0, it was paid out).
    pub reward_slot_balance: Wal,
    /// The nodes serving this epoch, with their stake and shards, in node id order.
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
