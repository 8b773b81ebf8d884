//! The epoch record and the epoch lock: which epoch is current, its bounds, and the
//! advisory lock that keeps requests and epoch changes apart. Every domain reads the
//! epoch through here, so it sits at the bottom with the journal.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::Error;

/// Proof that the caller's transaction holds the shared epoch lock, with the epoch it
/// read under it. Only [`lock_shared`] makes one, so a store that takes an `EpochLock`
/// says in its signature that it must run under the lock, and cannot be called
/// without it.
#[derive(Debug)]
pub struct EpochLock {
    epoch: i64,
}

impl EpochLock {
    /// The current epoch, which cannot change before the transaction ends.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }
}

/// Takes the shared epoch lock for the rest of the caller's transaction and returns
/// the current epoch. Every request whose effect depends on the epoch calls this
/// first, so no epoch change runs while it is half done (see the staking migration).
pub async fn lock_shared(conn: &mut PgConnection) -> Result<EpochLock, Error> {
    let epoch = sqlx::query_scalar!(r#"SELECT epoch_lock_shared() AS "epoch!""#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(EpochLock { epoch })
}

/// Takes the epoch lock exclusively (epoch changes only) and returns the current epoch.
pub async fn lock_exclusive(conn: &mut PgConnection) -> Result<i64, Error> {
    let epoch = sqlx::query_scalar!(r#"SELECT epoch_lock_exclusive() AS "epoch!""#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(epoch)
}

/// The current epoch and its bounds.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EpochInfo {
    /// The epoch's number; genesis is epoch 0.
    pub epoch: i64,
    /// When the epoch started.
    pub started_at: DateTime<Utc>,
    /// When the epoch is due to end; for an ended epoch, when it did if that was earlier.
    pub ends_at: DateTime<Utc>,
}

/// The current epoch (the latest started) and its bounds, read without the epoch lock;
/// `Unavailable` before genesis.
pub async fn current_epoch(conn: &mut PgConnection) -> Result<EpochInfo, Error> {
    let row = sqlx::query_as!(
        EpochInfo,
        "SELECT epoch, started_at, ends_at FROM epochs ORDER BY epoch DESC LIMIT 1"
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or_else(|| Error::Unavailable("the ledger has no genesis yet".into()))
}

/// Epoch `epoch`, if it has started.
pub async fn epoch(conn: &mut PgConnection, epoch: i64) -> Result<Option<EpochInfo>, Error> {
    Ok(sqlx::query_as!(
        EpochInfo,
        "SELECT epoch, started_at, ends_at FROM epochs WHERE epoch = $1",
        epoch
    )
    .fetch_optional(&mut *conn)
    .await?)
}
