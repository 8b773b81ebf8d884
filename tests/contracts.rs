//! Storage contracts through the API: purchases into epoch slots, fees reaching the
//! nodes to the FROST, certification by signed node confirmations, extension,
//! deletion with refunds, expiry, and bad input that charges nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::network::{confirmation_of, network, post, send};
use common::{address, amount, code_of, new_key, wal};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::encoding::{encode, BlobMetadata};
use wal::money::Wal;

fn metadata_of(seed: u8) -> BlobMetadata {
    let blob: Vec<u8> = (0..1_048_576u32).map(|i| (i as u8) ^ seed).collect();
    encode(&blob, 10).unwrap().0
}

#[sqlx::test]
async fn contracts_pay_the_nodes_and_refund_to_the_frost(db: PgPool) {
    let (ledger, admin, nodes) = network(db).await;
    let buyer = new_key();
    ledger.fund(&buyer, "100").await;

    // 1 MiB over 10 shards is 2.5 MiB encoded: 3 units. Three epochs: 3 x 0.002 x 3 =
    // 0.018 storage + 3 x 0.002 = 0.006 write = 0.024; slots 1, 2, 3 get 0.012, 0.006, 0.006.
    let permanent_meta = metadata_of(1);
    let permanent = post(
        &ledger,
        &buyer,
        "/v1/storage/contracts",
        json!({"metadata": permanent_meta, "epochs": 3, "max_total": "0.024"}),
    )
    .await;
    assert_eq!(permanent["blob_id"], permanent_meta.blob_id());
    assert_eq!(amount(&permanent["paid"]), wal("0.024"));
    assert_eq!(
        (
            permanent["start_epoch"].as_i64(),
            permanent["end_epoch"].as_i64()
        ),
        (Some(1), Some(4))
    );
    assert_eq!(permanent["deletable"], false);
    // Deletable, five epochs: 0.03 + 0.006 = 0.036; slots 1..=5 get 0.006 each, slot 1 also 0.006.
    let deletable = post(
        &ledger,
        &buyer,
        "/v1/storage/contracts",
        json!({"metadata": metadata_of(2), "epochs": 5, "max_total": "1", "deletable": true}),
    )
    .await;
    assert_eq!(amount(&deletable["paid"]), wal("0.036"));
    assert_eq!(ledger.balance(&address(&buyer)).await, wal("99.94"));
    let epoch1: Value = ledger.public().get("/v1/epochs/1").await.unwrap();
    assert_eq!(amount(&epoch1["reward_slot_balance"]), wal("0.024"));

    // Certification: node A alone holds 6 shards, 2f+1 = 7 are needed; A and B hold 9.
    let id = permanent["id"].as_str().unwrap();
    let blob_id = permanent_meta.blob_id();
    let a = confirmation_of(&ledger, &nodes[0], &blob_id).await;
    let b = confirmation_of(&ledger, &nodes[1], &blob_id).await;
    let too_few = send(
        &ledger,
        &buyer,
        Method::POST,
        &format!("/v1/storage/contracts/{id}/certificate"),
        &json!({"confirmations": [a]}),
    )
    .await;
    assert_eq!(code_of(too_few), "INVALID_ARGUMENT");
    let forged = json!({"node_id": nodes[1].id, "signature": a["signature"]});
    let bad = send(
        &ledger,
        &buyer,
        Method::POST,
        &format!("/v1/storage/contracts/{id}/certificate"),
        &json!({"confirmations": [a, forged]}),
    )
    .await;
    assert_eq!(code_of(bad), "INVALID_ARGUMENT");
    let certified = post(
        &ledger,
        &new_key(),
        &format!("/v1/storage/contracts/{id}/certificate"),
        json!({"confirmations": [a, b]}),
    )
    .await;
    assert_eq!(certified["certified"], true);
    assert_eq!(certified["certified_shards"], 9);
    let status: Value = ledger
        .public()
        .get(&format!("/v1/blobs/{blob_id}/status"))
        .await
        .unwrap();
    assert_eq!(status["certified"], true);
    assert_eq!(status["end_epoch"], 4);
    // The network's totals count the certified blob (1 MiB, 2.5 MiB of slivers) and not
    // the uncertified one.
    let encoded: i64 =
        sqlx::query_scalar("SELECT encoded_size FROM contracts WHERE id = $1::bigint")
            .bind(id)
            .fetch_one(&ledger.db)
            .await
            .unwrap();
    let encoded = u64::try_from(encoded).unwrap();
    assert_stored(&ledger, (1, 1_048_576, encoded)).await;

    // 1 -> 2: the slot holds 0.024; 3% burned (0.00072); 0.02328 split 6:3:1 =
    // 0.013968, 0.006984, 0.002328 into the pools (no commission).
    let ended = post(&ledger, &admin, "/v1/admin/epochs/advance", json!({})).await;
    assert_eq!(amount(&ended["change"]["reward_pool"]), wal("0.024"));
    assert_eq!(amount(&ended["change"]["burned"]), wal("0.00072"));
    let rewards: Vec<Wal> = ended["committee"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| amount(&m["reward"]))
        .collect();
    assert_eq!(
        rewards,
        vec![wal("0.013968"), wal("0.006984"), wal("0.002328")]
    );
    let node_a: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{}", nodes[0].id))
        .await
        .unwrap();
    assert_eq!(amount(&node_a["stake"]), wal("300.013968"));

    // Epoch 2: deleting the deletable contract refunds slots 3, 4, 5 (0.018); slot 2
    // (the epoch in progress) is not refunded.
    let deleted = send(
        &ledger,
        &buyer,
        Method::DELETE,
        &format!(
            "/v1/storage/contracts/{}",
            deletable["id"].as_str().unwrap()
        ),
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(amount(&deleted["refunded"]), wal("0.018"));
    assert_eq!(ledger.balance(&address(&buyer)).await, wal("99.958"));
    // Extending the permanent one by 2 epochs (to 6) at epoch 2's price: 0.012.
    let extended = post(
        &ledger,
        &buyer,
        &format!("/v1/storage/contracts/{id}/extend"),
        json!({"epochs": 2, "max_total": "0.012"}),
    )
    .await;
    assert_eq!(extended["end_epoch"], 6);
    assert_stored(&ledger, (1, 1_048_576, encoded)).await;
    assert_eq!(amount(&extended["paid"]), wal("0.036"));
    assert_eq!(ledger.balance(&address(&buyer)).await, wal("99.946"));
    let slots: Vec<(i64, String)> = sqlx::query_as(
        "SELECT epoch, amount::text FROM contract_slots WHERE contract_id = $1::bigint ORDER BY epoch")
        .bind(id).fetch_all(&ledger.db).await.unwrap();
    let expected: Vec<(i64, &str)> = vec![
        (1, "0.012000000"),
        (2, "0.006000000"),
        (3, "0.006000000"),
        (4, "0.006000000"),
        (5, "0.006000000"),
    ];
    assert_eq!(
        slots
            .iter()
            .map(|(e, a)| (*e, a.as_str()))
            .collect::<Vec<_>>(),
        expected
    );

    // Past its end the contract is expired: no extension, no deletion.
    for _ in 2..6 {
        post(&ledger, &admin, "/v1/admin/epochs/advance", json!({})).await;
    }
    let expired: Value = ledger
        .public()
        .get(&format!("/v1/storage/contracts/{id}"))
        .await
        .unwrap();
    assert_eq!(expired["status"], "expired");
    assert_stored(&ledger, (0, 0, 0)).await;
    let before = common::snapshot(&ledger.db).await;
    let late = send(
        &ledger,
        &buyer,
        Method::POST,
        &format!("/v1/storage/contracts/{id}/extend"),
        &json!({"epochs": 1, "max_total": "1"}),
    )
    .await;
    assert_eq!(code_of(late), "CONFLICT");
    assert_eq!(common::snapshot(&ledger.db).await, before);
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

/// `/v1/stats`' stored blobs, bytes and encoded bytes.
async fn assert_stored(ledger: &common::TestLedger, expected: (u64, u64, u64)) {
    let stats: Value = ledger.public().get("/v1/stats").await.unwrap();
    let got = (
        stats["stored_blobs"].as_u64().unwrap(),
        stats["stored_bytes"].as_u64().unwrap(),
        stats["stored_encoded_bytes"].as_u64().unwrap(),
    );
    assert_eq!(got, expected, "stats: {stats}");
}

#[sqlx::test]
async fn bad_purchases_charge_nothing(db: PgPool) {
    let (ledger, _admin, _nodes) = network(db).await;
    let buyer = new_key();
    ledger.fund(&buyer, "100").await;
    let permanent = post(
        &ledger,
        &buyer,
        "/v1/storage/contracts",
        json!({"metadata": metadata_of(3), "epochs": 2, "max_total": "1"}),
    )
    .await;
    let permanent_id = permanent["id"].as_str().unwrap().to_owned();
    let good = metadata_of(4);
    let with = |change: &dyn Fn(&mut BlobMetadata)| {
        let mut m = good.clone();
        change(&mut m);
        serde_json::to_value(m).unwrap()
    };
    let mut seven = encode(&[1, 2, 3], 7).unwrap().0;
    seven.size = 3;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"metadata": with(&|m| m.k = 5), "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": with(&|m| m.sliver_len += 2), "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": with(&|m| m.size = 0), "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": with(&|m| { m.sliver_roots.pop(); }), "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": with(&|m| m.sliver_roots[0] = "zz".into()), "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": seven, "epochs": 1, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": good, "epochs": 0, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": good, "epochs": 54, "max_total": "1"}),
            "INVALID_ARGUMENT",
        ),
        (
            json!({"metadata": good, "epochs": 2, "max_total": "0.017999999"}),
            "PRICE_ABOVE_LIMIT",
        ),
        (
            json!({"metadata": good, "epochs": 2, "max_total": "-1"}),
            "INVALID_ARGUMENT",
        ),
        (json!({"metadata": good, "epochs": 2}), "INVALID_ARGUMENT"),
        (
            json!({"metadata": good, "epochs": 2, "max_total": "1", "blob_id": "00"}),
            "INVALID_ARGUMENT",
        ),
    ];
    let before = common::snapshot(&ledger.db).await;
    let balance = ledger.balance(&address(&buyer)).await;
    for (body, code) in cases {
        let result = send(
            &ledger,
            &buyer,
            Method::POST,
            "/v1/storage/contracts",
            &body,
        )
        .await;
        assert_eq!(code_of(result), code, "{body}");
    }
    assert_eq!(
        common::snapshot(&ledger.db).await,
        before,
        "nothing charged or written"
    );
    let poor = new_key();
    ledger.fund(&poor, "0.001").await;
    let after_funding = common::snapshot(&ledger.db).await;
    let broke = send(
        &ledger,
        &poor,
        Method::POST,
        "/v1/storage/contracts",
        &json!({"metadata": metadata_of(5), "epochs": 1, "max_total": "1"}),
    )
    .await;
    assert_eq!(code_of(broke), "INSUFFICIENT_FUNDS");
    assert_eq!(common::snapshot(&ledger.db).await, after_funding);
    // Deleting a permanent contract; someone else's; extending beyond 53 epochs ahead.
    let delete = send(
        &ledger,
        &buyer,
        Method::DELETE,
        &format!("/v1/storage/contracts/{permanent_id}"),
        &json!({}),
    )
    .await;
    assert_eq!(code_of(delete), "CONFLICT");
    let stranger = send(
        &ledger,
        &poor,
        Method::POST,
        &format!("/v1/storage/contracts/{permanent_id}/extend"),
        &json!({"epochs": 1, "max_total": "1"}),
    )
    .await;
    assert_eq!(code_of(stranger), "FORBIDDEN");
    let far = send(
        &ledger,
        &buyer,
        Method::POST,
        &format!("/v1/storage/contracts/{permanent_id}/extend"),
        &json!({"epochs": 53, "max_total": "1"}),
    )
    .await;
    assert_eq!(code_of(far), "INVALID_ARGUMENT");
    assert_eq!(ledger.balance(&address(&buyer)).await, balance);
    for bad in [
        "/v1/storage/contracts?blob_id=xyz",
        "/v1/storage/contracts?owner=0x1",
        "/v1/blobs/nothex/status",
    ] {
        assert_eq!(
            code_of(ledger.public().get::<Value>(bad).await),
            "INVALID_ARGUMENT",
            "{bad}"
        );
    }
    let unknown = format!("/v1/blobs/{}/status", "0".repeat(64));
    assert_eq!(
        code_of(ledger.public().get::<Value>(&unknown).await),
        "NOT_FOUND"
    );
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}

