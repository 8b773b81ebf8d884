//! The epoch clock: a background task of every ledger process that ends the current
//! epoch once its `ends_at` has passed. Several processes may run it against one
//! database: the change itself is exactly-once (see `change`), so the loser of a race
//! finds the epoch already ended and does nothing.

use std::time::Duration;

use sqlx::PgPool;

use super::change::{advance, ChangeSettings, Outcome};

/// How often the clock looks: a tenth of the epoch, between 200 ms and 5 s.
pub fn poll_interval(epoch_duration_secs: u64) -> Duration {
    let tenth_ms = epoch_duration_secs.saturating_mul(100);
    Duration::from_millis(tenth_ms.clamp(200, 5_000))
}

/// Ends every epoch whose time has come, one change per due epoch.
pub async fn tick(pool: &PgPool, settings: ChangeSettings) -> Result<u32, crate::error::Error> {
    let mut changes = 0;
    loop {
        let due = sqlx::query_scalar!(
            r#"SELECT epoch FROM epochs
               WHERE epoch = (SELECT max(epoch) FROM epochs) AND ends_at <= now()"#
        )
        .fetch_optional(pool)
        .await?;
        match due {
            Some(epoch) => match advance(pool, epoch, settings, None).await? {
                Outcome::Advanced { .. } => changes += 1,
                Outcome::AlreadyEnded { .. } => return Ok(changes),
            },
            _ => return Ok(changes),
        }
        // An epoch started now always ends in the future, so this loop ends.
    }
}

/// Starts the epoch clock as a background task: every `poll_interval` it runs `tick`,
/// logging a failed or panicking change and trying again at the next tick.
pub fn spawn(pool: PgPool, settings: ChangeSettings) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(poll_interval(settings.epoch_duration_secs));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // Each tick in its own task: a panic in a change is logged and the clock
            // keeps going (the change itself rolled back).
            let pool = pool.clone();
            match tokio::spawn(async move { tick(&pool, settings).await }).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "epoch clock: the epoch change failed; retrying")
                }
                Err(panic) => {
                    tracing::error!(error = %panic, "epoch clock: the epoch change panicked; retrying")
                }
            }
        }
    });
}
