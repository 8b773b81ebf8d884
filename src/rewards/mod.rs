//! Rewards of an epoch: the split of the reward pool. (Issue 3; the pure rules first.)

pub mod split;
