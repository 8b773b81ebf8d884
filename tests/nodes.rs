//! Storage-node registration and updates through the API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{address, code_of, new_key, TestLedger};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

fn registration(protocol_key: &ed25519_dalek::SigningKey) -> Value {
    json!({
        "name": "node-a",
        "endpoint": "http://127.0.0.1:9001",
        "protocol_public_key": format!("0x{}", hex::encode(protocol_key.verifying_key().to_bytes())),
        "commission_rate": "0.1",
        "storage_price_vote": "0.0001",
        "write_price_vote": "0.00002"
    })
}

async fn advance_epoch(ledger: &TestLedger) {
    // A real epoch change, as the epoch clock would run it.
    let current: i64 = sqlx::query_scalar("SELECT max(epoch) FROM epochs")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    let settings = wal::epoch::change::ChangeSettings {
        n_shards: 100,
        epoch_duration_secs: 3600,
    };
    let outcome = wal::epoch::change::advance(&ledger.db, current, settings, None)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        wal::epoch::change::Outcome::Advanced { ended: current }
    );
}

#[sqlx::test]
async fn an_operator_registers_updates_and_lists_a_node(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let operator = new_key();
    let protocol = new_key();
    let client = ledger.client(&operator);
    let node: Value = client
        .post("/v1/nodes", &registration(&protocol), "reg")
        .await
        .unwrap();
    assert_eq!(node["operator"], address(&operator).to_string());
    assert_eq!(
        node["protocol_public_key"],
        hex::encode(protocol.verifying_key().to_bytes())
    );
    assert_eq!(node["commission_rate"], "0.1");
    assert_eq!(node["storage_price_vote"], "0.0001");
    assert_eq!(node["registered_epoch"], 0);
    assert_eq!(node["pending_commission"], json!([]));
    let id = node["id"].as_str().unwrap().to_owned();
    let mut fetched: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{id}"))
        .await
        .unwrap();
    let audits = fetched.as_object_mut().unwrap().remove("audits").unwrap();
    assert_eq!(
        fetched, node,
        "the node as registered, and its audit record"
    );
    assert_eq!(
        audits,
        json!({"node_id": id, "jailed_until_epoch": null, "epochs": [], "slashes": [], "failures": []})
    );

    // A commission change applies two epochs later; other fields at once.
    let patch = serde_json::to_vec(
        &json!({"commission_rate": "0.25", "endpoint": "https://node-a.example:443"}),
    )
    .unwrap();
    let updated: Value = client
        .send_signed(Method::PATCH, &format!("/v1/nodes/{id}"), &patch, None)
        .await
        .unwrap();
    assert_eq!(updated["endpoint"], "https://node-a.example:443");
    assert_eq!(updated["commission_rate"], "0.1");
    assert_eq!(
        updated["pending_commission"],
        json!([{"rate": "0.25", "effective_epoch": 2}])
    );
    advance_epoch(&ledger).await;
    // A second change one epoch later does not cancel the first: 0.25 applies in
    // epoch 2, 0.3 from epoch 3.
    let second = serde_json::to_vec(&json!({"commission_rate": "0.3"})).unwrap();
    let _: Value = client
        .send_signed(Method::PATCH, &format!("/v1/nodes/{id}"), &second, None)
        .await
        .unwrap();
    let epoch1: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{id}"))
        .await
        .unwrap();
    assert_eq!(epoch1["commission_rate"], "0.1");
    assert_eq!(
        epoch1["pending_commission"],
        json!([{"rate": "0.25", "effective_epoch": 2}, {"rate": "0.3", "effective_epoch": 3}])
    );
    advance_epoch(&ledger).await;
    let epoch2: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{id}"))
        .await
        .unwrap();
    assert_eq!(epoch2["commission_rate"], "0.25");
    assert_eq!(
        epoch2["pending_commission"],
        json!([{"rate": "0.3", "effective_epoch": 3}])
    );
    advance_epoch(&ledger).await;
    let epoch3: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{id}"))
        .await
        .unwrap();
    assert_eq!(epoch3["commission_rate"], "0.3");
    assert_eq!(epoch3["pending_commission"], json!([]));

    // Someone else may not change it; an unknown node is 404.
    let stranger = ledger.client(&new_key());
    let hijack = serde_json::to_vec(&json!({"endpoint": "http://evil.example"})).unwrap();
    let result: Result<Value, _> = stranger
        .send_signed(Method::PATCH, &format!("/v1/nodes/{id}"), &hijack, None)
        .await;
    assert_eq!(code_of(result), "FORBIDDEN");
    let result: Result<Value, _> = client
        .send_signed(Method::PATCH, "/v1/nodes/999", &hijack, None)
        .await;
    assert_eq!(code_of(result), "NOT_FOUND");
    let unchanged: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{id}"))
        .await
        .unwrap();
    assert_eq!(unchanged["endpoint"], "https://node-a.example:443");

    // Pages.
    for n in 0..3 {
        let mut body = registration(&new_key());
        body["name"] = json!(format!("node-{n}"));
        let _: Value = client
            .post("/v1/nodes", &body, &format!("reg-{n}"))
            .await
            .unwrap();
    }
    let page1: Value = ledger.public().get("/v1/nodes?limit=3").await.unwrap();
    assert_eq!(page1["nodes"].as_array().unwrap().len(), 3);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = ledger
        .public()
        .get(&format!("/v1/nodes?limit=3&cursor={cursor}"))
        .await
        .unwrap();
    assert_eq!(page2["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next_cursor"], Value::Null);
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/nodes/abc").await),
        "NOT_FOUND"
    );
    // A key of the right syntax that is no ed25519 point is no node's key: an empty
    // page, not a refusal (the document's pattern allows it); bad syntax is a 400.
    let not_a_point = (2u8..=255)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .unwrap();
    let none: Value = ledger
        .public()
        .get(&format!(
            "/v1/nodes?protocol_public_key={}",
            hex::encode(not_a_point)
        ))
        .await
        .unwrap();
    assert_eq!(none["nodes"], json!([]), "{none}");
    assert_eq!(
        code_of(
            ledger
                .public()
                .get::<Value>("/v1/nodes?protocol_public_key=xyz")
                .await
        ),
        "INVALID_ARGUMENT"
    );
}

