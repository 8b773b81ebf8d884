//! Heavy blobs end to end, with real node processes: a blob larger than any buffer in
//! the path streams through `walctl store` and `walctl read` in bounded memory; a hung
//! node (SIGSTOP) stalls neither read, nor blob health, nor store; a store killed after
//! payment resumes without paying again, and storing a certified blob pays nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::Duration;

use common::process::json_of;
use common::storage::{file_hash, random_file, Measured, StorageNet};
use nix::sys::signal::{kill, Signal};
use serde_json::Value;
use sqlx::PgPool;

const MIB: u64 = 1 << 20;

fn succeeded(run: &Measured) -> Value {
    assert!(
        run.output.status.success(),
        "walctl failed: {}{}",
        String::from_utf8_lossy(&run.output.stdout),
        String::from_utf8_lossy(&run.output.stderr)
    );
    json_of(&run.output)
}

/// 300 MiB over 10 shards is 23 stripes of 13 MiB: store and read each keep a few
/// stripes in memory, far below the blob (a whole-blob path needs the file plus its
/// 750 MiB of slivers).
#[sqlx::test]
async fn a_300_mib_blob_streams_through_in_bounded_memory(db: PgPool) {
    let net = StorageNet::start(db, 5, 10).await;
    let file = net.dir.join("big.bin");
    let size = 300 * MIB + 12_345;
    let original = random_file(&file, size, 7);
    let limit = Duration::from_secs(600);

    let stored = net
        .walctl(&["store", file.to_str().unwrap(), "--epochs", "2"], limit)
        .await;
    let out = succeeded(&stored);
    assert_eq!(out["certified"], true, "{out}");
    eprintln!(
        "store of {size} bytes: {:?}, peak RSS {} MiB",
        stored.took,
        stored.peak_rss_bytes / MIB
    );

    let back = net.dir.join("back.bin");
    let blob_id = out["blob_id"].as_str().unwrap();
    let read = net
        .walctl(&["read", blob_id, "-o", back.to_str().unwrap()], limit)
        .await;
    let summary = succeeded(&read);
    assert_eq!(summary["size"], size);
    assert_eq!(
        file_hash(&back),
        original,
        "the blob reads back byte for byte"
    );
    eprintln!(
        "read: {:?}, peak RSS {} MiB",
        read.took,
        read.peak_rss_bytes / MIB
    );

    for (what, run) in [("store", &stored), ("read", &read)] {
        assert!(
            run.peak_rss_bytes < 256 * MIB,
            "{what} of a 300 MiB blob peaked at {} MiB",
            run.peak_rss_bytes / MIB
        );
    }
}

/// One of seven nodes is hung (SIGSTOP, so it accepts connections but never answers):
/// with --timeout-secs 3, read and blob health give up on it after one timeout and
/// the store certifies from the other six.
#[sqlx::test]
async fn a_hung_node_stalls_no_command(db: PgPool) {
    let net = StorageNet::start(db, 7, 10).await;
    let file = net.dir.join("a.bin");
    let original = random_file(&file, 3 * MIB + 5, 1);
    let limit = Duration::from_secs(120);
    let stored = succeeded(
        &net.walctl(&["store", file.to_str().unwrap(), "--epochs", "2"], limit)
            .await,
    );
    let blob_id = stored["blob_id"].as_str().unwrap().to_owned();

    // Hang the node holding shard 0, a data sliver every read starts with.
    let committee: Value = net.ledger.public().get("/v1/committee").await.unwrap();
    let holder = committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["shards"].as_array().unwrap().contains(&Value::from(0)))
        .unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hung = net.node_ids.iter().position(|id| *id == holder).unwrap();
    kill(net.pid(hung), Signal::SIGSTOP).unwrap();

    let back = net.dir.join("back.bin");
    let read = net
        .walctl(
            &[
                "--timeout-secs",
                "3",
                "read",
                &blob_id,
                "-o",
                back.to_str().unwrap(),
            ],
            limit,
        )
        .await;
    let summary = succeeded(&read);
    assert_eq!(file_hash(&back), original);
    assert!(
        read.took < Duration::from_secs(30),
        "read took {:?}",
        read.took
    );
    assert!(
        !summary["replaced_sources"].as_array().unwrap().is_empty(),
        "{summary}"
    );

    let health = net
        .walctl(&["--timeout-secs", "3", "blob", "health", &blob_id], limit)
        .await;
    let health_out = succeeded(&health);
    assert!(
        health.took < Duration::from_secs(30),
        "health took {:?}",
        health.took
    );
    assert_eq!(health_out["readable"], true);
    let states: Vec<&str> = health_out["slivers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["node_id"] == holder.as_str())
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert!(states.iter().all(|&s| s == "timed out"), "{states:?}");

    let second = net.dir.join("b.bin");
    random_file(&second, 2 * MIB, 2);
    let store = net
        .walctl(
            &[
                "--timeout-secs",
                "3",
                "store",
                second.to_str().unwrap(),
                "--epochs",
                "2",
            ],
            limit,
        )
        .await;
    let out = succeeded(&store);
    assert_eq!(out["certified"], true, "{out}");
    assert_eq!(out["confirmed_nodes"], 6);
    assert!(
        store.took < Duration::from_secs(40),
        "store took {:?}",
        store.took
    );
    kill(net.pid(hung), Signal::SIGCONT).unwrap();
}

