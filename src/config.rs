//! The ledger's one typed configuration, read from environment variables with defaults.
//! Every variable is documented in the README; units are in the field names.

use std::net::SocketAddr;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::money::Wal;
use crate::wire::Address;

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub database_connections_max: u32,
    pub listen_addr: SocketAddr,
    pub network_id: String,
    /// Receives the genesis mint; only needed when genesis runs.
    pub treasury_address: Option<Address>,
    pub admin_address: Option<Address>,
    pub oracle_address: Option<Address>,
    pub auditor_address: Option<Address>,
    /// The account the devnet faucet pays from; unset disables the faucet.
    pub faucet_address: Option<Address>,
    pub faucet_drip: Wal,
    pub faucet_interval_secs: u64,
    pub epoch_duration_secs: u64,
    pub n_shards: u32,
    pub signature_window_secs: u64,
    pub genesis_wal_usd: Decimal,
    pub genesis_supply: Wal,
    pub body_limit_bytes: usize,
    pub idempotency_retention_secs: u64,
    pub request_timeout_secs: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// Reads `var`, falling back to `default`, and parses it.
/// An environment variable as text, or `default` when unset (the services' plain
/// settings; the ledger's typed ones go through `Config::from_env`).
#[allow(dead_code)]
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn var<T: FromStr>(var: &'static str, default: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let value = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    value.parse().map_err(|e: T::Err| ConfigError {
        var,
        reason: e.to_string(),
        value,
    })
}

/// Reads an optional variable; unset or empty means `None`.
fn optional<T: FromStr>(var: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => {
            value
                .trim()
                .parse()
                .map(Some)
                .map_err(|e: T::Err| ConfigError {
                    var,
                    reason: e.to_string(),
                    value,
                })
        }
        _ => Ok(None),
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/wal_ledger";

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let config = Config {
            database_url: var("DATABASE_URL", DEFAULT_DATABASE_URL)?,
            database_connections_max: var("WAL_DATABASE_CONNECTIONS_MAX", "16")?,
            listen_addr: var("WAL_LISTEN_ADDR", "127.0.0.1:8080")?,
            network_id: var("WAL_NETWORK_ID", "wal-devnet")?,
            treasury_address: optional("WAL_TREASURY_ADDRESS")?,
            admin_address: optional("WAL_ADMIN_ADDRESS")?,
            oracle_address: optional("WAL_ORACLE_ADDRESS")?,
            auditor_address: optional("WAL_AUDITOR_ADDRESS")?,
            faucet_address: optional("WAL_FAUCET_ADDRESS")?,
            faucet_drip: var("WAL_FAUCET_DRIP_WAL", "100")?,
            faucet_interval_secs: var("WAL_FAUCET_INTERVAL_SECS", "60")?,
            epoch_duration_secs: var("WAL_EPOCH_DURATION_SECS", "1209600")?,
            n_shards: var("WAL_N_SHARDS", "100")?,
            signature_window_secs: var("WAL_SIGNATURE_WINDOW_SECS", "300")?,
            genesis_wal_usd: var("WAL_GENESIS_WAL_USD", "0.10")?,
            genesis_supply: var("WAL_GENESIS_SUPPLY_WAL", "5000000000")?,
            body_limit_bytes: var("WAL_BODY_LIMIT_BYTES", "262144")?,
            idempotency_retention_secs: var("WAL_IDEMPOTENCY_RETENTION_SECS", "86400")?,
            request_timeout_secs: var("WAL_REQUEST_TIMEOUT_SECS", "30")?,
        };
        config.validate()?;
        Ok(config)
    }

    /// A config for tests and embedding: defaults, with the given database.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            database_connections_max: 16,
            listen_addr: "127.0.0.1:0".parse().expect("literal address"),
            network_id: "wal-devnet".into(),
            treasury_address: None,
            admin_address: None,
            oracle_address: None,
            auditor_address: None,
            faucet_address: None,
            faucet_drip: Wal::from_wal(100),
            faucet_interval_secs: 60,
            epoch_duration_secs: 1_209_600,
            n_shards: 100,
            signature_window_secs: 300,
            genesis_wal_usd: Decimal::new(10, 2),
            genesis_supply: Wal::from_wal(5_000_000_000),
            body_limit_bytes: 262_144,
            idempotency_retention_secs: 86_400,
            request_timeout_secs: 30,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |var: &'static str, value: String, reason: &str| ConfigError {
            var,
            value,
            reason: reason.to_owned(),
        };
        if !(1..=1000).contains(&self.n_shards) {
            return Err(fail(
                "WAL_N_SHARDS",
                self.n_shards.to_string(),
                "must be 1..=1000",
            ));
        }
        if self.network_id.is_empty() || self.network_id.len() > 64 {
            return Err(fail(
                "WAL_NETWORK_ID",
                self.network_id.clone(),
                "must be 1..=64 characters",
            ));
        }
        if self.genesis_wal_usd <= Decimal::ZERO {
            return Err(fail(
                "WAL_GENESIS_WAL_USD",
                self.genesis_wal_usd.to_string(),
                "must be positive",
            ));
        }
        if !self.genesis_supply.is_positive() {
            return Err(fail(
                "WAL_GENESIS_SUPPLY_WAL",
                self.genesis_supply.to_string(),
                "must be positive",
            ));
        }
        if self.epoch_duration_secs == 0 {
            return Err(fail(
                "WAL_EPOCH_DURATION_SECS",
                "0".into(),
                "must be positive",
            ));
        }
        if self.idempotency_retention_secs < 86_400 {
            return Err(fail(
                "WAL_IDEMPOTENCY_RETENTION_SECS",
                self.idempotency_retention_secs.to_string(),
                "idempotency keys are kept at least 24 h (86400 s)",
            ));
        }
        if self.database_connections_max == 0 {
            return Err(fail(
                "WAL_DATABASE_CONNECTIONS_MAX",
                "0".into(),
                "must be positive",
            ));
        }
        Ok(())
    }
}
