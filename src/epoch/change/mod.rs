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
//! 0. governance: the proposals whose voting ends with e are tallied first, with the
//!    voting power as it stands before the change moves any stake;
//! 1-2, 4. rewards of e: the slot and subsidy, the burn, the split by shards times
//!    performance (the audit pass rate in e, 1 if not challenged, 0 if slashed), the
//!    commission to the operator, the rest into the pool;
//! 3. slashing: a slashed node's pool loses `slash_rate` of its WAL and its operator
//!    the unclaimed commission, half burned and half to the subsidy pool; below
//!    `jail_threshold` it is jailed (it earned nothing in e, so doing this after the
//!    rewards gives the same balances as doing it between steps 2 and 4);
//! 5. withdrawals requested in e are paid; pending stake becomes active; passed
//!    proposals take effect (e ran under the old values, e+1 runs under the new); the
//!    committee and shards of e+1 are chosen, then its rate and prices; epoch e+1 starts.

use sqlx::{PgConnection, PgPool};

mod committee;
mod record;
mod rewards;
mod slashing;
mod stake;

pub use stake::Withdrawals;

use crate::audits;
use crate::error::Error;
use crate::governance;
use crate::params;
use crate::wire::Address;
use committee::choose_committee;
use record::{record, Done};
use rewards::pay_rewards;
use slashing::slash;
use stake::{activate_pending, load_pools, pay_withdrawals, save_pool_history, save_pool_shares};

/// What a change needs besides the database: fixed at genesis and in the config.
#[derive(Clone, Copy, Debug)]
pub struct ChangeSettings {
    /// Shards of the network (1..=1000, fixed at genesis), apportioned to the next committee.
    pub n_shards: u32,
    /// Length of the epoch the change starts, in seconds (`WAL_EPOCH_DURATION_SECS`, > 0).
    pub epoch_duration_secs: u64,
}

/// What a request to end an epoch did: ended it, or found it already ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Epoch `ended` is over; `ended + 1` has started.
    Advanced {
        /// The number of the epoch this change closed.
        ended: i64,
    },
    /// Someone else ended the epoch first; `current` is the epoch now.
    AlreadyEnded {
        /// The epoch that is current now (later than the one asked to end).
        current: i64,
    },
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
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
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
    let proposals = governance::settle::tally_closing(conn, from, &params).await?;
    let tallies = audits::record::tallies(conn, from).await?;
    let rewards = pay_rewards(conn, from, &params, &tallies).await?;
    let slashed = slash(conn, from, &params, &tallies).await?;
    let mut pools = load_pools(conn).await?;
    let withdrawals = pay_withdrawals(conn, from, &mut pools).await?;
    let activated = activate_pending(conn, next, &mut pools).await?;
    save_pool_shares(conn, &pools).await?;
    let (params, _settled) = governance::settle::execute(conn, from, &proposals, params).await?;
    choose_committee(conn, from, &pools, &params, settings.n_shards).await?;
    let done = Done {
        rewards: &rewards,
        withdrawals: &withdrawals,
        activated,
        slashed,
    };
    record(conn, from, &done, settings, advanced_by).await?;
    // After `record`, which starts epoch e+1 (the history and prices rows refer to it).
    save_pool_history(conn, next, &pools).await?;
    crate::pricing::store::set_next(conn, next, settings.n_shards, &params).await?;
    Ok(Outcome::Advanced { ended: from })
}
