//! A small storage network on the in-process ledger: three nodes with their protocol
//! keys, staked 300/200/100 over 10 shards, in epoch 1.

use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::config::Config;
use wal::wire::confirmation;

use super::{address, new_key, TestLedger};

pub struct Node {
    pub id: String,
    pub protocol: SigningKey,
}

pub async fn post(ledger: &TestLedger, key: &SigningKey, path: &str, body: Value) -> Value {
    ledger
        .client(key)
        .post(path, &body, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e:?}"))
}

pub async fn send(
    ledger: &TestLedger,
    key: &SigningKey,
    method: Method,
    path: &str,
    body: &Value,
) -> Result<Value, wal::client::ClientError> {
    ledger
        .client(key)
        .send_signed(method, path, &serde_json::to_vec(body).unwrap(), None)
        .await
}

/// A ledger with 10 shards, three nodes (6, 3 and 1 shards) voting 0.0002 USD for
/// storage and writes, in epoch 1: prices 0.002 WAL per unit per epoch and per write.
pub async fn network(db: PgPool) -> (TestLedger, SigningKey, Vec<Node>) {
    let (ledger, admin, _staker, nodes) = network_with(db, |_| {}).await;
    (ledger, admin, nodes)
}

/// `network` with more configuration (roles); also gives the key that staked.
pub async fn network_with(
    db: PgPool,
    tweak: impl FnOnce(&mut Config),
) -> (TestLedger, SigningKey, SigningKey, Vec<Node>) {
    let admin = new_key();
    let admin_address = address(&admin);
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = 10;
        config.admin_address = Some(admin_address);
        tweak(config);
    })
    .await;
    let staker = new_key();
    ledger.fund(&staker, "1000").await;
    let mut nodes = Vec::new();
    for stake in ["300", "200", "100"] {
        let (operator, protocol) = (new_key(), new_key());
        let body = json!({
            "name": format!("node-{stake}"),
            "endpoint": "http://127.0.0.1:9000",
            "protocol_public_key": hex::encode(protocol.verifying_key().to_bytes()),
            "commission_rate": "0",
            "storage_price_vote": "0.0002",
            "write_price_vote": "0.0002",
        });
        let node = post(&ledger, &operator, "/v1/nodes", body).await;
        let id = node["id"].as_str().unwrap().to_owned();
        post(
            &ledger,
            &staker,
            "/v1/stakes",
            json!({"node_id": id, "amount": stake}),
        )
        .await;
        nodes.push(Node { id, protocol });
    }
    post(&ledger, &admin, "/v1/admin/epochs/advance", json!({})).await;
    (ledger, admin, staker, nodes)
}

pub async fn confirmation_of(ledger: &TestLedger, node: &Node, blob_id: &str) -> Value {
    let committee: Value = ledger.public().get("/v1/committee").await.unwrap();
    let member = committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node_id"] == node.id.as_str())
        .unwrap();
    let shards: Vec<u32> = member["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as u32)
        .collect();
    let epoch = committee["epoch"].as_i64().unwrap();
    let blob = confirmation::blob_id_bytes(blob_id).unwrap();
    let node_id: i64 = node.id.parse().unwrap();
    json!({"node_id": node.id, "signature": confirmation::sign(&node.protocol, &blob, epoch, node_id, &shards)})
}