/// A store SIGKILLed after it paid (the nodes hung, so it is stuck before it can
/// certify) is finished by the next store of the same file, which pays nothing; a
/// third store of the certified blob pays nothing either, and `--force` buys again.
#[sqlx::test]
async fn a_killed_store_resumes_and_a_stored_blob_is_not_paid_twice(db: PgPool) {
    let net = StorageNet::start(db, 4, 7).await;
    let file = net.dir.join("c.bin");
    random_file(&file, MIB + 3, 3);
    let treasury = common::address(&net.ledger.treasury);
    let before = net.ledger.balance(&treasury).await;
    for i in 0..4 {
        kill(net.pid(i), Signal::SIGSTOP).unwrap();
    }
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_walctl"));
    command
        .args(["--url", &net.ledger.url, "--key"])
        .arg(&net.treasury_key)
        .args([
            "--json",
            "--timeout-secs",
            "60",
            "store",
            file.to_str().unwrap(),
            "--epochs",
            "2",
        ])
        .kill_on_drop(true);
    let mut first = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let contract = loop {
        let page: Value = net
            .ledger
            .public()
            .get(&format!("/v1/storage/contracts?owner={treasury}"))
            .await
            .unwrap();
        if let Some(c) = page["contracts"].as_array().unwrap().first() {
            break c.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first store pays within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    first.kill().await.unwrap();
    for i in 0..4 {
        kill(net.pid(i), Signal::SIGCONT).unwrap();
    }
    let paid = net.ledger.balance(&treasury).await;
    assert_eq!(contract["certified"], false);
    assert_eq!(
        before.checked_sub(paid).unwrap(),
        common::amount(&contract["paid"]),
        "the first store paid once"
    );

    let limit = Duration::from_secs(120);
    let resumed = succeeded(
        &net.walctl(&["store", file.to_str().unwrap(), "--epochs", "2"], limit)
            .await,
    );
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(resumed["certified"], true);
    assert_eq!(resumed["contract_id"], contract["id"]);
    assert_eq!(
        net.ledger.balance(&treasury).await,
        paid,
        "resuming pays nothing"
    );

    let again = succeeded(
        &net.walctl(&["store", file.to_str().unwrap(), "--epochs", "2"], limit)
            .await,
    );
    assert_eq!(again["already_stored"], true, "{again}");
    assert_eq!(
        net.ledger.balance(&treasury).await,
        paid,
        "a certified blob is not paid twice"
    );

    let forced = succeeded(
        &net.walctl(
            &["store", file.to_str().unwrap(), "--epochs", "2", "--force"],
            limit,
        )
        .await,
    );
    assert_ne!(forced["contract_id"], contract["id"]);
    assert_eq!(forced["certified"], true);
    assert!(
        net.ledger.balance(&treasury).await < paid,
        "--force buys again"
    );
}
