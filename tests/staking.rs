//! Staking, epoch changes, committees and rewards through the API, with exact
//! balances worked out by hand in the comments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{
    address, amount, code_of, ledger_with_admin, new_key, node_registration, post_ok as post, wal,
    TestLedger,
};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::money::Wal;

async fn get(ledger: &TestLedger, path: &str) -> Value {
    ledger.public().get(path).await.unwrap()
}

async fn advance(ledger: &TestLedger, admin: &SigningKey) -> Value {
    post(ledger, admin, "/v1/admin/epochs/advance", json!({})).await
}

async fn register(
    ledger: &TestLedger,
    operator: &SigningKey,
    name: &str,
    commission: &str,
) -> String {
    let node = post(
        ledger,
        operator,
        "/v1/nodes",
        node_registration(name, commission),
    )
    .await;
    node["id"].as_str().unwrap().to_owned()
}

async fn stake(ledger: &TestLedger, owner: &SigningKey, node: &str, amount: &str) -> String {
    let stake = post(
        ledger,
        owner,
        "/v1/stakes",
        json!({"node_id": node, "amount": amount}),
    )
    .await;
    stake["id"].as_str().unwrap().to_owned()
}

async fn withdraw(ledger: &TestLedger, owner: &SigningKey, stake: &str) -> Value {
    post(
        ledger,
        owner,
        &format!("/v1/stakes/{stake}/withdraw"),
        json!({}),
    )
    .await
}

async fn shards_of(ledger: &TestLedger) -> Vec<(String, Vec<i64>)> {
    let committee = get(ledger, "/v1/committee").await;
    committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let shards = m["shards"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_i64().unwrap())
                .collect();
            (m["node_id"].as_str().unwrap().to_owned(), shards)
        })
        .collect()
}

