//! Rewards: the split of each epoch's reward pool (pure rules), subsidies into the
//! reward slots, and the operators' commission claims.

pub mod claim;
pub mod distribution;
pub mod expected;
pub mod members;
pub mod subsidy;
