//! The one error type of the API, rendered as RFC 9457 problem details with a `code`.

use crate::wire::Problem;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every way a request can fail. The variant is the API's `code`; the text is the
/// `detail` a person can act on. Internal errors keep their cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed or out-of-bounds input (amount, address, id, query, body): 400.
    #[error("{0}")]
    InvalidArgument(String),
    /// The addressed object (node, contract, stake, proposal, blob...) is unknown: 404 `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// A state-changing request came without a signature: 401 `MISSING_SIGNATURE`.
    #[error("{0}")]
    MissingSignature(String),
    /// The signature does not verify, or its headers are malformed: 401 `INVALID_SIGNATURE`.
    #[error("{0}")]
    InvalidSignature(String),
    /// The signature's `created` is outside the accepted clock-skew window: 401 `STALE_SIGNATURE`.
    #[error("{0}")]
    StaleSignature(String),
    /// The signature's nonce was already used by this `keyid` in the window: 401 `REPLAYED_NONCE`.
    #[error("{0}")]
    ReplayedNonce(String),
    /// The signature's `tag` is not this ledger's network id: 401 `WRONG_NETWORK`.
    #[error("{0}")]
    WrongNetwork(String),
    /// The signer may not do this (another account's object, a role it lacks): 403 `FORBIDDEN`.
    #[error("{0}")]
    Forbidden(String),
    /// The paying account's balance is below the amount to debit: 409 `INSUFFICIENT_FUNDS`.
    #[error("{0}")]
    InsufficientFunds(String),
    /// The quoted total exceeds the buyer's `max_total`: 409 `PRICE_ABOVE_LIMIT`.
    #[error("{0}")]
    PriceAboveLimit(String),
    /// The request clashes with the current state (duplicate, closed, at a limit): 409 `CONFLICT`.
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` was reused with a different body: 422 `IDEMPOTENCY_KEY_REUSED`.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// The body or the requested blob is larger than the ledger serves: 413 `PAYLOAD_TOO_LARGE`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The database, the storage nodes or genesis is not ready; retry later: 503 `UNAVAILABLE`.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or unexpected failure; the text is logged only, never sent: 500 `INTERNAL`.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A `Result` whose error defaults to the API's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The API's UPPER_SNAKE error `code` of this error, as sent in the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::MissingSignature(_) => "MISSING_SIGNATURE",
            Error::InvalidSignature(_) => "INVALID_SIGNATURE",
            Error::StaleSignature(_) => "STALE_SIGNATURE",
            Error::ReplayedNonce(_) => "REPLAYED_NONCE",
            Error::WrongNetwork(_) => "WRONG_NETWORK",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
            Error::PriceAboveLimit(_) => "PRICE_ABOVE_LIMIT",
            Error::Conflict(_) => "CONFLICT",
            Error::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            Error::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status this error is answered with (400, 401, 403, 404, 409, 413, 422, 500, 503).
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MissingSignature(_)
            | Error::InvalidSignature(_)
            | Error::StaleSignature(_)
            | Error::ReplayedNonce(_)
            | Error::WrongNetwork(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::InsufficientFunds(_) | Error::PriceAboveLimit(_) | Error::Conflict(_) => {
                StatusCode::CONFLICT
            }
            Error::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An `Internal` error from any displayable cause; the cause is logged, never sent to clients.
    pub fn internal(cause: impl std::fmt::Display) -> Error {
        Error::Internal(cause.to_string())
    }

    /// The problem document; a 5xx never shows its cause (SQL, paths) to the client.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Error::Internal(_) => {
                "the ledger hit an internal error; the request was not applied, retry later"
                    .to_owned()
            }
            other => other.to_string(),
        };
        Problem::new(status, self.code(), detail)
    }
}

/// Whether a database error means the database is unreachable, starting, stopping or
/// out of connections, not that the request was wrong: a broken connection (I/O, TLS,
/// protocol, a crashed pool worker, a pool timed out or closed) or a server SQLSTATE
/// of class 08 (connection exception), 57P (operator intervention: `admin_shutdown`
/// when it restarts, `crash_shutdown`, `cannot_connect_now` while it starts) or 53300
/// (too many connections).
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            return Error::Unavailable(
                "the database is unreachable or restarting; retry shortly".into(),
            );
        }
        Error::Internal(format!("database: {err}"))
    }
}

impl From<crate::signing::SignatureError> for Error {
    fn from(err: crate::signing::SignatureError) -> Self {
        use crate::signing::SignatureError as S;
        match err {
            S::Missing(detail) => Error::MissingSignature(detail),
            S::Invalid(detail) => Error::InvalidSignature(detail),
            S::Stale(detail) => Error::StaleSignature(detail),
            S::WrongNetwork(detail) => Error::WrongNetwork(detail),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        problem_response(&self.to_problem())
    }
}

/// A problem document as the response: its own `status`, `application/problem+json`,
/// and `Retry-After` on a 503.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    #[expect(
        clippy::expect_used,
        reason = "a Problem is strings and a u16; serialising it to a Vec cannot fail"
    )]
    let body = serde_json::to_vec(problem).expect("problem serialises");
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
