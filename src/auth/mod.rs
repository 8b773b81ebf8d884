//! Authentication of state-changing requests: RFC 9421 signatures, nonce replay
//! protection and idempotency keys.

pub mod batch;
pub mod extract;
pub mod outcome;
pub mod roles;
pub mod signed_tx;

pub use extract::{Signed, SignedJson};
pub use roles::{require, Role};

use sqlx::PgPool;

/// How long after its expiry a nonce is kept before it is deleted. A signed request
/// claims its nonce at the end of its transaction, so a replay whose transaction began
/// before the expiry must still find the row: this margin is far longer than any
/// transaction may live (statement and idle-in-transaction timeouts, see app::connect).
pub const NONCE_PURGE_MARGIN_SECS: u64 = 3600;

/// Deletes nonces whose signatures can no longer be accepted (after a margin) and
/// idempotency keys past their retention. Runs periodically; safe with several ledgers.
pub async fn purge_expired(pool: &PgPool, idempotency_retention_secs: u64) -> sqlx::Result<u64> {
    let nonces = sqlx::query!(
        "DELETE FROM signature_nonces WHERE expires_at < now() - make_interval(secs => $1)",
        NONCE_PURGE_MARGIN_SECS as f64
    )
    .execute(pool)
    .await?
    .rows_affected();
    let keys = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        idempotency_retention_secs as f64
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(nonces + keys)
}
