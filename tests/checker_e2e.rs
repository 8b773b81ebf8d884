//! The checker end to end, with real processes: a ledger, PostgreSQL, 7
//! `wal-storage-node` processes and `wal-checker`.
//!
//! - A node that silently lost a third of its slivers, a node serving corrupted
//!   slivers and a node offline all epoch are slashed at the change (delegators lose
//!   exactly 5%), the offline one is jailed and leaves the committee; its shard moves
//!   and is repaired, the lost and corrupted slivers are repaired, every blob reads
//!   back byte for byte, and the next epoch slashes nobody. The checker is SIGKILLed
//!   and restarted mid-epoch: every node ends the epoch with exactly the target number
//!   of challenges.
//! - Over several epochs with honest nodes, one of them slow (behind a delaying proxy,
//!   within the timeout), nobody is ever slashed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{self, json_of, start_checker, start_node, Process};
use common::{address, amount, eventually, new_key, TestLedger};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;
use wal::money::Wal;

const NODES: usize = 7;

struct Network {
    ledger: TestLedger,
    admin: SigningKey,
    dir: PathBuf,
    treasury_key: PathBuf,
    nodes: Vec<Option<Process>>,
    node_ids: Vec<String>,
}

async fn walctl(url: &str, key: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = process::walctl(url, key, &args).await;
    assert!(
        output.status.success(),
        "walctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_of(&output)
}

/// Seven staked nodes (100 WAL each, one shard each) in epoch 1, an auditor, and
/// `challenges` audits per node and epoch. `endpoint_of` may put a proxy before a node.
async fn network(db: PgPool, auditor: &SigningKey, challenges: u32) -> Network {
    let admin = new_key();
    let (admin_address, auditor_address) = (address(&admin), address(auditor));
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = NODES as u32;
        config.admin_address = Some(admin_address);
        config.auditor_address = Some(auditor_address);
        config.epoch_duration_secs = 8;
        // Epochs end when the test says (admin advance), not every 8 s.
        config.epoch_clock = false;
    })
    .await;
    sqlx::query("UPDATE params SET value = $1 WHERE name = 'audit_challenges_per_epoch'")
        .bind(challenges.to_string())
        .execute(&ledger.db)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("wal-checker-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();
    let mut network = Network {
        ledger,
        admin,
        dir,
        treasury_key,
        nodes: Vec::new(),
        node_ids: Vec::new(),
    };
    let treasury = network.ledger.client(&network.ledger.treasury);
    for i in 0..NODES {
        let protocol = new_key();
        let key_file = network.dir.join(format!("node{i}.key"));
        keyfile::write_new(&key_file, &protocol).unwrap();
        let node = start_node(
            &network.ledger.url,
            &key_file,
            &network.dir.join(format!("node{i}")),
        );
        let registration = json!({
            "name": format!("node-{i}"), "endpoint": node.url,
            "protocol_public_key": hex::encode(protocol.verifying_key().to_bytes()),
            "commission_rate": "0.1", "storage_price_vote": "0.0001", "write_price_vote": "0.00001",
        });
        let registered: Value = treasury
            .post("/v1/nodes", &registration, &format!("n{i}"))
            .await
            .unwrap();
        let id = registered["id"].as_str().unwrap().to_owned();
        let _: Value = treasury
            .post(
                "/v1/stakes",
                &json!({"node_id": id, "amount": "100"}),
                &format!("s{i}"),
            )
            .await
            .unwrap();
        network.nodes.push(Some(node));
        network.node_ids.push(id);
    }
    network.advance(0).await;
    network
}

impl Network {
    async fn advance(&self, epoch: i64) {
        let _: Value = self
            .ledger
            .client(&self.admin)
            .post(
                "/v1/admin/epochs/advance",
                &json!({"epoch": epoch}),
                &format!("advance-{epoch}"),
            )
            .await
            .unwrap();
    }

