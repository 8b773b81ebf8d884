//! Epoch changes under load and under failure: exactly once when triggered twice,
//! racing stakes, withdrawals and transfers, rolled back whole when they fail, and run
//! by the clocks of two real `wal-ledger` processes on one database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::start_with_env;
use common::{address, database_url_of, ledger_with_admin, new_key, node_registration, TestLedger};
use ed25519_dalek::SigningKey;
use rand::seq::SliceRandom;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::{ClientError, LedgerClient};
use wal::epoch::change::ChangeSettings;
use wal::money::Wal;

fn problem_code<T>(result: &Result<T, ClientError>) -> Option<String> {
    match result {
        Err(ClientError::Problem(p)) => Some(p.code.clone()),
        _ => None,
    }
}

#[sqlx::test]
async fn a_failing_epoch_change_leaves_the_epoch_intact(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let (operator, staker) = (new_key(), new_key());
    ledger.fund(&staker, "500").await;
    let node: Value = ledger
        .client(&operator)
        .post("/v1/nodes", &node_registration("node-a", "0.1"), "n")
        .await
        .unwrap();
    let node = node["id"].as_str().unwrap().to_owned();
    let staker_client = ledger.client(&staker);
    for (i, amount) in ["100", "50"].iter().enumerate() {
        let _: Value = staker_client
            .post(
                "/v1/stakes",
                &json!({"node_id": node, "amount": amount}),
                &format!("s{i}"),
            )
            .await
            .unwrap();
    }
    let admin_client = ledger.client(&admin);
    let _: Value = admin_client
        .post("/v1/admin/epochs/advance", &json!({}), "a0")
        .await
        .unwrap();
    let _: Value = staker_client
        .post(
            "/v1/subsidies",
            &json!({"amount": "100", "epochs": 2}),
            "sub",
        )
        .await
        .unwrap();
    let _: Value = staker_client
        .post("/v1/stakes/1/withdraw", &json!({}), "w")
        .await
        .unwrap();

    // A fault in the very last step of the change: everything before it must roll back.
    sqlx::query(
        "CREATE FUNCTION fail_change() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'injected failure'; END $$",
    )
    .execute(&ledger.db)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER fail_change BEFORE INSERT ON epoch_changes FOR EACH ROW EXECUTE FUNCTION fail_change()")
        .execute(&ledger.db)
        .await
        .unwrap();
    let before = common::snapshot(&ledger.db).await;
    let failed: Result<Value, _> = admin_client
        .post("/v1/admin/epochs/advance", &json!({}), "a1")
        .await;
    assert_eq!(problem_code(&failed).as_deref(), Some("INTERNAL"));
    let detail = format!("{failed:?}");
    assert!(
        !detail.contains("injected"),
        "a 500 carries no internals: {detail}"
    );
    assert_eq!(common::snapshot(&ledger.db).await, before);
    let epoch: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
    assert_eq!(epoch["epoch"], 1);
    ledger.assert_audit_ok().await;

    // Without the fault, the same change goes through, once.
    sqlx::query("DROP TRIGGER fail_change ON epoch_changes")
        .execute(&ledger.db)
        .await
        .unwrap();
    let ended: Value = admin_client
        .post("/v1/admin/epochs/advance", &json!({}), "a2")
        .await
        .unwrap();
    assert_eq!(ended["epoch"], 1);
    assert_eq!(ended["change"]["withdrawals"], 1);
    // 500 - 150 staked - 100 subsidy = 250, plus stake 1's value: slot 1 holds 50,
    // 3% burned, 48.5 to the only node, 10% commission, so the pool holds
    // 150 + 43.65 = 193.65 of which stake 1 owns 100/150: 129.1.
    assert_eq!(
        ledger.balance(&address(&staker)).await,
        Wal::parse("379.1").unwrap()
    );
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

/// Two admin requests for the same epoch at once: one change, one 409.
#[sqlx::test]
async fn two_triggers_at_once_change_the_epoch_once(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    for epoch in 0..3 {
        let body = serde_json::to_vec(&json!({"epoch": epoch})).unwrap();
        let (c1, c2) = (ledger.client(&admin), ledger.client(&admin));
        let (r1, r2) = tokio::join!(
            c1.send_signed::<Value>(Method::POST, "/v1/admin/epochs/advance", &body, None),
            c2.send_signed::<Value>(Method::POST, "/v1/admin/epochs/advance", &body, None)
        );
        let codes = [problem_code(&r1), problem_code(&r2)];
        assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 1, "{codes:?}");
        assert!(codes.contains(&Some("CONFLICT".to_owned())), "{codes:?}");
    }
    // A retry of a committed advance with the same Idempotency-Key (a lost answer)
    // replays the answer and ends nothing more.
    let admin_client = ledger.client(&admin);
    let body = json!({"epoch": 3});
    let first: Value = admin_client
        .post("/v1/admin/epochs/advance", &body, "advance-3")
        .await
        .unwrap();
    let retried: Value = admin_client
        .post("/v1/admin/epochs/advance", &body, "advance-3")
        .await
        .unwrap();
    assert_eq!(first, retried);
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM epoch_changes")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    assert_eq!(changes, 4);
    let bad: Result<Value, _> = admin_client
        .send_signed(
            Method::POST,
            "/v1/admin/epochs/advance",
            br#"{"epoch": -1}"#,
            None,
        )
        .await;
    assert_eq!(problem_code(&bad).as_deref(), Some("INVALID_ARGUMENT"));
    ledger.stop().await;
}

