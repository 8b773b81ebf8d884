//! Storage contracts: users prepay storage for a blob; the WAL goes into the reward
//! slots of the epochs it covers; nodes' signed confirmations certify it.

pub mod contracts;
