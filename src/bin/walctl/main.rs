//! `walctl`: the command-line client of the WAL ledger.

mod accounts;
mod attributes;
mod bench;
mod blobs;
mod cli;
mod complete;
mod gov;
mod holders;
mod info;
mod nodes;
mod output;
mod quilt;
mod read;
mod staking;
mod store;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ed25519_dalek::SigningKey;
use serde_json::json;
use wal::client::{keyfile, ClientError, LedgerClient};
use wal::wire::Address;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(code) => code,
        Err(error) => {
            if cli.json {
                let problem = match &error {
                    CliError::Client(ClientError::Problem(p)) => json!(p),
                    other => json!({"detail": other.to_string()}),
                };
                let line = json!({ "error": problem }).to_string();
                // When stdout carries a blob's bytes, the error goes to stderr instead.
                if read::writes_data_to_stdout(&cli.command) {
                    eprintln!("{line}");
                } else {
                    output::line_to_stdout(&line);
                }
            }
            eprintln!("walctl: {error}");
            if let Some(hint) = error.hint(&cli) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Hands each command group to the module that runs it.
async fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        // Only the account group has a command (`audit`) with an exit code of its own.
        Command::Account(command) => return accounts::run(cli, command).await,
        Command::Node(command) => nodes::run(cli, command).await?,
        Command::Staking(command) => staking::run(cli, command).await?,
        Command::Storage(command) => blobs::run(cli, command).await?,
        Command::Gov(command) => gov::run(cli, command).await?,
        Command::Bench {
            op,
            clients,
            accounts,
            duration_secs,
        } => bench::command(cli, *op, *clients, *accounts, *duration_secs).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    KeyFile(#[from] keyfile::KeyFileError),
    #[error("{0}")]
    Usage(String),
}

impl From<wal::client::store::StoreError> for CliError {
    fn from(error: wal::client::store::StoreError) -> CliError {
        match error {
            wal::client::store::StoreError::Client(e) => CliError::Client(e),
            wal::client::store::StoreError::Other(e) => CliError::Usage(e),
        }
    }
}

impl CliError {
    /// What to do next, where the error alone does not say it.
    fn hint(&self, cli: &Cli) -> Option<String> {
        match self {
            CliError::KeyFile(keyfile::KeyFileError::Io { source, path })
                if source.kind() == std::io::ErrorKind::NotFound
                    && *path == cli.key.display().to_string() =>
            {
                Some(format!(
                    "there is no key at {}: make one with `walctl keygen`, or point \
                     --key (or WAL_KEY_FILE) at yours",
                    cli.key.display()
                ))
            }
            _ => None,
        }
    }
}

/// A fresh Idempotency-Key for one command (its retries reuse it).
fn fresh_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn client(cli: &Cli, key: Option<SigningKey>) -> LedgerClient {
    LedgerClient::new(&cli.url, key, Duration::from_secs(cli.timeout_secs))
}

fn signing_client(cli: &Cli) -> Result<LedgerClient, CliError> {
    let key = keyfile::read(&cli.key)?;
    Ok(client(cli, Some(key)))
}

/// The address given, or the key file's.
fn address_or_own(cli: &Cli, given: &Option<String>) -> Result<String, CliError> {
    match given {
        Some(text) if text.starts_with("sys:") => Ok(text.clone()),
        Some(text) => Ok(text
            .parse::<Address>()
            .map_err(|e| CliError::Usage(e.to_string()))?
            .to_string()),
        None => Ok(Address::from_key(&keyfile::read(&cli.key)?.verifying_key()).to_string()),
    }
}

/// `path` with `&cursor=…` appended when a cursor is given.
fn with_cursor(mut path: String, cursor: &Option<String>) -> String {
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={cursor}"));
    }
    path
}
