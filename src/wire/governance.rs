//! Proposals and votes as `/v1/proposals` takes and shows them (ECONOMICS.md,
//! "Governance").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Wal;

/// The body of `POST /v1/proposals`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// 1..=200 characters, no control characters.
    pub title: String,
    /// At most 10,000 characters (line breaks and tabs allowed, no other control characters).
    pub description: String,
    /// 1 to 16 parameter changes: name to the new value, as a string (`GET /v1/params`).
    pub changes: BTreeMap<String, String>,
}

/// The body of `POST /v1/proposals/{id}/votes`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// `yes`, `no`, `abstain` or `veto`.
    pub choice: String,
}

/// What a tally counts, in WAL: live while the proposal votes, final once decided.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProposalTally {
    /// Power voting yes.
    pub yes: Wal,
    /// Power voting no.
    pub no: Wal,
    /// Power abstaining (counts toward quorum only).
    pub abstain: Wal,
    /// Power vetoing.
    pub veto: Wal,
    /// The sum of every pool's WAL.
    pub total_power: Wal,
    /// Whether yes + no + abstain + veto reaches `gov_quorum` of the total power.
    pub quorum_reached: bool,
}

/// Where a proposal is: voting, or how its tally ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Taking votes until the end of `voting_ends_epoch`.
    Voting,
    /// Passed; its changes are in force from the epoch after `decided_epoch`.
    Passed,
    /// Not enough yes; the deposit was refunded.
    Rejected,
    /// Vetoed; the deposit was burned.
    Vetoed,
    /// Too little of the power took part; the deposit was burned.
    NoQuorum,
    /// Passed, but inconsistent with a proposal applied before it; nothing applied, the
    /// deposit was refunded.
    Failed,
}

impl ProposalStatus {
    /// Every status.
    pub const ALL: [ProposalStatus; 6] = [
        ProposalStatus::Voting,
        ProposalStatus::Passed,
        ProposalStatus::Rejected,
        ProposalStatus::Vetoed,
        ProposalStatus::NoQuorum,
        ProposalStatus::Failed,
    ];

    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Voting => "voting",
            ProposalStatus::Passed => "passed",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Vetoed => "vetoed",
            ProposalStatus::NoQuorum => "no_quorum",
            ProposalStatus::Failed => "failed",
        }
    }

    /// The status named `text`, if any.
    pub fn parse(text: &str) -> Option<ProposalStatus> {
        ProposalStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A proposal (`GET /v1/proposals/{id}`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Proposal {
    /// The proposal's id, a positive decimal integer as a string.
    pub id: String,
    /// The address that made it and paid the deposit.
    pub proposer: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// The parameter changes it makes if it passes.
    pub changes: BTreeMap<String, String>,
    /// The deposit paid (`proposal_deposit` when it was made).
    pub deposit: Wal,
    /// The epoch it was made in.
    pub created_epoch: i64,
    /// The last epoch of voting; the change out of it tallies.
    pub voting_ends_epoch: i64,
    /// `voting`, `passed`, `rejected`, `vetoed`, `no_quorum` or `failed`.
    pub status: ProposalStatus,
    /// While voting: what would count now; afterwards: what counted.
    pub tally: ProposalTally,
    /// The epoch whose change tallied it (null while voting).
    pub decided_epoch: Option<i64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A page of `GET /v1/proposals`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProposalsPage {
    /// Newest first.
    pub proposals: Vec<Proposal>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A vote (`POST /v1/proposals/{id}/votes`, `GET /v1/proposals/{id}/votes`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Vote {
    /// The proposal voted on.
    pub proposal_id: String,
    /// The voter's address.
    pub voter: String,
    /// Its last choice.
    pub choice: String,
    /// What the vote counts now (while voting) or counted (once decided), in WAL.
    pub power: Wal,
}

/// A page of `GET /v1/proposals/{id}/votes`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct VotesPage {
    /// By voter address.
    pub votes: Vec<Vote>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
