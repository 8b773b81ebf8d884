//! Building and serving the ledger: database set-up, genesis, background tasks, HTTP.

pub mod genesis;

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{PgPool, Postgres};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{router_with, AppState};
use crate::ledger::genesis::{GenesisError, GenesisParams, NetworkInfo};

pub use crate::logging::init as init_logging;

/// The ledger's sqlx migrations (`./migrations`), embedded at build time; `prepare` runs
/// them before anything else touches the database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it does not exist yet.
pub async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    if !Postgres::database_exists(database_url).await? {
        Postgres::create_database(database_url).await?;
        tracing::info!("created database");
    }
    Ok(())
}

/// A pool with limits: bounded connections, acquire timeout, statement timeout.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let mut options: PgConnectOptions = config.database_url.parse()?;
    // TLS to a server on this machine protects nothing and costs CPU on both ends
    // (about 20% of transfer throughput here); an explicit sslmode in the URL wins.
    let loopback = ["127.0.0.1", "localhost", "::1"].contains(&options.get_host())
        || options.get_host().starts_with('/');
    if loopback && !config.database_url.contains("sslmode=") {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    // Bounds on every query and on a transaction left idle between statements: a
    // signed request's transaction can never outlive the margin after which expired
    // nonces are purged (auth::NONCE_PURGE_MARGIN_SECS).
    let timeout_ms = (config.request_timeout_secs * 1000).to_string();
    let options = options.options([
        ("statement_timeout", timeout_ms.as_str()),
        ("idle_in_transaction_session_timeout", timeout_ms.as_str()),
    ]);
    Ok(PgPoolOptions::new()
        .max_connections(config.database_connections_max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?)
}

/// The genesis parameters taken from the config. Fails if `WAL_TREASURY_ADDRESS` is unset,
/// which matters only when the database has no genesis yet.
pub fn genesis_params(config: &Config) -> anyhow::Result<GenesisParams> {
    let treasury = config.treasury_address.ok_or_else(|| {
        anyhow::anyhow!("the database has no genesis yet: set WAL_TREASURY_ADDRESS to the address that receives the supply")
    })?;
    Ok(GenesisParams {
        network_id: config.network_id.clone(),
        treasury,
        total_supply: config.genesis_supply,
        n_shards: config.n_shards,
        genesis_wal_usd: config.genesis_wal_usd,
        epoch_duration_secs: config.epoch_duration_secs,
    })
}

/// Migrates, runs genesis if the database has none, and checks the database belongs
/// to the configured network.
pub async fn prepare(pool: &PgPool, config: &Config) -> anyhow::Result<NetworkInfo> {
    MIGRATOR.run(pool).await?;
    let existing = crate::ledger::genesis::load(&mut *pool.acquire().await?).await?;
    let network = match existing {
        Some(network) => network,
        None => match genesis::run(pool, &genesis_params(config)?).await {
            Ok(network) => {
                tracing::info!(network = %network.network_id, supply = %network.total_supply, "genesis done");
                network
            }
            // Another ledger process won the race: use what it wrote.
            Err(GenesisError::AlreadyDone(_)) => {
                crate::ledger::genesis::load(&mut *pool.acquire().await?)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("genesis vanished"))?
            }
            Err(GenesisError::Ledger(e)) => return Err(e.into()),
        },
    };
    if network.network_id != config.network_id {
        anyhow::bail!(
            "the database belongs to network {:?} but WAL_NETWORK_ID is {:?}",
            network.network_id,
            config.network_id
        );
    }
    Ok(network)
}

/// How often the audit's checkpoint takes in the entries posted since: the audit
/// verifies what came after it, so this bounds the work of one audit.
const AUDIT_CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Periodic clean-up of expired nonces and idempotency keys, and the stored totals' changes
/// folded.
pub fn spawn_maintenance(pool: PgPool, idempotency_retention_secs: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = crate::auth::purge_expired(&pool, idempotency_retention_secs).await {
                tracing::warn!(error = %e, "purging expired nonces failed");
            }
            if let Err(e) = crate::storage::contracts::fold_stored_changes(&pool).await {
                tracing::warn!(error = %e, "folding the stored totals' changes failed");
            }
        }
    });
}

/// Serves within the configured HTTP limits until `shutdown` resolves, then drains
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = state.config.http_limits.clone();
    crate::http_server::serve(
        listener,
        router_with(state, crate::explorer::router()),
        limits,
        crate::http_server::problem_json,
        shutdown,
    )
    .await?;
    Ok(())
}

/// The ledger process, built once the same way by `wal-ledger serve` and by the tests:
/// a migrated database with its genesis, a bound listener, the state the handlers
/// share. `run_until` starts the background tasks (the epoch clock, maintenance) and
/// serves.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Creates the database if it is missing, connects with the configured limits,
    /// migrates, runs genesis if there is none, and binds `config.listen_addr`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        create_database_if_missing(&config.database_url).await?;
        let pool = connect(&config).await?;
        Application::build_with_pool(config, pool).await
    }

    /// `build` on a pool the caller made (tests: the `#[sqlx::test]` database).
    pub async fn build_with_pool(config: Config, pool: PgPool) -> anyhow::Result<Application> {
        let network = prepare(&pool, &config).await?;
        let listener = TcpListener::bind(config.listen_addr).await?;
        Ok(Application {
            listener,
            state: AppState::new(pool, config, network),
        })
    }

    /// The address it serves on (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// What genesis fixed.
    pub fn network(&self) -> &NetworkInfo {
        &self.state.network
    }

    /// Starts maintenance and (unless `WAL_EPOCH_CLOCK=false`) the epoch clock, then
    /// serves until `shutdown` resolves and in-flight requests are done. The
    /// background tasks end with the runtime.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application { listener, state } = self;
        let pool = state.pool.clone();
        spawn_maintenance(pool.clone(), state.config.idempotency_retention_secs);
        crate::ledger::audit::checkpoint::spawn(pool.clone(), AUDIT_CHECKPOINT_EVERY);
        if state.config.epoch_clock {
            crate::epoch::clock::spawn(
                pool.clone(),
                crate::epoch::change::ChangeSettings {
                    n_shards: state.network.n_shards,
                    epoch_duration_secs: state.config.epoch_duration_secs,
                },
            );
        }
        serve(listener, state, shutdown).await?;
        pool.close().await;
        Ok(())
    }
}
