//! Real processes for tests (`wal-ledger`, `wal-storage-node`, `walctl`): servers are
//! started on port 0, learn their address from their stdout, and are killed by a guard.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde_json::Value;

use super::address;

/// A server process, killed when dropped, so a failing test leaves nothing behind.
pub struct Process {
    pub child: Child,
    pub url: String,
}

pub type LedgerProcess = Process;

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` and waits (up to 60 s) for it to print `listening on URL`.
pub fn spawn_listening(command: Command, what: &str) -> Process {
    spawn_announcing(command, "listening on ", what)
}

/// Spawns `command` and waits (up to 60 s) for a stdout line `<prefix>URL`.
pub fn spawn_announcing(mut command: Command, prefix: &'static str, what: &str) -> Process {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(prefix) {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let mut process = Process {
        child,
        url: String::new(),
    };
    process.url = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} announces itself within 60 s"));
    process
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

/// Starts `wal-ledger serve` on port 0.
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
    command.envs(env.iter().map(|(k, v)| (k, v))).arg("serve");
    spawn_listening(command, "wal-ledger")
}

/// A binary of another workspace member: it sits next to the test's own directory
/// (target/debug), built by `cargo build --workspace` (scripts/test.sh does).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .join(name)
}

/// Starts a `wal-storage-node` on port 0 with its key file and data directory; it drops
/// expired slivers every second.
pub fn start_node(ledger_url: &str, key_file: &Path, data_dir: &Path) -> Process {
    start_node_with_env(ledger_url, key_file, data_dir, &[])
}

/// `start_node` with more of its variables set (limits).
pub fn start_node_with_env(
    ledger_url: &str,
    key_file: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> Process {
    let mut command = node_command(ledger_url, key_file, data_dir);
    command.envs(env.iter().copied());
    spawn_listening(command, "wal-storage-node (scripts/test.sh builds it)")
}

/// The command `start_node` runs.
pub fn node_command(ledger_url: &str, key_file: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(workspace_binary("wal-storage-node"));
    command
        .env("WAL_NODE_KEY_FILE", key_file)
        .env("WAL_NODE_DATA_DIR", data_dir)
        .env("WAL_NODE_LISTEN_ADDR", "127.0.0.1:0")
        .env("WAL_NODE_EXPIRY_INTERVAL_SECS", "1")
        .env("WAL_LEDGER_URL", ledger_url)
        .env("RUST_LOG", "warn");
    command
}

/// Starts a `wal-gateway` on port 0 reading from `ledger_url`; with `key_file` it
/// publishes too. `env` sets more of its variables (limits).
pub fn start_gateway(ledger_url: &str, key_file: Option<&Path>, env: &[(&str, &str)]) -> Process {
    let mut command = Command::new(workspace_binary("wal-gateway"));
    command
        .env("WAL_GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
        .env("WAL_LEDGER_URL", ledger_url)
        .env("WAL_GATEWAY_TIMEOUT_SECS", "5")
        .env("RUST_LOG", "warn");
    match key_file {
        Some(key) => command.env("WAL_GATEWAY_KEY_FILE", key),
        None => command.env_remove("WAL_GATEWAY_KEY_FILE"),
    };
    for (name, value) in env {
        command.env(name, value);
    }
    spawn_listening(command, "wal-gateway (scripts/test.sh builds it)")
}

/// Runs `walctl --url URL --key KEY ARGS...` (up to 120 s).
pub async fn walctl(url: &str, key: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_walctl"));
    command
        .arg("--url")
        .arg(url)
        .arg("--key")
        .arg(key)
        .args(args)
        .env_remove("WAL_LEDGER_URL")
        .env_remove("WAL_KEY_FILE")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("walctl finishes within 120 s")
        .expect("walctl runs")
}

/// walctl's `--json` output.
pub fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Starts `wal-checker` with the auditor key; it prints `checking the ledger at URL`.
/// Re-asks come quickly (two, 200 ms apart) so tests need not wait, and the timeout is
/// generous (10 s) so a busy machine does not fail an honest node.
pub fn start_checker(ledger_url: &str, key_file: &Path, state_dir: &Path) -> Process {
    spawn_announcing(
        checker_command(ledger_url, key_file, state_dir),
        "checking the ledger at ",
        "wal-checker (scripts/test.sh builds it)",
    )
}

/// The command `start_checker` runs.
pub fn checker_command(ledger_url: &str, key_file: &Path, state_dir: &Path) -> Command {
    let mut command = Command::new(workspace_binary("wal-checker"));
    command
        .env("WAL_CHECKER_KEY_FILE", key_file)
        .env("WAL_CHECKER_STATE_DIR", state_dir)
        .env("WAL_LEDGER_URL", ledger_url)
        .env("WAL_CHECKER_TIMEOUT_MS", "10000")
        .env("WAL_CHECKER_REASKS", "2")
        .env("WAL_CHECKER_REASK_DELAY_MS", "200")
        .env("RUST_LOG", "warn");
    command
}

/// `command` run inside the network namespace `netns` (`ip netns exec`, which execs
/// it, so the child's pid is the program's own and the guard kills the program).
pub fn in_netns(netns: &str, command: &Command) -> Command {
    let mut wrapped = Command::new("ip");
    wrapped
        .args(["netns", "exec", netns])
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}
