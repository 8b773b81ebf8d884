//! What the audit loop and the repair loop share: the ledger, the HTTP client for the
//! nodes, the reporter, the limits, and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use wal::client::LedgerClient;

use crate::config::Config;
use crate::ledger;
use crate::report::Reporter;

pub struct Checker {
    pub ledger: Arc<LedgerClient>,
    pub http: reqwest::Client,
    /// For repairs: no limit on a transfer's length, only on connecting (the repair
    /// gives up on a node silent for its stall timeout itself).
    pub transfer_http: reqwest::Client,
    pub reporter: Reporter,
    pub permits: Arc<Semaphore>,
    pub timeout: Duration,
    pub reasks: u32,
    pub reask_delay: Duration,
    /// Turns true when the checker is asked to stop.
    pub shutdown: watch::Receiver<bool>,
}

impl Checker {
    pub fn new(
        config: &Config,
        ledger: Arc<LedgerClient>,
        reporter: Reporter,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Checker, reqwest::Error> {
        Ok(Checker {
            ledger,
            http: reqwest::Client::builder()
                .pool_idle_timeout(wal::client::POOL_IDLE_TIMEOUT)
                .timeout(Duration::from_secs(120))
                .build()?,
            transfer_http: reqwest::Client::builder()
                .pool_idle_timeout(wal::client::POOL_IDLE_TIMEOUT)
                .connect_timeout(Duration::from_secs(30))
                .build()?,
            reporter,
            permits: Arc::new(Semaphore::new(config.concurrency)),
            timeout: config.timeout,
            reasks: config.reasks,
            reask_delay: config.reask_delay,
            shutdown,
        })
    }

    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that turns true once the ledger's epoch is no longer `epoch`, or the
    /// checker is stopping.
    pub fn watch_epoch(&self, epoch: i64) -> watch::Receiver<bool> {
        let (ended, receiver) = watch::channel(false);
        let ledger = self.ledger.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {
                        let _ = ended.send(true);
                        return;
                    }
                }
                match ledger::current_epoch_number(&ledger).await {
                    Ok(now) if now != epoch => {
                        let _ = ended.send(true);
                        return;
                    }
                    _ if ended.is_closed() => return,
                    _ => {}
                }
            }
        });
        receiver
    }
}