    /// Stores `count` random blobs of 60 KiB for 5 epochs; returns (blob id, bytes).
    async fn store(&self, count: usize) -> Vec<(String, Vec<u8>)> {
        let mut blobs = Vec::new();
        for i in 0..count {
            let mut bytes = vec![0u8; 60 * 1024 + i];
            rand::thread_rng().fill_bytes(&mut bytes);
            let file = self.dir.join(format!("blob{i}.bin"));
            std::fs::write(&file, &bytes).unwrap();
            let stored = walctl(
                &self.ledger.url,
                &self.treasury_key,
                &["store", file.to_str().unwrap(), "--epochs", "5"],
            )
            .await;
            assert_eq!(stored["certified"], true, "{stored}");
            blobs.push((stored["blob_id"].as_str().unwrap().to_owned(), bytes));
        }
        blobs
    }

    fn sliver_file(&self, node: usize, blob_id: &str, shard: u64) -> PathBuf {
        self.dir
            .join(format!("node{node}"))
            .join("blobs")
            .join(blob_id)
            .join(format!("{shard}.sliver"))
    }

    async fn node(&self, i: usize) -> Value {
        self.ledger
            .public()
            .get(&format!("/v1/nodes/{}", self.node_ids[i]))
            .await
            .unwrap()
    }

    /// The shard node `i` holds now (each holds one).
    async fn shard_of(&self, i: usize) -> u64 {
        self.node(i).await["shards"][0].as_u64().unwrap()
    }