/// The epoch clock of two ledgers (two pools) ticking at the same moment on a due
/// epoch: exactly one change.
#[sqlx::test]
async fn two_clocks_on_one_database_end_a_due_epoch_once(db: PgPool) {
    // Exactly the two clocks of the test: the server's own clock is off.
    let ledger = TestLedger::start_with(db, |config| config.epoch_clock = false).await;
    let settings = ChangeSettings {
        n_shards: 100,
        epoch_duration_secs: 3600,
    };
    for round in 1..=3 {
        sqlx::query("UPDATE epochs SET ends_at = now() - interval '1 second', started_at = now() - interval '2 seconds' WHERE epoch = (SELECT max(epoch) FROM epochs)")
            .execute(&ledger.db)
            .await
            .unwrap();
        let other = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with((*ledger.db.connect_options()).clone())
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            wal::epoch::clock::tick(&ledger.db, settings),
            wal::epoch::clock::tick(&other, settings)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 1, "round {round}");
        let epoch: i64 = sqlx::query_scalar("SELECT max(epoch) FROM epochs")
            .fetch_one(&ledger.db)
            .await
            .unwrap();
        assert_eq!(epoch, round);
        other.close().await;
    }
    ledger.stop().await;
}

#[derive(Default)]
struct UserLog {
    /// Stake ids this user made, and their principal.
    stakes: Vec<(String, Wal)>,
    sent: Wal,
}

/// A NUMERIC rendered as text by PostgreSQL, as WAL.
fn numeric(text: &str) -> Wal {
    Wal::from_decimal_unchecked(text.parse::<rust_decimal::Decimal>().unwrap())
}

/// Stakes, withdrawals and transfers from 8 users race repeated epoch changes. Without
/// rewards every pool stays at one share per FROST and every stake is worth its
/// principal, so what each node's accounts must hold is known exactly.
#[sqlx::test]
async fn stakes_withdrawals_and_transfers_racing_epoch_changes(db: PgPool) {
    race_epoch_changes(db, false).await;
}

/// The same race with rewards flowing every epoch, so pool rates move while stakes
/// join and leave: every stake is paid at least its principal, the pools hold what
/// their stakes are worth (to rounding dust), every balance is exact.
#[sqlx::test]
async fn stakes_racing_epoch_changes_with_rewards(db: PgPool) {
    race_epoch_changes(db, true).await;
}

