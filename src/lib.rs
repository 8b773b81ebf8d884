//! The WAL ledger: the economic and audit layer of a Walrus-style blob store.
//!
//! # Layers
//!
//! A module imports only from the layers below it; nothing imports back up
//! (`tests/module_graph.rs` fails when a cycle between modules comes back):
//!
//! ```text
//! pure, linked by every service (no database, no server):
//!   money, encoding          exact amounts, rates and splits; blob encoding
//!   logging, env, service    logging set-up; typed environment variables; the
//!                            services' exit code and stop signal
//!   wire                     the types on the wire: ids, problem details, blobs,
//!                            audit results, challenges and confirmations
//!   http_server              the services' HTTP/1.1 server: timeouts, connection and
//!                            in-flight caps, one error envelope (feature `http-server`)
//!   signing                  RFC 9421 request signatures (sign and verify)
//!   client                   the ledger client, the sliver read and repair path
//! the ledger server (feature `server`, on by default):
//!   error, config            the API error, the ledger's typed configuration
//!   ledger                   journal (the only writer of balances), accounts, the
//!                            epoch record and lock, genesis mint, transfers, audit
//!   params                   governable parameters: definitions, bounds, history
//!   pricing, staking, storage   the domains (each: pure rules, store)
//!   audits                   audit results, slashing and jailing rules
//!   rewards                  reward distribution, subsidies, claims
//!   governance               proposals, votes by stake, the tally and its execution
//!   epoch                    the epoch change (orchestrates every domain), clock
//!   auth, http               signed requests and idempotency; the routers
//!   explorer                 the HTML pages at `/`, drawn from the http handlers
//!   app                      `Application::build`, genesis orchestration
//!   bin/                     wal-ledger (server), walctl (pure + client)
//! ```
//!
//! The storage node and the checker depend on this crate with
//! `default-features = false`: they see only the pure layers, the client and the wire
//! types.

/// A client of the API, the verified sliver read path and repair.
pub mod client;
/// Blob encoding: Reed-Solomon slivers, chunk Merkle trees, metadata and blob ids.
pub mod encoding;
/// Typed reading of environment variables (the services' configs).
pub mod env;
/// The HTTP/1.1 server every service runs, with its limits.
#[cfg(feature = "http-server")]
pub mod http_server;
/// Logging set-up shared by every binary.
pub mod logging;
/// Exact WAL amounts, rates, prices and splits that never lose a FROST.
pub mod money;
/// What every service binary shares: logging, exit code, stop signal.
pub mod service;
/// RFC 9421 request signatures with ed25519: signing (clients) and verifying (server).
pub mod signing;
/// The types ledger, services and clients exchange.
pub mod wire;

/// Building and serving the ledger process: database set-up, genesis, HTTP server.
#[cfg(feature = "server")]
pub mod app;
/// Proof-of-storage audit results, and the performance, slashing and jailing rules.
#[cfg(feature = "server")]
pub mod audits;
/// Signed requests (nonces, the exactly-once transaction) and idempotency keys.
#[cfg(feature = "server")]
pub mod auth;
/// Typed configuration of the ledger from environment variables.
#[cfg(feature = "server")]
pub mod config;
/// Epochs: the epoch change, the epoch clock, epoch views.
#[cfg(feature = "server")]
pub mod epoch;
/// The ledger's error type, rendered as RFC 9457 problem details.
#[cfg(feature = "server")]
pub mod error;
/// The web explorer the ledger serves at `/`: HTML pages with SVG charts.
#[cfg(feature = "server")]
pub mod explorer;
/// Governance by stake: proposals, votes, the tally and its execution.
#[cfg(feature = "server")]
pub mod governance;
/// HTTP routers and handlers (thin).
#[cfg(feature = "server")]
pub mod http;
/// Accounts, the journal, the epoch record, genesis, transfers, faucet and audit.
#[cfg(feature = "server")]
pub mod ledger;
/// The governable parameters: one definition each, with bounds and history.
#[cfg(feature = "server")]
pub mod params;
/// The stable storage price: quantile votes, the oracle rate, per-epoch prices, quotes.
#[cfg(feature = "server")]
pub mod pricing;
/// Rewards: reward-pool distribution, subsidies, commission claims.
#[cfg(feature = "server")]
pub mod rewards;
/// Nodes, stakes and pools (exchange rates), committees and shard apportionment.
#[cfg(feature = "server")]
pub mod staking;
/// Storage contracts and node confirmations.
#[cfg(feature = "server")]
pub mod storage;
