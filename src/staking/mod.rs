//! Staking: storage nodes, stakes and their pools (exchange rates), committees and
//! shards.

pub mod committee;
pub mod counting;
pub mod nodes;
pub mod pool;
pub mod stakes;
pub mod totals;
