//! The batch's nonces and idempotency keys, claimed in its write statement (as
//! `signed_tx::claim` does for one request): sorted, so that batches claim in one order.
//!
//! Optimistic first: a plain INSERT of every claim, which a taken nonce or key makes
//! fail with a unique violation (after waiting for the transaction that holds it, if
//! that one is still open). Only then does the batch run again carefully, with
//! `ON CONFLICT` clauses that report which claims were taken (a nonce whose signature
//! window is over may be taken again). Taken claims are rare (replays and racing
//! duplicates), and `ON CONFLICT` with its reports cost about a third of the write
//! statement.

use std::collections::HashSet;

use axum::http::StatusCode;
use sqlx::types::Json;
use sqlx::PgConnection;

use super::super::extract::Signed;
use crate::ledger::batch::Write;

/// How a batch claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Plain inserts: any taken claim fails the statement (`is_taken`).
    Optimistic,
    /// Inserts that skip taken claims and report them.
    Careful,
}

/// What a posted request found taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// Its nonce (401 REPLAYED_NONCE).
    Nonce,
    /// Its idempotency key (the stored response is replayed).
    Key,
}

/// One posted request's claims and the response its key stores.
pub(super) struct Claim<'a> {
    signer: String,
    signed: &'a Signed,
    status: StatusCode,
    body: &'a [u8],
}

impl<'a> Claim<'a> {
    /// The claims of `signed`, answered with `status` and `body`.
    pub(super) fn of(signed: &'a Signed, status: StatusCode, body: &'a [u8]) -> Claim<'a> {
        Claim {
            signer: signed.signer().to_string(),
            signed,
            status,
            body,
        }
    }
}

/// What the write statement returned.
pub(super) struct Written {
    /// The claims (by index) that were taken, always none when `Optimistic` succeeds.
    pub(super) taken: Vec<(usize, Taken)>,
    /// The transaction's id, to ask whether it committed when COMMIT went unanswered.
    pub(super) xid: String,
}

/// Adds the claims to the batch's write statement and runs it.
pub(super) async fn write(
    mut write: Write<'_>,
    claims: &[Claim<'_>],
    mode: Mode,
    conn: &mut PgConnection,
) -> Result<Written, sqlx::Error> {
    push_claims(&mut write, claims, mode);
    if mode == Mode::Optimistic {
        // Referenced in this order, the nonces are inserted before the keys, as every
        // signed write claims them (left unreferenced, PostgreSQL runs data-modifying
        // CTEs last first: keys before nonces, and a request holding the same nonce and
        // key in another transaction could deadlock the batch).
        let (_, _, xid): (i64, i64, String) = write
            .select(
                "SELECT (SELECT count(*) FROM nonce), (SELECT count(*) FROM claim),
                        pg_current_xact_id()::text",
            )
            .build_query_as()
            .fetch_one(conn)
            .await?;
        return Ok(Written {
            taken: Vec::new(),
            xid,
        });
    }
    let (Json(fresh_nonces), Json(claimed_keys), xid): Claimed = write
        .select(
            "SELECT (SELECT coalesce(json_agg(json_build_array(address, nonce)), '[]') FROM nonce),
                    (SELECT coalesce(json_agg(json_build_array(address, key)), '[]') FROM claim),
                    pg_current_xact_id()::text",
        )
        .build_query_as()
        .fetch_one(conn)
        .await?;
    Ok(Written {
        taken: taken(claims, fresh_nonces, claimed_keys),
        xid,
    })
}

/// Whether `error` is an optimistic claim meeting a taken nonce or key.
pub(super) fn is_taken(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    error.is_unique_violation()
        && matches!(
            error.constraint(),
            Some("signature_nonces_pkey" | "idempotency_keys_pkey")
        )
}

type Claimed = (
    Json<Vec<(String, String)>>,
    Json<Vec<(String, String)>>,
    String,
);

fn push_claims(write: &mut Write<'_>, claims: &[Claim<'_>], mode: Mode) {
    let mut nonces = (Vec::new(), Vec::new(), Vec::new());
    let mut keys = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for claim in claims {
        let signed = claim.signed;
        nonces.0.push(claim.signer.clone());
        nonces.1.push(signed.verified.nonce.clone());
        nonces.2.push(signed.nonce_expires_unix_secs as f64);
        if let Some(key) = &signed.idempotency_key {
            keys.0.push(claim.signer.clone());
            keys.1.push(key.clone());
            keys.2.push(signed.fingerprint.to_vec());
            keys.3.push(claim.status.as_u16() as i16);
            keys.4.push(claim.body.to_vec());
        }
    }
    let (nonce_conflict, key_conflict) = match mode {
        Mode::Optimistic => (" RETURNING 1", " RETURNING 1"),
        Mode::Careful => (
            " ON CONFLICT (address, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE signature_nonces.expires_at < now() RETURNING address, nonce",
            " ON CONFLICT (address, key) DO NOTHING RETURNING address, key",
        ),
    };
    write
        .cte("nonce")
        .push("INSERT INTO signature_nonces (address, nonce, expires_at)")
        .push(" SELECT n.address, n.nonce, to_timestamp(n.expires) FROM unnest(")
        .push_bind(nonces.0)
        .push("::text[], ")
        .push_bind(nonces.1)
        .push("::text[], ")
        .push_bind(nonces.2)
        .push("::float8[]) AS n(address, nonce, expires)")
        .push(r#" ORDER BY n.address COLLATE "C", n.nonce COLLATE "C""#)
        .push(nonce_conflict)
        .push(")");
    write
        .cte("claim")
        .push("INSERT INTO idempotency_keys")
        .push(" (address, key, fingerprint, response_status, response_body)")
        .push(" SELECT * FROM unnest(")
        .push_bind(keys.0)
        .push("::text[], ")
        .push_bind(keys.1)
        .push("::text[], ")
        .push_bind(keys.2)
        .push("::bytea[], ")
        .push_bind(keys.3)
        .push("::smallint[], ")
        .push_bind(keys.4)
        .push("::bytea[]) AS k(address, key, fingerprint, status, body)")
        .push(r#" ORDER BY k.address COLLATE "C", k.key COLLATE "C""#)
        .push(key_conflict)
        .push(")");
}

/// The claims (by index) whose nonce or key the careful claim found taken.
fn taken(
    claims: &[Claim<'_>],
    fresh_nonces: Vec<(String, String)>,
    claimed_keys: Vec<(String, String)>,
) -> Vec<(usize, Taken)> {
    let fresh_nonces: HashSet<(String, String)> = fresh_nonces.into_iter().collect();
    let claimed_keys: HashSet<(String, String)> = claimed_keys.into_iter().collect();
    let mut taken = Vec::new();
    for (at, claim) in claims.iter().enumerate() {
        let signed = claim.signed;
        if !fresh_nonces.contains(&(claim.signer.clone(), signed.verified.nonce.clone())) {
            taken.push((at, Taken::Nonce));
        } else if let Some(key) = &signed.idempotency_key {
            if !claimed_keys.contains(&(claim.signer.clone(), key.clone())) {
                taken.push((at, Taken::Key));
            }
        }
    }
    taken
}
