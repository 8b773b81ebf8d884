//! Stakes: WAL delegated to a node's pool (ECONOMICS.md, "Staking").
//!
//! A stake made in epoch e is *pending*: its WAL sits in the node's pending account and
//! earns nothing. At the change into e+1 it becomes *active*: the pending WAL joins the
//! pool and the stake holds `principal * shares / wal` pool shares at the pool's rate
//! of that change (written in `pool_rates`). Its value is then `shares * pool WAL /
//! pool shares`, computed on read: rewards and slashes reach every stake without
//! touching its row. Withdrawing pending stake refunds the principal at once;
//! withdrawing active stake in epoch e pays its value at the change into e+1.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::epochs::EpochLock;
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::money::Wal;
use crate::staking::pool::Pool;
use crate::wire::ids::{NodeId, StakeId};

/// The body of `POST /v1/stakes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StakeRequest {
    /// The node whose pool the stake joins.
    #[schema(pattern = "^[1-9][0-9]{0,17}$")]
    pub node_id: String,
    /// WAL to stake, at least `stake_min` (GET /v1/params).
    pub amount: Wal,
}

/// Where a stake is in its life, as of the current epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StakeStatus {
    /// Made this epoch; active from the next.
    Pending,
    /// In the node's pool since an epoch change: earns rewards and bears slashes.
    Active,
    /// Asked to withdraw; paid at the next epoch change.
    Withdrawing,
    /// Paid out to its owner (or refunded while pending); the stake is over.
    Withdrawn,
}

/// A stake as the API shows it (`GET /v1/stakes/{id}`).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stake {
    /// The stake's server-made id, as `GET /v1/stakes/{id}` takes it.
    pub id: String,
    /// Address of the account that staked; withdrawals are paid to it.
    pub owner: String,
    /// The node whose pool holds the stake.
    pub node_id: String,
    /// WAL staked (at least `stake_min` when it was made).
    pub principal: Wal,
    /// Pending, active, withdrawing or withdrawn, as of the current epoch.
    pub status: StakeStatus,
    /// The epoch in which the stake was made.
    pub staked_epoch: i64,
    /// The first epoch in which it is active: `staked_epoch + 1`.
    pub active_from_epoch: i64,
    /// Pool shares held (null while pending or if withdrawn while pending).
    pub shares: Option<String>,
    /// What the stake is worth now: the principal while pending, the shares' value
    /// while active or withdrawing, what was paid once withdrawn.
    pub value: Wal,
    /// The epoch in which withdrawal was asked for.
    pub withdraw_epoch: Option<i64>,
    /// WAL paid out once withdrawn: the principal if it was pending, else its value then.
    pub withdrawn_amount: Option<Wal>,
    /// The epoch in which it was paid: the withdrawal's own epoch for pending stake, the
    /// next one for active stake.
    pub withdrawn_epoch: Option<i64>,
    /// When the stake was made.
    pub created_at: DateTime<Utc>,
}

struct StakeRow {
    id: i64,
    owner: String,
    node_id: i64,
    principal: Decimal,
    staked_epoch: i64,
    shares: Option<Decimal>,
    withdraw_epoch: Option<i64>,
    withdrawn_amount: Option<Decimal>,
    withdrawn_epoch: Option<i64>,
    created_at: DateTime<Utc>,
    /// The pool's rate when the stake became active (None before that).
    rate_wal: Option<Decimal>,
    rate_shares: Option<Decimal>,
    /// The pool now.
    pool_wal: Decimal,
    pool_shares: Decimal,
}

fn to_u128(value: Decimal) -> Result<u128, Error> {
    value
        .to_u128()
        .ok_or_else(|| Error::internal(format!("{value} is not a share count")))
}

/// A pool from its WAL and shares as the database holds them.
fn pool_of(wal: Decimal, shares: Decimal) -> Result<Pool, Error> {
    let wal_frost = u128::try_from(Wal::from_decimal_unchecked(wal).to_frost())
        .map_err(|_| Error::internal(format!("pool WAL {wal} is negative")))?;
    Ok(Pool {
        wal_frost,
        shares: to_u128(shares)?,
    })
}

/// Shares of `principal` at a pool's rate (written at the stake's activation).
fn shares_at(principal: Decimal, rate_wal: Decimal, rate_shares: Decimal) -> Result<u128, Error> {
    Ok(pool_of(rate_wal, rate_shares)?.shares_for(Wal::from_decimal_unchecked(principal)))
}

/// The shares a stake holds: written when it asks to withdraw, else bought at its pool's
/// rate when it became active; none while pending or once paid out.
pub(super) fn held_shares(
    principal: Decimal,
    shares: Option<Decimal>,
    rate: (Option<Decimal>, Option<Decimal>),
    paid_out: bool,
) -> Result<Option<u128>, Error> {
    match (shares, rate) {
        (Some(shares), _) => Ok(Some(to_u128(shares)?)),
        (None, (Some(wal), Some(shares))) if !paid_out => {
            Ok(Some(shares_at(principal, wal, shares)?))
        }
        _ => Ok(None),
    }
}

