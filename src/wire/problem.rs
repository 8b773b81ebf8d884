//! RFC 9457 problem details: the body of every refusal, from every service.

use serde::{Deserialize, Serialize};

/// The RFC 9457 body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// One of the API's UPPER_SNAKE error codes.
    pub code: String,
}
