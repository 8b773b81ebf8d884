//! `wal-storage-node`: keeps the slivers of the shards this node holds, verified
//! against the blob metadata before it confirms them, on disk crash-safe; serves them
//! and answers chunk challenges, signed with its protocol key.
//!
//! Configuration (environment): `WAL_NODE_KEY_FILE` (its protocol key),
//! `WAL_NODE_DATA_DIR`, `WAL_NODE_LISTEN_ADDR` (default 127.0.0.1:9000; `:0` picks a
//! port and the node prints `listening on http://ADDR`), `WAL_LEDGER_URL`,
//! `WAL_NODE_CONCURRENCY_MAX` (64), (no sliver size setting: an upload is as long as
//! the blob's metadata says, so the sliver limit follows from the blob limit),
//! `WAL_NODE_EXPIRY_INTERVAL_SECS` (30: how often it drops the slivers of blobs no
//! longer paid for).
//! It stops on SIGTERM or Ctrl-C, finishing the requests in flight.
//! It learns its node id and its shards from the ledger by its protocol key.

mod config;
mod disk;
mod error;
mod ledger;
mod routes;
mod serving;
mod transfer;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::config::Config;
use crate::disk::Disk;
use crate::ledger::Ledger;
use crate::routes::Node;

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("the protocol key: {0}")]
    Key(#[from] wal::client::keyfile::KeyFileError),
    #[error("the data directory: {0}")]
    Disk(std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    wal::service::main("wal-storage-node", run()).await
}

async fn run() -> Result<(), StartError> {
    let config = Config::from_env()?;
    let key = wal::client::keyfile::read(&config.key_file)?;
    let disk = Disk::open(&config.data_dir)
        .await
        .map_err(StartError::Disk)?;
    let ledger = Ledger::new(
        &config.ledger_url,
        hex::encode(key.verifying_key().to_bytes()),
    );
    let node = Arc::new(Node {
        key,
        disk,
        ledger,
        expiry: tokio::sync::RwLock::new(()),
        stored: AtomicU64::new(0),
        served: AtomicU64::new(0),
        challenges: AtomicU64::new(0),
    });
    routes::spawn_expiry(node.clone(), config.expiry_interval);
    let stop = wal::service::stop_signal().map_err(StartError::Serve)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(StartError::Serve)?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "storage node serving");
    let app = routes::router(node, config.concurrency_max);
    wal::http_server::serve(
        listener,
        app,
        config.http_limits.clone(),
        wal::http_server::problem_json,
        stop,
    )
    .await
    .map_err(StartError::Serve)?;
    tracing::info!("stopped");
    Ok(())
}
