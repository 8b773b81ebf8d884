//! What walctl's data path (store, read, blob health) shares when it talks to storage
//! nodes: who holds each shard this epoch, the HTTP client for the nodes with its stall
//! timeout, and the progress bars.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::Cli;
use crate::{client, CliError};

pub use wal::client::store::Holder;

/// Who holds each shard in the current epoch, with their endpoints.
pub async fn holders(cli: &Cli) -> Result<(i64, HashMap<u32, Arc<Holder>>), CliError> {
    Ok(wal::client::store::holders(&client(cli, None)).await?)
}

/// How long a node may stay silent (no connection, no bytes taken or sent, no
/// answer) before walctl gives up on it: `--timeout-secs`.
pub fn stall(cli: &Cli) -> Duration {
    Duration::from_secs(cli.timeout_secs.max(1))
}

/// The HTTP client for storage nodes: it gives up on a connection or a read that
/// stalls for `stall(cli)`, never on a transfer that is merely long.
pub fn node_http(cli: &Cli) -> Result<reqwest::Client, CliError> {
    Ok(wal::client::store::node_http(stall(cli))?)
}

/// A bar counting a blob's bytes (encoding, uploading, reading), hidden with `--json`
/// and off a terminal.
pub fn byte_progress(cli: &Cli, length: u64, what: &str) -> ProgressBar {
    if cli.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    #[expect(
        clippy::expect_used,
        reason = "the template is a literal that parses (every walctl transfer uses it)"
    )]
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
    )
    .expect("a valid template");
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what.to_owned());
    bar
}

/// A spinner for a step with no count (encoding, certifying): drawn on a terminal's
/// stderr only (indicatif hides it elsewhere), never with `--json`.
pub fn spinner(cli: &Cli, what: &str) -> ProgressBar {
    if cli.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
