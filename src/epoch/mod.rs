//! Epochs: the epoch lock, the epoch change (ECONOMICS.md, "Epoch change"), the clock
//! that ends epochs on time, and the record of what each change did.

pub mod change;
pub mod clock;
pub mod view;

use sqlx::PgConnection;

use crate::error::Error;

/// Takes the shared epoch lock for the rest of the caller's transaction and returns
/// the current epoch. Every request whose effect depends on the epoch calls this
/// first, so no epoch change runs while it is half done (see the staking migration).
pub async fn lock_shared(conn: &mut PgConnection) -> Result<i64, Error> {
    let epoch = sqlx::query_scalar!(r#"SELECT epoch_lock_shared() AS "epoch!""#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(epoch)
}

/// Takes the epoch lock exclusively (epoch changes only) and returns the current epoch.
pub async fn lock_exclusive(conn: &mut PgConnection) -> Result<i64, Error> {
    let epoch = sqlx::query_scalar!(r#"SELECT epoch_lock_exclusive() AS "epoch!""#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(epoch)
}