async fn race_epoch_changes(db: PgPool, rewards: bool) {
    const USERS: usize = 8;
    const OPS_PER_USER: usize = 24;
    const CHANGES: usize = 6;
    let (ledger, admin) = ledger_with_admin(db).await;
    let operator = new_key();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let node: Value = ledger
            .client(&operator)
            .post(
                "/v1/nodes",
                &node_registration(&format!("node-{i}"), "0.1"),
                &format!("n{i}"),
            )
            .await
            .unwrap();
        nodes.push(node["id"].as_str().unwrap().to_owned());
    }
    let users: Vec<SigningKey> = (0..USERS).map(|_| new_key()).collect();
    for user in &users {
        ledger.fund(user, "1000").await;
    }
    if rewards {
        let body = json!({"amount": "7000.000000007", "epochs": CHANGES + 1});
        let _: Value = ledger
            .client(&ledger.treasury)
            .post("/v1/subsidies", &body, "subsidy")
            .await
            .unwrap();
    }
    let addresses: Vec<_> = users.iter().map(address).collect();
    let done_ops = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let client = ledger.client(user);
        let (nodes, addresses, done_ops) = (nodes.clone(), addresses.clone(), done_ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut log = UserLog::default();
            let mut sent_to: HashMap<usize, Wal> = HashMap::new();
            for op in 0..OPS_PER_USER {
                let choice = rand::thread_rng().gen_range(0..3);
                let key = format!("{i}-{op}");
                match choice {
                    0 => {
                        let node = nodes.choose(&mut rand::thread_rng()).unwrap().clone();
                        let amount = Wal::from_wal(rand::thread_rng().gen_range(1..=5));
                        let stake: Value = client
                            .post(
                                "/v1/stakes",
                                &json!({"node_id": node, "amount": amount}),
                                &key,
                            )
                            .await
                            .unwrap();
                        log.stakes
                            .push((stake["id"].as_str().unwrap().to_owned(), amount));
                    }
                    1 if !log.stakes.is_empty() => {
                        let (id, _) = log.stakes.choose(&mut rand::thread_rng()).unwrap().clone();
                        let result: Result<Value, _> = client
                            .post(&format!("/v1/stakes/{id}/withdraw"), &json!({}), &key)
                            .await;
                        if let Some(code) = problem_code(&result) {
                            assert_eq!(code, "CONFLICT", "only a second withdrawal may fail");
                        }
                    }
                    _ => {
                        let to = (i + 1 + rand::thread_rng().gen_range(0..USERS - 1)) % USERS;
                        let _: Value = client
                            .post(
                                "/v1/transfers",
                                &json!({"to": addresses[to], "amount": "1"}),
                                &key,
                            )
                            .await
                            .unwrap();
                        log.sent = log.sent.checked_add(Wal::from_wal(1)).unwrap();
                        let total = sent_to.entry(to).or_insert(Wal::ZERO);
                        *total = total.checked_add(Wal::from_wal(1)).unwrap();
                    }
                }
                done_ops.fetch_add(1, Ordering::SeqCst);
            }
            (log, sent_to)
        }));
    }
    // Epoch changes spread over the users' work, each triggered twice at once.
    let admin_clients = (ledger.client(&admin), ledger.client(&admin));
    for change in 0..CHANGES {
        let target = (change + 1) * USERS * OPS_PER_USER / (CHANGES + 1);
        let deadline = Instant::now() + Duration::from_secs(120);
        while done_ops.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "users made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let epoch: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
        let body = serde_json::to_vec(&json!({"epoch": epoch["epoch"]})).unwrap();
        let (r1, r2) = tokio::join!(
            admin_clients.0.send_signed::<Value>(
                Method::POST,
                "/v1/admin/epochs/advance",
                &body,
                None
            ),
            admin_clients.1.send_signed::<Value>(
                Method::POST,
                "/v1/admin/epochs/advance",
                &body,
                None
            )
        );
        let ok = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            ok, 1,
            "one of two racing triggers changes the epoch: {r1:?} {r2:?}"
        );
    }
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.unwrap());
    }

    ledger.assert_audit_ok().await;
    let current: i64 = sqlx::query_scalar("SELECT max(epoch) FROM epochs")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    assert_eq!(current, CHANGES as i64);
    let made: usize = logs.iter().map(|(l, _)| l.stakes.len()).sum();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM stakes")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    assert_eq!(
        rows as usize, made,
        "every acknowledged stake is there, once"
    );
    // Withdrawn stakes got back exactly their principal without rewards; with them,
    // at least it (less the rounding to a whole share, under 1000 FROST here, when no
    // reward came between); a pending stake withdrawn is refunded exactly.
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stakes WHERE withdrawn_amount IS NOT NULL AND (
           withdrawn_amount < principal - 0.000001
           OR (withdrawn_amount <> principal AND (withdrawn_epoch = staked_epoch OR NOT $1)))",
    )
    .bind(rewards)
    .fetch_one(&ledger.db)
    .await
    .unwrap();
    assert_eq!(wrong, 0);
    for node in &nodes {
        let row: (String, String, String, String, String, i64) = sqlx::query_as(
            "SELECT
               (SELECT coalesce(sum(balance), 0)::text FROM balances WHERE account = 'sys:pending:' || $1),
               (SELECT coalesce(sum(principal), 0)::text FROM stakes WHERE node_id = $1::bigint AND staked_epoch = $2 AND withdraw_epoch IS NULL),
               (SELECT coalesce(sum(balance), 0)::text FROM balances WHERE account = 'sys:pool:' || $1),
               (SELECT coalesce(sum(principal), 0)::text FROM stakes WHERE node_id = $1::bigint AND staked_epoch < $2 AND withdrawn_amount IS NULL),
               (SELECT (pool_shares / 1000000000)::text FROM nodes WHERE id = $1::bigint),
               (SELECT count(*) FROM stakes WHERE node_id = $1::bigint)",
        )
        .bind(node)
        .bind(current)
        .fetch_one(&ledger.db)
        .await
        .unwrap();
        let (pending, pending_stakes, pool, active_principal, shares, stake_count) = row;
        assert_eq!(
            numeric(&pending),
            numeric(&pending_stakes),
            "node {node}: pending account vs pending stakes"
        );
        if !rewards {
            assert_eq!(
                numeric(&pool),
                numeric(&active_principal),
                "node {node}: pool vs active stakes"
            );
            assert_eq!(
                numeric(&shares),
                numeric(&active_principal),
                "node {node}: one share per FROST"
            );
            continue;
        }
        // The pool owes its active stakes their value. Rounding to whole shares leaves
        // it up to about one share's worth per stake it ever had (a share is worth the
        // pool's rate in FROST, which rewards raise); that dust is owned by no one.
        let page: Value = ledger
            .public()
            .get(&format!("/v1/stakes?node_id={node}&limit=500"))
            .await
            .unwrap();
        let owed = Wal::checked_sum(
            page["stakes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["status"] == "active" || s["status"] == "withdrawing")
                .map(|s| Wal::parse(s["value"].as_str().unwrap()).unwrap()),
        )
        .unwrap();
        let pool = numeric(&pool);
        assert!(owed <= pool, "node {node}: owes {owed}, holds {pool}");
        let dust = pool.checked_sub(owed).unwrap().to_frost();
        let shares_frost = numeric(&shares).to_frost().max(1);
        let rate_frost_per_share = pool.to_frost() / shares_frost + 1;
        assert!(
            dust <= stake_count as i128 * (rate_frost_per_share + 1),
            "node {node}: {dust} FROST unowned at {rate_frost_per_share} FROST per share"
        );
        let rounding = Wal::from_frost((stake_count as i128 * (rate_frost_per_share + 1)) as i64);
        assert!(
            owed.checked_add(rounding).unwrap() >= numeric(&active_principal),
            "node {node}: rewards only add (up to rounding)"
        );
    }
    // Every user's balance: 1000 - sent + received - everything staked + everything
    // paid back.
    let mut received = [Wal::ZERO; USERS];
    for (_, sent_to) in &logs {
        for (&to, &amount) in sent_to {
            received[to] = received[to].checked_add(amount).unwrap();
        }
    }
    for (i, (log, _)) in logs.iter().enumerate() {
        let (staked, paid): (String, String) = sqlx::query_as(
            "SELECT coalesce(sum(principal), 0)::text, coalesce(sum(withdrawn_amount), 0)::text
             FROM stakes WHERE owner = $1",
        )
        .bind(addresses[i].to_string())
        .fetch_one(&ledger.db)
        .await
        .unwrap();
        let expected = Wal::from_wal(1000)
            .checked_sub(log.sent)
            .and_then(|w| w.checked_add(received[i]))
            .and_then(|w| w.checked_sub(numeric(&staked)))
            .and_then(|w| w.checked_add(numeric(&paid)))
            .unwrap();
        assert_eq!(ledger.balance(&addresses[i]).await, expected, "user {i}");
    }
    ledger.stop().await;
}