/// What an active or withdrawing stake is worth in its pool now.
pub(super) fn value_held(pool: &Pool, shares: Option<u128>) -> Wal {
    shares.map_or(Wal::ZERO, |shares| pool.value_of(shares.min(pool.shares)))
}

impl StakeRow {
    fn view(self, epoch: i64) -> Result<Stake, Error> {
        let principal = Wal::from_decimal_unchecked(self.principal);
        let rate = (self.rate_wal, self.rate_shares);
        let paid_out = self.withdrawn_amount.is_some();
        let shares = held_shares(self.principal, self.shares, rate, paid_out)?;
        let status = match (self.withdraw_epoch, self.withdrawn_amount) {
            (_, Some(_)) => StakeStatus::Withdrawn,
            (Some(_), None) => StakeStatus::Withdrawing,
            (None, None) if self.staked_epoch >= epoch => StakeStatus::Pending,
            (None, None) => StakeStatus::Active,
        };
        let pool = pool_of(self.pool_wal, self.pool_shares)?;
        let value = match status {
            StakeStatus::Pending => principal,
            StakeStatus::Withdrawn => self
                .withdrawn_amount
                .map(Wal::from_decimal_unchecked)
                .unwrap_or(Wal::ZERO),
            StakeStatus::Active | StakeStatus::Withdrawing => value_held(&pool, shares),
        };
        Ok(Stake {
            id: self.id.to_string(),
            owner: self.owner,
            node_id: self.node_id.to_string(),
            principal,
            status,
            staked_epoch: self.staked_epoch,
            active_from_epoch: self.staked_epoch + 1,
            shares: shares.map(|s| s.to_string()),
            value,
            withdraw_epoch: self.withdraw_epoch,
            withdrawn_amount: self.withdrawn_amount.map(Wal::from_decimal_unchecked),
            withdrawn_epoch: self.withdrawn_epoch,
            created_at: self.created_at,
        })
    }
}

/// Stakes `amount` of the owner's WAL with a node (after the caller checked the amount
/// against `stake_min`), pending from the locked epoch.
pub async fn create(
    conn: &mut PgConnection,
    lock: &EpochLock,
    owner: Address,
    node_id: NodeId,
    amount: Wal,
) -> Result<Stake, Error> {
    let epoch = lock.epoch();
    let node = node_id.get();
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM nodes WHERE id = $1) AS "exists!""#,
        node
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(Error::NotFound(format!(
            "node_id: no node with id {node_id}; GET /v1/nodes lists them"
        )));
    }
    let memo = format!("stake with node {node}");
    let entry = NewEntry {
        kind: crate::ledger::kind::EntryKind::Stake,
        actor: Some(owner),
        memo: Some(&memo),
        legs: vec![
            Leg::debit(Account::User(owner), amount),
            Leg::credit(Account::System(SystemAccount::PendingStake(node)), amount),
        ],
    };
    journal::post(conn, &entry).await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO stakes (owner, node_id, principal, staked_epoch) VALUES ($1, $2, $3, $4)
           RETURNING id"#,
        owner.to_string(),
        node,
        amount.as_decimal(),
        epoch
    )
    .fetch_one(&mut *conn)
    .await?;
    find(conn, StakeId::from_row(id), epoch)
        .await?
        .ok_or_else(|| Error::internal("the new stake vanished"))
}

