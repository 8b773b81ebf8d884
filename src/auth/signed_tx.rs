//! The transaction of a signed request: the handler's work, then, in one statement
//! just before COMMIT, the nonce and the idempotency key with the stored response. All
//! or nothing: a request that fails changes nothing, not even its nonce.
//!
//! Claiming nonce and key *last* costs one round trip less than claiming them first,
//! and stays exactly-once: two identical requests racing with one `Idempotency-Key`
//! both do the work, but the second's key insert meets the first's committed key, so
//! the second rolls back its work and replays the stored response. (The work of a
//! request with a key always locks the signer's balance row or another row of its own,
//! so the second waits for the first to commit; and nothing waits after the final
//! statement, so the order cannot deadlock.) When the work itself fails (say, the
//! first request already spent the funds), a stored response for the key is replayed
//! instead of the error (unless the nonce itself was already used: that is always 401
//! REPLAYED_NONCE). Only successful responses are stored.
//!
//! So the work must be purely transactional: a duplicate's work runs and is rolled
//! back, and nothing outside the database may happen before COMMIT. The transaction
//! runs at the default READ COMMITTED, under which a key insert that meets a key
//! committed after the transaction began waits and then skips, rather than failing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::extract::Signed;
use crate::error::Error;

/// Response header (`Idempotent-Replayed: true`) on a response replayed for an idempotency key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

impl Signed {
    /// Runs a signed write, the one way every handler runs one: `work` in a
    /// transaction, then the nonce, the key and the stored response claimed before
    /// COMMIT (see the module docs). A store that needs the epoch lock takes the
    /// `EpochLock` that `ledger::epochs::lock_shared` gives `work`.
    pub async fn write<T: Serialize>(
        &self,
        pool: &PgPool,
        status: StatusCode,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, Error>,
    ) -> Result<Response, Error> {
        let mut stx = SignedTx::begin(pool, self).await?;
        let done = work(stx.conn()).await;
        stx.finish(done, status).await
    }
}

impl<B> super::SignedJson<B> {
    /// [`Signed::write`] for a request whose body the extractor parsed.
    pub async fn write<T: Serialize>(
        &self,
        pool: &PgPool,
        status: StatusCode,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, Error>,
    ) -> Result<Response, Error> {
        self.signed.write(pool, status, work).await
    }
}

/// The database transaction of one signed request: `begin`, do the work on `conn`, `finish`.
struct SignedTx<'r> {
    tx: Transaction<'static, Postgres>,
    pool: &'r PgPool,
    signed: &'r Signed,
    signer: String,
}

impl<'r> SignedTx<'r> {
    /// Opens the request's transaction on `pool` (nothing is claimed until `finish`).
    async fn begin(pool: &'r PgPool, signed: &'r Signed) -> Result<SignedTx<'r>, Error> {
        Ok(SignedTx {
            tx: pool.begin().await?,
            pool,
            signed,
            signer: signed.signer().to_string(),
        })
    }

    /// The transaction's connection, for the request's work.
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Ends the request: on success claims the nonce and key, stores the response and
    /// commits; on failure rolls back, and replays the key's stored response if an
    /// earlier identical request succeeded.
    async fn finish<T: Serialize>(
        self,
        work: Result<T, Error>,
        status: StatusCode,
    ) -> Result<Response, Error> {
        let SignedTx {
            mut tx,
            pool,
            signed,
            signer,
        } = self;
        let body = match work {
            Ok(body) => serde_json::to_vec(&body).map_err(Error::internal)?,
            Err(error) => {
                tx.rollback().await?;
                return signed.answer_refused(pool, error).await;
            }
        };
        let claim = claim(&mut tx, &signer, signed, status, &body).await?;
        if !claim.nonce_fresh {
            tx.rollback().await?;
            return Err(replayed_nonce(signed, &signer));
        }
        if !claim.key_claimed {
            tx.rollback().await?;
            return signed.answer_key_taken(pool).await;
        }
        if let Err(error) = tx.commit().await {
            crate::auth::outcome::after_failed_commit(pool, &claim.xid, error).await?;
        }
        Ok(json_response(status, body, false))
    }
}

