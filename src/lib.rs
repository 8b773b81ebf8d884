//! The WAL ledger: the economic and audit layer of a Walrus-style blob store.

/// Building and serving the ledger process: database set-up, genesis, HTTP server.
pub mod app;
/// RFC 9421 request signatures, nonces and idempotency keys.
pub mod auth;
/// A client of the API: reads, signed writes, idempotent retries, key files.
pub mod client;
/// Typed configuration from environment variables.
pub mod config;
/// The one error type, rendered as RFC 9457 problem details.
pub mod error;
/// HTTP routers and handlers (thin).
pub mod http;
/// Accounts, the journal, genesis, transfers, faucet and audit.
pub mod ledger;
/// The `Wal` amount type: exact decimals with 9 fractional digits.
pub mod money;
/// Reward-pool splits (pure rules).
pub mod rewards;
/// Committees, shard apportionment and staking-pool exchange rates (pure rules).
pub mod staking;
