//! Governance by stake (ECONOMICS.md, "Governance"): anyone proposes parameter changes
//! for a deposit, stakers and operators vote, and the epoch change out of the last
//! voting epoch tallies and executes exactly once.
//!
//! - `tally`: the pure rules: power per voter (delegators inherit their operator's
//!   vote unless they vote) and the outcome, exact to the FROST;
//! - `proposals`, `votes`: the stores behind `/v1/proposals`;
//! - `power`: what a count reads, O(votes + the voters' stakes + nodes);
//! - `settle`: the tally and execution inside the epoch change.
//!
//! Proposals and votes take the shared epoch lock, the change takes it exclusively: a
//! vote commits before the change that tallies (and counts in it) or after it (and is
//! refused because voting closed), so each vote counts in exactly one tally.

pub mod power;
pub mod proposals;
pub mod settle;
pub mod tally;
pub mod votes;
