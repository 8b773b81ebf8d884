//! Audits on the ledger: the checker's results (auditor role) decide each node's
//! performance, slashes and jail at the epoch change, to the FROST; evidence of a
//! failure is checked; bad reports are refused whole and count nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::network::{confirmation_of, network_with, post, Node};
use common::{address, amount, code_of, new_key, snapshot, wal, TestLedger};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::encoding::{chunk_proof, encode, BlobMetadata};
use wal::money::Wal;
use wal::wire::challenge;
use wal::wire::confirmation::blob_id_bytes;

/// A blob of 1 MiB, its metadata and its 10 slivers.
fn blob() -> (BlobMetadata, Vec<Vec<u8>>) {
    let bytes: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    encode(&bytes, 10).unwrap()
}

struct Audited {
    ledger: TestLedger,
    admin: SigningKey,
    auditor: SigningKey,
    /// The key that staked with every node.
    staker: SigningKey,
    nodes: Vec<Node>,
    metadata: BlobMetadata,
    slivers: Vec<Vec<u8>>,
}

/// The network of `common::network` with an auditor, and one certified blob.
async fn audited_network(db: PgPool) -> Audited {
    let auditor = new_key();
    let auditor_address = address(&auditor);
    let (ledger, admin, staker, nodes) = network_with(db, move |config| {
        config.auditor_address = Some(auditor_address);
    })
    .await;
    let (metadata, slivers) = blob();
    let blob_id = metadata.blob_id();
    let contract = post(
        &ledger,
        &ledger.treasury,
        "/v1/storage/contracts",
        json!({"metadata": metadata, "epochs": 3, "max_total": "1000"}),
    )
    .await;
    let mut confirmations = Vec::new();
    for node in &nodes {
        confirmations.push(confirmation_of(&ledger, node, &blob_id).await);
    }
    let certified = post(
        &ledger,
        &ledger.treasury,
        &format!(
            "/v1/storage/contracts/{}/certificate",
            contract["id"].as_str().unwrap()
        ),
        json!({"confirmations": confirmations}),
    )
    .await;
    assert_eq!(certified["certified"], true);
    Audited {
        ledger,
        admin,
        auditor,
        staker,
        nodes,
        metadata,
        slivers,
    }
}

