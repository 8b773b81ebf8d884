//! End to end with real processes: a ledger, PostgreSQL and 7 `wal-storage-node`
//! processes on loopback ports. `walctl store` pays, encodes and uploads a multi-MiB
//! file, the nodes confirm, the contract is certified; 2f = 4 nodes are killed and
//! `walctl read` still brings the file back byte for byte. Uploads for unpaid blobs
//! are refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{address, new_key, TestLedger};
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;

const NODES: usize = 7;

/// A storage node process, killed when dropped.
struct NodeProcess {
    child: Child,
    url: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace's binaries sit next to the test's own directory (target/debug).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .join(name)
}

fn start_node(ledger_url: &str, key_file: &Path, data_dir: &Path) -> NodeProcess {
    let mut child = Command::new(binary("wal-storage-node"))
        .env("WAL_NODE_KEY_FILE", key_file)
        .env("WAL_NODE_DATA_DIR", data_dir)
        .env("WAL_NODE_LISTEN_ADDR", "127.0.0.1:0")
        .env("WAL_LEDGER_URL", ledger_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("wal-storage-node starts (cargo test --workspace builds it)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the node prints its address within 30 s");
    NodeProcess { child, url }
}

async fn walctl(url: &str, key: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_walctl"));
    command
        .arg("--url")
        .arg(url)
        .arg("--key")
        .arg(key)
        .args(args)
        .arg("--json")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("walctl finishes within 120 s")
        .expect("walctl runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
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

    // Node 0 is SIGKILLed; a torn write from its "crash" is left in its directory. It
    // restarts on a new port (its operator updates the endpoint), drops the torn file
    // and serves its sliver whole and verified.
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
    drop(nodes.remove(0));
    let torn = dir
        .join("node0")
        .join("blobs")
        .join(&expected_id)
        .join(format!("{holder_of_0}.999.tmp"));
    std::fs::write(&torn, &slivers[holder_of_0][..1000]).unwrap();
    let restarted = start_node(&ledger.url, &dir.join("node0.key"), &dir.join("node0"));
    assert!(!torn.exists(), "a torn write is removed at start-up");
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
    // The ledger's aggregator endpoint reads it the same way.
    let aggregated = reqwest::get(format!("{}/v1/blobs/{expected_id}", ledger.url))
        .await
        .unwrap();
    assert_eq!(aggregated.status(), 200);
    assert_eq!(&aggregated.bytes().await.unwrap()[..], &bytes[..]);
    ledger.assert_audit_ok().await;
    drop(nodes);
    ledger.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
