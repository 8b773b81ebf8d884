//! The journal in the database: striped hot accounts, append-only tables, and the
//! database's own refusal of unbalanced entries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{address, new_key, TestLedger};
use sqlx::PgPool;
use wal::error::Error;
use wal::ledger::account::{Account, SystemAccount, HOT_ACCOUNT_STRIPES};
use wal::ledger::journal::{self, Leg, NewEntry};
use wal::ledger::kind::EntryKind;
use wal::money::Wal;

async fn post(db: &PgPool, legs: Vec<Leg>) -> Result<i64, Error> {
    let mut tx = db.begin().await.unwrap();
    let entry = NewEntry {
        kind: EntryKind::Transfer,
        actor: None,
        memo: None,
        legs,
    };
    let posted = journal::post(&mut tx, &entry).await?;
    tx.commit().await.unwrap();
    Ok(posted.id)
}

#[sqlx::test]
async fn a_hot_system_account_spreads_over_stripes(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let treasury = Account::User(address(&ledger.treasury));
    let burn = Account::System(SystemAccount::Burn);
    let users: Vec<Account> = (0..16)
        .map(|_| Account::User(address(&new_key())))
        .collect();
    for user in &users {
        post(
            &ledger.db,
            vec![
                Leg::debit(treasury, Wal::from_wal(10)),
                Leg::credit(*user, Wal::from_wal(10)),
            ],
        )
        .await
        .unwrap();
    }
    // 16 writers credit the burn account at once; the credits spread over stripes.
    let mut writers = tokio::task::JoinSet::new();
    for user in users.clone() {
        let db = ledger.db.clone();
        writers.spawn(async move {
            for _ in 0..10 {
                post(
                    &db,
                    vec![
                        Leg::debit(user, Wal::from_wal(1)),
                        Leg::credit(burn, Wal::from_wal(1)),
                    ],
                )
                .await
                .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let (rows, total): (i64, rust_decimal::Decimal) =
        sqlx::query_as("SELECT count(*), sum(balance) FROM balances WHERE account = 'sys:burn'")
            .fetch_one(&ledger.db)
            .await
            .unwrap();
    assert_eq!(total, rust_decimal::Decimal::from(160));
    assert!(
        rows > 1 && rows <= HOT_ACCOUNT_STRIPES as i64,
        "credits landed on {rows} stripes"
    );
    let audit = ledger.audit().await;
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["burned"], "160");

    // A debit of a striped account takes from several stripes, never below zero.
    let collector = Account::User(address(&new_key()));
    post(
        &ledger.db,
        vec![
            Leg::debit(burn, Wal::from_wal(150)),
            Leg::credit(collector, Wal::from_wal(150)),
        ],
    )
    .await
    .unwrap();
    let too_much = post(
        &ledger.db,
        vec![
            Leg::debit(burn, Wal::from_wal(11)),
            Leg::credit(collector, Wal::from_wal(11)),
        ],
    )
    .await;
    assert!(
        matches!(too_much, Err(Error::InsufficientFunds(_))),
        "{too_much:?}"
    );
    let mut conn = ledger.db.acquire().await.unwrap();
    assert_eq!(
        journal::balance_of_key(&mut conn, "sys:burn")
            .await
            .unwrap(),
        Wal::from_wal(10)
    );
    let negative: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM balances WHERE balance < 0 AND account <> 'sys:issuance'",
    )
    .fetch_one(&ledger.db)
    .await
    .unwrap();
    assert_eq!(negative, 0);
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn the_database_keeps_the_journal_append_only_and_balanced(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    for statement in [
        "UPDATE journal_lines SET amount = amount * 2",
        "DELETE FROM journal_lines",
        "UPDATE journal_entries SET memo = 'rewritten'",
        "DELETE FROM journal_entries",
        "TRUNCATE journal_lines CASCADE",
        "TRUNCATE journal_entries CASCADE",
    ] {
        let result = sqlx::query(statement).execute(&ledger.db).await;
        let message = result.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    // Lines that do not sum to zero are refused, even written by hand; a balanced
    // pair in one statement is accepted.
    let mut tx = ledger.db.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO journal_entries (kind, epoch) VALUES ('transfer', 0) RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let someone = address(&new_key()).to_string();
    let forged = sqlx::query(
        "INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount) VALUES ($1, 0, $2, 0, 5)",
    )
    .bind(id)
    .bind(&someone)
    .execute(&mut *tx)
    .await;
    assert!(forged
        .expect_err("unbalanced")
        .to_string()
        .contains("does not balance"));
    drop(tx);
    let mut tx = ledger.db.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO journal_entries (kind, epoch) VALUES ('transfer', 0) RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let split = sqlx::query(
        "INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount) VALUES ($1, 0, $2, 0, 5), ($1, 1, $2, 0, -5)",
    )
    .bind(id)
    .bind(&someone)
    .execute(&mut *tx)
    .await;
    assert!(split.is_ok(), "{split:?}");
    drop(tx);
    // Balanced lines that name no entry are refused too (an entry in the same
    // statement counts).
    let orphans = sqlx::query(
        "INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount) VALUES (987654321, 0, $1, 0, 5), (987654321, 1, $1, 0, -5)",
    )
    .bind(&someone)
    .execute(&ledger.db)
    .await;
    let message = orphans.expect_err("lines without an entry").to_string();
    assert!(message.contains("which does not exist"), "{message}");
    let together = sqlx::query(
        "WITH e AS (INSERT INTO journal_entries (id, kind, epoch) OVERRIDING SYSTEM VALUE
                    VALUES (987654321, 'transfer', 0) RETURNING id)
         INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)
         VALUES (987654321, 0, $1, 0, 5), (987654321, 1, $1, 0, -5)",
    )
    .bind(&someone)
    .execute(&mut *ledger.db.begin().await.unwrap())
    .await;
    assert!(together.is_ok(), "{together:?}");
    ledger.assert_audit_ok().await;
    let audit = ledger.audit().await;
    assert_eq!(audit["journal_entries"], 1);
}

/// The database's CHECK constraint lists exactly the kinds of `EntryKind`, and refuses
/// any other kind whoever writes it.
#[sqlx::test]
async fn entry_kinds_match_the_database(db: PgPool) {
    let _ledger = TestLedger::start(db.clone()).await;
    let definition: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'journal_entries_kind_known'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let in_database: std::collections::BTreeSet<&str> =
        definition.split('\'').skip(1).step_by(2).collect();
    let in_code: std::collections::BTreeSet<&str> =
        EntryKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(in_database, in_code, "{definition}");

    let refused = sqlx::query("INSERT INTO journal_entries (kind, epoch) VALUES ('bogus', 0)")
        .execute(&db)
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_database_error().and_then(|e| e.constraint()),
        Some("journal_entries_kind_known")
    );
}
