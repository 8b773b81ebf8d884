//! The network's stake totals (`GET /v1/stats`, the explorer's front page).

use sqlx::PgConnection;

use crate::error::Error;
use crate::money::Wal;

/// Every registered node's pool WAL and pending stake, summed: (nodes, active, pending).
/// One index lookup per node and account, never a scan of the balances.
pub async fn stake_totals(conn: &mut PgConnection) -> Result<(i64, Wal, Wal), Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "nodes!",
                  coalesce(sum((SELECT sum(b.balance) FROM balances b
                                WHERE b.account = $1 || n.id::text)), 0) AS "active!",
                  coalesce(sum((SELECT sum(b.balance) FROM balances b
                                WHERE b.account = $2 || n.id::text)), 0) AS "pending!"
           FROM nodes n"#,
        crate::ledger::account::POOL_PREFIX,
        crate::ledger::account::PENDING_PREFIX
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        row.nodes,
        Wal::from_decimal_unchecked(row.active),
        Wal::from_decimal_unchecked(row.pending),
    ))
}
