//! The ledger's one typed configuration, read from environment variables with defaults.
//! Every variable is documented in the README; units are in the field names.

use std::net::SocketAddr;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::money::Wal;
use crate::wire::Address;

/// The ledger's settings, one field per environment variable (`Config::from_env`); the
/// defaults are in `DEFAULTS`, and each value is checked once when it is read.
#[derive(Clone, Debug)]
pub struct Config {
    /// PostgreSQL connection URL (`DATABASE_URL`, default `DEFAULT_DATABASE_URL`).
    pub database_url: String,
    /// Size of the database connection pool (`WAL_DATABASE_CONNECTIONS_MAX`, default 16, >= 1).
    pub database_connections_max: u32,
    /// HTTP listen address (`WAL_LISTEN_ADDR`, default `127.0.0.1:8080`; port 0 picks a free one).
    pub listen_addr: SocketAddr,
    /// The network id, the signature `tag` (`WAL_NETWORK_ID`, default `wal-devnet`, 1..=64 chars).
    pub network_id: String,
    /// Receives the genesis mint; only needed when genesis runs.
    pub treasury_address: Option<Address>,
    /// The admin role's address (`WAL_ADMIN_ADDRESS`); it may end epochs early. Unset: no admin.
    pub admin_address: Option<Address>,
    /// The oracle role's address, which posts WAL/USD prices (`WAL_ORACLE_ADDRESS`); unset: none.
    pub oracle_address: Option<Address>,
    /// The auditor role's address, posting challenge results (`WAL_AUDITOR_ADDRESS`); unset: none.
    pub auditor_address: Option<Address>,
    /// The account the devnet faucet pays from; unset disables the faucet.
    pub faucet_address: Option<Address>,
    /// WAL the faucet pays per drip (`WAL_FAUCET_DRIP_WAL`, default 100 WAL).
    pub faucet_drip: Wal,
    /// Least seconds between two drips to one recipient (`WAL_FAUCET_INTERVAL_SECS`, default 60).
    pub faucet_interval_secs: u64,
    /// Epoch length in seconds (`WAL_EPOCH_DURATION_SECS`, default 1209600 = 14 days, > 0).
    pub epoch_duration_secs: u64,
    /// Whether this process ends epochs on time (`WAL_EPOCH_CLOCK`, default true).
    pub epoch_clock: bool,
    /// Number of shards, fixed at genesis (`WAL_N_SHARDS`, default 100, 1..=1000).
    pub n_shards: u32,
    /// Accepted clock skew of a signature's `created`, seconds (`WAL_SIGNATURE_WINDOW_SECS`, 300).
    pub signature_window_secs: u64,
    /// WAL/USD reference rate of epoch 0, USD per WAL (`WAL_GENESIS_WAL_USD`, default 0.10, > 0).
    pub genesis_wal_usd: Decimal,
    /// Total supply minted at genesis (`WAL_GENESIS_SUPPLY_WAL`, default 5000000000 WAL, > 0).
    pub genesis_supply: Wal,
    /// Largest accepted request body in bytes; above it 413 (`WAL_BODY_LIMIT_BYTES`, 262144).
    pub body_limit_bytes: usize,
    /// Seconds idempotency keys are kept (`WAL_IDEMPOTENCY_RETENTION_SECS`, 86400, >= 86400).
    pub idempotency_retention_secs: u64,
    /// Longest a query may run or a transaction idle, seconds (`WAL_REQUEST_TIMEOUT_SECS`, 30).
    pub request_timeout_secs: u64,
    /// Most signed transfers committed in one transaction (`WAL_BATCH_REQUESTS_MAX`, 256, >= 1).
    pub batch_requests_max: usize,
    /// Batch transactions in flight at once (`WAL_BATCH_COMMITTERS`, default 1, 1..=64).
    pub batch_committers: usize,
    /// The HTTP server's timeouts and caps (`WAL_HTTP_*`, see `http_server::Limits`).
    pub http_limits: crate::http_server::Limits,
    /// Where the explorer's blob pages link a blob's bytes (`WAL_EXPLORER_GATEWAY_URL`, a
    /// Walrus-compatible aggregator's base URL); unset: the ledger's own aggregator read.
    pub explorer_gateway_url: Option<BaseUrl>,
}

/// An http(s) base URL with no trailing slash, at most 256 bytes and nothing a link
/// could be broken out of (no whitespace, quotes or angle brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<BaseUrl, String> {
        let url = text.trim_end_matches('/');
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or("must start with http:// or https://")?;
        let clean = |c: char| !c.is_whitespace() && !c.is_control() && !"\"'<>`".contains(c);
        if rest.is_empty() || url.len() > 256 || !url.chars().all(clean) {
            return Err("must be a URL of at most 256 characters without spaces or quotes".into());
        }
        Ok(BaseUrl(url.to_owned()))
    }
}

/// A configuration variable whose value cannot be parsed or is out of bounds.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The environment variable's name, e.g. `WAL_N_SHARDS`.
    pub var: &'static str,
    /// The offending value as read (or the default, when the variable is unset).
    pub value: String,
    /// Why the value is refused, e.g. "must be 1..=1000".
    pub reason: String,
}

/// Default of `DATABASE_URL`: the local PostgreSQL's `wal_ledger` database as user `postgres`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/wal_ledger";

