//! A client of the ledger API: public reads and RFC 9421-signed writes with
//! idempotent retries. Used by `walctl`, the services and the tests.

pub mod api;
pub mod download;
pub mod health;
pub mod keyfile;
pub mod repair;
pub mod store;
pub mod upload;

use std::time::Duration;

use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::signing::{sign_request, SignatureParams};
use crate::wire::Address;
use crate::wire::Problem;

/// How long our clients keep an idle connection for reuse: under the servers' 10 s
/// header-read timeout (which also ends idle keep-alive connections), so a client
/// never sends a request on a connection the server is closing at that moment.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts of a signed POST when the ledger times out, is unreachable or answers 503.
pub const SEND_ATTEMPTS: u32 = 4;

/// Why a call to the ledger failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The ledger answered with a problem document.
    #[error("{} ({}, HTTP {})", .0.detail, .0.code, .0.status)]
    Problem(Problem),
    /// The ledger gave no (whole) answer: timeout, refused or reset connection, DNS, or a
    /// body cut off.
    #[error("cannot reach the ledger at {url}: {cause}")]
    Transport {
        /// The URL requested.
        url: String,
        /// The innermost cause (refused, reset, DNS...), or "timed out".
        cause: String,
    },
    /// The answer was not the expected one: an error status without a problem document, or
    /// a success whose body is not the expected JSON.
    #[error("unexpected answer from the ledger (HTTP {status}): {cause}")]
    Decode {
        /// The HTTP status of the answer.
        status: u16,
        /// The JSON error, or the first 200 characters of a body that is no problem document.
        cause: String,
    },
    /// A signed request was made by a client built without a signing key.
    #[error("this command needs a key: pass --key or set WAL_KEY_FILE")]
    NoKey,
    /// The request body could not be serialised to JSON; holds the serde error.
    #[error("cannot serialise the request body: {0}")]
    Body(String),
    /// The request could not be signed (e.g. a network id or nonce no structured-field
    /// string can hold); holds the reason.
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

impl ClientError {
    /// The API's UPPER_SNAKE error code if the ledger answered with a problem document.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem(p) => Some(&p.code),
            _ => None,
        }
    }
}

/// A client of one ledger: its base URL, an optional signing key for writes, and the
/// network id, fetched once, that signatures are made for.
pub struct LedgerClient {
    http: reqwest::Client,
    base_url: String,
    key: Option<SigningKey>,
    network_id: OnceCell<String>,
}

impl LedgerClient {
    /// A client of the ledger at `base_url` (a trailing `/` is dropped); `timeout` bounds each
    /// request; writes need `key`.
    #[expect(
        clippy::expect_used,
        reason = "building fails only if the TLS backend cannot initialise, where reqwest::Client::new panics too"
    )]
    pub fn new(base_url: &str, key: Option<SigningKey>, timeout: Duration) -> LedgerClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .expect("the TLS backend initialises");
        LedgerClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            network_id: OnceCell::new(),
        }
    }

    /// The address of the client's key, or `None` if it has no key.
    pub fn address(&self) -> Option<Address> {
        self.key
            .as_ref()
            .map(|k| Address::from_key(&k.verifying_key()))
    }

    /// The ledger's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GETs `path_and_query` and decodes the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, ClientError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| transport(&url, e))?;
        decode(response).await
    }

    /// The network id (signature `tag`), fetched once from `/v1/network`.
    pub async fn network_id(&self) -> Result<&str, ClientError> {
        self.network_id
            .get_or_try_init(|| async { self.network().await.map(|network| network.network_id) })
            .await
            .map(String::as_str)
    }

    /// A signed POST with an `Idempotency-Key`. After a timeout, a lost connection or a
    /// 503 it signs again (fresh nonce and `created`) and resends with the same key, so
    /// the request executes at most once.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Body(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .send_signed(Method::POST, path, &body, Some(idempotency_key))
                .await;
            let retryable = match &result {
                Err(ClientError::Transport { .. }) => true,
                Err(ClientError::Problem(p)) => {
                    p.status == StatusCode::SERVICE_UNAVAILABLE.as_u16()
                }
                _ => false,
            };
            if !retryable || attempt >= SEND_ATTEMPTS {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }

    /// Signs and sends once, decoding the answer.
    pub async fn send_signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        decode(
            self.send_signed_raw(method, path, body, idempotency_key)
                .await?,
        )
        .await
    }

    /// Signs and sends once, returning the raw response (tests read its headers).
    pub async fn send_signed_raw(
        &self,
        method: Method,
        path: &str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        let key = self.key.as_ref().ok_or(ClientError::NoKey)?;
        let network_id = self.network_id().await?;
        let (path_only, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let params = SignatureParams {
            network_id,
            created_unix_secs: chrono::Utc::now().timestamp(),
            nonce: &nonce,
        };
        let headers = sign_request(key, method.as_str(), path_only, query, body, &params)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, &url)
            .header("content-type", "application/json")
            .header("content-digest", headers.content_digest)
            .header("signature-input", headers.signature_input)
            .header("signature", headers.signature)
            .body(body.to_vec());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.map_err(|e| transport(&url, e))
    }
}

fn transport(url: &str, error: reqwest::Error) -> ClientError {
    let cause = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        // The innermost cause says what actually went wrong (refused, reset, DNS...).
        let mut cause: &dyn std::error::Error = &error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        cause.to_string()
    };
    ClientError::Transport {
        url: url.to_owned(),
        cause,
    }
}

/// Decodes a ledger response: the JSON body as `T` on a success status, else
/// `ClientError::Problem` from its problem document; `Decode` if the body is neither.
pub async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let url = response.url().to_string();
    let bytes = response.bytes().await.map_err(|e| transport(&url, e))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => ClientError::Problem(problem),
            Err(_) => ClientError::Decode {
                status: status.as_u16(),
                cause: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            },
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        cause: e.to_string(),
    })
}
