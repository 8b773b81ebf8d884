//! The explorer in a real browser: a network of real storage node processes with some
//! epochs of history (stakes, rewards, an oracle rate, a stored blob, a slash with its
//! evidence, a proposal with votes), every page opened in headless Chromium (Debian's
//! `chromium`, driven by `tests/browser/explorer.mjs` with playwright-core), and for each
//! page: status 200, no console error and no failed request, every value shown equal to
//! the JSON API's field it names, every chart point equal to the API's, and a screenshot
//! (in `$WAL_SCREENSHOT_DIR`, default `target/screenshots`). `scripts/test.sh` installs
//! Chromium and the script's one npm package when they are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::{Path, PathBuf};

use common::network::post;
use common::process::{self, json_of, start_node, Process};
use common::{address, new_key, TestLedger};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;
use wal::encoding::{chunk_proof, encode};
use wal::wire::challenge;
use wal::wire::confirmation::blob_id_bytes;

const NODES: usize = 3;
const SHARDS: u32 = 6;

struct Node {
    id: String,
    key: SigningKey,
    _process: Process,
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("WAL_SCREENSHOT_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser and the driver must be there: the test command installs both.
fn assert_browser_installed() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: scripts/test.sh installs Debian's chromium (apt-get install chromium)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "tests/browser has no node_modules: scripts/test.sh runs npm ci there"
    );
}

/// Three node processes registered with different price votes and staked 300/200/100.
async fn start_nodes(ledger: &TestLedger, dir: &Path, staker: &SigningKey) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (i, stake) in ["300", "200", "100"].into_iter().enumerate() {
        let key = new_key();
        let key_file = dir.join(format!("node{i}.key"));
        keyfile::write_new(&key_file, &key).unwrap();
        let process = start_node(&ledger.url, &key_file, &dir.join(format!("node{i}")));
        let operator = new_key();
        let vote = format!("0.000{}", i + 1);
        let registration = json!({
            "name": format!("node-{i}"), "endpoint": process.url,
            "protocol_public_key": hex::encode(key.verifying_key().to_bytes()),
            "commission_rate": "0.1", "storage_price_vote": vote, "write_price_vote": "0.00001",
        });
        let node = post(ledger, &operator, "/v1/nodes", registration).await;
        let id = node["id"].as_str().unwrap().to_owned();
        post(
            ledger,
            staker,
            "/v1/stakes",
            json!({"node_id": id, "amount": stake}),
        )
        .await;
        nodes.push(Node {
            id,
            key,
            _process: process,
        });
    }
    nodes
}

async fn advance(ledger: &TestLedger, admin: &SigningKey) {
    post(ledger, admin, "/v1/admin/epochs/advance", json!({})).await;
}

fn nonce() -> String {
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    hex::encode(nonce)
}

/// A `fail` with the node's signed wrong chunk: evidence anyone can check.
fn signed_wrong_answer(node: &Node, file: &[u8], shard: u32) -> Value {
    let (metadata, slivers) = encode(file, SHARDS).unwrap();
    let proof = chunk_proof(&slivers[shard as usize], metadata.chunk_len, 0).unwrap();
    let mut chunk = proof.chunk.clone();
    chunk[0] ^= 0xff;
    let nonce_hex = nonce();
    let nonce: [u8; 32] = hex::decode(&nonce_hex).unwrap().try_into().unwrap();
    let blob_id = metadata.blob_id();
    let signature = challenge::Signed {
        nonce: &nonce,
        blob_id: &blob_id_bytes(&blob_id).unwrap(),
        shard,
        chunk_index: 0,
        chunk: &chunk,
        siblings: &proof.siblings,
    }
    .sign(&node.key);
    json!({"challenge_id": nonce_hex, "node_id": node.id, "blob_id": blob_id, "shard": shard,
           "chunk": 0, "outcome": "fail",
           "evidence": {"chunk": hex::encode(&chunk),
                        "siblings": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
                        "signature": signature}})
}

