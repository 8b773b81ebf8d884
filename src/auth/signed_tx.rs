//! The transaction of a signed request: it consumes the nonce, claims the idempotency
//! key, runs the handler's work and stores the response, all or nothing.
//!
//! Two identical requests racing with one `Idempotency-Key`: the first inserts the key
//! row; the second's insert waits on that row until the first commits, then finds the
//! stored response and replays it. If the first fails, its transaction (key row
//! included) rolls back and the second executes. Only successful responses are stored:
//! a rejected request changes nothing, so retrying it re-executes it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::extract::Signed;
use crate::error::Error;

pub const REPLAYED_HEADER: &str = "idempotent-replayed";

pub enum Begun {
    /// Execute the request inside this transaction.
    Fresh(SignedTx),
    /// An earlier request with the same key already executed: its response.
    Replay(Response),
}

pub struct SignedTx {
    tx: Transaction<'static, Postgres>,
    signer: String,
    idempotency_key: Option<String>,
}

impl SignedTx {
    pub async fn begin(pool: &PgPool, signed: &Signed) -> Result<Begun, Error> {
        let mut tx = pool.begin().await?;
        let signer = signed.signer().to_string();
        let claim = claim(&mut tx, &signer, signed).await?;
        if !claim.nonce_fresh {
            return Err(Error::ReplayedNonce(format!(
                "nonce {:?} was already used by {signer}; sign the request again with a fresh nonce",
                signed.verified.nonce
            )));
        }
        if let (Some(key), false) = (&signed.idempotency_key, claim.key_claimed) {
            let replay = stored_response(&mut tx, &signer, key, &signed.fingerprint).await?;
            tx.commit().await?;
            return Ok(Begun::Replay(replay));
        }
        Ok(Begun::Fresh(SignedTx {
            tx,
            signer,
            idempotency_key: signed.idempotency_key.clone(),
        }))
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Stores the response under the idempotency key (if any) and commits.
    pub async fn commit<T: Serialize>(
        mut self,
        status: StatusCode,
        body: &T,
    ) -> Result<Response, Error> {
        let bytes = serde_json::to_vec(body).map_err(Error::internal)?;
        if let Some(key) = &self.idempotency_key {
            sqlx::query!(
                r#"UPDATE idempotency_keys SET response_status = $3, response_body = $4
                   WHERE address = $1 AND key = $2"#,
                self.signer,
                key,
                status.as_u16() as i16,
                bytes
            )
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(json_response(status, bytes, false))
    }
}

struct Claim {
    nonce_fresh: bool,
    /// True when the request has no key, or its key was free and is now ours.
    key_claimed: bool,
}

/// One round trip: inserts the nonce (one whose signature window is over may be
/// reused) and claims the idempotency key, if any. A claim that meets another
/// request's uncommitted claim of the same key waits for it to commit or roll back.
async fn claim(tx: &mut PgConnection, signer: &str, signed: &Signed) -> Result<Claim, Error> {
    let row = sqlx::query!(
        r#"WITH nonce AS (
               INSERT INTO signature_nonces (address, nonce, expires_at)
               VALUES ($1, $2, to_timestamp($3))
               ON CONFLICT (address, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
               WHERE signature_nonces.expires_at < now()
               RETURNING 1),
           claim AS (
               INSERT INTO idempotency_keys (address, key, fingerprint)
               SELECT $1, $4, $5 WHERE $4::text IS NOT NULL
               ON CONFLICT (address, key) DO NOTHING
               RETURNING 1)
           SELECT EXISTS (SELECT 1 FROM nonce) AS "nonce_fresh!",
                  ($4::text IS NULL OR EXISTS (SELECT 1 FROM claim)) AS "key_claimed!""#,
        signer,
        signed.verified.nonce,
        signed.nonce_expires_unix_secs as f64,
        signed.idempotency_key.as_deref(),
        &signed.fingerprint[..]
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Claim {
        nonce_fresh: row.nonce_fresh,
        key_claimed: row.key_claimed,
    })
}

async fn stored_response(
    tx: &mut PgConnection,
    signer: &str,
    key: &str,
    fingerprint: &[u8; 32],
) -> Result<Response, Error> {
    let row = sqlx::query!(
        r#"SELECT fingerprint, response_status, response_body FROM idempotency_keys
           WHERE address = $1 AND key = $2"#,
        signer,
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    if row.fingerprint != fingerprint[..] {
        return Err(Error::IdempotencyKeyReused(format!(
            "Idempotency-Key {key:?} was already used by {signer} for a different request; \
             use a new key for a new request"
        )));
    }
    match (row.response_status, row.response_body) {
        (Some(status), Some(body)) => {
            let status = StatusCode::from_u16(status as u16).map_err(Error::internal)?;
            Ok(json_response(status, body, true))
        }
        _ => Err(Error::Conflict(format!(
            "a request with Idempotency-Key {key:?} is still being processed; retry shortly"
        ))),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
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