/// Two real ledger processes on one database with 1-second epochs: their clocks end
/// every epoch exactly once, rewards flow, and the audit holds.
#[sqlx::test]
async fn two_ledger_processes_share_the_epoch_clock(db: PgPool) {
    let database_url = database_url_of(&db);
    let treasury = new_key();
    let env = [("WAL_EPOCH_DURATION_SECS", "1".to_owned())];
    let first = start_with_env(&database_url, &treasury, &env);
    let second = start_with_env(&database_url, &treasury, &env);
    let treasury_client =
        LedgerClient::new(&first.url, Some(treasury.clone()), Duration::from_secs(10));
    let node: Value = treasury_client
        .post("/v1/nodes", &node_registration("node-a", "0.1"), "n")
        .await
        .unwrap();
    let _: Value = treasury_client
        .post(
            "/v1/stakes",
            &json!({"node_id": node["id"], "amount": "1000"}),
            "s",
        )
        .await
        .unwrap();
    let _: Value = treasury_client
        .post(
            "/v1/subsidies",
            &json!({"amount": "100", "epochs": 10}),
            "sub",
        )
        .await
        .unwrap();
    let public = LedgerClient::new(&second.url, None, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let epoch: Value = public.get("/v1/epochs/current").await.unwrap();
        if epoch["epoch"].as_i64().unwrap() >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the clocks did not reach epoch 5 in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(first);
    drop(second);
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT epoch FROM epoch_changes ORDER BY epoch")
        .fetch_all(&db)
        .await
        .unwrap();
    let max: i64 = sqlx::query_scalar("SELECT max(epoch) FROM epochs")
        .fetch_one(&db)
        .await
        .unwrap();
    let ended: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
    assert_eq!(
        ended,
        (0..max).collect::<Vec<_>>(),
        "each epoch ended once, in order"
    );
    let report = wal::ledger::audit::run(&db).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.burned.is_positive(), "rewards were paid and burned");
}

