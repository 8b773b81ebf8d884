//! RFC 9457 problem details: the body of every refusal, from every service.

use serde::{Deserialize, Serialize};

/// The RFC 9457 body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The problem type URI, `https://docs.wal.invalid/errors/<code in lowercase>`; JSON `type`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The HTTP status's canonical reason phrase, e.g. "Conflict".
    pub title: String,
    /// The HTTP status code of the response, repeated in the body.
    pub status: u16,
    /// What was wrong with this request, in plain words; never internals on a 5xx.
    pub detail: String,
    /// One of the API's UPPER_SNAKE error codes.
    pub code: String,
}

impl Problem {
    /// The problem document of a refusal with `status`, the API `code` and a `detail`
    /// a person can act on; `type` and `title` follow from them.
    pub fn new(status: http::StatusCode, code: &str, detail: String) -> Problem {
        Problem {
            type_uri: format!("https://docs.wal.invalid/errors/{}", code.to_lowercase()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
        }
    }
}
