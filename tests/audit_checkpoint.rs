//! The audit's checkpoint: it covers each journal entry exactly once, also when
//! transactions commit out of order; the audit from it finds what the whole-journal
//! audit finds; the full re-verification catches a checkpoint that was tampered with;
//! and `GET /v1/audit` callers share runs, a second apart, never older than the request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::{address, new_key, TestLedger};
use sqlx::{PgPool, Postgres, Transaction};
use wal::ledger::account::Account;
use wal::ledger::audit::{self, checkpoint};
use wal::ledger::journal::{self, Leg, NewEntry};
use wal::ledger::kind::EntryKind;
use wal::money::Wal;

/// Posts a 1 WAL transfer from `from` to a new account in `tx`.
async fn transfer_in(tx: &mut Transaction<'static, Postgres>, from: &ed25519_dalek::SigningKey) {
    let entry = NewEntry {
        kind: EntryKind::Transfer,
        actor: None,
        memo: None,
        legs: vec![
            Leg::debit(Account::User(address(from)), Wal::from_wal(1)),
            Leg::credit(Account::User(address(&new_key())), Wal::from_wal(1)),
        ],
    };
    journal::post(tx, &entry).await.unwrap();
}

/// `count` transfers from the treasury, each committed.
async fn transfers(ledger: &TestLedger, count: usize) {
    for _ in 0..count {
        let mut tx = ledger.db.begin().await.unwrap();
        transfer_in(&mut tx, &ledger.treasury).await;
        tx.commit().await.unwrap();
    }
}

/// A transaction that has a transaction id and stays open: the checkpoint cannot
/// cover anything posted after it began until it ends.
async fn open_writer(db: &PgPool) -> Transaction<'static, Postgres> {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Advances until the tail is empty: the ledger's own short transactions (its epoch
/// clock, its clean-up) may hold the checkpoint back for a moment.
async fn fully_covered(db: &PgPool) -> audit::AuditReport {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        checkpoint::advance(db).await.unwrap();
        let report = audit::run(db).await.unwrap();
        if report.tail_entries == 0 {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the checkpoint covers everything: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn entries_committed_out_of_order_are_each_covered_once(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    transfers(&ledger, 10).await;
    let report = fully_covered(&ledger.db).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.journal_entries, 11);

    // An entry posted in a transaction that commits late, after ones posted later (from
    // another account: the late one holds its balance row until it commits).
    let other = new_key();
    ledger.fund(&other, "10").await;
    assert_eq!(fully_covered(&ledger.db).await.journal_entries, 12);
    let mut late = open_writer(&ledger.db).await;
    transfer_in(&mut late, &other).await;
    transfers(&ledger, 5).await;
    let advance = checkpoint::advance(&ledger.db).await.unwrap();
    assert_eq!(
        advance.entries, 0,
        "nothing after an open writer is covered yet"
    );
    let report = audit::run(&ledger.db).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.checkpointed_entries, report.tail_entries), (12, 5));
    late.commit().await.unwrap();

    let report = fully_covered(&ledger.db).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checkpointed_entries, 18);
    let full = audit::run_full(&ledger.db).await.unwrap();
    assert!(full.ok && full.full, "{full:?}");
    assert_eq!(full.checkpoint_mismatches, 0);
    assert_eq!(full.journal_entries, 18);
    assert_eq!(full.checkpointed_entries, 18);
    assert_eq!(checkpoint::advance(&ledger.db).await.unwrap().entries, 0);
}

#[sqlx::test]
async fn the_audit_from_the_checkpoint_finds_a_balance_written_outside_the_journal(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    transfers(&ledger, 3).await;
    fully_covered(&ledger.db).await;
    let treasury = address(&ledger.treasury).to_string();
    sqlx::query(
        "UPDATE balances SET balance = balance + 1 WHERE (account, stripe) = \
         (SELECT account, stripe FROM balances WHERE account = $1 LIMIT 1)",
    )
    .bind(&treasury)
    .execute(&ledger.db)
    .await
    .unwrap();
    let report = audit::run(&ledger.db).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.balance_mismatches, 1);
    assert_eq!(report.tail_entries, 0, "found from the checkpoint alone");
}

#[sqlx::test]
async fn the_full_audit_tells_a_tampered_checkpoint_from_tampered_balances(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    transfers(&ledger, 3).await;
    fully_covered(&ledger.db).await;
    sqlx::query(
        "UPDATE audit_totals SET total = total + 1 WHERE (account, stripe) = \
         (SELECT account, stripe FROM audit_totals ORDER BY account LIMIT 1)",
    )
    .execute(&ledger.db)
    .await
    .unwrap();
    let report = audit::run(&ledger.db).await.unwrap();
    assert!(!report.ok, "the balances disagree with the checkpoint");
    assert_eq!(report.balance_mismatches, 1);
    let full = audit::run_full(&ledger.db).await.unwrap();
    assert!(!full.ok);
    assert_eq!(
        (full.balance_mismatches, full.checkpoint_mismatches),
        (0, 1),
        "the balances agree with the journal; the checkpoint does not"
    );
}

#[sqlx::test]
async fn an_entry_without_lines_is_found_once_covered(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    sqlx::query("INSERT INTO journal_entries (kind, epoch) VALUES ('transfer', 0)")
        .execute(&ledger.db)
        .await
        .unwrap();
    let before = audit::run(&ledger.db).await.unwrap();
    assert_eq!(before.entries_without_lines, 1, "found: {before:?}");
    assert!(!before.ok);
    let after = fully_covered(&ledger.db).await;
    assert_eq!(
        after.entries_without_lines, 1,
        "and kept by the checkpoint: {after:?}"
    );
    assert!(!after.ok);
}

fn checked_at(report: &serde_json::Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(report["checked_at"].as_str().unwrap()).unwrap()
}

#[sqlx::test]
async fn callers_of_get_audit_share_one_run_a_second(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = ledger.public();
        callers.spawn(async move {
            let report: serde_json::Value = client.get("/v1/audit").await.unwrap();
            checked_at(&report)
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(checked_at) = callers.join_next().await {
        seen.insert(checked_at.unwrap());
    }
    assert!(seen.len() <= 2, "20 callers at once share runs: {seen:?}");
    let mut runs: Vec<_> = seen.into_iter().collect();
    // Runs start a second apart; `checked_at` is each run's transaction start, a
    // moment after the run's (a first run may wait longer for its connection).
    if let [first, second] = runs[..] {
        assert!(
            second - first >= chrono::TimeDelta::milliseconds(500),
            "a second apart: {runs:?}"
        );
    }
    // A request after a run gets a run of its own: a change made meanwhile is seen.
    let newest = runs.pop().unwrap();
    let asked = chrono::Utc::now();
    let next = checked_at(&ledger.audit().await);
    assert!(
        next > newest && next >= asked,
        "{next} after {newest} and {asked}"
    );
}