/// The audit checks staking too: a stake row without its WAL (or WAL without its
/// stake) is reported.
#[sqlx::test]
async fn the_audit_catches_a_stake_without_its_wal(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let (operator, staker) = (new_key(), new_key());
    ledger.fund(&staker, "100").await;
    let node: Value = ledger
        .client(&operator)
        .post("/v1/nodes", &node_registration("node-a", "0.1"), "n")
        .await
        .unwrap();
    let body = json!({"node_id": node["id"], "amount": "10"});
    let _: Value = ledger
        .client(&staker)
        .post("/v1/stakes", &body, "s1")
        .await
        .unwrap();
    let _: Value = ledger
        .client(&admin)
        .post("/v1/admin/epochs/advance", &json!({}), "a")
        .await
        .unwrap();
    let _: Value = ledger
        .client(&staker)
        .post("/v1/stakes", &body, "s2")
        .await
        .unwrap();
    ledger.assert_audit_ok().await;
    // A pending stake nobody paid for, then an active one the pool has no shares for.
    for epoch in [1, 0] {
        sqlx::query("INSERT INTO stakes (owner, node_id, principal, staked_epoch) VALUES ($1, $2::bigint, 5, $3)")
            .bind(address(&staker).to_string())
            .bind(node["id"].as_str().unwrap())
            .bind(epoch as i64)
            .execute(&ledger.db)
            .await
            .unwrap();
        let audit = ledger.audit().await;
        assert_eq!(audit["ok"], json!(false), "{audit}");
        assert_eq!(audit["stake_mismatches"], 1, "{audit}");
        sqlx::query("DELETE FROM stakes WHERE principal = 5")
            .execute(&ledger.db)
            .await
            .unwrap();
    }
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}