#[sqlx::test]
async fn three_nodes_and_their_delegators_over_four_epochs(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let (op_a, op_b, op_c) = (new_key(), new_key(), new_key());
    let (d1, d2, sponsor) = (new_key(), new_key(), new_key());
    for key in [&d1, &d2] {
        ledger.fund(key, "1000").await;
    }
    ledger.fund(&sponsor, "2000").await;
    let a = register(&ledger, &op_a, "node-a", "0.1").await;
    let b = register(&ledger, &op_b, "node-b", "0").await;
    let c = register(&ledger, &op_c, "node-c", "0.2").await;

    // Epoch 0: D1 stakes 300 with A and 200 with B; D2 100 with C and 50 with A,
    // then takes the 50 back at once (pending stake is refunded immediately).
    let d1_a = stake(&ledger, &d1, &a, "300").await;
    let d1_b = stake(&ledger, &d1, &b, "200").await;
    let d2_c = stake(&ledger, &d2, &c, "100").await;
    let d2_a_pending = stake(&ledger, &d2, &a, "50").await;
    let refunded = withdraw(&ledger, &d2, &d2_a_pending).await;
    assert_eq!(refunded["status"], "withdrawn");
    assert_eq!(amount(&refunded["withdrawn_amount"]), wal("50"));
    assert_eq!(ledger.balance(&address(&d2)).await, wal("900"));
    let pending = get(&ledger, &format!("/v1/stakes/{d1_a}")).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["active_from_epoch"], 1);
    let node_a = get(&ledger, &format!("/v1/nodes/{a}")).await;
    assert_eq!(amount(&node_a["pending_stake"]), wal("300"));
    assert_eq!(amount(&node_a["stake"]), Wal::ZERO);

    // 0 -> 1: nothing to reward; the stakes become active; committee by D'Hondt over
    // 300:200:100 with 10 shards (cap ceil(20/3) = 7): 6, 3, 1.
    let ended = advance(&ledger, &admin).await;
    assert_eq!(ended["epoch"], 0);
    assert_eq!(amount(&ended["change"]["stake_activated"]), wal("600"));
    let committee = shards_of(&ledger).await;
    let counts: Vec<usize> = committee.iter().map(|(_, s)| s.len()).collect();
    assert_eq!(counts, vec![6, 3, 1]);
    let active = get(&ledger, &format!("/v1/stakes/{d1_a}")).await;
    assert_eq!(active["status"], "active");
    assert_eq!(amount(&active["value"]), wal("300"));

    // Epoch 1: a subsidy of 1000 for this epoch only; A asks for 50% commission,
    // which applies from epoch 3.
    post(
        &ledger,
        &sponsor,
        "/v1/subsidies",
        json!({"amount": "1000", "epochs": 1}),
    )
    .await;
    let patch = serde_json::to_vec(&json!({"commission_rate": "0.5"})).unwrap();
    let changed: Value = ledger
        .client(&op_a)
        .send_signed(Method::PATCH, &format!("/v1/nodes/{a}"), &patch, None)
        .await
        .unwrap();
    assert_eq!(
        changed["pending_commission"],
        json!([{"rate": "0.5", "effective_epoch": 3}])
    );
    // Expected reward if epoch 1 ended now: 1000 - 3% = 970, 6/10 of it to A.
    let node_a = get(&ledger, &format!("/v1/nodes/{a}")).await;
    assert_eq!(amount(&node_a["expected_reward"]), wal("582"));
    assert_eq!(amount(&node_a["expected_commission"]), wal("58.2"));

    // 1 -> 2: R = 1000, burn 30, 970 split 6:3:1 = 582, 291, 97.
    // A: commission 10% = 58.2, pool +523.8; B: pool +291; C: 19.4, pool +77.6.
    let ended = advance(&ledger, &admin).await;
    let change = &ended["change"];
    assert_eq!(amount(&change["reward_pool"]), wal("1000"));
    assert_eq!(amount(&change["burned"]), wal("30"));
    assert_eq!(amount(&change["distributed"]), wal("970"));
    assert_eq!(amount(&change["carried_to_next"]), Wal::ZERO);
    let rewards: Vec<Wal> = ended["committee"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| amount(&m["reward"]))
        .collect();
    assert_eq!(rewards, vec![wal("582"), wal("291"), wal("97")]);
    let d1_a_now = get(&ledger, &format!("/v1/stakes/{d1_a}")).await;
    assert_eq!(amount(&d1_a_now["value"]), wal("823.8"));
    let node_c = get(&ledger, &format!("/v1/nodes/{c}")).await;
    assert_eq!(amount(&node_c["unclaimed_commission"]), wal("19.4"));
    assert_eq!(amount(&node_c["stake"]), wal("177.6"));
    let shards_epoch_2 = shards_of(&ledger).await;
    assert_eq!(
        shards_epoch_2
            .iter()
            .map(|(_, s)| s.len())
            .collect::<Vec<_>>(),
        vec![6, 3, 1],
        "823.8 : 491 : 177.6 still gives 6, 3, 1"
    );
    assert_eq!(shards_epoch_2, committee, "unchanged counts move no shard");

    // Epoch 2: D1 withdraws the active A stake (paid at the change); D2 stakes 100
    // with A; the sponsor spreads 1000 over epochs 2 and 3; C's operator claims.
    let leaving = withdraw(&ledger, &d1, &d1_a).await;
    assert_eq!(leaving["status"], "withdrawing");
    assert_eq!(leaving["withdraw_epoch"], 2);
    let d2_a = stake(&ledger, &d2, &a, "100").await;
    let subsidy = post(
        &ledger,
        &sponsor,
        "/v1/subsidies",
        json!({"amount": "1000", "epochs": 2}),
    )
    .await;
    assert_eq!(
        subsidy["slots"],
        json!([{"epoch": 2, "amount": "500"}, {"epoch": 3, "amount": "500"}])
    );
    let claim = post(
        &ledger,
        &op_c,
        &format!("/v1/nodes/{c}/rewards/claim"),
        json!({}),
    )
    .await;
    assert_eq!(amount(&claim["amount"]), wal("19.4"));
    assert_eq!(ledger.balance(&address(&op_c)).await, wal("19.4"));

    // 2 -> 3: 500, burn 15, 485 split 6:3:1 = 291, 145.5, 48.5. A still at 10%:
    // 29.1 commission, pool 823.8 + 261.9 = 1085.7, all of it D1's, paid now.
    // C: 9.7 commission, pool +38.8. D2's 100 joins A's emptied pool.
    let ended = advance(&ledger, &admin).await;
    assert_eq!(amount(&ended["change"]["withdrawals_paid"]), wal("1085.7"));
    assert_eq!(ended["change"]["withdrawals"], 1);
    assert_eq!(ledger.balance(&address(&d1)).await, wal("1585.7"));
    let paid = get(&ledger, &format!("/v1/stakes/{d1_a}")).await;
    assert_eq!(paid["status"], "withdrawn");
    assert_eq!(amount(&paid["withdrawn_amount"]), wal("1085.7"));
    assert_eq!(paid["withdrawn_epoch"], 3);
    let d2_a_now = get(&ledger, &format!("/v1/stakes/{d2_a}")).await;
    assert_eq!(amount(&d2_a_now["value"]), wal("100"));
    // Stakes now 100 : 636.5 : 216.4 -> 1, 7 (the cap), 2; holders keep what they can.
    let shards_epoch_3 = shards_of(&ledger).await;
    assert_eq!(
        shards_epoch_3
            .iter()
            .map(|(_, s)| s.len())
            .collect::<Vec<_>>(),
        vec![1, 7, 2]
    );
    for ((_, before), (_, after)) in shards_epoch_2.iter().zip(&shards_epoch_3) {
        let kept = before.iter().filter(|s| after.contains(s)).count();
        assert_eq!(
            kept,
            before.len().min(after.len()),
            "{before:?} -> {after:?}"
        );
    }
    let epoch3 = get(&ledger, "/v1/epochs/current").await;
    assert_eq!(epoch3["epoch"], 3);
    assert_eq!(amount(&epoch3["reward_slot_balance"]), wal("500"));

    // Epoch 3: D1 withdraws all of B's stake; B will leave the committee.
    withdraw(&ledger, &d1, &d1_b).await;

    // 3 -> 4: 500, burn 15, 485 split 1:7:2 = 48.5, 339.5, 97. A now at 50%: 24.25.
    // B's pool 636.5 + 339.5 = 976 goes to D1. C: 19.4 commission, pool +77.6.
    let ended = advance(&ledger, &admin).await;
    let members = ended["committee"].as_array().unwrap();
    assert_eq!(members[0]["commission_rate"], "0.5");
    assert_eq!(amount(&members[0]["commission"]), wal("24.25"));
    assert_eq!(ledger.balance(&address(&d1)).await, wal("2561.7"));
    let committee = get(&ledger, "/v1/committee").await;
    let ids: Vec<&str> = committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![a.as_str(), c.as_str()],
        "B has no stake left and drops out"
    );
    // 124.25 : 294 with two nodes (cap 10) -> 3 and 7.
    assert_eq!(
        shards_of(&ledger)
            .await
            .iter()
            .map(|(_, s)| s.len())
            .collect::<Vec<_>>(),
        vec![3, 7]
    );
    let node_b = get(&ledger, &format!("/v1/nodes/{b}")).await;
    assert_eq!(node_b["shards"], json!([]));
    assert_eq!(amount(&node_b["stake"]), Wal::ZERO);

    // Final values, all by hand: D2's C stake is C's whole pool, 100 + 77.6 + 38.8 +
    // 77.6 = 294; A's operator has 58.2 + 29.1 + 24.25 = 111.55 to claim.
    let d2_c_now = get(&ledger, &format!("/v1/stakes/{d2_c}")).await;
    assert_eq!(amount(&d2_c_now["value"]), wal("294"));
    let claim = post(
        &ledger,
        &op_a,
        &format!("/v1/nodes/{a}/rewards/claim"),
        json!({}),
    )
    .await;
    assert_eq!(amount(&claim["amount"]), wal("111.55"));
    assert_eq!(ledger.balance(&address(&op_a)).await, wal("111.55"));
    let node_c = get(&ledger, &format!("/v1/nodes/{c}")).await;
    assert_eq!(amount(&node_c["unclaimed_commission"]), wal("29.1"));
    assert_eq!(ledger.balance(&address(&sponsor)).await, Wal::ZERO);
    assert_eq!(ledger.balance(&address(&d2)).await, wal("800"));
    let audit = ledger.audit().await;
    assert_eq!(audit["ok"], json!(true), "{audit}");
    assert_eq!(amount(&audit["burned"]), wal("60"));
    let mine = get(&ledger, &format!("/v1/stakes?owner={}", address(&d1))).await;
    assert_eq!(mine["stakes"].as_array().unwrap().len(), 2);
    ledger.stop().await;
}

