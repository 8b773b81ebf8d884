//! The network's stored totals (`/v1/stats`: blobs stored, their bytes and encoded
//! bytes) are kept by triggers on `contracts` as contracts are bought, certified,
//! extended and deleted; they must always equal what counting the contracts gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{PgConnection, PgPool};

/// The totals counted from the contracts themselves: each blob once, if one of its
/// certified, undeleted contracts ends after `epoch`.
async fn counted(conn: &mut PgConnection, epoch: i64) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*), coalesce(sum(size), 0)::bigint, coalesce(sum(encoded_size), 0)::bigint
         FROM (SELECT DISTINCT ON (blob_id) blob_id, size, encoded_size FROM contracts
               WHERE certified_epoch IS NOT NULL AND deleted_epoch IS NULL
                 AND end_epoch > $1) stored",
    )
    .bind(epoch)
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn assert_totals_match(conn: &mut PgConnection, step: &str) {
    for epoch in 0..12 {
        let kept = wal::storage::contracts::stored_totals(conn, epoch)
            .await
            .unwrap();
        assert_eq!(
            kept,
            counted(conn, epoch).await,
            "epoch {epoch} after {step}"
        );
    }
}

fn blob_id(blob: u8) -> String {
    format!("{blob:064x}")
}

/// A contract for `blob` (its size follows from it), certified or not.
async fn buy(conn: &mut PgConnection, blob: u8, end_epoch: i64, certified: bool) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO contracts (owner, blob_id, metadata, size, encoded_size, storage_units,
                                start_epoch, end_epoch, deletable, paid, certified_epoch)
         VALUES ('owner', $1, '{}'::jsonb, $2, 5 * $2, 1, 0, $3, true, 1,
                 CASE WHEN $4 THEN 0 END)
         RETURNING id",
    )
    .bind(blob_id(blob))
    .bind(1000 * (i64::from(blob) + 1))
    .bind(end_epoch)
    .bind(certified)
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn run(conn: &mut PgConnection, sql: &str, id: i64, value: i64) {
    sqlx::query(sql)
        .bind(id)
        .bind(value)
        .execute(conn)
        .await
        .unwrap();
}

/// One random change of the contracts, as the ledger's writers make them (and a fold).
async fn random_step(conn: &mut PgConnection, rng: &mut StdRng, ids: &mut Vec<i64>) -> String {
    let pick = |rng: &mut StdRng, ids: &[i64]| ids[rng.gen_range(0..ids.len())];
    match rng.gen_range(0..6) {
        0 | 1 if ids.len() < 40 => {
            let (blob, end, certified) = (rng.gen_range(0..6), rng.gen_range(1..10), rng.gen());
            ids.push(buy(conn, blob, end, certified).await);
            format!("buying for blob {blob} to {end} (certified: {certified})")
        }
        0..=2 if !ids.is_empty() => {
            let id = pick(rng, ids);
            let sql = "UPDATE contracts SET certified_epoch = $2 WHERE id = $1";
            run(conn, sql, id, 0).await;
            format!("certifying {id}")
        }
        3 if !ids.is_empty() => {
            let (id, by) = (pick(rng, ids), rng.gen_range(1..4));
            let sql = "UPDATE contracts SET end_epoch = end_epoch + $2 WHERE id = $1";
            run(conn, sql, id, by).await;
            format!("extending {id} by {by}")
        }
        4 if !ids.is_empty() => {
            let id = pick(rng, ids);
            let sql = "UPDATE contracts SET deleted_epoch = $2 WHERE id = $1";
            run(conn, sql, id, 1).await;
            format!("deleting {id}")
        }
        _ => {
            sqlx::query("SELECT stored_blob_changes_fold()")
                .execute(conn)
                .await
                .unwrap();
            "folding".to_owned()
        }
    }
}

#[sqlx::test]
async fn totals_follow_every_change_of_the_contracts(db: PgPool) {
    let mut conn = db.acquire().await.unwrap();
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ids = Vec::new();
        for i in 0..120 {
            let step = random_step(&mut conn, &mut rng, &mut ids).await;
            assert_totals_match(&mut conn, &format!("seed {seed} step {i}: {step}")).await;
        }
        // A statement that changes many contracts at once (several of the same blob).
        sqlx::query("UPDATE contracts SET certified_epoch = 0, end_epoch = end_epoch + 1")
            .execute(&mut *conn)
            .await
            .unwrap();
        assert_totals_match(&mut conn, &format!("seed {seed}: the bulk update")).await;
        sqlx::query("DELETE FROM contract_slots")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("DELETE FROM contracts")
            .execute(&mut *conn)
            .await
            .unwrap();
        assert_totals_match(&mut conn, &format!("seed {seed}: deleting the rows")).await;
    }
}

/// Two transactions change contracts of the same blob at once: `b`'s change waits for
/// `a`'s blob row, then counts with what `a` committed.
async fn race(db: &PgPool, a: (&'static str, i64, i64), b: (&'static str, i64, i64)) {
    let mut first = db.begin().await.unwrap();
    run(&mut first, a.0, a.1, a.2).await;
    let mut second = db.begin().await.unwrap();
    let waiting = tokio::spawn(async move {
        run(&mut second, b.0, b.1, b.2).await;
        second.commit().await.unwrap();
    });
    common::wait_for_a_lock_wait(db, "the second change (for the blob's row)").await;
    first.commit().await.unwrap();
    waiting.await.unwrap();
}

/// Racing changes of one blob's contracts are counted once each.
#[sqlx::test]
async fn racing_changes_of_one_blob_are_counted_once(db: PgPool) {
    let mut setup = db.acquire().await.unwrap();
    let first = buy(&mut setup, 1, 5, false).await;
    let second = buy(&mut setup, 1, 8, false).await;
    let certify = "UPDATE contracts SET certified_epoch = $2 WHERE id = $1";
    race(&db, (certify, first, 0), (certify, second, 0)).await;
    assert_totals_match(&mut setup, "two certifications at once").await;
    let kept = wal::storage::contracts::stored_totals(&mut setup, 6).await;
    assert_eq!(kept.unwrap(), (1, 2000, 10_000));

    // One deletes the later contract while another extends the earlier one past it.
    let delete = "UPDATE contracts SET deleted_epoch = $2 WHERE id = $1";
    let extend = "UPDATE contracts SET end_epoch = $2 WHERE id = $1";
    race(&db, (delete, second, 1), (extend, first, 10)).await;
    assert_totals_match(&mut setup, "a deletion and an extension at once").await;
    let kept = wal::storage::contracts::stored_totals(&mut setup, 9).await;
    assert_eq!(kept.unwrap(), (1, 2000, 10_000));
}
