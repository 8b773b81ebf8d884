//! Walrus's error envelope, as its publisher and aggregator answer every failure:
//! `{"error": {"code": <http status>, "status": "NOT_FOUND", "message": "...",
//! "details": [{"@type": "ErrorInfo", "reason": "...", "domain": "...", "metadata": {}}]}}`
//! (Walrus's `Status`; its clients refuse an `ErrorInfo` without `metadata`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The domain of our `ErrorInfo` details.
const DOMAIN: &str = "wal-gateway";

/// A refused or failed request, answered in Walrus's envelope.
#[derive(Debug)]
pub struct WalrusError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Machine-readable reason, UPPER_SNAKE (`BLOB_NOT_FOUND`, ...).
    pub reason: &'static str,
    /// What was wrong with this request, in plain words.
    pub message: String,
}

impl WalrusError {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> WalrusError {
        WalrusError {
            status,
            reason,
            message: message.into(),
        }
    }

    /// 400: a malformed parameter or body.
    pub fn invalid(reason: &'static str, message: impl Into<String>) -> WalrusError {
        WalrusError::new(StatusCode::BAD_REQUEST, reason, message)
    }

    /// 404: no such blob, contract or route.
    pub fn not_found(reason: &'static str, message: impl Into<String>) -> WalrusError {
        WalrusError::new(StatusCode::NOT_FOUND, reason, message)
    }

    /// Any other status.
    pub fn with_status(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> WalrusError {
        WalrusError::new(status, reason, message)
    }

    /// The status name Walrus writes next to the HTTP code. Walrus's clients accept only
    /// the pairs of its own table (walrus-storage-node-client, `api/errors.rs`), so every
    /// status in that table gets exactly its name there; the few statuses the table has
    /// no row for (402, 405, 409, 413, 422, 502) get the nearest AIP-193 name.
    fn status_name(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "INVALID_ARGUMENT",
            StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
            StatusCode::FORBIDDEN => "PERMISSION_DENIED",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::RANGE_NOT_SATISFIABLE => "RANGE_NOT_SATISFIABLE",
            StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => "UNAVAILABLE_FOR_LEGAL_REASONS",
            StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
            StatusCode::GATEWAY_TIMEOUT => "DEADLINE_EXCEEDED",
            StatusCode::PAYMENT_REQUIRED | StatusCode::UNPROCESSABLE_ENTITY => {
                "FAILED_PRECONDITION"
            }
            StatusCode::METHOD_NOT_ALLOWED => "UNIMPLEMENTED",
            StatusCode::CONFLICT => "ALREADY_EXISTS",
            StatusCode::PAYLOAD_TOO_LARGE => "OUT_OF_RANGE",
            _ => "INTERNAL",
        }
    }
}

impl std::fmt::Display for WalrusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.reason, self.message)
    }
}

impl IntoResponse for WalrusError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.envelope())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The HTTP server's refusals (its caps, hyper's parse errors, axum's rejections) in
/// Walrus's envelope, the API code as the `ErrorInfo` reason.
pub fn server_refusal(
    status: StatusCode,
    code: &'static str,
    detail: String,
) -> wal::http_server::Refusal {
    wal::http_server::Refusal {
        content_type: "application/json",
        body: WalrusError::with_status(status, code, detail)
            .envelope()
            .to_string()
            .into_bytes(),
    }
}

impl WalrusError {
    /// The body: Walrus's `{"error": {code, status, message, details}}`.
    fn envelope(&self) -> serde_json::Value {
        json!({"error": {
            "code": self.status.as_u16(),
            "status": self.status_name(),
            "message": self.message,
            "details": [{
                "@type": "ErrorInfo",
                "reason": self.reason,
                "domain": DOMAIN,
                "metadata": {},
            }],
        }})
    }
}

impl From<wal::client::ClientError> for WalrusError {
    /// The ledger's refusal, passed on with its status; no answer at all is a 503.
    fn from(error: wal::client::ClientError) -> WalrusError {
        match &error {
            wal::client::ClientError::Problem(p) => {
                let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let status = if status.is_server_error() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    status
                };
                WalrusError::new(
                    status,
                    "LEDGER_REFUSED",
                    format!("the ledger: {}", p.detail),
                )
            }
            _ => WalrusError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "LEDGER_UNAVAILABLE",
                error.to_string(),
            ),
        }
    }
}
