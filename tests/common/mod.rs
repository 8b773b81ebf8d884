//! Shared test harness: a real ledger (the production router and database code) served
//! on a loopback port 0 from its own multi-threaded runtime, against the fresh database
//! that `#[sqlx::test]` made for the test.
#![allow(dead_code)]

pub mod commit_cut;
pub mod faultproxy;
pub mod network;
pub mod process;
pub mod storage;
pub mod walrus;

use std::time::Duration;

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::oneshot;
use wal::app;
use wal::client::{ClientError, LedgerClient};
use wal::config::Config;
use wal::money::Wal;
use wal::wire::Address;

pub struct TestLedger {
    pub url: String,
    pub network_id: String,
    pub treasury: SigningKey,
    /// The test's own pool on the same database, for checks behind the API.
    pub db: PgPool,
    shutdown: Option<oneshot::Sender<()>>,
    /// Closed when the server thread has stopped and closed its pool.
    stopped: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

/// A `postgres://` URL for the database behind `pool` (for child processes).
pub fn database_url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options
            .get_database()
            .expect("sqlx::test pools name their database")
    )
}

pub fn address(key: &SigningKey) -> Address {
    Address::from_key(&key.verifying_key())
}

/// An amount written as WAL text, e.g. `wal("12.5")`.
pub fn wal(text: &str) -> Wal {
    Wal::parse(text).unwrap_or_else(|e| panic!("{text:?} is not an amount: {e}"))
}

/// An amount as the API writes it (a JSON string of WAL).
pub fn amount(value: &Value) -> Wal {
    wal(value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not an amount")))
}

pub fn new_key() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

impl TestLedger {
    pub async fn start(db: PgPool) -> TestLedger {
        TestLedger::start_with(db, |_| {}).await
    }

    /// Starts a ledger whose config `tweak` may change (faucet, limits, ...).
    pub async fn start_with(db: PgPool, tweak: impl FnOnce(&mut Config)) -> TestLedger {
        let options = (*db.connect_options()).clone();
        TestLedger::start_connecting(db, options, tweak).await
    }

    /// Starts a ledger whose pool connects with `options` (through a proxy, say) to the
    /// database behind `db`.
    pub async fn start_connecting(
        db: PgPool,
        options: sqlx::postgres::PgConnectOptions,
        tweak: impl FnOnce(&mut Config),
    ) -> TestLedger {
        let treasury = new_key();
        let mut config = Config::for_database(&database_url_of(&db));
        config.treasury_address = Some(address(&treasury));
        // Tests run in parallel against one PostgreSQL: keep each ledger's pool small.
        config.database_connections_max = 8;
        tweak(&mut config);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        // The server gets its own runtime so that it runs on every core, as in
        // production, whatever runtime the test itself uses.
        let (stopped_tx, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _stopped_tx = stopped_tx;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let pool = PgPoolOptions::new()
                    .max_connections(config.database_connections_max)
                    .connect_with(options)
                    .await
                    .expect("the server connects to the test database");
                // The same startup as `wal-ledger serve`: migrations, genesis, the
                // epoch clock and maintenance.
                let application = app::Application::build_with_pool(config, pool)
                    .await
                    .expect("migrations and genesis");
                let addr = application.local_addr().expect("bound");
                let network_id = application.network().network_id.clone();
                let _ = ready_tx.send((addr, network_id));
                let shutdown = async {
                    let _ = shutdown_rx.await;
                };
                application.run_until(shutdown).await.expect("serves");
            });
        });
        let (addr, network_id) = tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .expect("the ledger starts within 60 s")
            .expect("the ledger thread reports its address");
        TestLedger {
            url: format!("http://{addr}"),
            network_id,
            treasury,
            db,
            shutdown: Some(shutdown_tx),
            stopped: std::sync::Mutex::new(stopped),
        }
    }

    pub fn client(&self, key: &SigningKey) -> LedgerClient {
        LedgerClient::new(&self.url, Some(key.clone()), Duration::from_secs(30))
    }

    pub fn public(&self) -> LedgerClient {
        LedgerClient::new(&self.url, None, Duration::from_secs(30))
    }

    /// Sends `amount` WAL from the treasury.
    pub async fn fund(&self, to: &SigningKey, amount: &str) -> Value {
        let body = json!({"to": address(to), "amount": amount});
        self.client(&self.treasury)
            .post("/v1/transfers", &body, &uuid::Uuid::new_v4().to_string())
            .await
            .expect("the treasury pays")
    }

    pub async fn balance(&self, of: &Address) -> Wal {
        let account: Value = self
            .public()
            .get(&format!("/v1/accounts/{of}"))
            .await
            .expect("account");
        Wal::parse(account["balance"].as_str().expect("balance is a string")).expect("an amount")
    }

    /// The balance of any account by its key, e.g. `sys:burn`.
    pub async fn balance_of_key(&self, key: &str) -> Wal {
        let account: Value = self
            .public()
            .get(&format!("/v1/accounts/{key}"))
            .await
            .expect("account");
        Wal::parse(account["balance"].as_str().expect("balance is a string")).expect("an amount")
    }

    pub async fn audit(&self) -> Value {
        self.public().get("/v1/audit").await.expect("audit answers")
    }

    pub async fn assert_audit_ok(&self) {
        let audit = self.audit().await;
        assert_eq!(audit["ok"], json!(true), "audit failed: {audit}");
    }

    /// Journal entries and nonces: what a rejected request must not change.
    pub async fn state_fingerprint(&self) -> (i64, i64, i64) {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM journal_entries), (SELECT count(*) FROM signature_nonces),
                    (SELECT count(*) FROM idempotency_keys)",
        )
        .fetch_one(&self.db)
        .await
        .expect("counts");
        row
    }

    /// Stops the server and waits (at most 10 s) until its pool is closed, so that
    /// `#[sqlx::test]` can drop the test database.
    pub async fn stop(self) {
        tokio::task::spawn_blocking(move || drop(self))
            .await
            .expect("stopped");
    }
}

