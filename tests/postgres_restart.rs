//! The ledger through PostgreSQL restarts: a cluster of the test's own (initdb on a
//! free port, removed at the end) is restarted, then stopped and started again, while
//! signed transfers arrive from several clients that retry under their
//! Idempotency-Key. No answer is a 500, every transfer is acknowledged in the end,
//! none is lost or applied twice, and the audit holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::start_with_env;
use common::{address, new_key};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};
use wal::client::{ClientError, LedgerClient};

/// PostgreSQL's server binaries: Debian's, or wherever `pg_config` says.
fn postgres_bin() -> Option<PathBuf> {
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return Some(debian.to_owned());
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

/// A PostgreSQL cluster of the test's own, stopped and removed when dropped.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// initdb and the server refuse to run as root: as root, they run as `postgres`.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl Cluster {
    fn create(bin: PathBuf) -> Cluster {
        let dir = std::env::temp_dir().join(format!("wal-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status();
            assert!(status.unwrap().success(), "chown the cluster's directory");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster { bin, dir, port };
        let status = as_postgres(&cluster.bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(cluster.data())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        cluster.pg_ctl(&["start"]);
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `pg_ctl ACTION` on this cluster, waiting for it to finish (`-w`).
    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-m", "fast", "-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(action)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    unavailable: AtomicUsize,
    transport: AtomicUsize,
    internal: AtomicUsize,
}

/// Sends one transfer until it is acknowledged, re-signing each attempt under the same
/// Idempotency-Key, as the API tells a client to; returns its journal entry id.
async fn transfer_until_acknowledged(
    client: &LedgerClient,
    body: &Value,
    key: &str,
    seen: &Seen,
) -> i64 {
    let body = serde_json::to_vec(body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let result: Result<Value, ClientError> = client
            .send_signed(Method::POST, "/v1/transfers", &body, Some(key))
            .await;
        match result {
            Ok(answer) => return answer["id"].as_str().unwrap().parse().unwrap(),
            Err(ClientError::Problem(p)) if p.status == 503 => {
                seen.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Err(ClientError::Transport { .. }) => {
                seen.transport.fetch_add(1, Ordering::Relaxed);
            }
            Err(ClientError::Problem(p)) if p.status >= 500 => {
                seen.internal.fetch_add(1, Ordering::Relaxed);
                panic!("a 5xx other than 503 while PostgreSQL restarts: {p:?}");
            }
            Err(e) => panic!("transfer refused: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "transfer {key} acknowledged within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CLIENTS: usize = 6;

/// Each client sends transfers one after another to the next client's account until
/// `done` is set; returns each client's acknowledged (memo, entry id) pairs.
async fn burst(
    url: String,
    keys: Arc<Vec<SigningKey>>,
    seen: Arc<Seen>,
    done: Arc<AtomicBool>,
) -> Vec<Vec<(String, i64)>> {
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let (url, keys, seen, done) = (url.clone(), keys.clone(), seen.clone(), done.clone());
        clients.spawn(async move {
            let client = LedgerClient::new(&url, Some(keys[i].clone()), Duration::from_secs(10));
            let to = address(&keys[(i + 1) % CLIENTS]);
            let mut acknowledged = Vec::new();
            for n in 0.. {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let memo = format!("c{i}-t{n}");
                let body = json!({"to": to, "amount": "1", "memo": memo});
                let key = uuid::Uuid::new_v4().to_string();
                let entry = transfer_until_acknowledged(&client, &body, &key, &seen).await;
                acknowledged.push((memo, entry));
            }
            (i, acknowledged)
        });
    }
    let mut all = vec![Vec::new(); CLIENTS];
    while let Some(done) = clients.join_next().await {
        let (i, acknowledged) = done.unwrap();
        all[i] = acknowledged;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_survive_postgres_restarts_exactly_once() {
    let Some(bin) = postgres_bin() else {
        eprintln!("skipped: no PostgreSQL server binaries (initdb) on this machine");
        return;
    };
    let cluster = Cluster::create(bin);
    let treasury = new_key();
    let env = [("WAL_DATABASE_CONNECTIONS_MAX", "8".to_owned())];
    let ledger = start_with_env(&cluster.url("wal_fault"), &treasury, &env);
    let keys: Arc<Vec<SigningKey>> = Arc::new((0..CLIENTS).map(|_| new_key()).collect());
    let treasury_client = LedgerClient::new(&ledger.url, Some(treasury), Duration::from_secs(10));
    for key in keys.iter() {
        let body = json!({"to": address(key), "amount": "1000"});
        let _: Value = treasury_client
            .post("/v1/transfers", &body, &uuid::Uuid::new_v4().to_string())
            .await
            .unwrap();
    }

    let seen = Arc::new(Seen::default());
    let done = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(burst(
        ledger.url.clone(),
        keys.clone(),
        seen.clone(),
        done.clone(),
    ));
    let faults = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(500));
        cluster.pg_ctl(&["restart"]);
        std::thread::sleep(Duration::from_millis(500));
        cluster.pg_ctl(&["stop"]);
        std::thread::sleep(Duration::from_secs(2));
        cluster.pg_ctl(&["start"]);
        // Traffic goes on for a second with the database back.
        std::thread::sleep(Duration::from_secs(1));
        cluster
    });
    let cluster = faults.await.unwrap();
    done.store(true, Ordering::Relaxed);
    let acknowledged = tokio::time::timeout(Duration::from_secs(240), traffic)
        .await
        .expect("the burst ends")
        .unwrap();
    let total: usize = acknowledged.iter().map(Vec::len).sum();
    eprintln!(
        "{total} transfers acknowledged; while PostgreSQL was away: {} answers 503, {} without an answer",
        seen.unavailable.load(Ordering::Relaxed),
        seen.transport.load(Ordering::Relaxed)
    );
    assert_eq!(seen.internal.load(Ordering::Relaxed), 0);
    assert!(
        seen.unavailable.load(Ordering::Relaxed) + seen.transport.load(Ordering::Relaxed) > 0,
        "the restarts happened during the burst"
    );
    assert_exactly_once(&cluster, &acknowledged.concat()).await;

    // Client i paid one WAL per transfer it sent and got one per transfer client i-1 sent.
    let public = LedgerClient::new(&ledger.url, None, Duration::from_secs(10));
    for (i, key) in keys.iter().enumerate() {
        let sent = acknowledged[i].len() as i64;
        let received = acknowledged[(i + CLIENTS - 1) % CLIENTS].len() as i64;
        let account: Value = public
            .get(&format!("/v1/accounts/{}", address(key)))
            .await
            .unwrap();
        let expected = wal::money::Wal::from_wal(1000 - sent + received).to_string();
        assert_eq!(account["balance"], expected, "client {i}: {account}");
    }
    let audit: Value = public.get("/v1/audit").await.unwrap();
    assert_eq!(audit["ok"], true, "{audit}");
    drop(ledger);
    drop(cluster);
}

/// Every acknowledged transfer is in the journal once, under the entry it was
/// acknowledged with; no other transfer between the clients exists.
async fn assert_exactly_once(cluster: &Cluster, acknowledged: &[(String, i64)]) {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&cluster.url("wal_fault"))
        .await
        .unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT memo, id FROM journal_entries WHERE memo LIKE 'c%-t%' ORDER BY memo",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut expected: Vec<(String, i64)> = acknowledged.to_vec();
    expected.sort();
    assert_eq!(
        rows.len(),
        acknowledged.len(),
        "one journal entry per transfer, none doubled"
    );
    assert_eq!(
        rows, expected,
        "each transfer under the entry it was acknowledged with"
    );
}
