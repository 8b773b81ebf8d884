//! The gateway's configuration, read from the environment once at start. An error
//! names the variable and the value it could not take.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wal::env::{parsed, text};

/// Why the configuration is refused: the variable, its value and the reason.
pub type ConfigError = wal::env::EnvError;

#[derive(Clone, Debug)]
pub struct Config {
    /// `WAL_GATEWAY_KEY_FILE`: the publisher's funded key; unset, the gateway only reads.
    pub key_file: Option<PathBuf>,
    /// `WAL_GATEWAY_LISTEN_ADDR` (127.0.0.1:31415; port 0 picks one).
    pub listen: SocketAddr,
    /// `WAL_LEDGER_URL` (http://127.0.0.1:8080).
    pub ledger_url: String,
    /// `WAL_GATEWAY_BLOB_BYTES_MAX` (1 GiB): the largest body `PUT /v1/blobs` takes.
    pub blob_bytes_max: u64,
    /// `WAL_GATEWAY_EPOCHS_MAX` (53): the most epochs a `PUT` may ask for.
    pub epochs_max: u32,
    /// `WAL_GATEWAY_UPLOADS_MAX` (4): uploads at once; more are refused with 503.
    pub uploads_max: usize,
    /// `WAL_GATEWAY_TIMEOUT_SECS` (30): how long a node or the ledger may stay silent.
    pub stall: Duration,
    /// `WAL_GATEWAY_SPOOL_DIR` (the system's temporary directory): where an upload's
    /// body is kept while it is encoded and sent (it is read twice: ids, then slivers).
    pub spool_dir: PathBuf,
    /// `WAL_GATEWAY_CACHE_BYTES` (256 MiB; 0 keeps nothing): decoded stripes kept for
    /// small reads.
    pub cache_bytes: u64,
    /// `WAL_HTTP_*`: the HTTP server's timeouts and caps (`wal::http_server::Limits`).
    pub http_limits: wal::http_server::Limits,
}

fn at_least_one<T: PartialOrd + From<u8> + ToString>(
    name: &'static str,
    value: T,
) -> Result<T, ConfigError> {
    if value < T::from(1) {
        return Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let key_file = std::env::var_os("WAL_GATEWAY_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let timeout_secs: u64 = parsed("WAL_GATEWAY_TIMEOUT_SECS", 30)?;
        Ok(Config {
            key_file,
            listen: parsed(
                "WAL_GATEWAY_LISTEN_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 31415)),
            )?,
            ledger_url: text("WAL_LEDGER_URL", "http://127.0.0.1:8080"),
            blob_bytes_max: at_least_one(
                "WAL_GATEWAY_BLOB_BYTES_MAX",
                parsed("WAL_GATEWAY_BLOB_BYTES_MAX", 1u64 << 30)?,
            )?,
            epochs_max: at_least_one(
                "WAL_GATEWAY_EPOCHS_MAX",
                parsed("WAL_GATEWAY_EPOCHS_MAX", 53u32)?,
            )?,
            uploads_max: usize::try_from(at_least_one(
                "WAL_GATEWAY_UPLOADS_MAX",
                parsed("WAL_GATEWAY_UPLOADS_MAX", 4u32)?,
            )?)
            .unwrap_or(4),
            stall: Duration::from_secs(at_least_one("WAL_GATEWAY_TIMEOUT_SECS", timeout_secs)?),
            cache_bytes: parsed("WAL_GATEWAY_CACHE_BYTES", 256u64 << 20)?,
            spool_dir: PathBuf::from(text(
                "WAL_GATEWAY_SPOOL_DIR",
                &std::env::temp_dir().to_string_lossy(),
            )),
            http_limits: wal::http_server::Limits::from_env()?,
        })
    }
}