    /// Challenges recorded per node id in the current epoch.
    async fn recorded(&self) -> Vec<(String, u64)> {
        let audits: Value = self.ledger.public().get("/v1/audits").await.unwrap();
        audits["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["node_id"].as_str().unwrap().to_owned(),
                    n["challenges"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Waits until every committee member has `target` results recorded.
    async fn audited(&self, members: usize, target: u64, seconds: u64) -> Vec<(String, u64)> {
        eventually(seconds, "every node audited", || async {
            let recorded = self.recorded().await;
            (recorded.len() == members && recorded.iter().all(|(_, n)| *n >= target))
                .then_some(recorded)
        })
        .await
    }
}

#[sqlx::test]
async fn lost_corrupted_and_offline_nodes_are_slashed_and_repaired(db: PgPool) {
    const TARGET: u64 = 200;
    let auditor = new_key();
    let mut net = network(db, &auditor, TARGET as u32).await;
    let blobs = net.store(6).await;

    // Node 0 silently loses two of its six slivers (a third); two of node 1's slivers
    // rot (every byte flipped); node 2 goes offline for the whole epoch. With 200
    // challenges, a pass rate of 2/3 falls below 50% (jailed) with odds of about 4e-7
    // per node and stays at 90% or more (not slashed) with odds of about 1e-14.
    let shard0 = net.shard_of(0).await;
    std::fs::remove_file(net.sliver_file(0, &blobs[0].0, shard0)).unwrap();
    std::fs::remove_file(net.sliver_file(0, &blobs[1].0, shard0)).unwrap();
    let shard1 = net.shard_of(1).await;
    for rotten in [&blobs[2].0, &blobs[3].0] {
        let rotten = net.sliver_file(1, rotten, shard1);
        let flipped: Vec<u8> = std::fs::read(&rotten).unwrap().iter().map(|b| !b).collect();
        std::fs::write(&rotten, flipped).unwrap();
    }
    let shard2 = net.shard_of(2).await;
    net.nodes[2] = None;

    // The checker is SIGKILLed once it has reported some results, and restarted with
    // its state directory.
    let auditor_key = net.dir.join("auditor.key");
    keyfile::write_new(&auditor_key, &auditor).unwrap();
    let state = net.dir.join("checker");
    let mut checker = start_checker(&net.ledger.url, &auditor_key, &state);
    eventually(60, "results recorded before the crash", || async {
        net.recorded()
            .await
            .iter()
            .any(|(_, n)| *n >= 40)
            .then_some(())
    })
    .await;
    checker.child.kill().expect("SIGKILL");
    checker.child.wait().unwrap();
    let checker = start_checker(&net.ledger.url, &auditor_key, &state);
    let recorded = net.audited(NODES, TARGET, 180).await;
    // Longer than a batch takes to form and be sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(net.recorded().await, recorded, "nothing more arrives");
    assert!(
        recorded.iter().all(|(_, n)| *n == TARGET),
        "exactly {TARGET} challenges per node, none counted twice: {recorded:?}"
    );

    net.advance(1).await;
    let epoch: Value = net.ledger.public().get("/v1/epochs/1").await.unwrap();
    assert_eq!(
        amount(&epoch["change"]["slashed"]),
        Wal::from_wal(15),
        "{epoch}"
    );
    for (i, jailed) in [(0, false), (1, false), (2, true)] {
        let node = net.node(i).await;
        assert_eq!(
            amount(&node["stake"]),
            Wal::from_wal(95),
            "node {i}: {node}"
        );
        let slash = &node["audits"]["slashes"][0];
        assert_eq!(slash["epoch"], 1, "node {i}: {node}");
        assert_eq!(
            slash["jailed_until_epoch"].is_number(),
            jailed,
            "node {i}: {node}"
        );
        let stakes: Value = net
            .ledger
            .public()
            .get(&format!("/v1/stakes?node_id={}", net.node_ids[i]))
            .await
            .unwrap();
        assert_eq!(
            amount(&stakes["stakes"][0]["value"]),
            Wal::from_wal(95),
            "the delegator bears 5%"
        );
    }
    let node1 = net.node(1).await;
    let evidence = &node1["audits"]["failures"][0];
    assert!(
        [blobs[2].0.as_str(), blobs[3].0.as_str()].contains(&evidence["blob_id"].as_str().unwrap()),
        "the wrong answer is kept, signed: {evidence}"
    );
    assert!(evidence["evidence"]["signature"].is_string());
    assert_eq!(net.node(2).await["audits"]["epochs"][0]["passed"], 0);
    for i in 3..NODES {
        let node = net.node(i).await;
        assert!(
            node["audits"]["slashes"].as_array().unwrap().is_empty(),
            "{node}"
        );
        assert_eq!(node["audits"]["epochs"][0]["passed"], TARGET, "{node}");
        assert!(amount(&node["stake"]) >= Wal::from_wal(100));
    }

    // Node 2 is out of the committee; its shard moved. The checker stores that shard's
    // slivers on the new holder, and puts back node 0's lost and node 1's rotten ones.
    let committee: Value = net.ledger.public().get("/v1/committee").await.unwrap();
    let members = committee["members"].as_array().unwrap();
    assert_eq!(members.len(), NODES - 1);
    assert!(members
        .iter()
        .all(|m| m["node_id"] != net.node_ids[2].as_str()));
    let new_holder = members
        .iter()
        .find(|m| m["shards"].as_array().unwrap().contains(&json!(shard2)))
        .unwrap()["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let (url0, url1) = (
        net.nodes[0].as_ref().unwrap().url.clone(),
        net.nodes[1].as_ref().unwrap().url.clone(),
    );
    let mut wanted = vec![
        (url0.clone(), blobs[0].0.clone(), shard0),
        (url0, blobs[1].0.clone(), shard0),
        (url1.clone(), blobs[2].0.clone(), shard1),
        (url1, blobs[3].0.clone(), shard1),
    ];
    wanted.extend(
        blobs
            .iter()
            .map(|(id, _)| (new_holder.clone(), id.clone(), shard2)),
    );
    for (endpoint, blob_id, shard) in wanted {
        let url = format!("{endpoint}/v1/blobs/{blob_id}/slivers/{shard}");
        eventually(60, "the sliver is repaired", || async {
            let r = http.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
    }
    // walctl shows the same: the slash of node 1 with its evidence, full redundancy.
    let audit = walctl(
        &net.ledger.url,
        &net.treasury_key,
        &["node", "audit", &net.node_ids[1]],
    )
    .await;
    assert_eq!(audit["slashes"][0]["pool_slashed"], "5", "{audit}");
    assert_eq!(audit["epochs"][0]["challenges"], TARGET);
    assert!(!audit["failures"].as_array().unwrap().is_empty());
    for (i, (blob_id, bytes)) in blobs.iter().enumerate() {
        let health = walctl(
            &net.ledger.url,
            &net.treasury_key,
            &["blob", "health", blob_id],
        )
        .await;
        assert_eq!(health["fully_redundant"], true, "{health}");
        assert_eq!(health["verified"], 7);
        let copy = net.dir.join(format!("copy{i}.bin"));
        walctl(
            &net.ledger.url,
            &net.treasury_key,
            &["read", blob_id, "-o", copy.to_str().unwrap()],
        )
        .await;
        assert_eq!(
            &std::fs::read(&copy).unwrap(),
            bytes,
            "blob {i} byte for byte"
        );
    }
    // Epoch 2: the new holder is not challenged for slivers before they are repaired,
    // the repaired ones pass, and nobody is slashed.
    net.audited(NODES - 1, TARGET, 180).await;
    net.advance(2).await;
    let epoch: Value = net.ledger.public().get("/v1/epochs/2").await.unwrap();
    assert_eq!(amount(&epoch["change"]["slashed"]), Wal::ZERO, "{epoch}");
    for member in epoch["committee"].as_array().unwrap() {
        assert_eq!(member["passed"], member["challenges"], "{member}");
    }
    net.ledger.assert_audit_ok().await;
    drop(checker);
    net.nodes.clear();
    let dir = net.dir.clone();
    net.ledger.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Forwards connections to `upstream`, each after `delay`.
async fn slow_proxy(upstream: String, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    url
}

#[sqlx::test]
async fn honest_nodes_are_never_slashed(db: PgPool) {
    const TARGET: u64 = 25;
    let auditor = new_key();
    let net = network(db, &auditor, TARGET as u32).await;
    // Node 3 answers through a proxy that holds every connection for 800 ms.
    let slow = slow_proxy(
        net.nodes[3].as_ref().unwrap().url.clone(),
        Duration::from_millis(800),
    )
    .await;
    let patch = serde_json::to_vec(&json!({"endpoint": slow})).unwrap();
    let _: Value = net
        .ledger
        .client(&net.ledger.treasury)
        .send_signed(
            reqwest::Method::PATCH,
            &format!("/v1/nodes/{}", net.node_ids[3]),
            &patch,
            None,
        )
        .await
        .unwrap();
    net.store(3).await;
    let auditor_key = net.dir.join("auditor.key");
    keyfile::write_new(&auditor_key, &auditor).unwrap();
    let checker = start_checker(&net.ledger.url, &auditor_key, &net.dir.join("checker"));
    for epoch in 1..=3 {
        net.audited(NODES, TARGET, 120).await;
        net.advance(epoch).await;
        let ended: Value = net
            .ledger
            .public()
            .get(&format!("/v1/epochs/{epoch}"))
            .await
            .unwrap();
        assert_eq!(amount(&ended["change"]["slashed"]), Wal::ZERO, "{ended}");
        for member in ended["committee"].as_array().unwrap() {
            assert_eq!(member["performance"], "1", "epoch {epoch}: {member}");
            assert_eq!(
                member["passed"], member["challenges"],
                "epoch {epoch}: {member}"
            );
        }
    }
    for i in 0..NODES {
        let node = net.node(i).await;
        assert!(
            node["audits"]["slashes"].as_array().unwrap().is_empty(),
            "{node}"
        );
        assert_eq!(node["jailed_until_epoch"], Value::Null);
    }
    net.ledger.assert_audit_ok().await;
    drop(checker);
    let dir = net.dir.clone();
    drop(net.nodes);
    net.ledger.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