impl Drop for TestLedger {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Ok(stopped) = self.stopped.get_mut() {
            let _ = stopped.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// A transfer signed once, with a fixed nonce and `created` = now, that a test sends
/// again and again (replays are what it is for).
pub struct PresignedTransfer {
    url: String,
    body: Vec<u8>,
    headers: wal::signing::SignatureHeaders,
}

impl PresignedTransfer {
    pub fn new(
        ledger: &TestLedger,
        key: &SigningKey,
        body: &Value,
        nonce: &str,
    ) -> PresignedTransfer {
        let body = serde_json::to_vec(body).unwrap();
        let params = wal::signing::SignatureParams {
            network_id: &ledger.network_id,
            created_unix_secs: chrono::Utc::now().timestamp(),
            nonce,
        };
        let headers =
            wal::signing::sign_request(key, "POST", "/v1/transfers", None, &body, &params).unwrap();
        PresignedTransfer {
            url: format!("{}/v1/transfers", ledger.url),
            body,
            headers,
        }
    }

    pub async fn send(&self, idempotency_key: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(&self.url)
            .header("content-digest", &self.headers.content_digest)
            .header("signature-input", &self.headers.signature_input)
            .header("signature", &self.headers.signature)
            .body(self.body.clone());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("the ledger answers")
    }
}

/// Waits (polling, 20 s at most) until a session on `db`'s database waits for a lock:
/// a test's concurrent transaction has reached the row another one holds. `what` names
/// the wait in the failure.
pub async fn wait_for_a_lock_wait(db: &PgPool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node registration body with a fresh protocol key and the given commission rate.
pub fn node_registration(name: &str, commission: &str) -> Value {
    json!({
        "name": name,
        "endpoint": format!("http://{name}.example:9000"),
        "protocol_public_key": hex::encode(new_key().verifying_key().to_bytes()),
        "commission_rate": commission,
        "storage_price_vote": "0.0001",
        "write_price_vote": "0.00002"
    })
}

/// A ledger with 10 shards and an admin key (for `POST /v1/admin/epochs/advance`).
pub async fn ledger_with_admin(db: PgPool) -> (TestLedger, SigningKey) {
    let admin = new_key();
    let admin_address = address(&admin);
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = 10;
        config.admin_address = Some(admin_address);
    })
    .await;
    (ledger, admin)
}

/// A signed POST that must succeed (with a fresh Idempotency-Key); its answer.
pub async fn post_ok(ledger: &TestLedger, key: &SigningKey, path: &str, body: Value) -> Value {
    ledger
        .client(key)
        .post(path, &body, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_or_else(|e| panic!("POST {path} {body}: {e:?}"))
}

/// The error code of a failed call, or a panic naming what came back instead.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> String {
    match result {
        Err(ClientError::Problem(problem)) => problem.code,
        other => panic!("expected a problem document, got {other:?}"),
    }
}

/// Every table that holds state (balances, journal, epochs, committees, nodes, stakes,
/// pool rates, commission changes, nonces, keys, proposals, votes, parameters), as text: equal before and after a
/// request or change that failed means it left nothing behind.
pub async fn snapshot(db: &PgPool) -> String {
    let queries = [
        "SELECT string_agg(account || ':' || stripe || '=' || balance, ',' ORDER BY account, stripe) FROM balances",
        "SELECT count(*)::text FROM journal_entries",
        "SELECT string_agg(epoch::text, ',' ORDER BY epoch) FROM epochs",
        "SELECT coalesce(string_agg(epoch || '/' || node_id || '/' || shards::text || '/' || coalesce(reward::text, '-'), ',' ORDER BY epoch, node_id), '') FROM committee_members",
        "SELECT string_agg(id || '=' || pool_shares, ',' ORDER BY id) FROM nodes",
        "SELECT coalesce(string_agg(id || '/' || coalesce(withdrawn_amount::text, '-'), ',' ORDER BY id), '') FROM stakes",
        "SELECT count(*)::text FROM pool_rates",
        "SELECT count(*)::text FROM epoch_changes",
        "SELECT coalesce(string_agg(node_id || '@' || effective_epoch || '=' || rate, ',' ORDER BY node_id, effective_epoch), '') FROM commission_changes",
        "SELECT string_agg(id || ':' || name || ':' || endpoint || ':' || protocol_public_key || ':' || storage_price_vote || ':' || write_price_vote, ',' ORDER BY id) FROM nodes",
        "SELECT count(*)::text FROM signature_nonces",
        "SELECT count(*)::text FROM idempotency_keys",
        "SELECT count(*)::text FROM audit_results",
        "SELECT count(*)::text FROM slashes",
        "SELECT coalesce(string_agg(id || ':' || status || ':' || coalesce(tally_yes::text, '-'), ',' ORDER BY id), '') FROM proposals",
        "SELECT coalesce(string_agg(proposal_id || ':' || voter || ':' || choice, ',' ORDER BY proposal_id, voter), '') FROM votes",
        "SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM params",
        "SELECT string_agg(name || '@' || epoch || '=' || value, ',' ORDER BY name, epoch) FROM param_changes",
    ];
    let mut out = String::new();
    for q in queries {
        let part: Option<String> = sqlx::query_scalar(q).fetch_one(db).await.unwrap();
        out.push_str(&part.unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The Python of the test virtualenv that `scripts/test.sh` creates.
pub fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("WAL_TEST_PYTHON") {
        return python.into();
    }
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh (it creates the venv from tests/py/requirements.txt) \
         or set WAL_TEST_PYTHON",
        venv.display()
    );
    venv
}

/// The most journal entries of `kind` that one transaction committed (batched commits
/// put several in one).
pub async fn most_entries_per_commit(db: &PgPool, kind: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM journal_entries
                                          WHERE kind = $1 GROUP BY created_xid) AS per_commit",
    )
    .bind(kind)
    .fetch_one(db)
    .await
    .expect("the journal is readable")
}

/// Polls `probe` every 100 ms until it gives a value, up to `seconds`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    seconds: u64,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} within {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
