//! The README's first command, as a new user runs it: `scripts/run-ledger.sh` against a
//! database that does not exist yet must build, create the database, migrate, run
//! genesis and answer `/ready`, without touching the PostgreSQL server's configuration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use sqlx::{Connection, PgConnection};

/// The script and everything it starts (cargo, then the ledger) run in their own process
/// group, killed whole when the test ends, pass or fail.
struct ScriptGuard(Child);

impl Drop for ScriptGuard {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// The server of `DATABASE_URL` (scripts/test.sh sets it), with `database` in the path.
fn url_with_database(database: &str) -> String {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (base, query) = server.split_once('?').unwrap_or((&server, ""));
    let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{authority}/{database}{query}")
}

async fn database_exists(maintenance_url: &str, database: &str) -> bool {
    let mut conn = PgConnection::connect(maintenance_url)
        .await
        .expect("the server answers");
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(database)
        .fetch_one(&mut conn)
        .await
        .expect("pg_database is readable")
}

async fn pg_hba_reloads(maintenance_url: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut conn = PgConnection::connect(maintenance_url).await.ok()?;
    sqlx::query_scalar("SELECT pg_conf_load_time()")
        .fetch_one(&mut conn)
        .await
        .ok()
}

/// Waits for `listening on URL` on the script's stdout (the build comes first).
fn announced_url(child: &mut Child, deadline: Duration) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(deadline)
        .expect("scripts/run-ledger.sh serves within the deadline (it builds first)")
}

async fn wait_ready(url: &str, deadline: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{url}/ready")).await {
            if response.status() == 200 {
                return response.json().await.expect("/ready answers JSON");
            }
        }
        assert!(
            started.elapsed() < deadline,
            "{url}/ready never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn run_ledger_script_serves_a_database_that_does_not_exist_yet() {
    let database = format!("wal_front_door_{}", uuid::Uuid::new_v4().simple());
    let database_url = url_with_database(&database);
    let maintenance = url_with_database("postgres");
    assert!(!database_exists(&maintenance, &database).await);
    let reloaded_before = pg_hba_reloads(&maintenance).await;
    let devnet = std::env::temp_dir().join(&database);

    let root = env!("CARGO_MANIFEST_DIR");
    let mut command = Command::new(format!("{root}/scripts/run-ledger.sh"));
    command
        .env("DATABASE_URL", &database_url)
        .env("WAL_LISTEN_ADDR", "127.0.0.1:0")
        .env("WAL_DEVNET_DIR", &devnet)
        .env_remove("WAL_TREASURY_ADDRESS")
        .env("RUST_LOG", "warn")
        // The script as the README runs it, on the debug build the test command has just
        // made (a release build from scratch would add minutes and gigabytes to CI; a
        // build here would wait for the lock this test's own cargo holds).
        .env("WAL_PROFILE", "dev")
        .env("WAL_SKIP_BUILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut guard = ScriptGuard(command.spawn().expect("scripts/run-ledger.sh starts"));

    let url = announced_url(&mut guard.0, Duration::from_secs(120));
    let ready = wait_ready(&url, Duration::from_secs(60)).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(
        database_exists(&maintenance, &database).await,
        "the script created it"
    );
    let network: serde_json::Value = reqwest::get(format!("{url}/v1/network"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("/v1/network answers")
        .json()
        .await
        .expect("JSON");
    let treasury = wal::client::keyfile::read(&devnet.join("treasury.key"))
        .expect("the script made a devnet treasury key");
    assert_eq!(
        network["treasury_address"],
        wal::wire::Address::from_key(&treasury.verifying_key()).to_string(),
        "genesis minted the supply to the devnet key"
    );
    assert_eq!(
        pg_hba_reloads(&maintenance).await,
        reloaded_before,
        "the server's configuration was not reloaded"
    );

    drop(guard);
    let mut conn = PgConnection::connect(&maintenance)
        .await
        .expect("the server answers");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("the test database is dropped");
    let _ = std::fs::remove_dir_all(&devnet);
}
