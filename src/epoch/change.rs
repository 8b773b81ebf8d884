//! The epoch change e -> e+1 (ECONOMICS.md, "Epoch change"), in one transaction and
//! exactly once: it holds the epoch lock exclusively and runs only if e is still the
//! current epoch, so a second trigger (the clock of another ledger process, a second
//! admin request) finds the change done and does nothing. A crash or error anywhere
//! rolls the whole change back and leaves epoch e as it was.
//!
//! Its cost is O(nodes + withdrawals of e): pools move by exchange rate, never by
//! touching every stake; pending stake sits in one account per node.
//!
//! Steps:
//! 1-2, 4. rewards of e: the slot and subsidy, the burn, the split by shards times
//!    performance (the audit pass rate in e, 1 if not challenged, 0 if slashed), the
//!    commission to the operator, the rest into the pool;
//! 3. slashing: a slashed node's pool loses `slash_rate` of its WAL and its operator
//!    the unclaimed commission, half burned and half to the subsidy pool; below
//!    `jail_threshold` it is jailed (it earned nothing in e, so doing this after the
//!    rewards gives the same balances as doing it between steps 2 and 4);
//! 5. withdrawals requested in e are paid; pending stake becomes active; the committee
//!    and shards of e+1 are chosen, then its rate and prices; epoch e+1 starts.

use std::collections::HashMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use crate::audits::{self, slashing::Tally};
use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::journal::{self, balance_of_key, Leg, NewEntry};
use crate::money::Wal;
use crate::params::{self, Params};
use crate::rewards::distribution::Distribution;
use crate::staking::committee::{apportion, assign, select};
use crate::staking::pool::Pool;

/// What a change needs besides the database: fixed at genesis and in the config.
#[derive(Clone, Copy, Debug)]
pub struct ChangeSettings {
    pub n_shards: u32,
    pub epoch_duration_secs: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Epoch `ended` is over; `ended + 1` has started.
    Advanced { ended: i64 },
    /// Someone else ended the epoch first; `current` is the epoch now.
    AlreadyEnded { current: i64 },
}

/// Ends epoch `from` in its own transaction, if it is still the current epoch.
pub async fn advance(
    pool: &PgPool,
    from: i64,
    settings: ChangeSettings,
    advanced_by: Option<Address>,
) -> Result<Outcome, Error> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let outcome = advance_in(&mut tx, from, settings, advanced_by).await?;
    tx.commit().await?;
    if let Outcome::Advanced { ended } = outcome {
        committed(ended, started.elapsed());
    }
    Ok(outcome)
}

/// Logs and counts a change once it has committed (callers of `advance_in` call this
/// after their own commit).
pub fn committed(ended: i64, elapsed: std::time::Duration) {
    tracing::info!(
        ended,
        elapsed_ms = elapsed.as_millis() as u64,
        "epoch change"
    );
    metrics::counter!("wal_epoch_changes_total").increment(1);
    metrics::histogram!("wal_epoch_change_duration_seconds").record(elapsed.as_secs_f64());
}

/// Ends epoch `from` inside the caller's transaction (the admin request's).
pub async fn advance_in(
    conn: &mut PgConnection,
    from: i64,
    settings: ChangeSettings,
    advanced_by: Option<Address>,
) -> Result<Outcome, Error> {
    let current = crate::ledger::epochs::lock_exclusive(conn).await?;
    if current != from {
        return Ok(Outcome::AlreadyEnded { current });
    }
    let next = from + 1;
    let params = params::load(conn).await?;
    let tallies = audits::record::tallies(conn, from).await?;
    let rewards = pay_rewards(conn, from, &params, &tallies).await?;
    let slashed = slash(conn, from, &params, &tallies).await?;
    let mut pools = load_pools(conn).await?;
    let withdrawals = pay_withdrawals(conn, from, &mut pools).await?;
    let activated = activate_pending(conn, next, &mut pools).await?;
    save_pool_shares(conn, &pools).await?;
    choose_committee(conn, from, &pools, &params, settings.n_shards).await?;
    let done = Done {
        rewards: &rewards,
        withdrawals: &withdrawals,
        activated,
        slashed,
    };
    record(conn, from, &done, settings, advanced_by).await?;
    // After `record`, which starts epoch e+1 (the prices row refers to it).
    crate::pricing::store::set_next(conn, next, settings.n_shards, &params).await?;
    Ok(Outcome::Advanced { ended: from })
}