/// Asks to withdraw a stake (its owner only): pending stake is refunded now, active
/// stake is paid at the next epoch change.
pub async fn withdraw(
    conn: &mut PgConnection,
    lock: &EpochLock,
    signer: Address,
    id: StakeId,
) -> Result<Stake, Error> {
    let epoch = lock.epoch();
    let not_found = || Error::NotFound(format!("no stake with id {id}"));
    let stake_id = id.get();
    let row = sqlx::query!(
        r#"SELECT s.owner, s.node_id, s.principal, s.staked_epoch, s.withdraw_epoch,
                  r.wal AS "rate_wal?", r.shares AS "rate_shares?"
           FROM stakes s
           LEFT JOIN pool_rates r ON r.node_id = s.node_id AND r.epoch = s.staked_epoch + 1
           WHERE s.id = $1 FOR UPDATE OF s"#,
        stake_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    if row.owner != signer.to_string() {
        return Err(Error::Forbidden(format!(
            "stake {id} belongs to {}; only its owner may withdraw it",
            row.owner
        )));
    }
    if let Some(asked) = row.withdraw_epoch {
        return Err(Error::Conflict(format!(
            "stake {id} was already withdrawn (asked in epoch {asked}); GET /v1/stakes/{id} shows the payout"
        )));
    }
    if row.staked_epoch >= epoch {
        let principal = Wal::from_decimal_unchecked(row.principal);
        refund_pending(conn, signer, stake_id, row.node_id, principal, epoch).await?;
    } else {
        let (Some(wal), Some(shares)) = (row.rate_wal, row.rate_shares) else {
            return Err(Error::internal(format!(
                "active stake {id} has no activation rate"
            )));
        };
        let shares = shares_at(row.principal, wal, shares)?;
        sqlx::query!(
            "UPDATE stakes SET withdraw_epoch = $2, shares = $3 WHERE id = $1",
            stake_id,
            epoch,
            crate::staking::pool::shares_to_db(shares)?
        )
        .execute(&mut *conn)
        .await?;
    }
    find(conn, id, epoch)
        .await?
        .ok_or_else(|| Error::internal("the stake vanished"))
}

/// Withdrawing stake made this epoch: its principal goes back at once.
async fn refund_pending(
    conn: &mut PgConnection,
    signer: Address,
    stake_id: i64,
    node_id: i64,
    principal: Wal,
    epoch: i64,
) -> Result<(), Error> {
    let memo = format!("pending stake {stake_id} refunded");
    let entry = NewEntry {
        kind: crate::ledger::kind::EntryKind::StakeRefund,
        actor: Some(signer),
        memo: Some(&memo),
        legs: vec![
            Leg::debit(
                Account::System(SystemAccount::PendingStake(node_id)),
                principal,
            ),
            Leg::credit(Account::User(signer), principal),
        ],
    };
    journal::post(conn, &entry).await?;
    sqlx::query!(
        r#"UPDATE stakes SET withdraw_epoch = $2, withdrawn_amount = principal, withdrawn_epoch = $2
           WHERE id = $1"#,
        stake_id,
        epoch
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stake as seen in `epoch` (the current one).
pub async fn find(
    conn: &mut PgConnection,
    id: StakeId,
    epoch: i64,
) -> Result<Option<Stake>, Error> {
    let id = id.get();
    let row = sqlx::query_as!(
        StakeRow,
        r#"SELECT s.id, s.owner, s.node_id, s.principal, s.staked_epoch, s.shares, s.withdraw_epoch,
                  s.withdrawn_amount, s.withdrawn_epoch, s.created_at,
                  r.wal AS "rate_wal?", r.shares AS "rate_shares?",
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $2::text || s.node_id) AS "pool_wal!",
                  n.pool_shares
           FROM stakes s JOIN nodes n ON n.id = s.node_id
           LEFT JOIN pool_rates r ON r.node_id = s.node_id AND r.epoch = s.staked_epoch + 1
           WHERE s.id = $1"#,
        id,
        crate::ledger::account::POOL_PREFIX
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.view(epoch)).transpose()
}

/// Stakes by id, optionally of one owner and/or one node, after the id `after`.
pub async fn page(
    conn: &mut PgConnection,
    owner: Option<Address>,
    node_id: Option<NodeId>,
    after: i64,
    limit: i64,
    epoch: i64,
) -> Result<Vec<Stake>, Error> {
    let rows = sqlx::query_as!(
        StakeRow,
        r#"SELECT s.id, s.owner, s.node_id, s.principal, s.staked_epoch, s.shares, s.withdraw_epoch,
                  s.withdrawn_amount, s.withdrawn_epoch, s.created_at,
                  r.wal AS "rate_wal?", r.shares AS "rate_shares?",
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $5::text || s.node_id) AS "pool_wal!",
                  n.pool_shares
           FROM stakes s JOIN nodes n ON n.id = s.node_id
           LEFT JOIN pool_rates r ON r.node_id = s.node_id AND r.epoch = s.staked_epoch + 1
           WHERE ($1::text IS NULL OR s.owner = $1) AND ($2::bigint IS NULL OR s.node_id = $2)
             AND s.id > $3
           ORDER BY s.id LIMIT $4"#,
        owner.map(|o| o.to_string()),
        node_id.map(NodeId::get),
        after,
        limit,
        crate::ledger::account::POOL_PREFIX
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|r| r.view(epoch)).collect()
}

/// `POST /v1/stakes`: checks the request, takes the epoch lock, stakes.
pub async fn stake(
    conn: &mut PgConnection,
    lock: &EpochLock,
    owner: Address,
    request: &StakeRequest,
    total_supply: Wal,
) -> Result<Stake, Error> {
    if request.amount > total_supply {
        return Err(Error::InvalidArgument(format!(
            "amount {} exceeds the total supply of {total_supply} WAL",
            request.amount
        )));
    }
    let params = crate::params::load(conn).await?;
    if request.amount < params.stake_min || !request.amount.is_positive() {
        return Err(Error::InvalidArgument(format!(
            "amount {} is below the minimum stake of {} WAL",
            request.amount, params.stake_min
        )));
    }
    // A text that is no node id names no node: 404, as an unknown id is.
    let node_id: NodeId = request.node_id.parse().map_err(|_| {
        Error::NotFound(format!(
            "node_id: no node with id {:?}; GET /v1/nodes lists them",
            request.node_id
        ))
    })?;
    create(conn, lock, owner, node_id, request.amount).await
}
