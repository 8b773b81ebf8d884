//! Staking: committees and shards, pools with exchange rates. (Issue 3; the pure rules
//! come first.)

pub mod committee;
pub mod pool;
