//! RFC 9421 interoperability: requests signed by Python's `http-message-signatures`
//! (an independent implementation) are accepted, and every tampering is rejected with
//! its API code while changing nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::{address, new_key, python, TestLedger};
use serde_json::Value;
use sqlx::PgPool;
use wal::money::Wal;

#[sqlx::test]
async fn independent_rfc9421_client_is_accepted_and_tampering_is_rejected(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let sender = new_key();
    let other = new_key();
    let recipient = new_key();
    ledger.fund(&sender, "10").await;
    let before = ledger.state_fingerprint().await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/sign_requests.py");
    let url = ledger.url.clone();
    let network_id = ledger.network_id.clone();
    let args = [
        url,
        network_id,
        hex::encode(sender.to_bytes()),
        hex::encode(other.to_bytes()),
        address(&recipient).to_string(),
    ];
    let output =
        tokio::task::spawn_blocking(move || Command::new(python()).arg(script).args(args).output())
            .await
            .unwrap()
            .expect("python runs");
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcomes: HashMap<String, Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("one JSON object per line");
            (value["case"].as_str().unwrap().to_owned(), value)
        })
        .collect();

    for case in ["valid", "valid_more_components"] {
        assert_eq!(outcomes[case]["status"], 201, "{case}: {}", outcomes[case]);
        assert_eq!(outcomes[case]["body"]["from"], address(&sender).to_string());
    }
    let expected = [
        ("replayed_nonce", "REPLAYED_NONCE"),
        ("tampered_body", "INVALID_SIGNATURE"),
        ("tampered_body_and_digest", "INVALID_SIGNATURE"),
        ("tampered_path", "INVALID_SIGNATURE"),
        ("tampered_query", "INVALID_SIGNATURE"),
        ("stale_created", "STALE_SIGNATURE"),
        ("future_created", "STALE_SIGNATURE"),
        ("wrong_tag", "WRONG_NETWORK"),
        ("other_key", "INVALID_SIGNATURE"),
        ("missing_component", "INVALID_SIGNATURE"),
        ("unsigned", "MISSING_SIGNATURE"),
    ];
    for (case, code) in expected {
        let outcome = &outcomes[case];
        assert_eq!(outcome["status"], 401, "{case}: {outcome}");
        assert_eq!(outcome["code"], code, "{case}: {outcome}");
    }
    assert_eq!(outcomes.len(), expected.len() + 2, "every case ran once");

    // Only the two valid transfers moved WAL: 1.5 + 0.25.
    assert_eq!(
        ledger.balance(&address(&recipient)).await,
        Wal::parse("1.75").unwrap()
    );
    assert_eq!(
        ledger.balance(&address(&sender)).await,
        Wal::parse("8.25").unwrap()
    );
    let after = ledger.state_fingerprint().await;
    assert_eq!(
        after.0,
        before.0 + 2,
        "exactly two journal entries were written"
    );
    assert_eq!(
        after.1,
        before.1 + 2,
        "only the two accepted requests consumed nonces"
    );
    ledger.assert_audit_ok().await;
    ledger.stop().await;
}
