//! `wal-checker`: the proof-of-storage checker. Each epoch it challenges every
//! committee node `audit_challenges_per_epoch` times, spread over the epoch at random
//! moments, for random chunks of random slivers it holds (of certified, unexpired
//! blobs); verifies each answer against the blob metadata and the node's signature
//! over a fresh nonce; reports the results to the ledger (auditor role) in batches,
//! durably and at most once; and repairs, at the start of each epoch: slivers of shards
//! that changed holder at the change (a jailed node's shards move), and slivers the
//! previous epoch's challenges found missing or wrong, are rebuilt from any k verified
//! slivers and stored on their holder. (A loss is repaired only once its epoch has
//! closed, so that every challenge of that epoch still counts it. The losses come from
//! the ledger's record of the closed epoch, so a restarted checker repairs them too.)
//!
//! A timeout or an unreachable node is asked again (a new challenge for the same
//! chunk) up to `WAL_CHECKER_REASKS` times, `WAL_CHECKER_REASK_DELAY_MS` apart, before
//! it counts (Storj-style containment): a node that is briefly slow or restarting is
//! not failed for it.
//!
//! It stops on SIGTERM or Ctrl-C: its loops end, and the report spool is sealed and
//! delivered once (what the ledger does not take stays spooled for the next run).
//!
//! Configuration (environment, read once at start, see `config.rs`): `WAL_CHECKER_KEY_FILE` (the auditor key, required),
//! `WAL_LEDGER_URL` (http://127.0.0.1:8080), `WAL_CHECKER_STATE_DIR`
//! (wal-checker-state: the report spool), `WAL_CHECKER_CONCURRENCY` (32 challenges at
//! once), `WAL_CHECKER_TIMEOUT_MS` (5000 per answer), `WAL_CHECKER_REASKS` (2),
//! `WAL_CHECKER_REASK_DELAY_MS` (10000).

mod audit;
mod checker;
mod config;
mod error;
mod ledger;
mod plan;
mod probe;
mod repairs;
mod report;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wal::client::LedgerClient;

use crate::checker::Checker;
use crate::config::Config;
use crate::error::Error;

/// How long a stopping checker waits for its last delivery to the ledger.
const FLUSH_DEADLINE: Duration = Duration::from_secs(15);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    wal::service::main("wal-checker", run()).await
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    let key = wal::client::keyfile::read(&config.key_file)?;
    let ledger = Arc::new(LedgerClient::new(
        &config.ledger_url,
        Some(key),
        Duration::from_secs(10),
    ));
    let (stop, shutdown) = watch::channel(false);
    let signal = wal::service::stop_signal();
    tokio::spawn(async move {
        match signal {
            Ok(signal) => signal.await,
            // No SIGTERM handler: Ctrl-C still stops it.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        let _ = stop.send(true);
    });
    let reporter = tokio::select! {
        started = report::start(&config.state_dir, ledger.clone()) => started?,
        _ = wait(shutdown.clone()) => return Ok(()),
    };
    let checker = Checker::new(&config, ledger, reporter.clone(), shutdown.clone())
        .map_err(|e| Error::Start(e.to_string()))?;
    let ledger_url = &config.ledger_url;
    println!("checking the ledger at {ledger_url}");
    tracing::info!(%ledger_url, "checker running");
    audit::run(Arc::new(checker)).await;
    if tokio::time::timeout(FLUSH_DEADLINE, reporter.flush())
        .await
        .is_err()
    {
        tracing::warn!("the ledger did not take the last results in time; they stay spooled");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Until the stop signal is set.
async fn wait(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
