//! Step 5a-b of the change: every node's pool, the withdrawals paid at its rate, and
//! pending stake joining it; O(nodes + withdrawals).

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::money::Wal;
use crate::staking::pool::{frost_u128, shares_from_db, wal_of_frost, Pool};

/// A node's pool and pending stake, as the change moves them.
pub(super) struct NodePool {
    pub(super) pool: Pool,
    pub(super) pending: Wal,
    pub(super) jailed_until_epoch: Option<i64>,
    pub(super) shares_changed: bool,
}

/// Every node's pool (WAL from its journal account, shares from its row): O(nodes).
pub(super) async fn load_pools(conn: &mut PgConnection) -> Result<HashMap<i64, NodePool>, Error> {
    let rows = sqlx::query!(
        r#"SELECT n.id, n.pool_shares, n.jailed_until_epoch,
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $1::text || n.id) AS "pool_wal!",
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $2::text || n.id) AS "pending!"
           FROM nodes n"#,
        crate::ledger::account::POOL_PREFIX,
        crate::ledger::account::PENDING_PREFIX
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut pools = HashMap::with_capacity(rows.len());
    for r in rows {
        let pool = Pool {
            wal_frost: frost_u128(Wal::from_decimal_unchecked(r.pool_wal)),
            shares: shares_from_db(r.pool_shares)?,
        };
        pools.insert(
            r.id,
            NodePool {
                pool,
                pending: Wal::from_decimal_unchecked(r.pending),
                jailed_until_epoch: r.jailed_until_epoch,
                shares_changed: false,
            },
        );
    }
    Ok(pools)
}

/// What the withdrawals of an epoch paid.
pub struct Withdrawals {
    /// How many withdrawing stakes were paid out.
    pub count: i32,
    /// Total WAL paid out of the pools to the stakes' owners.
    pub paid: Wal,
}

/// Step 5a: active stake that asked to leave during `epoch` is paid its value now,
/// after the epoch's rewards (and, later, slashes): each at its pool's rate.
pub(super) async fn pay_withdrawals(
    conn: &mut PgConnection,
    epoch: i64,
    pools: &mut HashMap<i64, NodePool>,
) -> Result<Withdrawals, Error> {
    let rows = sqlx::query!(
        r#"SELECT id, owner, node_id, shares AS "shares!" FROM stakes
           WHERE withdraw_epoch = $1 AND withdrawn_amount IS NULL
           ORDER BY node_id, id FOR UPDATE"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Withdrawals {
            count: 0,
            paid: Wal::ZERO,
        });
    }
    let stakes = rows
        .iter()
        .map(|r| {
            let owner: Address = r.owner.parse().map_err(Error::internal)?;
            Ok((r.node_id, owner, shares_from_db(r.shares)?))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let (legs, paid) = plan_payouts(&stakes, pools)?;
    #[expect(
        clippy::expect_used,
        reason = "the payouts come out of the pools' balances in the journal, so their sum is bounded by the supply"
    )]
    let total = Wal::checked_sum(paid.iter().copied()).expect("within the supply");
    if total.is_positive() {
        let memo = format!("withdrawals of epoch {epoch}");
        let entry = NewEntry {
            kind: crate::ledger::kind::EntryKind::StakeWithdrawals,
            actor: None,
            memo: Some(&memo),
            legs,
        };
        journal::post(conn, &entry).await?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let amounts: Vec<Decimal> = paid.iter().map(|w| w.as_decimal()).collect();
    sqlx::query!(
        r#"UPDATE stakes s SET withdrawn_amount = u.amount, withdrawn_epoch = $3
           FROM unnest($1::bigint[], $2::numeric[]) AS u(id, amount) WHERE s.id = u.id"#,
        &ids,
        &amounts,
        epoch + 1
    )
    .execute(&mut *conn)
    .await?;
    Ok(Withdrawals {
        count: i32::try_from(rows.len()).map_err(Error::internal)?,
        paid: total,
    })
}

/// Pays each withdrawing stake `(node, owner, shares)` out of its node's pool at the
/// pool's rate, in memory: the legs of the entry and each stake's payout, in order.
fn plan_payouts(
    stakes: &[(i64, Address, u128)],
    pools: &mut HashMap<i64, NodePool>,
) -> Result<(Vec<Leg>, Vec<Wal>), Error> {
    let mut by_node: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, (node_id, _, _)) in stakes.iter().enumerate() {
        by_node.entry(*node_id).or_default().push(i);
    }
    let mut paid = vec![Wal::ZERO; stakes.len()];
    let mut legs = Vec::with_capacity(stakes.len() + by_node.len());
    for (node_id, stake_indices) in &by_node {
        let node = pools
            .get_mut(node_id)
            .ok_or_else(|| Error::internal(format!("stake of unknown node {node_id}")))?;
        let shares: Vec<u128> = stake_indices.iter().map(|&i| stakes[i].2).collect();
        let (after, payouts) = node.pool.pay_out(&shares);
        let total = wal_of_frost(node.pool.wal_frost - after.wal_frost);
        legs.push(Leg::debit(
            Account::System(SystemAccount::Pool(*node_id)),
            total,
        ));
        for (&i, payout) in stake_indices.iter().zip(payouts) {
            legs.push(Leg::credit(Account::User(stakes[i].1), payout));
            paid[i] = payout;
        }
        node.pool = after;
        node.shares_changed = true;
    }
    Ok((legs, paid))
}