/// The audits of `epoch`: the first two nodes pass 20 of 20, the third passes 8, fails one
/// with a signed wrong chunk and is unreachable for 11 (slashed and jailed at the change).
async fn report_audits(
    ledger: &TestLedger,
    auditor: &SigningKey,
    epoch: i64,
    nodes: &[Node],
    blob_id: &str,
    file: &[u8],
) {
    let committee: Value = ledger.public().get("/v1/committee").await.unwrap();
    let shard_of = |node: &Node| -> u32 {
        let member = committee["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node_id"] == node.id.as_str())
            .unwrap();
        member["shards"][0].as_u64().unwrap() as u32
    };
    let mut results = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let shard = shard_of(node);
        for i in 0..20u32 {
            let outcome = match (n, i) {
                (2, 0..=7) | (0 | 1, _) => "pass",
                (2, 8) => {
                    results.push(signed_wrong_answer(node, file, shard));
                    continue;
                }
                _ => "unreachable",
            };
            results.push(
                json!({"challenge_id": nonce(), "node_id": node.id, "blob_id": blob_id,
                                "shard": shard, "chunk": 0, "outcome": outcome}),
            );
        }
    }
    post(
        ledger,
        auditor,
        "/v1/audits",
        json!({"epoch": epoch, "results": results}),
    )
    .await;
}

