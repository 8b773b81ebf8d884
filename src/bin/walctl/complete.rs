//! Completing a paid contract (`walctl store` after it paid, and `walctl certify`)
//! through the library's one store path (`wal::client::store`), with walctl's bars.

use std::path::Path;
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use wal::client::store::{self, Completing, Completion, StoreObserver};
use wal::client::upload::Progress;
use wal::client::LedgerClient;
use wal::encoding::BlobMetadata;

use crate::cli::Cli;
use crate::holders::{byte_progress, spinner, stall};
use crate::{client, CliError};

/// Draws a byte bar while uploading and a spinner while certifying (hidden with
/// `--json` and off a terminal).
struct Bars<'a> {
    cli: &'a Cli,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars<'_> {
    fn show(&self, bar: ProgressBar) -> ProgressBar {
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar.clone());
        }
        bar
    }

    fn clear(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut slot| slot.take()) {
            bar.finish_and_clear();
        }
    }
}

impl StoreObserver for Bars<'_> {
    fn uploading(&self, bytes_total: u64) -> Progress {
        let bar = self.show(byte_progress(self.cli, bytes_total, "uploading"));
        Arc::new(move |bytes| bar.inc(bytes))
    }
    fn uploaded(&self) {
        self.clear();
    }
    fn certifying(&self) {
        self.show(spinner(self.cli, "certifying"));
    }
    fn certified(&self) {
        self.clear();
    }
}

/// Certifies the contract (see `wal::client::store::complete`), uploading from `file`
/// to the nodes that lack their slivers.
pub async fn complete(
    cli: &Cli,
    signer: &LedgerClient,
    file: Option<&Path>,
    metadata: &BlobMetadata,
    contract_id: &str,
) -> Result<Completion, CliError> {
    let bars = Bars {
        cli,
        bar: Mutex::new(None),
    };
    let ledger = client(cli, None);
    let with = Completing {
        ledger: &ledger,
        signer,
        file,
        stall: stall(cli),
        observer: &bars,
    };
    let done = store::complete(&with, metadata, contract_id).await;
    bars.clear();
    done.map_err(CliError::from)
}
