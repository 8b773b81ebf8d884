//! Crash safety with the real `wal-ledger` process: SIGKILL during a burst of transfers,
//! restart, and check that every acknowledged transfer is there, that in-flight ones
//! retried with their Idempotency-Key execute exactly once, and that the audit holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{ledger_command, start};
use common::{address, database_url_of, new_key};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::{ClientError, LedgerClient};
use wal::money::Wal;

const SENDERS: usize = 16;
const ACKS_BEFORE_KILL: usize = 300;

fn client(url: &str, key: &SigningKey) -> LedgerClient {
    LedgerClient::new(url, Some(key.clone()), Duration::from_secs(10))
}

struct SenderOutcome {
    key: SigningKey,
    acknowledged: Vec<String>,
    /// The request that was in flight when the ledger died: key and body.
    in_flight: Option<(String, Vec<u8>)>,
}

#[sqlx::test]
async fn sigkill_mid_burst_loses_no_acknowledged_transfer(db: PgPool) {
    let database_url = database_url_of(&db);
    let treasury = new_key();
    let sink = address(&new_key());
    let mut ledger = start(&database_url, &treasury);

    let senders: Vec<SigningKey> = (0..SENDERS).map(|_| new_key()).collect();
    let funder = client(&ledger.url, &treasury);
    for key in &senders {
        let _: Value = funder
            .post(
                "/v1/transfers",
                &json!({"to": address(key), "amount": "1000"}),
                &uuid::Uuid::new_v4().to_string(),
            )
            .await
            .unwrap();
    }

    let acks = Arc::new(AtomicUsize::new(0));
    let mut burst = tokio::task::JoinSet::new();
    for key in senders {
        let (url, acks) = (ledger.url.clone(), acks.clone());
        burst.spawn(async move {
            let client = client(&url, &key);
            let body = serde_json::to_vec(&json!({"to": sink, "amount": "1"})).unwrap();
            let mut acknowledged = Vec::new();
            loop {
                let idempotency_key = uuid::Uuid::new_v4().to_string();
                let result: Result<Value, _> = client
                    .send_signed(Method::POST, "/v1/transfers", &body, Some(&idempotency_key))
                    .await;
                match result {
                    Ok(transfer) => {
                        acknowledged.push(transfer["id"].as_str().unwrap().to_owned());
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(ClientError::Transport { .. }) => {
                        return SenderOutcome {
                            key,
                            acknowledged,
                            in_flight: Some((idempotency_key, body)),
                        }
                    }
                    Err(other) => panic!("unexpected answer during the burst: {other}"),
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.load(Ordering::Relaxed) < ACKS_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "the burst did not reach {ACKS_BEFORE_KILL} transfers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ledger.child.kill().expect("SIGKILL");
    ledger.child.wait().unwrap();
    let mut outcomes = Vec::new();
    while let Some(joined) = burst.join_next().await {
        outcomes.push(joined.unwrap());
    }

    let ledger = start(&database_url, &treasury);
    let public = LedgerClient::new(&ledger.url, None, Duration::from_secs(10));
    let mut acknowledged_total = 0;
    for outcome in &outcomes {
        for id in &outcome.acknowledged {
            let transfer: Value = public
                .get(&format!("/v1/transfers/{id}"))
                .await
                .expect("acknowledged transfer survives");
            assert_eq!(transfer["from"], address(&outcome.key).to_string());
            assert_eq!(transfer["to"], sink.to_string());
            assert_eq!(transfer["amount"], "1");
        }
        acknowledged_total += outcome.acknowledged.len();
        // Retrying the interrupted request with its key executes it exactly once:
        // replayed if it committed before the kill, executed now if it did not.
        let (idempotency_key, body) = outcome
            .in_flight
            .as_ref()
            .expect("each sender was interrupted");
        let retried: Value = client(&ledger.url, &outcome.key)
            .send_signed(Method::POST, "/v1/transfers", body, Some(idempotency_key))
            .await
            .expect("the retry succeeds");
        assert_eq!(retried["amount"], "1");
        let expected = Wal::from_wal(1000 - outcome.acknowledged.len() as i64 - 1);
        let account: Value = public
            .get(&format!("/v1/accounts/{}", address(&outcome.key)))
            .await
            .unwrap();
        assert_eq!(
            account["balance"],
            expected.to_string(),
            "exactly-once for {}",
            address(&outcome.key)
        );
    }
    assert!(acknowledged_total >= ACKS_BEFORE_KILL);
    let sink_account: Value = public.get(&format!("/v1/accounts/{sink}")).await.unwrap();
    assert_eq!(
        sink_account["balance"],
        (acknowledged_total + SENDERS).to_string()
    );
    let audit: Value = public.get("/v1/audit").await.unwrap();
    assert_eq!(audit["ok"], true, "{audit}");

    // The restarted ledger refuses a second genesis on the same database.
    let genesis = ledger_command(&database_url, &new_key())
        .arg("genesis")
        .output()
        .unwrap();
    assert!(!genesis.status.success());
    let stderr = String::from_utf8_lossy(&genesis.stderr);
    assert!(stderr.contains("genesis already ran"), "{stderr}");
    drop(ledger);
}
