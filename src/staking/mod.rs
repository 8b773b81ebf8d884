//! Staking: storage nodes, committees and shards, pools with exchange rates (issue 3,
//! in progress: nodes and the pure rules so far).

pub mod committee;
pub mod nodes;
pub mod pool;
pub mod rates;
