//! `scripts/devnet.sh` as a user runs it, on the debug binaries and a database and
//! directory of its own: a storage node that exits is reported and the devnet goes on,
//! a blob stays readable without the node, and `stop-node` / `start-node` stop and
//! start one node of the running devnet. Stopped as Ctrl-C stops it and started again,
//! it resumes the same network (epoch, genesis, nodes, the blob); `--fresh` starts a
//! new one.
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
        let (child, lines) = Self::spawn(&env, &[]);
        Devnet {
            child,
            lines,
            dir,
            database,
            env,
        }
    }

    /// `scripts/devnet.sh ARGS` in a process group of its own, its stdout's lines sent
    /// to the receiver (and echoed).
    fn spawn(env: &[(&'static str, String)], args: &[&str]) -> (Child, Receiver<String>) {
        let mut child = Self::script(env)
            .args(args)
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
        (child, lines)
    }

    /// Waits for the devnet to announce its ledger and then to be ready; returns the
    /// ledger's URL.
    fn ready(&self) -> String {
        let announced = self.line_with("devnet: ledger at ", Duration::from_secs(180));
        let ledger_url = announced
            .split_whitespace()
            .nth(3)
            .unwrap()
            .trim_end_matches(',')
            .to_owned();
        self.line_with("devnet: ready", Duration::from_secs(60));
        ledger_url
    }

    /// Stops the devnet as Ctrl-C does (SIGINT to its process group) and waits until
    /// the script and every process it recorded have exited.
    fn interrupt(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        killpg(group, Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the devnet did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let recorded = self.recorded_pids();
        assert!(!recorded.is_empty(), "the devnet recorded its processes");
        while recorded.iter().any(|&pid| process_runs(pid)) {
            assert!(
                Instant::now() < deadline,
                "processes of the stopped devnet still run"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `scripts/devnet.sh ARGS` again on the same directory and database (after
    /// `interrupt`).
    fn start_again(&mut self, args: &[&str]) {
        let (child, lines) = Self::spawn(&self.env, args);
        self.child = child;
        self.lines = lines;
    }

    /// The pids of the devnet's `*.pid` files.
    fn recorded_pids(&self) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "pid"))
            .filter_map(|path| std::fs::read_to_string(path).ok()?.trim().parse().ok())
            .collect()
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

/// Whether the process runs (a zombie has exited).
fn process_runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which is in parentheses.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// `GET {ledger_url}{path}` as JSON.
async fn get_json(ledger_url: &str, path: &str) -> serde_json::Value {
    let response = reqwest::get(format!("{ledger_url}{path}")).await.unwrap();
    assert!(response.status().is_success(), "GET {path}: {response:?}");
    response.json().await.unwrap()
}

/// The committee's node ids and endpoints, in node id order.
async fn committee(ledger_url: &str) -> Vec<(String, String)> {
    get_json(ledger_url, "/v1/committee").await["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["node_id"].as_str().unwrap().to_owned(),
                m["endpoint"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
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
        for pid in self.recorded_pids() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
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
async fn the_devnet_goes_on_without_a_node_resumes_after_a_stop_and_starts_fresh() {
    let mut devnet = Devnet::start();
    devnet.line_with("devnet: a new network", Duration::from_secs(180));
    let ledger_url = devnet.ready();
    // The explorer the banner points at answers at the ledger's root with its committee.
    let explorer = reqwest::get(format!("{ledger_url}/")).await.unwrap();
    assert_eq!(explorer.status(), 200);
    let page = explorer.text().await.unwrap();
    assert!(page.contains("Committee of epoch 1"), "{page}");
    let key = devnet.dir.join("treasury.key");
    let file = devnet.dir.join("blob.bin");
    let hash = random_file(&file, 300_000, 7);
    let stored = walctl(
        &ledger_url,
        &key,
        &["store", file.to_str().unwrap(), "--epochs", "5", "--json"],
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

    // An epoch later, stopped as Ctrl-C stops it and started again: the same network.
    let advanced = walctl(&ledger_url, &key, &["epoch", "--advance"]).await;
    assert!(
        advanced.status.success(),
        "{}",
        String::from_utf8_lossy(&advanced.stderr)
    );
    let before = get_json(&ledger_url, "/v1/network").await;
    let epoch = before["epoch"].as_i64().unwrap();
    assert!(epoch >= 2, "{before}");
    let members = committee(&ledger_url).await;
    assert_eq!(members.len(), 4, "{members:?}");
    devnet.interrupt();
    devnet.start_again(&[]);
    devnet.line_with("devnet: resuming the network", Duration::from_secs(180));
    let ledger_url = devnet.ready();
    let after = get_json(&ledger_url, "/v1/network").await;
    assert!(
        after["epoch"].as_i64().unwrap() >= epoch,
        "{before} / {after}"
    );
    assert_eq!(
        after["genesis_at"], before["genesis_at"],
        "no second genesis"
    );
    assert_eq!(after["treasury_address"], before["treasury_address"]);
    let resumed = committee(&ledger_url).await;
    let ids = |m: &[(String, String)]| m.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&resumed),
        ids(&members),
        "the same nodes, none registered again"
    );
    for (id, endpoint) in &resumed {
        let health = reqwest::get(format!("{endpoint}/health")).await.unwrap();
        assert!(
            health.status().is_success(),
            "node {id} answers at its registered endpoint {endpoint}"
        );
    }
    let nodes = get_json(&ledger_url, "/v1/nodes").await;
    assert_eq!(
        nodes["nodes"].as_array().map(Vec::len),
        Some(4),
        "no node registered again: {nodes}"
    );
    let again = devnet.dir.join("again.bin");
    let read = walctl(
        &ledger_url,
        &key,
        &["read", &blob_id, "-o", again.to_str().unwrap()],
    )
    .await;
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(file_hash(&again), hash, "the blob survives the restart");

    // --fresh: a new network, where the blob is unknown.
    devnet.interrupt();
    devnet.start_again(&["--fresh"]);
    devnet.line_with("devnet: a new network", Duration::from_secs(180));
    let ledger_url = devnet.ready();
    let fresh = get_json(&ledger_url, "/v1/network").await;
    assert_eq!(fresh["epoch"], 1, "{fresh}");
    assert_ne!(
        fresh["treasury_address"], before["treasury_address"],
        "new keys"
    );
    let unknown = walctl(
        &ledger_url,
        &key,
        &["read", &blob_id, "-o", again.to_str().unwrap()],
    )
    .await;
    assert!(
        !unknown.status.success(),
        "the old blob is unknown to the new network"
    );
    assert!(devnet.still_runs());
}