/// Step 5b: each node's pending stake joins its pool at the pool's rate now, which is
/// written down so that each stake's shares can be computed from it later.
pub(super) async fn activate_pending(
    conn: &mut PgConnection,
    next: i64,
    pools: &mut HashMap<i64, NodePool>,
) -> Result<Wal, Error> {
    let mut legs = Vec::new();
    let (mut ids, mut rate_wal, mut rate_shares) = (Vec::new(), Vec::new(), Vec::new());
    for (&node_id, node) in pools.iter_mut() {
        if !node.pending.is_positive() {
            continue;
        }
        ids.push(node_id);
        rate_wal.push(wal_of_frost(node.pool.wal_frost).as_decimal());
        rate_shares.push(crate::staking::pool::shares_to_db(node.pool.shares)?);
        let (after, _minted) = node.pool.deposit(node.pending);
        legs.push(Leg::debit(
            Account::System(SystemAccount::PendingStake(node_id)),
            node.pending,
        ));
        legs.push(Leg::credit(
            Account::System(SystemAccount::Pool(node_id)),
            node.pending,
        ));
        node.pool = after;
        node.pending = Wal::ZERO;
        node.shares_changed = true;
    }
    if ids.is_empty() {
        return Ok(Wal::ZERO);
    }
    #[expect(
        clippy::expect_used,
        reason = "the activated stake is pending WAL already in the journal, so its sum is bounded by the supply"
    )]
    let activated = Wal::checked_sum(
        legs.iter()
            .filter(|l| l.amount.is_positive())
            .map(|l| l.amount),
    )
    .expect("within the supply");
    let memo = format!("stake active from epoch {next}");
    let entry = NewEntry {
        kind: crate::ledger::kind::EntryKind::StakeActivation,
        actor: None,
        memo: Some(&memo),
        legs,
    };
    journal::post(conn, &entry).await?;
    sqlx::query!(
        r#"INSERT INTO pool_rates (node_id, epoch, wal, shares)
           SELECT u.node_id, $1, u.wal, u.shares
           FROM unnest($2::bigint[], $3::numeric[], $4::numeric[]) AS u(node_id, wal, shares)"#,
        next,
        &ids,
        &rate_wal,
        &rate_shares
    )
    .execute(&mut *conn)
    .await?;
    Ok(activated)
}

pub(super) async fn save_pool_shares(
    conn: &mut PgConnection,
    pools: &HashMap<i64, NodePool>,
) -> Result<(), Error> {
    let mut ids = Vec::new();
    let mut shares = Vec::new();
    for (&id, node) in pools {
        if node.shares_changed {
            ids.push(id);
            shares.push(crate::staking::pool::shares_to_db(node.pool.shares)?);
        }
    }
    sqlx::query!(
        r#"UPDATE nodes n SET pool_shares = u.shares
           FROM unnest($1::bigint[], $2::numeric[]) AS u(id, shares) WHERE n.id = u.id"#,
        &ids,
        &shares
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every node's pool as epoch `next` starts (`pool_history`, the nodes' stake and
/// exchange-rate history): one statement for all nodes.
pub(super) async fn save_pool_history(
    conn: &mut PgConnection,
    next: i64,
    pools: &HashMap<i64, NodePool>,
) -> Result<(), Error> {
    let mut ids = Vec::with_capacity(pools.len());
    let mut wal = Vec::with_capacity(pools.len());
    let mut shares = Vec::with_capacity(pools.len());
    for (&id, node) in pools {
        ids.push(id);
        wal.push(crate::staking::pool::wal_of_frost(node.pool.wal_frost).as_decimal());
        shares.push(crate::staking::pool::shares_to_db(node.pool.shares)?);
    }
    sqlx::query(
        r#"INSERT INTO pool_history (node_id, epoch, wal, shares)
           SELECT u.node_id, $1, u.wal, u.shares
           FROM unnest($2::bigint[], $3::numeric[], $4::numeric[]) AS u(node_id, wal, shares)"#,
    )
    .bind(next)
    .bind(&ids)
    .bind(&wal)
    .bind(&shares)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
