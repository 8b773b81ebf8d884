//! The WAL ledger: the economic and audit layer of a Walrus-style blob store.

/// Building and serving the ledger process: database set-up, genesis, HTTP server.
pub mod app;
/// Proof-of-storage audit results, and the performance, slashing and jailing rules.
pub mod audits;
/// RFC 9421 request signatures, nonces and idempotency keys.
pub mod auth;
/// A client of the API: reads, signed writes, idempotent retries, key files.
pub mod client;
/// Typed configuration from environment variables.
pub mod config;
/// Blob encoding: Reed-Solomon slivers, chunk Merkle trees, metadata and blob ids.
pub mod encoding;
/// Epochs: the epoch lock, the epoch change, the epoch clock, epoch views.
pub mod epoch;
/// The one error type, rendered as RFC 9457 problem details.
pub mod error;
/// HTTP routers and handlers (thin).
pub mod http;
/// Accounts, the journal, genesis, transfers, faucet and audit.
pub mod ledger;
/// The `Wal` amount type: exact decimals with 9 fractional digits.
pub mod money;
/// The governable parameters in force.
pub mod params;
/// The stable storage price: quantile votes, the oracle rate, per-epoch prices, quotes.
pub mod pricing;
/// Rewards: reward-pool splits (pure rules), subsidies, commission claims.
pub mod rewards;
/// Nodes, stakes and pools (exchange rates), committees and shard apportionment.
pub mod staking;
/// Storage contracts and node confirmations.
pub mod storage;
