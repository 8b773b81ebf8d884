//! The WAL ledger: accounts, the journal (the only writer of balances), genesis,
//! transfers, the devnet faucet and the audit of the invariants.

pub mod account;
pub mod audit;
pub mod batch;
pub mod entries;
pub mod epochs;
pub mod faucet;
pub mod genesis;
pub mod journal;
pub mod kind;
pub mod transfer;
