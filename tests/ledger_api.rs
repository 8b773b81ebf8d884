//! The ledger's HTTP API as a client sees it: validation, idempotency, faucet, pages,
//! genesis, and the operational endpoints. Every rejection is checked to change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::Arc;

use common::{address, code_of, new_key, PresignedTransfer, TestLedger};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::app::genesis;
use wal::ledger::genesis::{GenesisError, GenesisParams};
use wal::money::Wal;

async fn post_raw(
    ledger: &TestLedger,
    key: &ed25519_dalek::SigningKey,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let response = ledger
        .client(key)
        .send_signed_raw(Method::POST, path, body, None)
        .await
        .expect("the ledger answers");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("a JSON body");
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    (status, body)
}

#[sqlx::test]
async fn malformed_amounts_are_400_and_change_nothing(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let sender = new_key();
    let to = address(&new_key()).to_string();
    ledger.fund(&sender, "10").await;
    let before = ledger.state_fingerprint().await;
    let bad_amounts = [
        json!("1.0000000001"),
        json!("0.0000000001"),
        json!("-1"),
        json!("-0.5"),
        json!("1e3"),
        json!("1E3"),
        json!("1e-9"),
        json!("+1"),
        json!("99999999999999999999999999999999999999"),
        json!("79228162514264337593543950336"),
        json!("99999999999999999999.999999999"),
        json!("5000000001"),
        json!("abc"),
        json!(""),
        json!(" 1"),
        json!("1 "),
        json!("1."),
        json!(".5"),
        json!("0"),
        json!("0.000000000"),
        json!("0x10"),
        json!("NaN"),
        json!("Infinity"),
        json!("１"),
        json!("1,5"),
        json!(1),
        json!(1.5),
        json!(null),
        json!(true),
        json!(["1"]),
    ];
    for amount in bad_amounts {
        let body = serde_json::to_vec(&json!({"to": to, "amount": amount})).unwrap();
        let (status, problem) = post_raw(&ledger, &sender, "/v1/transfers", &body).await;
        assert_eq!(status, 400, "amount {amount}: {problem}");
        assert_eq!(problem["code"], "INVALID_ARGUMENT", "amount {amount}");
    }
    assert_eq!(
        ledger.state_fingerprint().await,
        before,
        "rejections changed state"
    );
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(10));

    // The smallest and an exact amount are accepted and moved to the FROST.
    for amount in ["0.000000001", "9.999999999"] {
        let body = serde_json::to_vec(&json!({"to": to, "amount": amount})).unwrap();
        let (status, transfer) = post_raw(&ledger, &sender, "/v1/transfers", &body).await;
        assert_eq!(status, 201, "{transfer}");
        assert_eq!(transfer["amount"], amount);
    }
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(0));
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn bad_bodies_and_addresses_are_rejected_cleanly(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let sender = new_key();
    ledger.fund(&sender, "10").await;
    let to = address(&new_key()).to_string();
    let before = ledger.state_fingerprint().await;
    // 32 bytes that do not decompress to a curve point: no key can ever sign for them.
    let not_a_curve_point = (1u8..=255)
        .map(|b| [b; 32])
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .map(|bytes| format!("0x{}", hex::encode(bytes)))
        .expect("some byte pattern is off the curve");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown field",
            serde_json::to_vec(&json!({"to": to, "amount": "1", "fee": "1"})).unwrap(),
        ),
        ("not JSON", b"to=me&amount=1".to_vec()),
        ("empty body", Vec::new()),
        (
            "missing amount",
            serde_json::to_vec(&json!({"to": to})).unwrap(),
        ),
        (
            "short address",
            serde_json::to_vec(&json!({"to": "0x1234", "amount": "1"})).unwrap(),
        ),
        (
            "no 0x",
            serde_json::to_vec(&json!({"to": to[2..], "amount": "1"})).unwrap(),
        ),
        (
            "not hex",
            serde_json::to_vec(&json!({"to": format!("0x{}", "zz".repeat(32)), "amount": "1"}))
                .unwrap(),
        ),
        (
            "not a key",
            serde_json::to_vec(&json!({"to": not_a_curve_point, "amount": "1"})).unwrap(),
        ),
        (
            "to self",
            serde_json::to_vec(&json!({"to": address(&sender), "amount": "1"})).unwrap(),
        ),
        (
            "long memo",
            serde_json::to_vec(&json!({"to": to, "amount": "1", "memo": "x".repeat(257)})).unwrap(),
        ),
        (
            "NUL in the memo (PostgreSQL cannot store it)",
            serde_json::to_vec(&json!({"to": to, "amount": "1", "memo": "a\u{0}b"})).unwrap(),
        ),
    ];
    for (case, body) in cases {
        let (status, problem) = post_raw(&ledger, &sender, "/v1/transfers", &body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("INVALID_ARGUMENT")),
            "{case}: {problem}"
        );
    }
    // A NUL in a path or a query: 400, never the database's 500.
    for path in ["/v1/accounts/sys:%00", "/v1/storage/contracts?owner=a%00b"] {
        let answer = reqwest::get(format!("{}{path}", ledger.url)).await.unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{path}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], "INVALID_ARGUMENT", "{path}: {problem}");
    }
    // A negative epoch: the same 400 from a path and from each query that takes one.
    for path in [
        "/v1/epochs/-1",
        "/v1/audits?epoch=-1",
        "/v1/params?epoch=-1",
    ] {
        let answer = reqwest::get(format!("{}{path}", ledger.url)).await.unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{path}");
        let problem: Value = answer.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("not an epoch number"), "{path}: {problem}");
    }
    // Over the body limit: 413 before anything else happens.
    let huge =
        serde_json::to_vec(&json!({"to": to, "amount": "1", "memo": "x".repeat(300_000)})).unwrap();
    let (status, problem) = post_raw(&ledger, &sender, "/v1/transfers", &huge).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{problem}"
    );
    // More than the balance: 409 and nothing moves.
    let body = serde_json::to_vec(&json!({"to": to, "amount": "10.000000001"})).unwrap();
    let (status, problem) = post_raw(&ledger, &sender, "/v1/transfers", &body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("INSUFFICIENT_FUNDS")),
        "{problem}"
    );
    assert_eq!(
        ledger.state_fingerprint().await,
        before,
        "rejections changed state"
    );

    // Uppercase hex is accepted and normalised.
    let upper = format!("0x{}", to[2..].to_uppercase());
    let body = serde_json::to_vec(&json!({"to": upper, "amount": "1", "memo": "héllo"})).unwrap();
    let (status, transfer) = post_raw(&ledger, &sender, "/v1/transfers", &body).await;
    assert_eq!(status, 201, "{transfer}");
    assert_eq!(transfer["to"], to);
    assert_eq!(transfer["memo"], "héllo");
    let fetched: Value = ledger
        .public()
        .get(&format!(
            "/v1/transfers/{}",
            transfer["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(fetched, transfer, "GET returns the transfer as created");
    for missing in ["/v1/transfers/999999", "/v1/transfers/abc"] {
        assert_eq!(
            code_of(ledger.public().get::<Value>(missing).await),
            "NOT_FOUND"
        );
    }
}

#[sqlx::test]
async fn concurrent_duplicates_execute_once_and_key_reuse_is_refused(db: PgPool) {
    let ledger = Arc::new(TestLedger::start(db).await);
    let sender = new_key();
    let recipient = new_key();
    ledger.fund(&sender, "100").await;
    let body =
        Arc::new(serde_json::to_vec(&json!({"to": address(&recipient), "amount": "7"})).unwrap());

    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (ledger, sender, body) = (ledger.clone(), sender.clone(), body.clone());
        racers.spawn(async move {
            let response = ledger
                .client(&sender)
                .send_signed_raw(Method::POST, "/v1/transfers", &body, Some("order-42"))
                .await
                .unwrap();
            let replayed = response
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                response.status().as_u16(),
                replayed,
                response.json::<Value>().await.unwrap(),
            )
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = racers.join_next().await {
        answers.push(joined.unwrap());
    }
    assert!(
        answers.iter().all(|(status, _, _)| *status == 201),
        "{answers:?}"
    );
    let first = answers
        .iter()
        .filter(|(_, replayed, _)| replayed.is_none())
        .count();
    assert_eq!(first, 1, "exactly one request executed: {answers:?}");
    assert!(
        answers.iter().all(|(_, _, body)| *body == answers[0].2),
        "all got the same stored body"
    );
    assert_eq!(ledger.balance(&address(&recipient)).await, Wal::from_wal(7));

    // Same key, different body: refused, nothing moves.
    let before = ledger.state_fingerprint().await;
    let other = serde_json::to_vec(&json!({"to": address(&recipient), "amount": "8"})).unwrap();
    let response = ledger
        .client(&sender)
        .send_signed_raw(Method::POST, "/v1/transfers", &other, Some("order-42"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    assert_eq!(ledger.state_fingerprint().await, before);
    assert_eq!(ledger.balance(&address(&recipient)).await, Wal::from_wal(7));

    // Keys belong to the signer: another account may use the same key.
    let stranger = new_key();
    ledger.fund(&stranger, "7").await;
    let response = ledger
        .client(&stranger)
        .send_signed_raw(Method::POST, "/v1/transfers", &body, Some("order-42"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
    assert_eq!(
        ledger.balance(&address(&recipient)).await,
        Wal::from_wal(14)
    );

    // A rejected request is not stored: after funding, the same key executes.
    let poor = new_key();
    let client = ledger.client(&poor);
    let result: Result<Value, _> = client
        .post(
            "/v1/transfers",
            &json!({"to": address(&recipient), "amount": "1"}),
            "k2",
        )
        .await;
    assert_eq!(code_of(result), "INSUFFICIENT_FUNDS");
    ledger.fund(&poor, "1").await;
    let done: Value = client
        .post(
            "/v1/transfers",
            &json!({"to": address(&recipient), "amount": "1"}),
            "k2",
        )
        .await
        .unwrap();
    assert_eq!(done["amount"], "1");
    assert_eq!(
        ledger.balance(&address(&recipient)).await,
        Wal::from_wal(15)
    );

    // Bad keys are 400.
    for bad in ["", &"k".repeat(256), "has space"] {
        let response = ledger
            .client(&sender)
            .send_signed_raw(Method::POST, "/v1/transfers", &body, Some(bad))
            .await;
        let response = response.expect("the ledger answers");
        assert_eq!(response.status().as_u16(), 400, "key {bad:?}");
    }
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn faucet_is_off_by_default(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let user = new_key();
    let result: Result<Value, _> = ledger
        .client(&user)
        .post("/v1/faucet", &json!({}), "f1")
        .await;
    assert_eq!(code_of(result), "FORBIDDEN");
    let network: Value = ledger.public().get("/v1/network").await.unwrap();
    assert_eq!(network["faucet_enabled"], false);
}

#[sqlx::test]
async fn faucet_drips_and_is_rate_limited(db: PgPool) {
    let faucet = new_key();
    let faucet_address = address(&faucet);
    let ledger = TestLedger::start_with(db, |config| {
        config.faucet_address = Some(faucet_address);
        config.faucet_drip = Wal::from_wal(25);
        config.faucet_interval_secs = 3600;
    })
    .await;
    ledger.fund(&faucet, "60").await;
    let alice = new_key();
    let bob = new_key();
    let drip: Value = ledger
        .client(&alice)
        .post("/v1/faucet", &json!({}), "a1")
        .await
        .unwrap();
    assert_eq!(drip["amount"], "25");
    assert_eq!(drip["from"], faucet_address.to_string());
    assert_eq!(ledger.balance(&address(&alice)).await, Wal::from_wal(25));

    let before = ledger.state_fingerprint().await;
    let again: Result<Value, _> = ledger
        .client(&alice)
        .post("/v1/faucet", &json!({}), "a2")
        .await;
    assert_eq!(code_of(again), "CONFLICT");
    // Asking on behalf of the same recipient from another key is limited too.
    let proxy: Result<Value, _> = ledger
        .client(&bob)
        .post("/v1/faucet", &json!({"to": address(&alice)}), "b0")
        .await;
    assert_eq!(code_of(proxy), "CONFLICT");
    assert_eq!(ledger.state_fingerprint().await, before);

    let _: Value = ledger
        .client(&bob)
        .post("/v1/faucet", &json!({}), "b1")
        .await
        .unwrap();
    // 60 - 25 - 25 = 10 left: a third user finds the faucet dry.
    let carol = new_key();
    let dry: Result<Value, _> = ledger
        .client(&carol)
        .post("/v1/faucet", &json!({}), "c1")
        .await;
    assert_eq!(code_of(dry), "UNAVAILABLE");
    assert_eq!(ledger.balance(&faucet_address).await, Wal::from_wal(10));
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn concurrent_faucet_requests_across_requesters_never_fail(db: PgPool) {
    let faucet = new_key();
    let faucet_address = address(&faucet);
    let ledger = Arc::new(
        TestLedger::start_with(db, |config| {
            config.faucet_address = Some(faucet_address);
            config.faucet_drip = Wal::from_wal(1);
        })
        .await,
    );
    ledger.fund(&faucet, "1000").await;
    let users: Vec<_> = (0..8).map(|_| new_key()).collect();
    let mut requests = tokio::task::JoinSet::new();
    // Each user asks for the next one while being asked for by the previous one.
    for (i, user) in users.iter().enumerate() {
        let (ledger, user, to) = (
            ledger.clone(),
            user.clone(),
            address(&users[(i + 1) % users.len()]),
        );
        requests.spawn(async move {
            let result: Result<Value, _> = ledger
                .client(&user)
                .post("/v1/faucet", &json!({"to": to}), "drip")
                .await;
            result.map(|_| ()).map_err(|e| e.to_string())
        });
    }
    while let Some(done) = requests.join_next().await {
        done.unwrap().expect("each recipient's first drip succeeds");
    }
    for user in &users {
        assert_eq!(ledger.balance(&address(user)).await, Wal::from_wal(1));
    }
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn a_nonce_is_never_accepted_twice_up_to_the_end_of_its_window(db: PgPool) {
    let ledger = TestLedger::start_with(db, |config| config.signature_window_secs = 2).await;
    let sender = new_key();
    ledger.fund(&sender, "100").await;
    let body = json!({"to": address(&new_key()), "amount": "1"});
    let transfer = PresignedTransfer::new(&ledger, &sender, &body, "once");
    assert_eq!(transfer.send(None).await.status().as_u16(), 201);
    // Replay it until the signature goes stale: never accepted again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let problem: Value = transfer.send(None).await.json().await.unwrap();
        match problem["code"].as_str() {
            Some("REPLAYED_NONCE") => {}
            Some("STALE_SIGNATURE") => break,
            _ => panic!("a replay was not refused: {problem}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the signature never went stale"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(99));
}

#[sqlx::test]
async fn a_replayed_signature_is_refused_even_when_its_work_would_now_fail(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let sender = new_key();
    ledger.fund(&sender, "5").await;
    let body = json!({"to": address(&new_key()), "amount": "5"});
    let transfer = PresignedTransfer::new(&ledger, &sender, &body, "n-42");
    assert_eq!(transfer.send(Some("k")).await.status().as_u16(), 201);
    // The account is now empty, so the replayed work would fail: still 401 REPLAYED_NONCE,
    // with or without the key, never a replayed 201 or a 409.
    for key in [Some("k"), None] {
        let response = transfer.send(key).await;
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(
            response.json::<Value>().await.unwrap()["code"],
            "REPLAYED_NONCE"
        );
    }
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(0));
}

/// A batched transfer claims its nonce before its key, as every signed write does: a
/// transaction that holds the same nonce and then takes the same key (another endpoint's
/// request signed with both) never deadlocks with the batch.
#[sqlx::test]
async fn a_batch_claims_its_nonce_before_its_key(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let sender = new_key();
    let signer = address(&sender).to_string();
    ledger.fund(&sender, "5").await;
    let mut other = ledger.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO signature_nonces (address, nonce, expires_at) VALUES ($1, 'n-7', now() + interval '1 hour')",
    )
    .bind(&signer)
    .execute(&mut *other)
    .await
    .unwrap();
    let body = json!({"to": address(&new_key()), "amount": "1"});
    let transfer = PresignedTransfer::new(&ledger, &sender, &body, "n-7");
    let sent = tokio::spawn(async move { transfer.send(Some("k-7")).await });
    // The batch waits for the other transaction's nonce...
    common::wait_for_a_lock_wait(&ledger.db, "the batch (for the nonce)").await;
    // ...without holding the key: taking it does not wait (a deadlock would abort one).
    sqlx::query(
        "INSERT INTO idempotency_keys (address, key, fingerprint, response_status, response_body)
         VALUES ($1, 'k-7', '\\x00', 201, '\\x7b7d')",
    )
    .bind(&signer)
    .execute(&mut *other)
    .await
    .unwrap();
    other.commit().await.unwrap();
    let response = sent.await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "REPLAYED_NONCE"
    );
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(5));
}

/// A transfer of 1 WAL to a fresh account, sent once (no retry) with Idempotency-Key `key`.
async fn transfer_once(
    client: &wal::client::LedgerClient,
    key: &str,
) -> Result<Value, wal::client::ClientError> {
    let body = serde_json::to_vec(&json!({"to": address(&new_key()), "amount": "1"})).unwrap();
    client
        .send_signed(Method::POST, "/v1/transfers", &body, Some(key))
        .await
}

/// The connection to the database is lost as a batch commits: the request is answered
/// as the transaction ended (asked of the database on another connection), never as
/// failed when it was applied.
#[sqlx::test]
async fn a_commit_whose_answer_is_lost_is_answered_as_it_ended(db: PgPool) {
    use common::commit_cut::{CommitCut, Cut};
    let upstream = db.connect_options();
    let upstream = format!("{}:{}", upstream.get_host(), upstream.get_port());
    let proxy = CommitCut::start(upstream.parse().unwrap()).await;
    let options = (*db.connect_options())
        .clone()
        .port(proxy.port())
        .ssl_mode(sqlx::postgres::PgSslMode::Disable);
    let ledger = TestLedger::start_connecting(db, options, |_| {}).await;
    let sender = new_key();
    ledger.fund(&sender, "10").await;
    let client = ledger.client(&sender);
    let send = |key: &'static str| transfer_once(&client, key);

    // Committed, the answer lost: answered as committed.
    proxy.arm(Cut::AfterCommit);
    let posted = send("lost-answer").await.expect("answered as committed");
    assert_eq!(posted["amount"], "1");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(9));

    // Cut before the COMMIT reached the server: answered as not applied, and nothing was.
    proxy.arm(Cut::BeforeCommit);
    let failed = send("lost-commit").await;
    assert!(failed.is_err(), "answered {failed:?}");
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(9));
    // The retry with the same key is applied, once.
    send("lost-commit").await.expect("the retry is applied");
    assert_eq!(ledger.balance(&address(&sender)).await, Wal::from_wal(8));
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn entries_come_in_stable_newest_first_pages(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let holder = new_key();
    let holder_address = address(&holder);
    for amount in 1..=7 {
        ledger.fund(&holder, &amount.to_string()).await;
    }
    let page1: Value = ledger
        .public()
        .get(&format!("/v1/accounts/{holder_address}/entries?limit=3"))
        .await
        .unwrap();
    let amounts = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["amount"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(amounts(&page1), ["7", "6", "5"]);
    assert_eq!(page1["entries"][0]["kind"], "transfer");
    assert_eq!(
        page1["entries"][0]["counterparty"],
        address(&ledger.treasury).to_string()
    );
    // New entries arriving between pages neither shift nor repeat the older ones.
    ledger.fund(&holder, "100").await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = ledger
        .public()
        .get(&format!(
            "/v1/accounts/{holder_address}/entries?limit=3&cursor={cursor}"
        ))
        .await
        .unwrap();
    assert_eq!(amounts(&page2), ["4", "3", "2"]);
    let cursor = page2["next_cursor"].as_str().unwrap();
    let page3: Value = ledger
        .public()
        .get(&format!(
            "/v1/accounts/{holder_address}/entries?limit=3&cursor={cursor}"
        ))
        .await
        .unwrap();
    assert_eq!(amounts(&page3), ["1"]);
    assert_eq!(page3["next_cursor"], Value::Null);

    let default: Value = ledger
        .public()
        .get(&format!("/v1/accounts/{holder_address}/entries"))
        .await
        .unwrap();
    assert_eq!(default["entries"].as_array().unwrap().len(), 8);

    for bad in [
        "?limit=0",
        "?limit=501",
        "?limit=x",
        "?cursor=abc",
        "?cursor=-1",
        "?colour=red",
    ] {
        let result = ledger
            .public()
            .get::<Value>(&format!("/v1/accounts/{holder_address}/entries{bad}"))
            .await;
        assert_eq!(code_of(result), "INVALID_ARGUMENT", "{bad}");
    }
    let unknown = address(&new_key());
    let account: Value = ledger
        .public()
        .get(&format!("/v1/accounts/{unknown}"))
        .await
        .unwrap();
    assert_eq!(account["balance"], "0");
    let empty: Value = ledger
        .public()
        .get(&format!("/v1/accounts/{unknown}/entries"))
        .await
        .unwrap();
    assert_eq!(empty["entries"], json!([]));
    assert_eq!(empty["next_cursor"], Value::Null);
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/accounts/0xnothex").await),
        "INVALID_ARGUMENT"
    );
}

#[sqlx::test]
async fn genesis_mints_once(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let network: Value = ledger.public().get("/v1/network").await.unwrap();
    assert_eq!(network["network_id"], "wal-devnet");
    assert_eq!(network["epoch"], 0);
    assert_eq!(network["total_supply"], "5000000000");
    assert_eq!(network["n_shards"], 100);
    assert_eq!(
        ledger.balance(&address(&ledger.treasury)).await,
        Wal::from_wal(5_000_000_000)
    );

    let params = GenesisParams {
        network_id: "wal-devnet".into(),
        treasury: address(&new_key()),
        total_supply: Wal::from_wal(1),
        n_shards: 10,
        genesis_wal_usd: rust_decimal::Decimal::ONE,
        epoch_duration_secs: 60,
    };
    let second = genesis::run(&ledger.db, &params).await;
    assert!(
        matches!(second, Err(GenesisError::AlreadyDone(_))),
        "{second:?}"
    );
    assert_eq!(ledger.balance(&params.treasury).await, Wal::from_wal(0));
    let audit = ledger.audit().await;
    assert_eq!(audit["ok"], true);
    assert_eq!(audit["journal_entries"], 1);
    assert_eq!(audit["total_supply"], "5000000000");
}

#[sqlx::test]
async fn operational_endpoints_answer(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let public = ledger.public();
    assert_eq!(
        public.get::<Value>("/health").await.unwrap()["status"],
        "ok"
    );
    assert_eq!(
        public.get::<Value>("/ready").await.unwrap()["status"],
        "ready"
    );
    let openapi: Value = public.get("/openapi.json").await.unwrap();
    for path in [
        "/v1/transfers",
        "/v1/accounts/{address}",
        "/v1/accounts/{address}/entries",
        "/v1/audit",
        "/v1/faucet",
        "/v1/network",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
    ledger.fund(&new_key(), "1").await;
    let _ = public.get::<Value>("/v1/nope").await;
    let metrics = reqwest::get(format!("{}/metrics", ledger.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/v1/transfers\",status=\"201\"}",
        "http_request_duration_seconds_bucket",
        "wal_journal_last_entry_id",
        "db_pool_connections",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    assert_eq!(code_of(public.get::<Value>("/v1/nope").await), "NOT_FOUND");
    let wrong_method = reqwest::Client::new()
        .delete(format!("{}/v1/audit", ledger.url))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = wrong_method.json().await.unwrap();
    assert_eq!(problem["status"], 405, "{problem}");
}
