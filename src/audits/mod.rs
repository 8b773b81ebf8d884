//! Proof-of-storage audits (issue 5): the checker's results as the ledger records them,
//! and the pure rules of performance, slashing and jailing the epoch change applies.

pub mod history;
pub mod record;
pub mod slashing;
