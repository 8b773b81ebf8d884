//! Wire types: what the ledger, the services and the clients exchange over HTTP. No
//! database or server code lives here, so every service can link it; the ledger derives
//! OpenAPI schemas for them only when built with the `server` feature.

pub mod address;
pub mod audits;
pub mod blobs;
pub mod challenge;
pub mod confirmation;
pub mod epochs;
pub mod governance;
pub mod ids;
pub mod network;
pub mod nodes;
pub mod problem;
pub mod text;

pub use address::{Address, AddressError};
pub use audits::{AuditResult, EpochAudits, Loss, NodeTally, Outcome};
pub use blobs::{BlobStatus, StoredBlob, StoredBlobsPage};
pub use epochs::{Committee, CommitteeMember, EpochChange, EpochView};
pub use governance::{
    Proposal, ProposalRequest, ProposalStatus, ProposalTally, ProposalsPage, Vote, VoteRequest,
    VotesPage,
};
pub use network::{Network, ParamSetBy, Params, ParamsInForce};
pub use nodes::{Node, NodesPage, PendingCommission};
pub use problem::Problem;