/// Every variable with its default: the one source of the ledger's defaults, used by
/// `from_env` and `for_database` alike. Optional variables (addresses) have none.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("DATABASE_URL", DEFAULT_DATABASE_URL),
    ("WAL_DATABASE_CONNECTIONS_MAX", "16"),
    ("WAL_LISTEN_ADDR", "127.0.0.1:8080"),
    ("WAL_NETWORK_ID", "wal-devnet"),
    ("WAL_FAUCET_DRIP_WAL", "100"),
    ("WAL_FAUCET_INTERVAL_SECS", "60"),
    ("WAL_EPOCH_DURATION_SECS", "1209600"),
    ("WAL_EPOCH_CLOCK", "true"),
    ("WAL_N_SHARDS", "100"),
    ("WAL_SIGNATURE_WINDOW_SECS", "300"),
    ("WAL_GENESIS_WAL_USD", "0.10"),
    ("WAL_GENESIS_SUPPLY_WAL", "5000000000"),
    ("WAL_BODY_LIMIT_BYTES", "262144"),
    ("WAL_IDEMPOTENCY_RETENTION_SECS", "86400"),
    ("WAL_REQUEST_TIMEOUT_SECS", "30"),
    ("WAL_BATCH_REQUESTS_MAX", "256"),
    ("WAL_BATCH_COMMITTERS", "1"),
];

/// Where the variables come from: the environment, or only the defaults.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn default_of(var: &str) -> &'static str {
    DEFAULTS
        .iter()
        .find(|(name, _)| *name == var)
        .map_or("", |(_, value)| value)
}

/// Reads `var` (or its default) and parses it.
fn var<T: FromStr>(lookup: Lookup, var: &'static str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let value = lookup(var).unwrap_or_else(|| default_of(var).to_owned());
    value.parse().map_err(|e: T::Err| ConfigError {
        var,
        reason: e.to_string(),
        value,
    })
}

/// Reads an optional variable; unset or empty means `None`.
fn optional<T: FromStr>(lookup: Lookup, var: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match lookup(var) {
        Some(value) if !value.trim().is_empty() => {
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

impl Config {
    /// The configuration from the environment (every variable of the README).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&|name| std::env::var(name).ok())
    }

    /// A config for tests and embedding: the defaults, with the given database and
    /// port 0.
    pub fn for_database(database_url: &str) -> Config {
        #[expect(
            clippy::expect_used,
            reason = "with no variables set from_lookup reads only the defaults table, which the unit tests check is valid"
        )]
        let mut config = Config::from_lookup(&|_| None).expect("the defaults are valid");
        config.database_url = database_url.to_owned();
        config.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    fn from_lookup(lookup: Lookup) -> Result<Config, ConfigError> {
        let config = Config {
            database_url: var(lookup, "DATABASE_URL")?,
            database_connections_max: var(lookup, "WAL_DATABASE_CONNECTIONS_MAX")?,
            listen_addr: var(lookup, "WAL_LISTEN_ADDR")?,
            network_id: var(lookup, "WAL_NETWORK_ID")?,
            treasury_address: optional(lookup, "WAL_TREASURY_ADDRESS")?,
            admin_address: optional(lookup, "WAL_ADMIN_ADDRESS")?,
            oracle_address: optional(lookup, "WAL_ORACLE_ADDRESS")?,
            auditor_address: optional(lookup, "WAL_AUDITOR_ADDRESS")?,
            faucet_address: optional(lookup, "WAL_FAUCET_ADDRESS")?,
            faucet_drip: var(lookup, "WAL_FAUCET_DRIP_WAL")?,
            faucet_interval_secs: var(lookup, "WAL_FAUCET_INTERVAL_SECS")?,
            epoch_duration_secs: var(lookup, "WAL_EPOCH_DURATION_SECS")?,
            epoch_clock: var(lookup, "WAL_EPOCH_CLOCK")?,
            n_shards: var(lookup, "WAL_N_SHARDS")?,
            signature_window_secs: var(lookup, "WAL_SIGNATURE_WINDOW_SECS")?,
            genesis_wal_usd: var(lookup, "WAL_GENESIS_WAL_USD")?,
            genesis_supply: var(lookup, "WAL_GENESIS_SUPPLY_WAL")?,
            body_limit_bytes: var(lookup, "WAL_BODY_LIMIT_BYTES")?,
            idempotency_retention_secs: var(lookup, "WAL_IDEMPOTENCY_RETENTION_SECS")?,
            request_timeout_secs: var(lookup, "WAL_REQUEST_TIMEOUT_SECS")?,
            batch_requests_max: var(lookup, "WAL_BATCH_REQUESTS_MAX")?,
            batch_committers: var(lookup, "WAL_BATCH_COMMITTERS")?,
            explorer_gateway_url: optional(lookup, "WAL_EXPLORER_GATEWAY_URL")?,
            http_limits: crate::http_server::Limits::from_lookup(lookup).map_err(|e| match e {
                crate::env::EnvError::Invalid {
                    name,
                    value,
                    reason,
                } => ConfigError {
                    var: name,
                    value,
                    reason,
                },
                crate::env::EnvError::Missing { name, what } => ConfigError {
                    var: name,
                    value: String::new(),
                    reason: format!("set it to {what}"),
                },
            })?,
        };
        config.validate()?;
        Ok(config)
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
        self.validate_capacity()
    }

    /// The batching and connection bounds (`validate`'s second half).
    fn validate_capacity(&self) -> Result<(), ConfigError> {
        let fail = |var: &'static str, value: String, reason: &str| ConfigError {
            var,
            value,
            reason: reason.to_owned(),
        };
        if self.batch_requests_max == 0 {
            return Err(fail(
                "WAL_BATCH_REQUESTS_MAX",
                "0".into(),
                "must be at least 1 (1 commits every transfer on its own)",
            ));
        }
        if !(1..=64).contains(&self.batch_committers) {
            return Err(fail(
                "WAL_BATCH_COMMITTERS",
                self.batch_committers.to_string(),
                "must be 1..=64",
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
