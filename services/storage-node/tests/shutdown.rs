//! SIGTERM stops the storage node cleanly: exit code 0, promptly. The node starts
//! without a ledger (it asks the ledger only when a request needs it), so the ledger
//! URL here answers nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_node_with_exit_code_zero() {
    let dir = std::env::temp_dir().join(format!(
        "wal-node-shutdown-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("node.key");
    std::fs::write(&key_file, format!("{}\n", "07".repeat(32))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wal-storage-node"))
        .env("WAL_NODE_KEY_FILE", &key_file)
        .env("WAL_NODE_DATA_DIR", dir.join("data"))
        .env("WAL_NODE_LISTEN_ADDR", "127.0.0.1:0")
        // Nothing listens on port 9 (discard) here: the ledger does not answer.
        .env("WAL_LEDGER_URL", "http://127.0.0.1:9")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://"), "{line:?}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node did not stop within 10 s of SIGTERM");
        }
        std::thread::park_timeout(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
