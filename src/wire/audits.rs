//! Audit results as the checker reports them and the ledger records them.

use serde::{Deserialize, Serialize};

use crate::wire::challenge::Answer;

/// How one challenge ended; only `pass` counts towards a node's pass rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The node answered, signed, with the right chunk and a proof that verifies.
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

/// One challenge's result in the checker's `POST /v1/audits` batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditResult {
    /// The challenge's nonce, 64 hex digits.
    pub challenge_id: String,
    /// The challenged node's id; it must be a committee member of the current epoch.
    pub node_id: String,
    /// The challenged blob's id, 64 hex digits; its storage must be certified and unexpired.
    pub blob_id: String,
    /// The shard index challenged; the node must hold it in the current epoch.
    pub shard: u32,
    /// The chunk index within the sliver, below the blob's chunks per sliver.
    pub chunk: u32,
    /// How the challenge ended.
    pub outcome: Outcome,
    /// For `fail` only: the node's signed answer.
    #[cfg_attr(feature = "server", schema(value_type = Option<Object>))]
    pub evidence: Option<Answer>,
}

/// A sliver a challenge found missing or wrong.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Loss {
    /// The node that holds the sliver.
    pub node_id: String,
    /// The blob's id, 64 hex digits.
    pub blob_id: String,
    /// The shard index of the sliver (also the sliver's index).
    pub shard: i32,
}

/// One node's recorded challenges in an epoch, as a client reads them.
#[derive(Clone, Debug, Deserialize)]
pub struct NodeTally {
    /// The node's id.
    pub node_id: String,
    /// Challenges recorded for the node in the epoch.
    pub challenges: u32,
    /// Of those, the challenges it passed (at most `challenges`).
    pub passed: u32,
}

/// `GET /v1/audits?epoch=` as a client reads it. The ledger builds its answer from its
/// own tally type (with the pass-rate rules), flattened into each node; the JSON is
/// the same.
#[derive(Clone, Debug, Deserialize)]
pub struct EpochAudits {
    /// The epoch the results were recorded in.
    pub epoch: i64,
    /// Challenges recorded per node so far (nodes with none are left out).
    pub nodes: Vec<NodeTally>,
    /// The distinct slivers found missing or wrong (a `missing` or `fail` result).
    pub losses: Vec<Loss>,
}
