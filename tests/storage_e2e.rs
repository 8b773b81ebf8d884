//! End to end with real processes: a ledger, PostgreSQL and 7 `wal-storage-node`
//! processes on loopback ports. `walctl store` pays, encodes and uploads a multi-MiB
//! file, the nodes confirm, the contract is certified; 2f = 4 nodes are killed and
//! `walctl read` still brings the file back byte for byte. Uploads for unpaid blobs
//! are refused; a node SIGKILLed while it writes a sliver restarts without torn files
//! and serves the sliver whole or not at all; expired blobs are dropped from disk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::process::{self, json_of, start_node};
use common::{address, new_key, TestLedger};
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;

const NODES: usize = 7;

async fn walctl(url: &str, key: &Path, args: &[&str]) -> Output {
    let mut args = args.to_vec();
    args.push("--json");
    process::walctl(url, key, &args).await
}

/// Polls `condition` every 50 ms until it holds, up to `seconds`.
async fn eventually(seconds: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {seconds} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn a_file_survives_losing_2f_nodes(db: PgPool) {
    let admin = new_key();
    let admin_address = address(&admin);
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = NODES as u32;
        config.admin_address = Some(admin_address);
    })
    .await;
    let dir = std::env::temp_dir().join(format!("wal-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();

    // Seven nodes: each a process with its own key and data directory, registered by
    // its operator with the address it listens on, and staked equally.
    let mut nodes = Vec::new();
    let mut node_ids = Vec::new();
    let treasury = ledger.client(&ledger.treasury);
    for i in 0..NODES {
        let protocol = new_key();
        let key_file = dir.join(format!("node{i}.key"));
        keyfile::write_new(&key_file, &protocol).unwrap();
        let process = start_node(&ledger.url, &key_file, &dir.join(format!("node{i}")));
        let registration = json!({
            "name": format!("node-{i}"),
            "endpoint": process.url,
            "protocol_public_key": hex::encode(protocol.verifying_key().to_bytes()),
            "commission_rate": "0.1",
            "storage_price_vote": "0.0001",
            "write_price_vote": "0.00001",
        });
        let node: Value = treasury
            .post("/v1/nodes", &registration, &format!("n{i}"))
            .await
            .unwrap();
        let _: Value = treasury
            .post(
                "/v1/stakes",
                &json!({"node_id": node["id"], "amount": "100"}),
                &format!("s{i}"),
            )
            .await
            .unwrap();
        nodes.push(process);
        node_ids.push(node["id"].as_str().unwrap().to_owned());
    }
    let _: Value = ledger
        .client(&admin)
        .post("/v1/admin/epochs/advance", &json!({}), "advance")
        .await
        .unwrap();

    // A 3 MiB file of random bytes.
    let mut bytes = vec![0u8; 3 * 1024 * 1024 + 12_345];
    rand::thread_rng().fill_bytes(&mut bytes);
    let file = dir.join("original.bin");
    std::fs::write(&file, &bytes).unwrap();
    let stored = walctl(
        &ledger.url,
        &treasury_key,
        &["store", file.to_str().unwrap(), "--epochs", "2"],
    )
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let stored = json_of(&stored);
    let expected_id = wal::encoding::encode(&bytes, NODES as u32)
        .unwrap()
        .0
        .blob_id();
    assert_eq!(stored["blob_id"], expected_id.as_str());
    assert_eq!(stored["certified"], true);
    assert_eq!(stored["confirmed_nodes"], NODES);
    let contract: Value = ledger
        .public()
        .get(&format!(
            "/v1/storage/contracts/{}",
            stored["contract_id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(contract["certified"], true);

    // walctl's other blob commands on it.
    let contract_id = stored["contract_id"].as_str().unwrap().to_owned();
    let computed = json_of(
        &walctl(
            &ledger.url,
            &treasury_key,
            &["blob-id", file.to_str().unwrap()],
        )
        .await,
    );
    assert_eq!(
        computed["blob_id"],
        expected_id.as_str(),
        "blob-id computes what store stored"
    );
    let listed = json_of(&walctl(&ledger.url, &treasury_key, &["blobs"]).await);
    let mine = &listed["contracts"][0];
    assert_eq!(
        (mine["blob_id"].as_str(), mine["certified"].as_bool()),
        (Some(expected_id.as_str()), Some(true))
    );
    let info = json_of(&walctl(&ledger.url, &treasury_key, &["info"]).await);
    assert_eq!(
        (info["n_shards"].as_u64(), info["k"].as_u64()),
        (Some(NODES as u64), Some(3))
    );
    assert_eq!(info["examples"].as_array().map(Vec::len), Some(9), "{info}");
    let price = json_of(
        &walctl(
            &ledger.url,
            &treasury_key,
            &["price", file.to_str().unwrap(), "--epochs", "2"],
        )
        .await,
    );
    assert_eq!(
        price["total"], contract["paid"],
        "the quote is what was paid"
    );
    let status = json_of(
        &walctl(
            &ledger.url,
            &treasury_key,
            &["blob", "status", &expected_id],
        )
        .await,
    );
    assert_eq!(status["certified"], true);
    assert_eq!(status["end_epoch"], 3);
    let extended = json_of(
        &walctl(
            &ledger.url,
            &treasury_key,
            &["extend", &contract_id, "--epochs", "1"],
        )
        .await,
    );
    assert_eq!(extended["end_epoch"], 4);
    let refused = walctl(&ledger.url, &treasury_key, &["delete", &contract_id]).await;
    assert!(!refused.status.success());
    assert_eq!(
        json_of(&refused)["error"]["code"],
        "CONFLICT",
        "a permanent contract"
    );

    // An upload for a blob nobody paid for is refused.
    let unpaid = reqwest::Client::new()
        .put(format!(
            "{}/v1/blobs/{}/slivers/0",
            nodes[0].url,
            "ab".repeat(32)
        ))
        .body(vec![1u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(unpaid.status(), 403);
    let problem: Value = unpaid.json().await.unwrap();
    assert_eq!(problem["code"], "FORBIDDEN");

    // A second blob is paid for (one epoch) but not uploaded yet. Node 0 is SIGKILLed
    // while it writes its sliver of it: four uploads run at once and the kill comes as
    // soon as a temporary file appears in the node's directory for that blob.
    let (metadata, slivers) = wal::encoding::encode(&bytes, NODES as u32).unwrap();
    let holder_of_0 = {
        let committee: Value = ledger.public().get("/v1/committee").await.unwrap();
        let member = committee["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node_id"] == node_ids[0].as_str())
            .unwrap()
            .clone();
        member["shards"][0].as_u64().unwrap() as usize
    };
    let mut second = vec![0u8; 12 * 1024 * 1024];
    rand::thread_rng().fill_bytes(&mut second);
    let (second_metadata, second_slivers) = wal::encoding::encode(&second, NODES as u32).unwrap();
    let second_id = second_metadata.blob_id();
    let quote: Value = ledger
        .public()
        .get(&format!("/v1/price?size={}&epochs=1", second.len()))
        .await
        .unwrap();
    let _: Value = treasury
        .post(
            "/v1/storage/contracts",
            &json!({"metadata": second_metadata, "epochs": 1, "max_total": quote["total"]}),
            "buy-second",
        )
        .await
        .unwrap();
    let second_sliver_url = format!(
        "{}/v1/blobs/{second_id}/slivers/{holder_of_0}",
        nodes[0].url
    );
    let mut uploads = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, sliver) = (
            second_sliver_url.clone(),
            second_slivers[holder_of_0].clone(),
        );
        uploads.spawn(async move {
            let http = reqwest::Client::new();
            while http.put(&url).body(sliver.clone()).send().await.is_ok() {}
        });
    }
    let second_dir = dir.join("node0").join("blobs").join(&second_id);
    let writing = || {
        std::fs::read_dir(&second_dir).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.path().extension().is_some_and(|e| e == "tmp"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !writing() {
        assert!(
            Instant::now() < deadline,
            "node 0 writes the sliver within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut killed = nodes.remove(0);
    killed.child.kill().expect("SIGKILL");
    killed.child.wait().unwrap();
    uploads.shutdown().await;
    let torn_left = writing();
    let restarted = start_node(&ledger.url, &dir.join("node0.key"), &dir.join("node0"));
    assert!(!writing(), "torn writes are removed at start-up");
    let served = reqwest::get(format!(
        "{}/v1/blobs/{second_id}/slivers/{holder_of_0}",
        restarted.url
    ))
    .await
    .unwrap();
    match served.status().as_u16() {
        200 => {
            let served = served.bytes().await.unwrap();
            assert_eq!(&served[..], &second_slivers[holder_of_0][..], "whole");
        }
        404 => {}
        status => panic!("after the crash the sliver is whole or absent, not HTTP {status}"),
    }
    eprintln!("killed mid-write; a torn temporary file was left: {torn_left}");
    let again = reqwest::Client::new()
        .put(format!(
            "{}/v1/blobs/{second_id}/slivers/{holder_of_0}",
            restarted.url
        ))
        .body(second_slivers[holder_of_0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert!(again["confirmation"].is_object(), "{again}");
    drop(killed);

    let patch = serde_json::to_vec(&json!({"endpoint": restarted.url})).unwrap();
    let _: Value = treasury
        .send_signed(
            reqwest::Method::PATCH,
            &format!("/v1/nodes/{}", node_ids[0]),
            &patch,
            None,
        )
        .await
        .unwrap();
    let served = reqwest::get(format!(
        "{}/v1/blobs/{expected_id}/slivers/{holder_of_0}",
        restarted.url
    ))
    .await
    .unwrap();
    assert_eq!(served.status(), 200);
    let served = served.bytes().await.unwrap();
    assert_eq!(&served[..], &slivers[holder_of_0][..]);
    assert!(metadata.verify_sliver(holder_of_0 as u32, &served).is_ok());
    nodes.insert(0, restarted);

    // The second blob's epoch ends: node 0 drops its sliver (it looks every second)
    // and keeps the first blob's, which is paid until epoch 4.
    let _: Value = ledger
        .client(&admin)
        .post(
            "/v1/admin/epochs/advance",
            &json!({"epoch": 1}),
            "advance-2",
        )
        .await
        .unwrap();
    eventually(30, "node 0 drops the expired blob", || !second_dir.exists()).await;
    assert!(dir.join("node0").join("blobs").join(&expected_id).exists());
    let expired = reqwest::get(format!(
        "{}/v1/blobs/{second_id}/slivers/{holder_of_0}",
        nodes[0].url
    ))
    .await
    .unwrap();
    assert_eq!(expired.status(), 403, "an expired blob is not served");

    // Kill 2f = 4 of the 7 nodes (f = 2); k = 3 slivers remain.
    nodes.truncate(NODES - 4);
    let copy = dir.join("copy.bin");
    let read = walctl(
        &ledger.url,
        &treasury_key,
        &["read", &expected_id, "-o", copy.to_str().unwrap()],
    )
    .await;
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(json_of(&read)["verified_slivers"], 3);
    assert_eq!(std::fs::read(&copy).unwrap(), bytes, "byte for byte");
    // Without -o the blob goes to stdout (the summary to stderr); -o refuses to
    // overwrite a file unless --force.
    let to_stdout = process::walctl(&ledger.url, &treasury_key, &["read", &expected_id]).await;
    assert!(
        to_stdout.status.success(),
        "{}",
        String::from_utf8_lossy(&to_stdout.stderr)
    );
    assert!(
        to_stdout.stdout == bytes,
        "stdout carries the blob byte for byte"
    );
    std::fs::write(&copy, b"keep me").unwrap();
    let refused = walctl(
        &ledger.url,
        &treasury_key,
        &["read", &expected_id, "-o", copy.to_str().unwrap()],
    )
    .await;
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        b"keep me",
        "an existing file is left alone"
    );
    let forced = walctl(
        &ledger.url,
        &treasury_key,
        &[
            "read",
            &expected_id,
            "-o",
            copy.to_str().unwrap(),
            "--force",
            "--strict-consistency-check",
        ],
    )
    .await;
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(json_of(&forced)["consistency_check"], "strict");
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    // The ledger's aggregator endpoint reads it the same way, with either check; a
    // check it does not know is refused.
    for query in ["", "?strict_consistency_check=true"] {
        let aggregated = reqwest::get(format!("{}/v1/blobs/{expected_id}{query}", ledger.url))
            .await
            .unwrap();
        assert_eq!(aggregated.status(), 200, "{query}");
        assert_eq!(
            &aggregated.bytes().await.unwrap()[..],
            &bytes[..],
            "{query}"
        );
    }
    let unknown = reqwest::get(format!(
        "{}/v1/blobs/{expected_id}?strict_consistency_check=maybe",
        ledger.url
    ))
    .await
    .unwrap();
    assert_eq!(unknown.status(), 400);
    ledger.assert_audit_ok().await;
    drop(nodes);
    ledger.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
