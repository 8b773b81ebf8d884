//! The stable storage price through the API: the committee's 2/3 quantile vote, the
//! oracle's clamped rate, WAL prices clamped to ±10% per epoch, quotes fixed for the
//! epoch, and bad oracle and quote input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{address, amount, code_of, new_key, wal, TestLedger};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

struct Roles {
    admin: SigningKey,
    oracle: SigningKey,
}

async fn ledger(db: PgPool) -> (TestLedger, Roles) {
    let roles = Roles {
        admin: new_key(),
        oracle: new_key(),
    };
    let (admin, oracle) = (address(&roles.admin), address(&roles.oracle));
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = 10;
        config.admin_address = Some(admin);
        config.oracle_address = Some(oracle);
    })
    .await;
    (ledger, roles)
}

async fn post(ledger: &TestLedger, key: &SigningKey, path: &str, body: Value) -> Value {
    ledger
        .client(key)
        .post(path, &body, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_or_else(|e| panic!("POST {path} {body}: {e:?}"))
}

async fn advance(ledger: &TestLedger, roles: &Roles) -> Value {
    post(ledger, &roles.admin, "/v1/admin/epochs/advance", json!({})).await
}

/// Three nodes voting 0.0001, 0.0002 and 0.0004 USD with 6, 3 and 1 shards.
async fn three_nodes(ledger: &TestLedger) -> Vec<(SigningKey, String)> {
    let staker = new_key();
    ledger.fund(&staker, "1000").await;
    let mut nodes = Vec::new();
    for (vote, stake) in [("0.0001", "300"), ("0.0002", "200"), ("0.0004", "100")] {
        let operator = new_key();
        let body = json!({
            "name": format!("node-{vote}"),
            "endpoint": "http://127.0.0.1:9000",
            "protocol_public_key": hex::encode(new_key().verifying_key().to_bytes()),
            "commission_rate": "0.1",
            "storage_price_vote": vote,
            "write_price_vote": vote,
        });
        let node = post(ledger, &operator, "/v1/nodes", body).await;
        let id = node["id"].as_str().unwrap().to_owned();
        post(
            ledger,
            &staker,
            "/v1/stakes",
            json!({"node_id": id, "amount": stake}),
        )
        .await;
        nodes.push((operator, id));
    }
    nodes
}

#[sqlx::test]
async fn prices_follow_votes_and_the_oracle_within_ten_percent(db: PgPool) {
    let (ledger, roles) = ledger(db).await;
    // No committee, no price.
    let none = ledger
        .public()
        .get::<Value>("/v1/price?size=1000&epochs=1")
        .await;
    assert_eq!(code_of(none), "UNAVAILABLE");
    let nodes = three_nodes(&ledger).await;
    advance(&ledger, &roles).await;

    // Epoch 1: 6 shards vote 0.0001, 3 vote 0.0002: 9 of 10 shards (3w >= 21 needs 7)
    // accept 0.0002 USD; at the genesis rate 0.10 USD/WAL that is 0.002 WAL.
    let epoch1: Value = ledger.public().get("/v1/epochs/1").await.unwrap();
    let prices = &epoch1["prices"];
    assert_eq!(prices["storage_usd"], "0.0002");
    assert_eq!(prices["wal_usd"], "0.1");
    assert_eq!(amount(&prices["storage_price"]), wal("0.002"));
    // 1 MiB over 10 shards: k = 4, slivers of 262144 bytes, 2.5 MiB encoded = 3 units.
    let quote: Value = ledger
        .public()
        .get("/v1/price?size=1048576&epochs=2")
        .await
        .unwrap();
    assert_eq!(quote["encoded_size"], 2_621_440);
    assert_eq!(quote["storage_units"], 3);
    assert_eq!(amount(&quote["storage_cost"]), wal("0.012"));
    assert_eq!(amount(&quote["write_cost"]), wal("0.006"));
    assert_eq!(amount(&quote["total"]), wal("0.018"));

    // During epoch 1 the oracle reports a tenfold rate and operators vote wildly: the
    // quote does not move within the epoch.
    let now = chrono::Utc::now();
    for price in ["1.0", "1.2", "0.9"] {
        post(
            &ledger,
            &roles.oracle,
            "/v1/oracle/prices",
            json!({"wal_usd": price, "observed_at": now}),
        )
        .await;
    }
    for (operator, id) in &nodes {
        let patch = serde_json::to_vec(&json!({"storage_price_vote": "1000"})).unwrap();
        let _: Value = ledger
            .client(operator)
            .send_signed(Method::PATCH, &format!("/v1/nodes/{id}"), &patch, None)
            .await
            .unwrap();
    }
    let again: Value = ledger
        .public()
        .get("/v1/price?size=1048576&epochs=2")
        .await
        .unwrap();
    assert_eq!(again, quote, "prices are fixed for the whole epoch");

    // Epoch 2: the median 1.0 is clamped to 0.11; the vote 1000 USD would be 9090 WAL,
    // clamped to 0.002 + 10% = 0.0022.
    advance(&ledger, &roles).await;
    let epoch2: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
    assert_eq!(epoch2["prices"]["wal_usd"], "0.11");
    assert_eq!(epoch2["prices"]["observations"], 3);
    assert_eq!(amount(&epoch2["prices"]["storage_price"]), wal("0.0022"));
    // Epoch 3: no observations, the rate stays; the price climbs another 10% at most.
    advance(&ledger, &roles).await;
    let epoch3: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
    assert_eq!(epoch3["prices"]["wal_usd"], "0.11");
    assert_eq!(amount(&epoch3["prices"]["storage_price"]), wal("0.00242"));
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

#[sqlx::test]
async fn bad_oracle_and_quote_input_is_refused(db: PgPool) {
    let (ledger, roles) = ledger(db).await;
    three_nodes(&ledger).await;
    advance(&ledger, &roles).await;
    let tables = common::snapshot(&ledger.db).await;
    let observations = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oracle_observations")
            .fetch_one(&ledger.db)
            .await
            .unwrap()
    };
    let now = chrono::Utc::now();
    let cases = [
        (
            new_key(),
            json!({"wal_usd": "0.2", "observed_at": now}),
            "FORBIDDEN",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "0", "observed_at": now}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "-1", "observed_at": now}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "1e3", "observed_at": now}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": 0.2, "observed_at": now}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "0.2"}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "0.2", "observed_at": now + chrono::Duration::hours(1)}),
            "INVALID_ARGUMENT",
        ),
        (
            roles.oracle.clone(),
            json!({"wal_usd": "0.2", "observed_at": now - chrono::Duration::days(1)}),
            "INVALID_ARGUMENT",
        ),
    ];
    for (key, body, code) in cases {
        let result: Result<Value, _> = ledger
            .client(&key)
            .send_signed(
                Method::POST,
                "/v1/oracle/prices",
                &serde_json::to_vec(&body).unwrap(),
                None,
            )
            .await;
        assert_eq!(code_of(result), code, "{body}");
    }
    assert_eq!(observations().await, 0);
    assert_eq!(common::snapshot(&ledger.db).await, tables);
    for bad in [
        "/v1/price?size=0&epochs=1",
        "/v1/price?size=10&epochs=0",
        "/v1/price?size=10&epochs=54",
        "/v1/price?size=10",
        "/v1/price?size=-1&epochs=1",
        "/v1/price?size=100000000000000&epochs=1",
        "/v1/price?size=10&epochs=1&extra=1",
    ] {
        assert_eq!(
            code_of(ledger.public().get::<Value>(bad).await),
            "INVALID_ARGUMENT",
            "{bad}"
        );
    }
    ledger.stop().await;
}
