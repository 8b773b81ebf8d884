//! A committer's connection, kept from batch to batch while requests keep coming, and
//! the transaction open on it. Taking a connection from the pool for each batch cost a
//! ping and a wait for the pool, and `BEGIN` a round trip of its own: about a third of
//! a batch's time under load. A batch that commits while the next one already waits
//! ends with `COMMIT AND CHAIN`, which opens the next transaction in the same round
//! trip.
//!
//! The transaction is driven by plain `BEGIN` / `COMMIT` statements, which sqlx does not
//! track, so a connection is never handed back to the pool with a transaction open: it
//! is closed instead (`Drop`), and the server rolls back.

use sqlx::pool::PoolConnection;
use sqlx::{Executor, PgConnection, PgPool, Postgres};

use crate::error::Error;

/// The connection and whether a transaction is open on it.
pub(super) struct Session {
    conn: PoolConnection<Postgres>,
    open: bool,
}

/// How a transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Nothing waits: a plain COMMIT or ROLLBACK, no transaction left open.
    Plain,
    /// The next batch waits: a new transaction opens in the same round trip.
    Chain,
}

impl Session {
    /// A connection from the pool (checked by it), no transaction open.
    pub(super) async fn acquire(pool: &PgPool) -> Result<Session, Error> {
        Ok(Session {
            conn: pool.acquire().await?,
            open: false,
        })
    }

    /// Opens a transaction unless a chained one is open already.
    pub(super) async fn begin(&mut self) -> Result<&mut PgConnection, Error> {
        if !self.open {
            // Marked open first: if BEGIN fails midway, the connection is closed.
            self.open = true;
            self.conn.execute("BEGIN").await?;
        }
        Ok(&mut self.conn)
    }

    /// Commits the open transaction. The error is sqlx's: a database error means the
    /// server refused the commit; any other (the connection lost) leaves it unknown
    /// whether it committed (`auth::outcome`).
    pub(super) async fn commit(&mut self, end: End) -> Result<(), sqlx::Error> {
        self.finish(end, "COMMIT", "COMMIT AND CHAIN").await
    }

    /// Rolls back the open transaction.
    pub(super) async fn rollback(&mut self, end: End) -> Result<(), Error> {
        Ok(self.finish(end, "ROLLBACK", "ROLLBACK AND CHAIN").await?)
    }

    /// Ends a chained transaction that no batch used (the queue ran dry after all).
    pub(super) async fn end_unused_chain(&mut self) -> Result<(), Error> {
        if self.open {
            self.rollback(End::Plain).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, end: End, plain: &str, chained: &str) -> Result<(), sqlx::Error> {
        let statement = match end {
            End::Plain => plain,
            End::Chain => chained,
        };
        self.conn.execute(statement).await?;
        self.open = end == End::Chain;
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}
