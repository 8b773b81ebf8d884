//! The bank test: 32 (and 128) concurrent clients make thousands of random signed
//! transfers among 20 accounts, some of them overdrawing; they are committed in batches. Afterwards no WAL was created or lost, no
//! balance is negative, every accepted transfer is in the journal exactly once, and the
//! final balances are exactly what the accepted transfers imply.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::{address, new_key, TestLedger};
use rand::Rng;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::ClientError;
use wal::money::Wal;
use wal::wire::Address;

const ACCOUNTS: usize = 20;
const FUNDING_WAL: i64 = 1_000;

struct Accepted {
    id: String,
    from: Address,
    to: Address,
    amount: Wal,
}

#[sqlx::test]
async fn concurrent_random_transfers_conserve_supply(db: PgPool) {
    bank(db, 32, 100, 1).await;
}

/// More clients than the pool has connections: batches of many transfers each.
#[sqlx::test]
async fn a_hundred_and_twenty_eight_clients_conserve_supply(db: PgPool) {
    bank(db, 128, 40, 1).await;
}

/// Committers that share the queue: each may chain a transaction for jobs another takes.
#[sqlx::test]
async fn three_committers_conserve_supply(db: PgPool) {
    bank(db, 64, 30, 3).await;
}

async fn bank(db: PgPool, clients_n: usize, transfers_per_client: usize, committers: usize) {
    let ledger = TestLedger::start_with(db, |config| config.batch_committers = committers).await;
    let ledger = Arc::new(ledger);
    let keys: Vec<_> = (0..ACCOUNTS).map(|_| new_key()).collect();
    for key in &keys {
        ledger.fund(key, &FUNDING_WAL.to_string()).await;
    }
    let keys = Arc::new(keys);

    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..clients_n {
        let ledger = ledger.clone();
        let keys = keys.clone();
        clients.spawn(async move {
            let mut accepted = Vec::new();
            let mut overdrawn = 0;
            for _ in 0..transfers_per_client {
                let (from, to, frost) = {
                    let mut rng = rand::thread_rng();
                    let from = rng.gen_range(0..ACCOUNTS);
                    let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
                    // Up to 400 WAL with FROST precision: accounts of 1000 WAL overdraw often.
                    (from, to, rng.gen_range(1..400_000_000_000i64))
                };
                let amount = Wal::from_frost(frost);
                let body = json!({"to": address(&keys[to]), "amount": amount});
                let key = uuid::Uuid::new_v4().to_string();
                let result: Result<Value, _> = ledger
                    .client(&keys[from])
                    .post("/v1/transfers", &body, &key)
                    .await;
                match result {
                    Ok(transfer) => accepted.push(Accepted {
                        id: transfer["id"].as_str().unwrap().to_owned(),
                        from: address(&keys[from]),
                        to: address(&keys[to]),
                        amount,
                    }),
                    Err(ClientError::Problem(p)) if p.code == "INSUFFICIENT_FUNDS" => {
                        overdrawn += 1
                    }
                    Err(other) => panic!("unexpected failure: {other}"),
                }
            }
            (accepted, overdrawn)
        });
    }
    let mut accepted = Vec::new();
    let mut overdrawn = 0;
    while let Some(joined) = clients.join_next().await {
        let (mut a, o) = joined.expect("client task");
        accepted.append(&mut a);
        overdrawn += o;
    }
    assert_eq!(accepted.len() + overdrawn, clients_n * transfers_per_client);
    assert!(overdrawn > 0, "the workload must include overdrafts");
    assert!(
        accepted.len() > clients_n * transfers_per_client / 4,
        "most transfers succeed"
    );

    // Every accepted transfer is in the journal exactly once, and nothing else is.
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM journal_entries WHERE kind = 'transfer' AND actor <> $1",
    )
    .bind(address(&ledger.treasury).to_string())
    .fetch_all(&ledger.db)
    .await
    .unwrap();
    let journal_ids: HashSet<String> = ids.iter().map(i64::to_string).collect();
    let accepted_ids: HashSet<String> = accepted.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), journal_ids.len());
    assert_eq!(accepted_ids.len(), accepted.len(), "ids are unique");
    assert_eq!(
        journal_ids, accepted_ids,
        "the journal holds exactly the accepted transfers"
    );

    // The transfers were committed in batches: some transaction holds several.
    let most_per_commit = common::most_entries_per_commit(&ledger.db, "transfer").await;
    assert!(most_per_commit > 1, "one transfer per commit: not batched");

    // Final balances are exactly funding + received - sent.
    let mut expected: HashMap<Address, Wal> = keys
        .iter()
        .map(|k| (address(k), Wal::from_wal(FUNDING_WAL)))
        .collect();
    for t in &accepted {
        let from = expected.get_mut(&t.from).unwrap();
        *from = from.checked_sub(t.amount).unwrap();
        let to = expected.get_mut(&t.to).unwrap();
        *to = to.checked_add(t.amount).unwrap();
    }
    let mut sum = ledger.balance(&address(&ledger.treasury)).await;
    for (account, want) in &expected {
        let got = ledger.balance(account).await;
        assert!(!got.is_negative(), "{account} is negative");
        assert_eq!(got, *want, "balance of {account}");
        sum = sum.checked_add(got).unwrap();
    }
    let audit = ledger.audit().await;
    assert_eq!(audit["ok"], json!(true), "{audit}");
    assert_eq!(audit["negative_balances"], json!(0));
    assert_eq!(audit["unbalanced_entries"], json!(0));
    assert_eq!(
        Wal::parse(audit["sum_of_balances"].as_str().unwrap()).unwrap(),
        sum
    );
    assert_eq!(audit["total_supply"], audit["sum_of_balances"]);
    no_transaction_left_open(&ledger.db).await;

    Arc::into_inner(ledger)
        .expect("clients are done")
        .stop()
        .await;
}

/// Once the queue is empty, the committers' connections hold no transaction (they keep
/// one open between batches only while the next batch waits).
async fn no_transaction_left_open(db: &PgPool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        if open == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} connections stay idle in a transaction after the load"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
