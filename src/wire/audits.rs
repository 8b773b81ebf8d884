//! Audit results as the checker reports them and the ledger records them.

use serde::{Deserialize, Serialize};

use crate::wire::challenge::Answer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// A wrong chunk or proof, signed: comes with evidence.
    Fail,
    /// The node has no such sliver (404), or gave no validly signed answer.
    Missing,
    /// No answer in time, even when asked again later in the epoch.
    Timeout,
    /// The node could not be reached.
    Unreachable,
}

impl Outcome {
    /// The outcome as the API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Missing => "missing",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditResult {
    /// The challenge's nonce, 64 hex digits.
    pub challenge_id: String,
    pub node_id: String,
    pub blob_id: String,
    pub shard: u32,
    pub chunk: u32,
    pub outcome: Outcome,
    /// For `fail` only: the node's signed answer.
    #[cfg_attr(feature = "server", schema(value_type = Option<Object>))]
    pub evidence: Option<Answer>,
}