/// Runs the browser over `pages` and returns its report, one object per page.
async fn browse(base: &str, pages: &Value) -> Vec<Value> {
    let output = tokio::process::Command::new("node")
        .arg(browser_dir().join("explorer.mjs"))
        .arg(base)
        .arg(screenshot_dir())
        .arg(pages.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (the test command installs Node.js's packages)");
    assert!(
        output.status.success(),
        "the browser script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[sqlx::test]
async fn every_page_shows_the_apis_numbers_in_a_real_browser(db: PgPool) {
    assert_browser_installed();
    let (admin, staker, voter) = (new_key(), new_key(), new_key());
    let admin_address = address(&admin);
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = SHARDS;
        config.admin_address = Some(admin_address);
        config.auditor_address = Some(admin_address);
        config.oracle_address = Some(admin_address);
    })
    .await;
    let dir = std::env::temp_dir().join(format!("wal-explorer-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    ledger.fund(&staker, "2000").await;
    ledger.fund(&voter, "500").await;
    let nodes = start_nodes(&ledger, &dir, &staker).await;
    advance(&ledger, &admin).await; // epoch 1: the first committee

    // A blob stored through the real nodes, with an attribute.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let path = dir.join("blob.bin");
    std::fs::write(&path, &file).unwrap();
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();
    let stored = process::walctl(
        &ledger.url,
        &treasury_key,
        &["store", path.to_str().unwrap(), "--epochs", "6", "--json"],
    )
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let stored = json_of(&stored);
    let blob_id = stored["blob_id"].as_str().unwrap().to_owned();
    let contract = stored["contract_id"].as_str().unwrap().to_owned();
    let attr = process::walctl(
        &ledger.url,
        &treasury_key,
        &[
            "blob",
            "attr",
            "set",
            &contract,
            "content-type=application/octet-stream",
        ],
    )
    .await;
    assert!(
        attr.status.success(),
        "{}",
        String::from_utf8_lossy(&attr.stderr)
    );

    // History: an oracle rate, audits with a slash, a proposal with votes, rewards.
    post(
        &ledger,
        &admin,
        "/v1/oracle/prices",
        json!({"wal_usd": "0.2", "observed_at": chrono::Utc::now()}),
    )
    .await;
    post(
        &ledger,
        &voter,
        "/v1/stakes",
        json!({"node_id": nodes[0].id, "amount": "300"}),
    )
    .await;
    report_audits(&ledger, &admin, 1, &nodes, &blob_id, &file).await;
    let proposal = post(&ledger, &staker, "/v1/proposals",
        json!({"title": "Longer jail", "description": "jail slashed nodes for 3 epochs", "changes": {"jail_epochs": "3"}})).await;
    let proposal_id = proposal["id"].as_str().unwrap().to_owned();
    post(
        &ledger,
        &staker,
        &format!("/v1/proposals/{proposal_id}/votes"),
        json!({"choice": "yes"}),
    )
    .await;
    advance(&ledger, &admin).await; // epoch 2: rewards, the slash, a new rate
    post(
        &ledger,
        &voter,
        &format!("/v1/proposals/{proposal_id}/votes"),
        json!({"choice": "no"}),
    )
    .await;
    advance(&ledger, &admin).await; // epoch 3
    advance(&ledger, &admin).await; // epoch 4

    let treasury = address(&ledger.treasury).to_string();
    let pages = json!([
        {"name": "network", "path": "/"},
        {"name": "network-phone", "path": "/", "phone": true},
        {"name": "prices", "path": "/prices"},
        {"name": "node", "path": format!("/nodes/{}", nodes[0].id)},
        {"name": "node-slashed", "path": format!("/nodes/{}", nodes[2].id)},
        {"name": "blob", "path": format!("/blobs/{blob_id}")},
        {"name": "governance", "path": "/governance"},
        {"name": "proposal", "path": format!("/proposals/{proposal_id}")},
        {"name": "account", "path": format!("/accounts/{treasury}")},
        {"name": "search-blob", "path": format!("/search?q={blob_id}")},
        {"name": "search-node", "path": format!("/search?q=%23{}", nodes[1].id)},
    ]);
    let report = browse(&ledger.url, &pages).await;
    let page = |name: &str| report.iter().find(|p| p["name"] == name).unwrap();
    for p in &report {
        assert_eq!(p["status"], 200, "{}: {p}", p["name"]);
        assert_eq!(
            p["errors"],
            json!([]),
            "{}: console errors or failed requests",
            p["name"]
        );
        assert_eq!(
            p["mismatches"],
            json!([]),
            "{}: shown values differ from the API",
            p["name"]
        );
        assert!(
            p["values"].as_u64().unwrap() >= 5,
            "{}: too few values checked: {p}",
            p["name"]
        );
    }
    assert!(
        page("network-phone")["overflow"].as_i64().unwrap() <= 0,
        "the network page fits a phone's width"
    );
    assert_charts(&report);
    assert_page_texts(&report, &ledger, &blob_id, &file).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Points of the charts: `(page, field)` -> how many.
fn points(report: &[Value], page: &str, y: &str) -> u64 {
    let page = report.iter().find(|p| p["name"] == page).unwrap();
    page["charts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["y"] == y)
        .map(|c| c["points"].as_u64().unwrap())
        .sum()
}

fn assert_charts(report: &[Value]) {
    assert_eq!(
        points(report, "network", "shards.length"),
        NODES as u64,
        "a shard bar per committee member"
    );
    // Epochs 0..=4: prices from epoch 1 (the first committee), bands from epoch 2.
    assert!(
        points(report, "prices", "storage_price") >= 4,
        "{:?}",
        report
    );
    assert!(points(report, "prices", "storage_price_band.low") >= 3);
    assert_eq!(points(report, "prices", "wal_usd"), 5);
    assert!(points(report, "prices", "wal_usd_band.low") >= 4);
    assert!(points(report, "prices", "storage_usd") >= 4);
    assert!(points(report, "node", "pool_wal") >= 4);
    assert!(points(report, "node", "exchange_rate") >= 4);
    assert!(points(report, "node-slashed", "pass_rate") >= 1);
}

async fn assert_page_texts(report: &[Value], ledger: &TestLedger, blob_id: &str, file: &[u8]) {
    let page = |name: &str| report.iter().find(|p| p["name"] == name).unwrap();
    let text = |name: &str| page(name)["text"].as_str().unwrap().to_owned();
    // The slashed node shows its slash, its jail and the signed evidence.
    let slashed = text("node-slashed");
    assert!(
        slashed.contains("Slashes") && !slashed.contains("never slashed"),
        "{slashed}"
    );
    assert!(
        !slashed.contains("no failed challenge"),
        "the evidence is listed: {slashed}"
    );
    // The jailed node's shards moved to nodes that never got their slivers (no checker
    // repairs here): the page shows them missing, the blob still readable, and its read
    // link gives the blob back.
    let blob = text("blob");
    assert!(
        blob.contains("readable, redundancy reduced") && blob.contains("missing"),
        "{blob}"
    );
    assert!(
        blob.contains("content-type"),
        "the attribute is shown: {blob}"
    );
    let read = page("blob")["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .find(|l| l.ends_with(&format!("/v1/blobs/{blob_id}")))
        .expect("a link to read the blob");
    let bytes = reqwest::get(format!("{}{read}", ledger.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], file, "the blob page's link reads the blob");
    // The proposal shows both votes; search lands on the page it names.
    assert!(text("proposal").contains("yes") && text("proposal").contains("no"));
    assert!(page("search-blob")["final_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/blobs/{blob_id}")));
    assert!(page("search-node")["final_url"]
        .as_str()
        .unwrap()
        .contains("/nodes/"));
}
