//! One module per page; each reads through the JSON API's own handlers.

pub mod account;
pub mod blob;
pub mod governance;
pub mod network;
pub mod node;
pub mod prices;
pub mod search;
