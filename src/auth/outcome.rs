//! What became of a transaction whose COMMIT went unanswered. When the connection is
//! lost after COMMIT was sent, the transaction may have committed or not; answering
//! "failed" could make a client that signs the request again (a fresh nonce, no
//! Idempotency-Key) pay twice. So the request's answer waits for the database's word
//! on the transaction, asked on another connection (`pg_xact_status`).

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::error::Error;

/// How long the database is asked: the server ends a transaction whose client is gone
/// as soon as it notices, so "in progress" does not last.
const OUTCOME_WAIT: Duration = Duration::from_secs(10);

/// The answer when the database cannot say whether the request committed.
const OUTCOME_UNKNOWN: &str = "the connection to the database was lost while this request \
    was being committed, and whether it was applied is not known yet: retry it with the same \
    Idempotency-Key (the retry answers as the first attempt ended), or look at the account's \
    entries before signing it again";

/// After COMMIT of transaction `xid` failed with `error`: Ok when it committed after
/// all; else the error to answer (the original one when the server refused the commit or
/// rolled the transaction back, a 503 saying so when the outcome cannot be learnt).
pub async fn after_failed_commit(
    pool: &PgPool,
    xid: &str,
    error: sqlx::Error,
) -> Result<(), Error> {
    if matches!(error, sqlx::Error::Database(_)) {
        // The server answered: the commit failed and nothing was applied.
        return Err(error.into());
    }
    let deadline = Instant::now() + OUTCOME_WAIT;
    while Instant::now() < deadline {
        let status: Result<Option<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_xact_status($1::xid8)")
                .bind(xid)
                .fetch_one(pool)
                .await;
        match status.as_ref().ok().and_then(|s| s.as_deref()) {
            Some("committed") => return Ok(()),
            Some("aborted") => return Err(error.into()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Err(Error::Unavailable(OUTCOME_UNKNOWN.into()))
}