/// Purchases by many buyers at once are committed in batches: each answer is the
/// contract as it reads back, every buyer paid exactly its price and every slot got
/// exactly its shares, and some transaction committed several purchases.
#[sqlx::test]
async fn concurrent_purchases_commit_in_batches_and_pay_each_slot_exactly(db: PgPool) {
    const BUYERS: usize = 24;
    let (ledger, _admin, _nodes) = network(db).await;
    let ledger = std::sync::Arc::new(ledger);
    let metadata = std::sync::Arc::new([metadata_of(7), metadata_of(8)]);
    let mut buyers = Vec::new();
    for _ in 0..BUYERS {
        let buyer = new_key();
        ledger.fund(&buyer, "1").await;
        buyers.push(buyer);
    }
    let mut purchases = tokio::task::JoinSet::new();
    for (i, buyer) in buyers.iter().enumerate() {
        let (ledger, metadata, buyer) = (ledger.clone(), metadata.clone(), buyer.clone());
        purchases.spawn(async move {
            // Three epochs at 0.002 per unit-epoch and per write, 3 units: 0.024.
            let body = json!({"metadata": metadata[i % 2], "epochs": 3, "max_total": "0.024"});
            post(&ledger, &buyer, "/v1/storage/contracts", body).await
        });
    }
    let mut contracts = Vec::new();
    while let Some(done) = purchases.join_next().await {
        contracts.push(done.unwrap());
    }
    for contract in &contracts {
        let id = contract["id"].as_str().unwrap();
        let read: Value = ledger
            .public()
            .get(&format!("/v1/storage/contracts/{id}"))
            .await
            .unwrap();
        assert_eq!(&read, contract, "the answer is the contract as stored");
        assert_eq!(amount(&contract["paid"]), wal("0.024"));
    }
    for buyer in &buyers {
        assert_eq!(ledger.balance(&address(buyer)).await, wal("0.976"));
    }
    // Slot 1 gets 0.006 storage + 0.006 write from each, slots 2 and 3 get 0.006.
    for (epoch, each) in [(1, "0.012"), (2, "0.006"), (3, "0.006")] {
        let slot = ledger.balance_of_key(&format!("sys:slot:{epoch}")).await;
        let want = Wal::checked_sum((0..BUYERS).map(|_| wal(each))).unwrap();
        assert_eq!(slot, want, "slot {epoch}");
    }
    let most_per_commit = common::most_entries_per_commit(&ledger.db, "storage_purchase").await;
    assert!(most_per_commit > 1, "one purchase per commit: not batched");
    ledger.assert_audit_ok().await;
}
