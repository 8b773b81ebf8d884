//! The batch applier against the database: any mix of entries that apply and entries
//! refused, posted as one batch (`ledger::batch::post_all`, one transaction), leaves
//! the same balances, the same refusals and the same balance rows as posting them one
//! by one with `journal::post` (`journal_post`, one transaction each), in the batch's
//! order. Random cases from proptest's generators, each on its own fresh accounts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{address, new_key, TestLedger};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sqlx::PgPool;
use wal::ledger::account::{Account, SystemAccount};
use wal::ledger::batch::{post_all, BatchEntry};
use wal::ledger::journal::{self, Leg, NewEntry};
use wal::ledger::kind::EntryKind;
use wal::money::Wal;

const USERS: usize = 5;
/// Source or recipient index meaning "a fresh address, never funded".
const FRESH: usize = USERS;
/// Index meaning "the world's striped hot account" (credits spread, debits drain).
const HOT: usize = USERS + 1;

/// One world: its own users and its own striped account.
struct World {
    users: Vec<Account>,
    hot: Account,
}

impl World {
    fn new(hot_node: i64) -> World {
        World {
            users: (0..USERS)
                .map(|_| Account::User(address(&new_key())))
                .collect(),
            hot: Account::System(SystemAccount::PendingStake(hot_node)),
        }
    }

    fn account(&self, index: usize, fresh: &mut Vec<Account>) -> Account {
        match index {
            HOT => self.hot,
            FRESH => {
                let account = Account::User(address(&new_key()));
                fresh.push(account);
                account
            }
            i => self.users[i],
        }
    }

    fn entries(&self, moves: &[(usize, usize, i64)], fresh: &mut Vec<Account>) -> Vec<BatchEntry> {
        moves
            .iter()
            .map(|&(from, to, frost)| BatchEntry {
                kind: EntryKind::Transfer,
                actor: None,
                memo: Some(format!("{from} -> {to}")),
                legs: vec![
                    Leg::debit(self.account(from, fresh), Wal::from_frost(frost)),
                    Leg::credit(self.account(to, fresh), Wal::from_frost(frost)),
                ],
            })
            .collect()
    }

    fn all(&self) -> Vec<Account> {
        let mut all = self.users.clone();
        all.push(self.hot);
        all
    }
}

async fn post_one(db: &PgPool, entry: &BatchEntry) -> Result<(), String> {
    let mut tx = db.begin().await.unwrap();
    let new = NewEntry {
        kind: entry.kind,
        actor: entry.actor,
        memo: entry.memo.as_deref(),
        legs: entry.legs.clone(),
    };
    match journal::post(&mut tx, &new).await {
        Ok(_) => {
            tx.commit().await.unwrap();
            Ok(())
        }
        Err(e) => Err(format!("{} {e}", e.code())),
    }
}

async fn balances(db: &PgPool, accounts: &[Account]) -> Vec<(Wal, i64)> {
    let mut out = Vec::new();
    for account in accounts {
        let (sum, rows): (rust_decimal::Decimal, i64) = sqlx::query_as(
            "SELECT coalesce(sum(balance), 0), count(*) FROM balances WHERE account = $1",
        )
        .bind(account.key())
        .fetch_one(db)
        .await
        .unwrap();
        out.push((Wal::from_decimal_unchecked(sum), rows.min(1)));
    }
    out
}

/// Gives each user of `world` its funding and the hot account its share, from the treasury.
async fn fund(db: &PgPool, treasury: Account, world: &World, funding: &[i64]) {
    let mut legs = Vec::new();
    for (account, &frost) in world.all().iter().zip(funding) {
        if frost == 0 {
            continue;
        }
        legs.push(Leg::debit(treasury, Wal::from_frost(frost)));
        legs.push(Leg::credit(*account, Wal::from_frost(frost)));
    }
    if legs.is_empty() {
        return;
    }
    let entry = BatchEntry {
        kind: EntryKind::Transfer,
        actor: None,
        memo: None,
        legs,
    };
    post_one(db, &entry).await.unwrap();
}

fn case_strategy() -> impl Strategy<Value = (Vec<i64>, Vec<(usize, usize, i64)>)> {
    let index = prop_oneof![6 => 0..USERS, 1 => Just(FRESH), 1 => Just(HOT)];
    // Round amounts as well as odd ones, so that debits of exactly the balance are common.
    let amount = prop_oneof![(1i64..6).prop_map(|n| n * 100), 1i64..900];
    let moves = (index.clone(), index, amount)
        .prop_filter("two accounts", |(f, t, _)| f != t || *f == FRESH);
    (
        proptest::collection::vec((0i64..12).prop_map(|n| n * 100), USERS + 1),
        proptest::collection::vec(moves, 1..48),
    )
}

#[sqlx::test]
async fn a_batch_posts_exactly_what_one_by_one_posts(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let db = ledger.db.clone();
    let treasury = Account::User(address(&ledger.treasury));
    let mut runner = TestRunner::deterministic();
    let strategy = case_strategy();
    let mut refused_seen = 0;
    for case in 0..40 {
        let (funding, moves) = strategy.new_tree(&mut runner).unwrap().current();
        let (batched, single) = (World::new(1000 + 2 * case), World::new(1001 + 2 * case));
        fund(&db, treasury, &batched, &funding).await;
        fund(&db, treasury, &single, &funding).await;
        let (mut fresh_batched, mut fresh_single) = (Vec::new(), Vec::new());
        let batch = batched.entries(&moves, &mut fresh_batched);
        let singles = single.entries(&moves, &mut fresh_single);

        let mut tx = db.begin().await.unwrap();
        let refs: Vec<&BatchEntry> = batch.iter().collect();
        let outcomes = post_all(&mut tx, &refs).await.unwrap();
        tx.commit().await.unwrap();
        let mut one_by_one = Vec::new();
        for entry in &singles {
            one_by_one.push(post_one(&db, entry).await);
        }
        let outcomes: Vec<Result<(), String>> = outcomes
            .into_iter()
            .map(|o| o.map(|_| ()).map_err(|e| format!("{} {e}", e.code())))
            .collect();
        // Refusal texts name the account; compare them with the names swapped.
        let renamed: Vec<Result<(), String>> = one_by_one
            .iter()
            .map(|o| {
                o.clone()
                    .map_err(|e| rename(&e, &single, &batched, &fresh_single, &fresh_batched))
            })
            .collect();
        assert_eq!(outcomes, renamed, "case {case}: {moves:?}");
        refused_seen += outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(
            balances(&db, &batched.all()).await,
            balances(&db, &single.all()).await,
            "case {case}: {moves:?}"
        );
        assert_eq!(
            balances(&db, &fresh_batched).await,
            balances(&db, &fresh_single).await,
            "case {case}: fresh accounts (a refused credit leaves no row)"
        );
    }
    assert!(
        refused_seen > 10,
        "the cases refuse entries too ({refused_seen})"
    );
    let report = wal::ledger::audit::run(&db).await.unwrap();
    assert!(report.ok, "{report:?}");
}

fn rename(
    text: &str,
    from: &World,
    to: &World,
    fresh_from: &[Account],
    fresh_to: &[Account],
) -> String {
    let mut text = text.to_owned();
    let pairs = from.all().into_iter().zip(to.all());
    for (a, b) in pairs.chain(fresh_from.iter().copied().zip(fresh_to.iter().copied())) {
        text = text.replace(&a.key(), &b.key());
    }
    text
}
