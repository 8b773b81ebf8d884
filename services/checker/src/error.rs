//! The checker's error type.

use wal::client::keyfile::KeyFileError;
use wal::client::ClientError;

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the auditor key: {0}")]
    Key(#[from] KeyFileError),
    #[error("the ledger: {0}")]
    Ledger(#[from] ClientError),
    #[error("the report spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("cannot start: {0}")]
    Start(String),
}