fn frost_u128(amount: Wal) -> u128 {
    u128::try_from(amount.to_frost()).expect("pool balances are not negative")
}

fn wal_of_frost(frost: u128) -> Wal {
    Wal::from_frost(i64::try_from(frost).expect("within the supply"))
}

fn shares_from_db(shares: Decimal) -> Result<u128, Error> {
    shares
        .to_u128()
        .ok_or_else(|| Error::internal(format!("pool shares {shares} out of range")))
}

/// Steps 1, 2 and 4: the reward pool of epoch `epoch` to its committee.
async fn pay_rewards(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<Distribution, Error> {
    let (members, d) = crate::rewards::expected::distribution(conn, epoch, params, tallies).await?;
    let slot = Account::System(SystemAccount::Slot(epoch));
    let subsidy_pool = Account::System(SystemAccount::SubsidyPool);
    if d.reward_pool.is_positive() {
        let mut legs = vec![
            Leg::debit(slot, d.slot),
            Leg::debit(subsidy_pool, d.subsidy),
            Leg::credit(Account::System(SystemAccount::Burn), d.burned),
            Leg::credit(
                Account::System(SystemAccount::Slot(epoch + 1)),
                d.carried_to_next,
            ),
        ];
        for m in &d.members {
            legs.push(Leg::credit(
                Account::System(SystemAccount::Commission(m.node_id)),
                m.commission,
            ));
            legs.push(Leg::credit(
                Account::System(SystemAccount::Pool(m.node_id)),
                m.to_pool,
            ));
        }
        let memo = format!("rewards of epoch {epoch}");
        let entry = NewEntry {
            kind: crate::ledger::kind::EntryKind::EpochRewards,
            actor: None,
            memo: Some(&memo),
            legs,
        };
        journal::post(conn, &entry).await?;
    }
    let ids: Vec<i64> = d.members.iter().map(|m| m.node_id).collect();
    let weights: Vec<Decimal> = d.members.iter().map(|m| m.weight).collect();
    let rewards: Vec<Decimal> = d.members.iter().map(|m| m.reward.as_decimal()).collect();
    let commissions: Vec<Decimal> = d
        .members
        .iter()
        .map(|m| m.commission.as_decimal())
        .collect();
    let rates: Vec<Decimal> = members.iter().map(|m| m.commission_rate).collect();
    let performances: Vec<Decimal> = members.iter().map(|m| m.performance).collect();
    let challenges: Vec<i32> = ids
        .iter()
        .map(|&id| tally_of(tallies, id).challenges as i32)
        .collect();
    let passed: Vec<i32> = ids
        .iter()
        .map(|&id| tally_of(tallies, id).passed as i32)
        .collect();
    sqlx::query!(
        r#"UPDATE committee_members c
           SET weight = u.weight, reward = u.reward, commission = u.commission,
               commission_rate = u.rate, performance = u.performance,
               challenges = u.challenges, passed = u.passed
           FROM unnest($2::bigint[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[],
                       $7::numeric[], $8::integer[], $9::integer[])
                AS u(node_id, weight, reward, commission, rate, performance, challenges, passed)
           WHERE c.epoch = $1 AND c.node_id = u.node_id"#,
        epoch,
        &ids,
        &weights,
        &rewards,
        &commissions,
        &rates,
        &performances,
        &challenges,
        &passed
    )
    .execute(&mut *conn)
    .await?;
    Ok(d)
}

fn tally_of(tallies: &HashMap<i64, Tally>, node_id: i64) -> Tally {
    tallies.get(&node_id).copied().unwrap_or_default()
}

/// Step 3: slashes (and jails) the nodes whose audits in `epoch` fell below the
/// thresholds; returns the total slashed. Only committee members have results.
async fn slash(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<Wal, Error> {
    use audits::slashing::{verdict, Verdict};
    let mut total = Wal::ZERO;
    let mut nodes: Vec<(&i64, &Tally)> = tallies.iter().collect();
    nodes.sort_by_key(|(id, _)| **id);
    for (&node_id, &tally) in nodes {
        let jailed = match verdict(tally, params) {
            Verdict::Clean => continue,
            Verdict::Slashed => None,
            Verdict::SlashedAndJailed => Some(epoch + 1 + i64::from(params.jail_epochs)),
        };
        let pool = Account::System(SystemAccount::Pool(node_id));
        let commission = Account::System(SystemAccount::Commission(node_id));
        let s = audits::slashing::slash(
            balance_of_key(conn, &pool.key()).await?,
            balance_of_key(conn, &commission.key()).await?,
            params.slash_rate,
        );
        let memo = format!("slash of node {node_id} for epoch {epoch}");
        let entry = NewEntry {
            kind: crate::ledger::kind::EntryKind::Slash,
            actor: None,
            memo: Some(&memo),
            legs: vec![
                Leg::debit(pool, s.pool),
                Leg::debit(commission, s.commission),
                Leg::credit(Account::System(SystemAccount::Burn), s.burned),
                Leg::credit(
                    Account::System(SystemAccount::SubsidyPool),
                    s.to_subsidy_pool,
                ),
            ],
        };
        // A pool of a few FROST at a small rate may lose nothing: the slash is still
        // recorded and the jail applies, but there is no entry to post.
        if s.pool.is_positive() || s.commission.is_positive() {
            journal::post(conn, &entry).await?;
        }
        sqlx::query!(
            r#"INSERT INTO slashes (epoch, node_id, challenges, passed, pass_rate, pool_slashed,
                                    commission_slashed, burned, to_subsidy_pool, jailed_until_epoch)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
            epoch,
            node_id,
            tally.challenges as i32,
            tally.passed as i32,
            tally.pass_rate(),
            s.pool.as_decimal(),
            s.commission.as_decimal(),
            s.burned.as_decimal(),
            s.to_subsidy_pool.as_decimal(),
            jailed
        )
        .execute(&mut *conn)
        .await?;
        if let Some(until) = jailed {
            sqlx::query!(
                "UPDATE nodes SET jailed_until_epoch = greatest(jailed_until_epoch, $2) WHERE id = $1",
                node_id,
                until
            )
            .execute(&mut *conn)
            .await?;
        }
        total = total
            .checked_add(s.pool)
            .and_then(|t| t.checked_add(s.commission))
            .expect("within the supply");
    }
    Ok(total)
}

/// A node's pool and pending stake, as the change moves them.
struct NodePool {
    pool: Pool,
    pending: Wal,
    jailed_until_epoch: Option<i64>,
    shares_changed: bool,
}

/// Every node's pool (WAL from its journal account, shares from its row): O(nodes).
async fn load_pools(conn: &mut PgConnection) -> Result<HashMap<i64, NodePool>, Error> {
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
    pub count: i32,
    pub paid: Wal,
}

/// Step 5a: active stake that asked to leave during `epoch` is paid its value now,
/// after the epoch's rewards (and, later, slashes): each at its pool's rate.
async fn pay_withdrawals(
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
    let mut by_node: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_node.entry(r.node_id).or_default().push(i);
    }
    let mut paid = vec![Wal::ZERO; rows.len()];
    let mut legs = Vec::with_capacity(rows.len() + by_node.len());
    for (node_id, stake_indices) in &by_node {
        let node = pools
            .get_mut(node_id)
            .ok_or_else(|| Error::internal(format!("stake of unknown node {node_id}")))?;
        let shares = stake_indices
            .iter()
            .map(|&i| shares_from_db(rows[i].shares))
            .collect::<Result<Vec<u128>, Error>>()?;
        let (after, payouts) = node.pool.pay_out(&shares);
        let total = wal_of_frost(node.pool.wal_frost - after.wal_frost);
        legs.push(Leg::debit(
            Account::System(SystemAccount::Pool(*node_id)),
            total,
        ));
        for (&i, payout) in stake_indices.iter().zip(payouts) {
            let owner: Address = rows[i].owner.parse().map_err(Error::internal)?;
            legs.push(Leg::credit(Account::User(owner), payout));
            paid[i] = payout;
        }
        node.pool = after;
        node.shares_changed = true;
    }
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
        count: rows.len() as i32,
        paid: total,
    })
}

