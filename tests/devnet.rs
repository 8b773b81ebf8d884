//! `scripts/devnet.sh` as a user runs it, on the debug binaries and a database and
//! directory of its own: a storage node that exits is reported and the devnet goes on,
//! a blob stays readable without the node, and `stop-node` / `start-node` stop and
//! start one node of the running devnet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::process::{json_of, walctl, workspace_binary};
use common::storage::{file_hash, random_file};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The devnet script in a process group of its own; on drop the group is stopped, the
/// processes it recorded are killed, and its database dropped.
struct Devnet {
    child: Child,
    lines: Receiver<String>,
    dir: PathBuf,
    database: String,
    env: Vec<(&'static str, String)>,
}

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    url.rsplit_once('/').unwrap().0.to_owned()
}

impl Devnet {
    fn start() -> Devnet {
        let dir =
            std::env::temp_dir().join(format!("wal-devnet-{}", uuid::Uuid::new_v4().simple()));
        let database = format!(
            "wal_devnet_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let bin = workspace_binary("wal-storage-node")
            .parent()
            .unwrap()
            .to_owned();
        let env = vec![
            ("NODES", "4".to_owned()),
            ("WAL_N_SHARDS", "8".to_owned()),
            ("WAL_DEVNET_BIN", bin.display().to_string()),
            ("WAL_DEVNET_DIR", dir.display().to_string()),
            ("WAL_DEVNET_DB", database.clone()),
            ("WAL_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("WAL_GATEWAY_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("PG_SERVER_URL", server_url()),
            ("RUST_LOG", "warn".to_owned()),
        ];
        let mut child = Self::script(&env)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("| {line}");
                let _ = tx.send(line);
            }
        });
        Devnet {
            child,
            lines,
            dir,
            database,
            env,
        }
    }

    fn script(env: &[(&'static str, String)]) -> Command {
        let mut command =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/devnet.sh"));
        command.envs(env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `scripts/devnet.sh ARGS` against this devnet and returns its stdout.
    fn command(&self, args: &[&str]) -> String {
        let output = Self::script(&self.env).args(args).output().unwrap();
        assert!(output.status.success(), "devnet.sh {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Waits for a line of the devnet's output that contains `text`.
    fn line_with(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the devnet did not say {text:?} within {limit:?}"),
            }
        }
    }

    fn still_runs(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
        // Nodes run in sessions of their own: kill what the pid files name.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "pid") {
                    if let Some(pid) = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|p| p.trim().parse().ok())
                    {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", server_url()))
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .status();
    }
}

#[tokio::test]
async fn the_devnet_goes_on_without_a_node_and_starts_it_again() {
    let mut devnet = Devnet::start();
    let announced = devnet.line_with("devnet: ledger at ", Duration::from_secs(180));
    let ledger_url = announced
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    devnet.line_with("devnet: ready", Duration::from_secs(60));
    let key = devnet.dir.join("treasury.key");
    let file = devnet.dir.join("blob.bin");
    let hash = random_file(&file, 300_000, 7);
    let stored = walctl(
        &ledger_url,
        &key,
        &["store", file.to_str().unwrap(), "--epochs", "2", "--json"],
    )
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let blob_id = json_of(&stored)["blob_id"].as_str().unwrap().to_owned();

    assert!(devnet
        .command(&["stop-node", "1"])
        .contains("stopped node1"));
    devnet.line_with(
        "devnet: node1 exited; the network goes on",
        Duration::from_secs(20),
    );
    assert!(devnet.still_runs(), "the devnet goes on without node1");
    assert!(devnet.command(&["status"]).contains("node1: stopped"));
    let copy = devnet.dir.join("copy.bin");
    let read = walctl(
        &ledger_url,
        &key,
        &["read", &blob_id, "-o", copy.to_str().unwrap()],
    )
    .await;
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(file_hash(&copy), hash, "the blob reads back without node1");

    assert!(devnet
        .command(&["start-node", "1"])
        .contains("started node1"));
    devnet.line_with("devnet: node1 runs again", Duration::from_secs(20));
    let address = std::fs::read_to_string(devnet.dir.join("node1.addr")).unwrap();
    let health = reqwest::get(format!("http://{}/health", address.trim()))
        .await
        .unwrap();
    assert!(
        health.status().is_success(),
        "node1 answers at its registered address"
    );
    assert!(devnet.still_runs());
}
