//! The ledger when its database goes away: a connection the server terminates (as a
//! restart does, SQLSTATE 57P01) is `503 UNAVAILABLE` with `Retry-After`, never a 500;
//! `/ready` answers within a second while no connection can be made, and the ledger
//! is ready again by itself once connections are allowed back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::TestLedger;
use sqlx::{Connection, PgConnection, PgPool};

/// A connection to the server's `postgres` database, to act on the test's database
/// from outside it.
async fn admin(db: &PgPool) -> PgConnection {
    let url = common::database_url_of(db);
    let server = url.rsplit_once('/').unwrap().0;
    PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap()
}

fn database_name(db: &PgPool) -> String {
    db.connect_options().get_database().unwrap().to_owned()
}

/// Closes (or opens) the test's database to new connections and ends every
/// connection to it but the admin's: the database as a client sees it mid-restart.
async fn set_database_open(admin: &mut PgConnection, name: &str, open: bool) {
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {open}"
    ))
    .execute(&mut *admin)
    .await
    .unwrap();
    if !open {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .execute(&mut *admin)
        .await
        .unwrap();
    }
}

#[sqlx::test]
async fn a_terminated_connection_is_unavailable_not_internal(db: PgPool) {
    let mut victim = db.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *victim)
        .await
        .unwrap();
    let mut admin = admin(&db).await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await
        .unwrap();
    let failed = sqlx::query("SELECT 1")
        .execute(&mut *victim)
        .await
        .expect_err("the server ended this connection");
    assert!(wal::error::database_unavailable(&failed), "{failed:?}");
    let error = wal::error::Error::from(failed);
    assert_eq!(error.status().as_u16(), 503, "{error}");
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[sqlx::test]
async fn ready_answers_within_a_second_while_the_database_is_gone(db: PgPool) {
    let name = database_name(&db);
    let ledger = TestLedger::start(db.clone()).await;
    let ready = || reqwest::get(format!("{}/ready", ledger.url));
    assert_eq!(ready().await.unwrap().status().as_u16(), 200);
    let mut admin = admin(&db).await;
    set_database_open(&mut admin, &name, false).await;
    for _ in 0..3 {
        let started = Instant::now();
        let answer = ready().await.unwrap();
        let took = started.elapsed();
        assert_eq!(answer.status().as_u16(), 503);
        assert_eq!(answer.headers()["retry-after"], "1");
        assert!(took < Duration::from_secs(1), "/ready took {took:?}");
    }
    // Back: the ledger is ready again without a restart.
    set_database_open(&mut admin, &name, true).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready().await.unwrap().status().as_u16() != 200 {
        assert!(Instant::now() < deadline, "not ready again within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ledger.stop().await;
}
