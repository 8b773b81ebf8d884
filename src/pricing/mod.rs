//! The stable storage price: pure rules, oracle observations, the prices fixed for
//! each epoch at its change, and quotes.

pub mod history;
pub mod rules;
pub mod store;
