//! The checker's configuration, read from the environment once at start. An error
//! names the variable and the value it could not take.

use std::path::PathBuf;
use std::time::Duration;

use wal::env::{parsed, required, text};

/// Why the configuration is refused: the variable, its value and the reason.
pub type ConfigError = wal::env::EnvError;

#[derive(Clone, Debug)]
pub struct Config {
    /// `WAL_CHECKER_KEY_FILE`: the auditor's key (required).
    pub key_file: PathBuf,
    /// `WAL_LEDGER_URL` (http://127.0.0.1:8080).
    pub ledger_url: String,
    /// `WAL_CHECKER_STATE_DIR` (wal-checker-state): the report spool.
    pub state_dir: PathBuf,
    /// `WAL_CHECKER_CONCURRENCY` (32): challenges at once, at least 1.
    pub concurrency: usize,
    /// `WAL_CHECKER_TIMEOUT_MS` (5000): the wait for each answer.
    pub timeout: Duration,
    /// `WAL_CHECKER_REASKS` (2): new challenges after a timeout or an unreachable node.
    pub reasks: u32,
    /// `WAL_CHECKER_REASK_DELAY_MS` (10000).
    pub reask_delay: Duration,
}

fn millis(name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    parsed(name, default).map(Duration::from_millis)
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let key_file = required("WAL_CHECKER_KEY_FILE", "the auditor's key file")?;
        let concurrency: usize = parsed("WAL_CHECKER_CONCURRENCY", 32)?;
        if concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: "WAL_CHECKER_CONCURRENCY",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Config {
            key_file: PathBuf::from(key_file),
            ledger_url: text("WAL_LEDGER_URL", "http://127.0.0.1:8080"),
            state_dir: PathBuf::from(text("WAL_CHECKER_STATE_DIR", "wal-checker-state")),
            concurrency,
            timeout: millis("WAL_CHECKER_TIMEOUT_MS", 5000)?,
            reasks: parsed("WAL_CHECKER_REASKS", 2)?,
            reask_delay: millis("WAL_CHECKER_REASK_DELAY_MS", 10_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_is_named_with_its_variable() {
        std::env::set_var("WAL_CHECKER_TEST_MS", "abc");
        let e = millis("WAL_CHECKER_TEST_MS", 1).unwrap_err().to_string();
        assert!(e.starts_with("WAL_CHECKER_TEST_MS=abc is invalid: "), "{e}");
        assert_eq!(
            millis("WAL_CHECKER_TEST_UNSET", 7).unwrap(),
            Duration::from_millis(7)
        );
    }
}