async fn shards_of(ledger: &TestLedger, node: &Node) -> Vec<u32> {
    let committee: Value = ledger.public().get("/v1/committee").await.unwrap();
    committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node_id"] == node.id.as_str())
        .map(|m| {
            m["shards"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap() as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn nonce() -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

fn result(node: &Node, blob_id: &str, shard: u32, chunk: u32, outcome: &str) -> Value {
    json!({"challenge_id": hex::encode(nonce()), "node_id": node.id, "blob_id": blob_id,
           "shard": shard, "chunk": chunk, "outcome": outcome})
}

/// A fail with the node's signed answer; `wrong` flips a byte of the chunk.
fn signed_answer(
    node_key: &SigningKey,
    metadata: &BlobMetadata,
    sliver: &[u8],
    node: &Node,
    shard: u32,
    chunk: u32,
    wrong: bool,
) -> Value {
    let nonce = nonce();
    let proof = chunk_proof(sliver, metadata.chunk_len, chunk).unwrap();
    let mut bytes = proof.chunk.clone();
    if wrong {
        bytes[0] ^= 0xff;
    }
    let blob_id = metadata.blob_id();
    let blob = blob_id_bytes(&blob_id).unwrap();
    let signature = challenge::Signed {
        nonce: &nonce,
        blob_id: &blob,
        shard,
        chunk_index: chunk,
        chunk: &bytes,
        siblings: &proof.siblings,
    }
    .sign(node_key);
    json!({"challenge_id": hex::encode(nonce), "node_id": node.id, "blob_id": blob_id,
           "shard": shard, "chunk": chunk, "outcome": "fail",
           "evidence": {"chunk": hex::encode(&bytes),
                        "siblings": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
                        "signature": signature}})
}

async fn report(
    ledger: &TestLedger,
    auditor: &SigningKey,
    epoch: i64,
    results: Vec<Value>,
) -> Value {
    post(
        ledger,
        auditor,
        "/v1/audits",
        json!({"epoch": epoch, "results": results}),
    )
    .await
}

#[sqlx::test]
async fn audits_set_performance_slash_and_jail_to_the_frost(db: PgPool) {
    let Audited {
        ledger,
        admin,
        auditor,
        staker,
        nodes,
        metadata,
        slivers,
    } = audited_network(db).await;
    let blob_id = metadata.blob_id();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let (shards_a, shards_b, shards_c) = (
        shards_of(&ledger, a).await,
        shards_of(&ledger, b).await,
        shards_of(&ledger, c).await,
    );
    assert_eq!((shards_a.len(), shards_b.len(), shards_c.len()), (6, 3, 1));

    // A: 17 of 20 pass (85%: slashed, not jailed). B: 9 of 20 (45%, one of them a
    // signed wrong chunk: slashed and jailed). C: 20 of 20.
    let mut results = Vec::new();
    for i in 0..20u32 {
        let outcome = if i < 17 { "pass" } else { "missing" };
        results.push(result(
            a,
            &blob_id,
            shards_a[i as usize % 6],
            i % 64,
            outcome,
        ));
        let shard_b = shards_b[i as usize % 3];
        results.push(match i {
            0..=8 => result(b, &blob_id, shard_b, i, "pass"),
            9 => signed_answer(
                &b.protocol,
                &metadata,
                &slivers[shard_b as usize],
                b,
                shard_b,
                5,
                true,
            ),
            _ => result(b, &blob_id, shard_b, i, "unreachable"),
        });
        results.push(result(c, &blob_id, shards_c[0], i, "pass"));
    }
    let recorded = report(&ledger, &auditor, 1, results).await;
    assert_eq!(recorded["recorded"], 60);
    let tallies: Value = ledger.public().get("/v1/audits?epoch=1").await.unwrap();
    assert_eq!(tallies["nodes"].as_array().unwrap().len(), 3);
    // A's three missing slivers and B's wrong one, for the checker to repair.
    assert_eq!(tallies["losses"].as_array().unwrap().len(), 4, "{tallies}");

    // The delegator of A asks to withdraw during the epoch: its stake still bears the
    // epoch's slash (ECONOMICS.md: "including stake withdrawing in e").
    let stakes: Value = ledger
        .public()
        .get(&format!("/v1/stakes?node_id={}", a.id))
        .await
        .unwrap();
    let stake_of_a = stakes["stakes"][0]["id"].as_str().unwrap().to_owned();
    post(
        &ledger,
        &staker,
        &format!("/v1/stakes/{stake_of_a}/withdraw"),
        json!({}),
    )
    .await;
    let staker_before = ledger.balance(&address(&staker)).await;
    let slot: Value = ledger.public().get("/v1/epochs/1").await.unwrap();
    let slot = amount(&slot["reward_slot_balance"]);
    let supply_burned_before = ledger.balance_of_key("sys:burn").await;
    let subsidy_before = ledger.balance_of_key("sys:subsidy").await;
    // Before the change, the nodes' expected rewards already count their audits.
    let expected = |id: String| {
        let ledger = &ledger;
        async move {
            let node: Value = ledger
                .public()
                .get(&format!("/v1/nodes/{id}"))
                .await
                .unwrap();
            amount(&node["expected_reward"])
        }
    };
    assert_eq!(expected(a.id.clone()).await, Wal::ZERO, "A will be slashed");
    let slot_less_burn = slot
        .checked_sub(Wal::from_frost((slot.to_frost() * 3 / 100) as i64))
        .unwrap();
    assert_eq!(
        expected(c.id.clone()).await,
        slot_less_burn,
        "C takes it all"
    );
    post(
        &ledger,
        &admin,
        "/v1/admin/epochs/advance",
        json!({"epoch": 1}),
    )
    .await;

    let epoch: Value = ledger.public().get("/v1/epochs/1").await.unwrap();
    let change = &epoch["change"];
    let member = |id: &str| {
        epoch["committee"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node_id"] == id)
            .unwrap()
            .clone()
    };
    // Slashed nodes weigh 0: C, the only clean one, gets all of R' (3% burned).
    let burn = Wal::from_frost((slot.to_frost() * 3 / 100) as i64);
    let to_split = slot.checked_sub(burn).unwrap();
    assert_eq!(member(&a.id)["performance"], "0");
    assert_eq!(member(&b.id)["performance"], "0");
    assert_eq!(member(&c.id)["performance"], "1");
    assert_eq!(member(&a.id)["challenges"], 20);
    assert_eq!(member(&a.id)["passed"], 17);
    assert_eq!(amount(&member(&a.id)["reward"]), Wal::ZERO);
    assert_eq!(amount(&member(&c.id)["reward"]), to_split);
    // 5% of A's 300 and of B's 200; no unclaimed commission (rate 0).
    assert_eq!(amount(&change["slashed"]), Wal::from_wal(25));
    let node_a: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{}", a.id))
        .await
        .unwrap();
    assert_eq!(
        amount(&node_a["stake"]),
        Wal::ZERO,
        "slashed to 285, then its only stake paid out"
    );
    assert_eq!(node_a["audits"]["slashes"][0]["pool_slashed"], "15");
    assert_eq!(
        node_a["audits"]["slashes"][0]["jailed_until_epoch"],
        Value::Null
    );
    assert_eq!(node_a["audits"]["epochs"][0]["pass_rate"], "0.85");
    let stakes: Value = ledger
        .public()
        .get(&format!("/v1/stakes?node_id={}", a.id))
        .await
        .unwrap();
    assert_eq!(stakes["stakes"][0]["status"], "withdrawn");
    assert_eq!(
        amount(&stakes["stakes"][0]["withdrawn_amount"]),
        Wal::from_wal(285),
        "the withdrawing delegator bears exactly 5%"
    );
    assert_eq!(
        ledger.balance(&address(&staker)).await,
        staker_before.checked_add(Wal::from_wal(285)).unwrap()
    );
    let node_b: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{}", b.id))
        .await
        .unwrap();
    assert_eq!(amount(&node_b["stake"]), Wal::from_wal(190));
    assert_eq!(node_b["jailed_until_epoch"], 4, "jailed for epochs 2 and 3");
    assert_eq!(node_b["audits"]["slashes"][0]["jailed_until_epoch"], 4);
    assert_eq!(node_b["audits"]["failures"].as_array().unwrap().len(), 1);
    assert_eq!(node_b["audits"]["epochs"][0]["unreachable"], 10);
    let node_c: Value = ledger
        .public()
        .get(&format!("/v1/nodes/{}", c.id))
        .await
        .unwrap();
    assert_eq!(
        amount(&node_c["stake"]),
        Wal::from_wal(100).checked_add(to_split).unwrap(),
        "an honest pool is not slashed and earns the reward"
    );
    assert!(node_c["audits"]["slashes"].as_array().unwrap().is_empty());
    // Half of the 25 is burned, half goes to the subsidy pool.
    assert_eq!(
        ledger.balance_of_key("sys:burn").await,
        supply_burned_before
            .checked_add(burn)
            .and_then(|x| x.checked_add(wal("12.5")))
            .unwrap()
    );
    assert_eq!(
        ledger.balance_of_key("sys:subsidy").await,
        subsidy_before.checked_add(wal("12.5")).unwrap()
    );
    // B, jailed, is out of the next committee although its 190 WAL would qualify; A
    // left too (its only stake was paid out); C holds all 10 shards.
    let committee: Value = ledger.public().get("/v1/committee").await.unwrap();
    let ids: Vec<&str> = committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![c.id.as_str()]);
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn bad_audit_reports_are_refused_whole_and_count_nothing(db: PgPool) {
    let Audited {
        ledger,
        auditor,
        nodes,
        metadata,
        slivers,
        ..
    } = audited_network(db).await;
    let blob_id = metadata.blob_id();
    let a = &nodes[0];
    let shard = shards_of(&ledger, a).await[0];
    let not_a_shard = shards_of(&ledger, &nodes[2]).await[0];
    let good = result(a, &blob_id, shard, 0, "pass");
    let before = snapshot(&ledger.db).await;
    let refused = |results: Vec<Value>, epoch: i64| {
        let ledger = &ledger;
        let auditor = auditor.clone();
        async move {
            let body = json!({"epoch": epoch, "results": results});
            code_of(
                ledger
                    .client(&auditor)
                    .post::<_, Value>("/v1/audits", &body, &uuid::Uuid::new_v4().to_string())
                    .await,
            )
        }
    };
    let mut unknown_node = result(a, &blob_id, shard, 0, "pass");
    unknown_node["node_id"] = json!("999");
    let mut uncertified = result(a, &blob_id, shard, 0, "pass");
    uncertified["blob_id"] = json!("ab".repeat(32));
    let mut bad_id = result(a, &blob_id, shard, 0, "pass");
    bad_id["challenge_id"] = json!("not-hex");
    let mut with_evidence = signed_answer(
        &a.protocol,
        &metadata,
        &slivers[shard as usize],
        a,
        shard,
        1,
        true,
    );
    with_evidence["outcome"] = json!("pass");
    let mut no_evidence = result(a, &blob_id, shard, 0, "fail");
    no_evidence["evidence"] = Value::Null;
    let wrong_signer = signed_answer(
        &new_key(),
        &metadata,
        &slivers[shard as usize],
        a,
        shard,
        1,
        true,
    );
    let correct_answer = signed_answer(
        &a.protocol,
        &metadata,
        &slivers[shard as usize],
        a,
        shard,
        1,
        false,
    );
    // Someone holding a correct signed answer cannot make it look wrong: the signature
    // covers the proof as well as the chunk.
    let mut forged = correct_answer.clone();
    forged["evidence"]["siblings"][0] = json!("00".repeat(32));
    let cases: Vec<(&str, Vec<Value>, i64, &str)> = vec![
        ("a closed epoch", vec![good.clone()], 0, "CONFLICT"),
        ("a future epoch", vec![good.clone()], 2, "INVALID_ARGUMENT"),
        ("no results", vec![], 1, "INVALID_ARGUMENT"),
        (
            "a duplicate in the batch",
            vec![good.clone(), good.clone()],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "an unknown node",
            vec![good.clone(), unknown_node],
            1,
            "NOT_FOUND",
        ),
        (
            "a shard the node does not hold",
            vec![result(a, &blob_id, not_a_shard, 0, "pass")],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "an uncertified blob",
            vec![uncertified],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "a chunk past the end",
            vec![result(a, &blob_id, shard, 10_000, "pass")],
            1,
            "INVALID_ARGUMENT",
        ),
        ("a bad challenge id", vec![bad_id], 1, "INVALID_ARGUMENT"),
        (
            "a pass with evidence",
            vec![with_evidence],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "a fail without evidence",
            vec![no_evidence],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "evidence another key signed",
            vec![wrong_signer],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "a correct answer as evidence",
            vec![correct_answer.clone()],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "a correct answer with a sibling changed",
            vec![forged],
            1,
            "INVALID_ARGUMENT",
        ),
        (
            "an unknown outcome",
            vec![
                json!({"challenge_id": hex::encode(nonce()), "node_id": a.id,
            "blob_id": blob_id, "shard": shard, "chunk": 0, "outcome": "meh"}),
            ],
            1,
            "INVALID_ARGUMENT",
        ),
    ];
    for (what, results, epoch, code) in cases {
        assert_eq!(refused(results, epoch).await, code, "{what}");
        assert_eq!(
            snapshot(&ledger.db).await,
            before,
            "{what} left state behind"
        );
    }
    // Not the auditor.
    let stranger = ledger
        .client(&new_key())
        .post::<_, Value>("/v1/audits", &json!({"epoch": 1, "results": [good]}), "k")
        .await;
    assert_eq!(code_of(stranger), "FORBIDDEN");
    assert_eq!(snapshot(&ledger.db).await, before);

    // A batch retried with its key is recorded once; a challenge sent again in another
    // batch is refused with the whole batch.
    let batch = json!({"epoch": 1, "results": [good.clone()]});
    let client = ledger.client(&auditor);
    let first: Value = client.post("/v1/audits", &batch, "batch-1").await.unwrap();
    let again: Value = client.post("/v1/audits", &batch, "batch-1").await.unwrap();
    assert_eq!(first, again);
    let fresh = result(a, &blob_id, shard, 2, "pass");
    let replayed = client
        .post::<_, Value>(
            "/v1/audits",
            &json!({"epoch": 1, "results": [fresh, good]}),
            "batch-2",
        )
        .await;
    assert_eq!(code_of(replayed), "CONFLICT");
    let tallies: Value = ledger.public().get("/v1/audits").await.unwrap();
    assert_eq!(tallies["nodes"][0]["challenges"], 1, "{tallies}");
    ledger.assert_audit_ok().await;
}
