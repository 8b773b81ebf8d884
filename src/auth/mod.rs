//! Authentication of state-changing requests: RFC 9421 signatures, nonce replay
//! protection and idempotency keys.

pub mod extract;
pub mod signature;
pub mod signed_tx;

pub use extract::Signed;
pub use signed_tx::SignedTx;

use sqlx::PgPool;

/// Deletes nonces whose signatures can no longer be accepted and idempotency keys past
/// their retention. Runs periodically in the ledger; safe with several ledgers.
pub async fn purge_expired(pool: &PgPool, idempotency_retention_secs: u64) -> sqlx::Result<u64> {
    let nonces = sqlx::query!("DELETE FROM signature_nonces WHERE expires_at < now()")
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
