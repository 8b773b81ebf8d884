//! The end of the change: epoch e+1 starts, and what the change did is recorded.

use sqlx::PgConnection;

use super::stake::Withdrawals;
use super::ChangeSettings;
use crate::error::Error;
use crate::ledger::account::Address;
use crate::money::Wal;
use crate::rewards::distribution::Distribution;

/// What the steps of a change did, for its record.
pub(super) struct Done<'a> {
    pub(super) rewards: &'a Distribution,
    pub(super) withdrawals: &'a Withdrawals,
    pub(super) activated: Wal,
    pub(super) slashed: Wal,
}

/// Starts epoch `ended + 1` and records what the change did.
pub(super) async fn record(
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
    #[expect(
        clippy::expect_used,
        reason = "the rewards are paid out of the reward pool, so their sum is bounded by the supply"
    )]
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