/// Step 5b: each node's pending stake joins its pool at the pool's rate now, which is
/// written down so that each stake's shares can be computed from it later.
async fn activate_pending(
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

async fn save_pool_shares(
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

/// Step 5c: the committee and shards of `ended + 1`, by stake, with stickiness.
async fn choose_committee(
    conn: &mut PgConnection,
    ended: i64,
    pools: &HashMap<i64, NodePool>,
    params: &Params,
    n_shards: u32,
) -> Result<(), Error> {
    let next = ended + 1;
    let candidates: Vec<(i64, Wal)> = pools
        .iter()
        .filter(|(_, n)| n.jailed_until_epoch.is_none_or(|until| until <= next))
        .map(|(&id, n)| (id, wal_of_frost(n.pool.wal_frost)))
        .collect();
    let members = select(
        &candidates,
        params.node_stake_min,
        params.committee_size_max as usize,
    );
    if members.is_empty() {
        return Ok(());
    }
    let stakes: Vec<Decimal> = members.iter().map(|(_, s)| s.as_decimal()).collect();
    let counts = apportion(n_shards, &stakes);
    let index_of: HashMap<i64, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let previous_rows = sqlx::query!(
        "SELECT node_id, shards FROM committee_members WHERE epoch = $1",
        ended
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut previous: Vec<Option<usize>> = vec![None; n_shards as usize];
    for row in previous_rows {
        for shard in row.shards {
            if let Some(slot) = previous.get_mut(shard as usize) {
                *slot = index_of.get(&row.node_id).copied();
            }
        }
    }
    let holders = assign(&counts, &previous);
    let mut shards_of: Vec<Vec<i32>> = vec![Vec::new(); members.len()];
    for (shard, &holder) in holders.iter().enumerate() {
        shards_of[holder].push(shard as i32);
    }
    let ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
    let member_stakes: Vec<Decimal> = members.iter().map(|(_, s)| s.as_decimal()).collect();
    // Arrays of different lengths travel as their text form, one per member.
    let shard_lists: Vec<String> = shards_of
        .iter()
        .map(|s| {
            let list: Vec<String> = s.iter().map(i32::to_string).collect();
            format!("{{{}}}", list.join(","))
        })
        .collect();
    sqlx::query!(
        r#"INSERT INTO committee_members (epoch, node_id, stake, shards)
           SELECT $1, u.node_id, u.stake, u.shards::integer[]
           FROM unnest($2::bigint[], $3::numeric[], $4::text[]) AS u(node_id, stake, shards)"#,
        next,
        &ids,
        &member_stakes,
        &shard_lists
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the steps of a change did, for its record.
struct Done<'a> {
    rewards: &'a Distribution,
    withdrawals: &'a Withdrawals,
    activated: Wal,
    slashed: Wal,
}

/// Starts epoch `ended + 1` and records what the change did.
async fn record(
    conn: &mut PgConnection,
    ended: i64,
    done: &Done<'_>,
    settings: ChangeSettings,
    advanced_by: Option<Address>,
) -> Result<(), Error> {
    // The next epoch starts at the moment of the change (not at the start of this
    // transaction, which may have waited for the epoch lock); an epoch ended early by
    // the admin gets that moment as its end.
    sqlx::query!(
        r#"WITH at AS (SELECT clock_timestamp() AS moment),
           closed AS (UPDATE epochs SET ends_at = least(ends_at, (SELECT moment FROM at))
                      WHERE epoch = $1 AND started_at < (SELECT moment FROM at))
           INSERT INTO epochs (epoch, started_at, ends_at)
           SELECT $1 + 1, moment, moment + make_interval(secs => $2) FROM at"#,
        ended,
        settings.epoch_duration_secs as f64
    )
    .execute(&mut *conn)
    .await?;
    let Done {
        rewards,
        withdrawals,
        activated,
        slashed,
    } = done;
    let distributed =
        Wal::checked_sum(rewards.members.iter().map(|m| m.reward)).expect("within the supply");
    sqlx::query!(
        r#"INSERT INTO epoch_changes (epoch, reward_slot, subsidy, reward_pool, burned, distributed,
                                      carried_to_next, stake_activated, withdrawals_paid, withdrawals,
                                      advanced_by, slashed)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
        ended,
        rewards.slot.as_decimal(),
        rewards.subsidy.as_decimal(),
        rewards.reward_pool.as_decimal(),
        rewards.burned.as_decimal(),
        distributed.as_decimal(),
        rewards.carried_to_next.as_decimal(),
        activated.as_decimal(),
        withdrawals.paid.as_decimal(),
        withdrawals.count,
        advanced_by.map(|a| a.to_string()),
        slashed.as_decimal()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