#[sqlx::test]
async fn bad_registrations_are_refused_and_change_nothing(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let operator = ledger.client(&new_key());
    let taken = new_key();
    let _: Value = operator
        .post("/v1/nodes", &registration(&taken), "first")
        .await
        .unwrap();
    let before = ledger.state_fingerprint().await;
    let nodes_before: i64 = sqlx::query_scalar("SELECT count(*) FROM nodes")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    let not_a_point = (1u8..=255)
        .map(|b| [b; 32])
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .map(hex::encode)
        .unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "commission above 100%",
            json!({"commission_rate": "1.01"}),
            "INVALID_ARGUMENT",
        ),
        (
            "negative commission",
            json!({"commission_rate": "-0.1"}),
            "INVALID_ARGUMENT",
        ),
        (
            "zero price",
            json!({"storage_price_vote": "0"}),
            "INVALID_ARGUMENT",
        ),
        (
            "price as number",
            json!({"write_price_vote": 1}),
            "INVALID_ARGUMENT",
        ),
        ("empty name", json!({"name": ""}), "INVALID_ARGUMENT"),
        (
            "long name",
            json!({"name": "n".repeat(65)}),
            "INVALID_ARGUMENT",
        ),
        (
            "not a URL",
            json!({"endpoint": "node-a:9001"}),
            "INVALID_ARGUMENT",
        ),
        (
            "ftp",
            json!({"endpoint": "ftp://node-a"}),
            "INVALID_ARGUMENT",
        ),
        (
            "short key",
            json!({"protocol_public_key": "0x1234"}),
            "INVALID_ARGUMENT",
        ),
        (
            "not a point",
            json!({"protocol_public_key": not_a_point}),
            "INVALID_ARGUMENT",
        ),
        ("unknown field", json!({"stake": "100"}), "INVALID_ARGUMENT"),
        ("key taken", json!({}), "CONFLICT"),
    ];
    for (case, change, code) in cases {
        let mut body = registration(&taken);
        if !matches!(case, "key taken") {
            body["protocol_public_key"] = json!(hex::encode(new_key().verifying_key().to_bytes()));
        }
        for (field, value) in change.as_object().unwrap() {
            body[field] = value.clone();
        }
        let result: Result<Value, _> = operator
            .post(
                "/v1/nodes",
                &body,
                &format!("bad-{}", case.replace(' ', "-")),
            )
            .await;
        assert_eq!(code_of(result), code, "{case}");
    }
    let empty = serde_json::to_vec(&json!({})).unwrap();
    let result: Result<Value, _> = operator
        .send_signed(Method::PATCH, "/v1/nodes/1", &empty, None)
        .await;
    assert_eq!(code_of(result), "INVALID_ARGUMENT");
    let nodes_after: i64 = sqlx::query_scalar("SELECT count(*) FROM nodes")
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    assert_eq!(nodes_after, nodes_before);
    assert_eq!(
        ledger.state_fingerprint().await,
        before,
        "rejections consumed nonces or keys"
    );
}

#[sqlx::test]
async fn epochs_are_readable_by_number_and_as_current(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let genesis: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
    assert_eq!(genesis["epoch"], 0);
    assert_eq!(
        ledger.public().get::<Value>("/v1/epochs/0").await.unwrap(),
        genesis
    );
    advance_epoch(&ledger).await;
    let current: Value = ledger.public().get("/v1/epochs/current").await.unwrap();
    assert_eq!(current["epoch"], 1);
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/epochs/2").await),
        "NOT_FOUND"
    );
    for bad in ["-1", "one", "1.5"] {
        assert_eq!(
            code_of(
                ledger
                    .public()
                    .get::<Value>(&format!("/v1/epochs/{bad}"))
                    .await
            ),
            "INVALID_ARGUMENT",
            "{bad}"
        );
    }
}
