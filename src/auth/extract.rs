//! The `Signed` extractor: reads the body (bounded), verifies the RFC 9421 signature and
//! the optional `Idempotency-Key`, and hands the handler the signer and the body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::signing::{verify, Policy, RequestParts, Verified};
use crate::wire::Address;

/// What the extractor needs from the application state.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The ledger's network id; a signature's `tag` must equal it (else 401 `WRONG_NETWORK`).
    pub network_id: Arc<str>,
    /// Accepted clock skew of a signature's `created`, in seconds (`WAL_SIGNATURE_WINDOW_SECS`).
    pub signature_window_secs: u64,
    /// Largest accepted body in bytes; a larger one is 413 (`WAL_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
}

/// A request whose signature verified (nonce uniqueness is checked later, inside the
/// request's transaction, so that a rejected request does not burn its nonce).
#[derive(Clone, Debug)]
pub struct Signed {
    /// The verified signature: signer, nonce, `created` and the body's SHA-256.
    pub verified: Verified,
    /// The `Idempotency-Key` header, if sent (1..=255 visible ASCII characters).
    pub idempotency_key: Option<String>,
    /// SHA-256 over method, target and body: what "the same request" means for
    /// idempotency keys.
    pub fingerprint: [u8; 32],
    /// When the nonce may be reused, Unix seconds: `created` plus twice the window, plus 1.
    pub nonce_expires_unix_secs: i64,
    /// The request body, exactly as received and signed (at most `body_limit_bytes`).
    pub body: Bytes,
}

/// Longest accepted `Idempotency-Key`, in visible ASCII characters; a longer one is 400.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

impl Signed {
    /// The address that signed the request (the signature's `keyid`): the account acted for.
    pub fn signer(&self) -> Address {
        self.verified.signer
    }

    /// Parses the JSON body; unknown fields and malformed values are 400s.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.body.is_empty() {
            b"{}"
        } else {
            &self.body
        };
        if crate::wire::text::json_has_nul(body) {
            return Err(Error::InvalidArgument(
                "the JSON body holds a NUL character (\\u0000), which no text field accepts; \
                 remove it"
                    .into(),
            ));
        }
        serde_json::from_slice(body)
            .map_err(|e| Error::InvalidArgument(format!("invalid JSON body: {e}")))
    }
}

fn idempotency_key(headers: &http::HeaderMap) -> Result<Option<String>, Error> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::InvalidArgument(
            "send at most one Idempotency-Key header".into(),
        ));
    }
    let key = value.to_str().unwrap_or_default();
    let visible = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_LEN_MAX || !visible {
        return Err(Error::InvalidArgument(format!(
            "Idempotency-Key must be 1..={IDEMPOTENCY_KEY_LEN_MAX} visible ASCII characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

impl<S> FromRequest<S> for Signed
where
    AuthSettings: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let settings = AuthSettings::from_ref(state);
        let (parts, body) = request.into_parts();
        let too_large = || {
            Error::PayloadTooLarge(format!(
                "the body is larger than the {} bytes this ledger accepts",
                settings.body_limit_bytes
            ))
        };
        let declared_len = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_len.is_some_and(|len| len > settings.body_limit_bytes) {
            return Err(too_large());
        }
        let body = axum::body::to_bytes(body, settings.body_limit_bytes)
            .await
            .map_err(|e| {
                let cause = e.into_inner();
                if cause.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    // The client stopped sending (the server's idle timeout) or left.
                    Error::InvalidArgument(format!("the request body could not be read: {cause}"))
                }
            })?;

        let now_unix_secs = chrono::Utc::now().timestamp();
        let request_parts = RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
        };
        let policy = Policy {
            network_id: &settings.network_id,
            window_secs: settings.signature_window_secs,
            now_unix_secs,
        };
        let verified = verify(&request_parts, &body, &policy)?;
        let idempotency_key = idempotency_key(&parts.headers)?;

        let mut hasher = Sha256::new();
        hasher.update(parts.method.as_str().as_bytes());
        hasher.update(b" ");
        hasher.update(parts.uri.path().as_bytes());
        hasher.update(b"?");
        hasher.update(parts.uri.query().unwrap_or("").as_bytes());
        hasher.update(b"\n");
        hasher.update(verified.body_sha256);
        // A nonce must outlive every moment its signature could still be accepted
        // (created + window by this process's clock); the second window is margin for
        // the database's clock, which judges expiry, and for rounding to seconds.
        let nonce_expires_unix_secs =
            verified.created_unix_secs + 2 * settings.signature_window_secs as i64 + 1;
        Ok(Signed {
            verified,
            idempotency_key,
            fingerprint: hasher.finalize().into(),
            nonce_expires_unix_secs,
            body,
        })
    }
}

/// A signed request with its JSON body parsed by the extractor (an empty body reads as
/// `{}`; unknown fields and malformed values are 400s).
pub struct SignedJson<T> {
    /// The verified request, with its signer, nonce and idempotency key.
    pub signed: Signed,
    /// The body parsed as JSON into `T`.
    pub body: T,
}

impl<T> SignedJson<T> {
    /// The address that signed the request (the signature's `keyid`): the account acted for.
    pub fn signer(&self) -> Address {
        self.signed.signer()
    }
}

impl<S, T> FromRequest<S> for SignedJson<T>
where
    AuthSettings: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let signed = Signed::from_request(request, state).await?;
        let body = signed.json()?;
        Ok(SignedJson { signed, body })
    }
}
