//! The storage node's configuration, read from the environment once at start. An
//! error names the variable and the value it could not take.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wal::env::{parsed, required, text};

/// Why the configuration is refused: the variable, its value and the reason.
pub type ConfigError = wal::env::EnvError;

#[derive(Clone, Debug)]
pub struct Config {
    /// `WAL_NODE_KEY_FILE`: the protocol key (required).
    pub key_file: PathBuf,
    /// `WAL_NODE_DATA_DIR` (wal-node-data).
    pub data_dir: PathBuf,
    /// `WAL_NODE_LISTEN_ADDR` (127.0.0.1:9000; port 0 picks one).
    pub listen: SocketAddr,
    /// `WAL_LEDGER_URL` (http://127.0.0.1:8080).
    pub ledger_url: String,
    /// `WAL_NODE_CONCURRENCY_MAX` (64).
    pub concurrency_max: usize,
    /// `WAL_NODE_EXPIRY_INTERVAL_SECS` (30, at least 1).
    pub expiry_interval: Duration,
    /// `WAL_HTTP_*`: the HTTP server's timeouts and caps (`wal::http_server::Limits`).
    pub http_limits: wal::http_server::Limits,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let key_file = required("WAL_NODE_KEY_FILE", "the node's protocol key file")?;
        let expiry_secs: u64 = parsed("WAL_NODE_EXPIRY_INTERVAL_SECS", 30)?;
        if expiry_secs == 0 {
            return Err(ConfigError::Invalid {
                name: "WAL_NODE_EXPIRY_INTERVAL_SECS",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Config {
            key_file: PathBuf::from(key_file),
            data_dir: PathBuf::from(text("WAL_NODE_DATA_DIR", "wal-node-data")),
            listen: parsed(
                "WAL_NODE_LISTEN_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9000)),
            )?,
            ledger_url: text("WAL_LEDGER_URL", "http://127.0.0.1:8080"),
            concurrency_max: parsed("WAL_NODE_CONCURRENCY_MAX", 64)?,
            expiry_interval: Duration::from_secs(expiry_secs),
            http_limits: wal::http_server::Limits::from_env()?,
        })
    }
}