impl Signed {
    /// The answer to a request whose work failed and wrote nothing: 401 REPLAYED_NONCE
    /// for a replayed signature whatever its work did now, the stored response of an
    /// earlier identical request with the same key, or else the work's error.
    pub async fn answer_refused(&self, pool: &PgPool, error: Error) -> Result<Response, Error> {
        let signer = self.signer().to_string();
        if nonce_used(pool, self, &signer).await? {
            return Err(replayed_nonce(self, &signer));
        }
        match earlier_response(pool, self, &signer).await? {
            Some(replay) => Ok(replay),
            None => Err(error),
        }
    }

    /// The answer to a request whose key an earlier request took: its stored response
    /// (or 422 if that request was a different one).
    pub(super) async fn answer_key_taken(&self, pool: &PgPool) -> Result<Response, Error> {
        earlier_response(pool, self, &self.signer().to_string())
            .await?
            .ok_or_else(|| Error::internal("idempotency key taken but no response stored"))
    }
}

pub(super) fn replayed_nonce(signed: &Signed, signer: &str) -> Error {
    Error::ReplayedNonce(format!(
        "nonce {:?} was already used by {signer}; sign the request again with a fresh nonce",
        signed.verified.nonce
    ))
}

/// Whether the request's nonce is already taken (only asked after failed work).
async fn nonce_used(pool: &PgPool, signed: &Signed, signer: &str) -> Result<bool, Error> {
    let used = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM signature_nonces
                          WHERE address = $1 AND nonce = $2 AND expires_at >= now()) AS "used!""#,
        signer,
        signed.verified.nonce
    )
    .fetch_one(pool)
    .await?;
    Ok(used)
}

/// The stored response of an earlier request with the same key, if there is one.
async fn earlier_response(
    pool: &PgPool,
    signed: &Signed,
    signer: &str,
) -> Result<Option<Response>, Error> {
    let Some(key) = &signed.idempotency_key else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    stored_response(&mut conn, signer, key, &signed.fingerprint).await
}

struct Claim {
    nonce_fresh: bool,
    /// True when the request has no key, or its key was free and now holds the response.
    key_claimed: bool,
    /// The transaction's id, to ask whether it committed when COMMIT fails.
    xid: String,
}

/// One round trip: inserts the nonce (one whose signature window is over may be
/// reused) and the idempotency key, if any, with the response to replay.
async fn claim(
    tx: &mut PgConnection,
    signer: &str,
    signed: &Signed,
    status: StatusCode,
    body: &[u8],
) -> Result<Claim, Error> {
    let row = sqlx::query!(
        r#"WITH nonce AS (
               INSERT INTO signature_nonces (address, nonce, expires_at)
               VALUES ($1, $2, to_timestamp($3))
               ON CONFLICT (address, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
               WHERE signature_nonces.expires_at < now()
               RETURNING 1),
           claim AS (
               INSERT INTO idempotency_keys (address, key, fingerprint, response_status, response_body)
               SELECT $1, $4, $5, $6, $7 WHERE $4::text IS NOT NULL
               ON CONFLICT (address, key) DO NOTHING
               RETURNING 1)
           SELECT EXISTS (SELECT 1 FROM nonce) AS "nonce_fresh!",
                  ($4::text IS NULL OR EXISTS (SELECT 1 FROM claim)) AS "key_claimed!",
                  pg_current_xact_id()::text AS "xid!""#,
        signer,
        signed.verified.nonce,
        signed.nonce_expires_unix_secs as f64,
        signed.idempotency_key.as_deref(),
        &signed.fingerprint[..],
        status.as_u16() as i16,
        body
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Claim {
        nonce_fresh: row.nonce_fresh,
        key_claimed: row.key_claimed,
        xid: row.xid,
    })
}

/// The stored response under `key`, or 422 if the key was used for another request.
async fn stored_response(
    conn: &mut PgConnection,
    signer: &str,
    key: &str,
    fingerprint: &[u8; 32],
) -> Result<Option<Response>, Error> {
    let row = sqlx::query!(
        r#"SELECT fingerprint, response_status, response_body FROM idempotency_keys
           WHERE address = $1 AND key = $2"#,
        signer,
        key
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.fingerprint != fingerprint[..] {
        return Err(Error::IdempotencyKeyReused(format!(
            "Idempotency-Key {key:?} was already used by {signer} for a different request; \
             use a new key for a new request"
        )));
    }
    let status = StatusCode::from_u16(row.response_status as u16).map_err(Error::internal)?;
    Ok(Some(json_response(status, row.response_body, true)))
}

pub(super) fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}