#[sqlx::test]
async fn bad_staking_requests_change_nothing(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let (operator, owner, stranger) = (new_key(), new_key(), new_key());
    ledger.fund(&owner, "100").await;
    ledger.fund(&stranger, "100").await;
    let node = register(&ledger, &operator, "node-a", "0.1").await;
    let pending = stake(&ledger, &owner, &node, "10").await;
    let active = stake(&ledger, &owner, &node, "10").await;
    advance(&ledger, &admin).await;
    // `active` became active in epoch 1; `pending` is refunded now to test twice below.
    withdraw(&ledger, &owner, &pending).await;

    let before = ledger.state_fingerprint().await;
    let tables = common::snapshot(&ledger.db).await;
    let balances = (
        ledger.balance(&address(&owner)).await,
        ledger.balance(&address(&stranger)).await,
    );
    let owner_client = ledger.client(&owner);
    let withdraw_pending = format!("/v1/stakes/{pending}/withdraw");
    let withdraw_active = format!("/v1/stakes/{active}/withdraw");
    let claim = format!("/v1/nodes/{node}/rewards/claim");
    let cases: Vec<(SigningKey, &str, Value, &str)> = vec![
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": node, "amount": "0.5"}),
            "INVALID_ARGUMENT",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": node, "amount": "0"}),
            "INVALID_ARGUMENT",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": node, "amount": "-5"}),
            "INVALID_ARGUMENT",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": node, "amount": "1.0000000001"}),
            "INVALID_ARGUMENT",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": "999", "amount": "5"}),
            "NOT_FOUND",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": "x", "amount": "5"}),
            "NOT_FOUND",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"node_id": node, "amount": "5000"}),
            "INSUFFICIENT_FUNDS",
        ),
        (
            owner.clone(),
            "/v1/stakes",
            json!({"amount": "5"}),
            "INVALID_ARGUMENT",
        ),
        (owner.clone(), &withdraw_pending, json!({}), "CONFLICT"),
        (stranger.clone(), &withdraw_active, json!({}), "FORBIDDEN"),
        (
            owner.clone(),
            "/v1/stakes/424242/withdraw",
            json!({}),
            "NOT_FOUND",
        ),
        (stranger.clone(), &claim, json!({}), "FORBIDDEN"),
        (operator.clone(), &claim, json!({}), "CONFLICT"),
        (
            operator.clone(),
            "/v1/nodes",
            node_registration("node-b", "1.01"),
            "INVALID_ARGUMENT",
        ),
        (
            stranger.clone(),
            "/v1/subsidies",
            json!({"amount": "5", "epochs": 0}),
            "INVALID_ARGUMENT",
        ),
        (
            stranger.clone(),
            "/v1/subsidies",
            json!({"amount": "5", "epochs": 54}),
            "INVALID_ARGUMENT",
        ),
        (
            stranger.clone(),
            "/v1/subsidies",
            json!({"amount": "0", "epochs": 2}),
            "INVALID_ARGUMENT",
        ),
        (
            stranger.clone(),
            "/v1/subsidies",
            json!({"amount": "500", "epochs": 2}),
            "INSUFFICIENT_FUNDS",
        ),
        (
            stranger.clone(),
            "/v1/admin/epochs/advance",
            json!({}),
            "FORBIDDEN",
        ),
        (
            admin.clone(),
            "/v1/admin/epochs/advance",
            json!({"epoch": 0}),
            "CONFLICT",
        ),
    ];
    for (key, path, body, code) in cases {
        let result: Result<Value, _> = ledger
            .client(&key)
            .send_signed(
                Method::POST,
                path,
                &serde_json::to_vec(&body).unwrap(),
                None,
            )
            .await;
        assert_eq!(code_of(result), code, "POST {path} {body}");
    }
    // Commission above 100% on an update, by the operator.
    let patch = serde_json::to_vec(&json!({"commission_rate": "1.5"})).unwrap();
    let result: Result<Value, _> = ledger
        .client(&operator)
        .send_signed(Method::PATCH, &format!("/v1/nodes/{node}"), &patch, None)
        .await;
    assert_eq!(code_of(result), "INVALID_ARGUMENT");
    assert_eq!(
        common::snapshot(&ledger.db).await,
        tables,
        "rejected requests changed no table"
    );
    // Withdrawing an active stake twice.
    withdraw(&ledger, &owner, &active).await;
    let after_first = ledger.state_fingerprint().await;
    let again: Result<Value, _> = owner_client
        .send_signed(
            Method::POST,
            &format!("/v1/stakes/{active}/withdraw"),
            b"{}",
            None,
        )
        .await;
    assert_eq!(code_of(again), "CONFLICT");
    assert_eq!(ledger.state_fingerprint().await, after_first);
    // Only that successful withdrawal changed anything (a nonce; no WAL moved yet).
    assert_eq!(
        after_first.0, before.0,
        "no journal entry from rejected requests"
    );
    assert_eq!(after_first.1, before.1 + 1);
    assert_eq!(ledger.balance(&address(&owner)).await, balances.0);
    assert_eq!(ledger.balance(&address(&stranger)).await, balances.1);
    for bad in [
        "/v1/stakes?owner=0x12",
        "/v1/stakes?node_id=-1",
        "/v1/stakes?limit=0",
        "/v1/stakes?cursor=z",
    ] {
        assert_eq!(
            code_of(ledger.public().get::<Value>(bad).await),
            "INVALID_ARGUMENT",
            "{bad}"
        );
    }
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/stakes/0").await),
        "NOT_FOUND"
    );
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

