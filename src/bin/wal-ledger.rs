//! `wal-ledger`: serve the ledger API, migrate, or run genesis.

use clap::{Parser, Subcommand};
use wal::app;
use wal::app::genesis;
use wal::config::Config;
use wal::ledger::genesis::GenesisError;

#[derive(Parser)]
#[command(
    version,
    about = "The WAL ledger (configuration: environment variables, see README)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed, migrate, run genesis if there is none, and serve.
    Serve,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Mint the supply to WAL_TREASURY_ADDRESS; refused if genesis already ran.
    Genesis,
    /// Check the ledger's invariants and print the report as JSON; exit code 1 if one
    /// fails. The journal is checked from the audit checkpoint on, unless `--full`.
    Audit {
        /// Read the whole journal and check the checkpoint against it (slow: the
        /// cost grows with the journal).
        #[arg(long)]
        full: bool,
        /// Take in the entries posted since the checkpoint first.
        #[arg(long)]
        advance: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    app::init_logging();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    app::create_database_if_missing(&config.database_url).await?;
    let pool = app::connect(&config).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            app::MIGRATOR.run(&pool).await?;
            println!("migrations applied");
        }
        Command::Audit { full, advance } => {
            app::MIGRATOR.run(&pool).await?;
            if advance {
                wal::ledger::audit::checkpoint::advance(&pool).await?;
            }
            let report = if full {
                wal::ledger::audit::run_full(&pool).await?
            } else {
                wal::ledger::audit::run(&pool).await?
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                anyhow::bail!("the audit failed: an invariant does not hold (see the report)");
            }
        }
        Command::Genesis => {
            app::MIGRATOR.run(&pool).await?;
            match genesis::run(&pool, &app::genesis_params(&config)?).await {
                Ok(network) => println!(
                    "genesis: minted {} WAL to {} on network {}",
                    network.total_supply, network.treasury_address, network.network_id
                ),
                Err(GenesisError::AlreadyDone(network)) => {
                    anyhow::bail!("genesis already ran on this database (network {network:?}); refusing to mint again")
                }
                Err(GenesisError::Ledger(e)) => return Err(e.into()),
            }
        }
        Command::Serve => {
            let application = app::Application::build_with_pool(config, pool).await?;
            let addr = application.local_addr()?;
            tracing::info!(%addr, network = %application.network().network_id, "serving");
            // One plain line on stdout, so scripts and tests that bind port 0 learn the port.
            println!("listening on http://{addr}");
            application.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
