//! The real `wal-ledger` process for tests: started on port 0, killed by a guard.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::address;

/// Kills the ledger process when dropped, so a failing test leaves nothing behind.
pub struct LedgerProcess {
    pub child: Child,
    pub url: String,
}

impl Drop for LedgerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn ledger_command(database_url: &str, treasury: &SigningKey) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wal-ledger"));
    command
        .env("DATABASE_URL", database_url)
        .env("WAL_LISTEN_ADDR", "127.0.0.1:0")
        .env("WAL_TREASURY_ADDRESS", address(treasury).to_string())
        .env("RUST_LOG", "warn");
    command
}

/// Starts `wal-ledger serve` on port 0 and learns its address from its stdout.
pub fn start(database_url: &str, treasury: &SigningKey) -> LedgerProcess {
    start_with_env(database_url, treasury, &[])
}

/// `start` with extra environment variables (epoch length, roles, ...).
pub fn start_with_env(
    database_url: &str,
    treasury: &SigningKey,
    env: &[(&str, String)],
) -> LedgerProcess {
    let mut command = ledger_command(database_url, treasury);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("wal-ledger starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let mut process = LedgerProcess {
        child,
        url: String::new(),
    };
    process.url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("wal-ledger prints its address within 60 s");
    process
}