#[sqlx::test]
async fn an_admin_without_a_configured_role_cannot_advance(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let someone = new_key();
    let result: Result<Value, _> = ledger
        .client(&someone)
        .send_signed(Method::POST, "/v1/admin/epochs/advance", b"{}", None)
        .await;
    assert_eq!(code_of(result), "FORBIDDEN");
    let epoch = get(&ledger, "/v1/epochs/current").await;
    assert_eq!(epoch["epoch"], 0);
    let params = get(&ledger, "/v1/params").await;
    assert_eq!(params["stake_min"], "1");
    assert_eq!(params["reward_burn_rate"], "0.03");
    assert_eq!(params["committee_size_max"], 150);
    ledger.stop().await;
}

/// Four claims of the same commission at once: one pays, the others are told there is
/// nothing left; the commission is paid once.
#[sqlx::test]
async fn concurrent_claims_pay_the_commission_once(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let (operator, staker) = (new_key(), new_key());
    ledger.fund(&staker, "500").await;
    let node = register(&ledger, &operator, "node-a", "0.25").await;
    stake(&ledger, &staker, &node, "100").await;
    advance(&ledger, &admin).await;
    post(
        &ledger,
        &staker,
        "/v1/subsidies",
        json!({"amount": "100", "epochs": 1}),
    )
    .await;
    advance(&ledger, &admin).await;
    // 100 - 3% = 97 to the only node; 25% commission = 24.25.
    let path = format!("/v1/nodes/{node}/rewards/claim");
    let claims = (0..4).map(|_| {
        let client = ledger.client(&operator);
        let path = path.clone();
        async move {
            client
                .send_signed::<Value>(Method::POST, &path, b"{}", None)
                .await
        }
    });
    let results = join_spawned(claims).await;
    let paid: Vec<&Value> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(paid.len(), 1, "{results:?}");
    assert_eq!(amount(&paid[0]["amount"]), wal("24.25"));
    for result in results.iter().filter(|r| r.is_err()) {
        match result {
            Err(wal::client::ClientError::Problem(p)) => {
                assert_eq!(p.code, "CONFLICT");
                assert!(!p.detail.contains("sys:"), "{}", p.detail);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ledger.balance(&address(&operator)).await, wal("24.25"));
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

/// Runs the futures as concurrent tasks and collects their outputs in order.
async fn join_spawned<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
