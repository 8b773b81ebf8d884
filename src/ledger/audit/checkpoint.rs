//! Advancing the audit's checkpoint: the entries posted since it, once every
//! transaction that could still add to them has ended, are verified (balanced, with
//! lines) and their lines added to the checkpoint's sums. Each entry is verified once,
//! so the audit's cost is that of the entries since the last advance.

use sqlx::PgPool;

/// Serialises advances: two at once would count the same entries twice.
const ADVANCE_LOCK: i64 = 0x5741_4c41_5544_4954; // "WALAUDIT"

/// What one advance covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    /// Entries newly covered.
    pub entries: i64,
    /// Of them, entries whose lines do not sum to zero or that have none.
    pub faults: i64,
}

/// Covers every entry whose transaction is older than every transaction still running
/// in this database. Transactions are numbered across the whole PostgreSQL cluster, so
/// those running in another database (found in `pg_stat_activity`) are passed over:
/// they cannot write this journal, and a long one elsewhere must not hold the
/// checkpoint back. A transaction whose database cannot be told holds it back.
pub async fn advance(pool: &PgPool) -> Result<Advance, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The first advance after an upgrade takes in the whole journal (10 million lines:
    // about a minute here), longer than the statement timeout of requests; it reads the
    // journal and writes only the checkpoint, so it blocks no writer meanwhile.
    sqlx::query("SET LOCAL statement_timeout = '30min'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", ADVANCE_LOCK)
        .execute(&mut *tx)
        .await?;
    // READ COMMITTED: this statement's snapshot is taken after the lock, so it sees
    // the checkpoint the previous advance committed. The entries it covers are all
    // final, so they are the same set whatever snapshot reads them.
    let row = sqlx::query!(
        r#"WITH ck AS (SELECT through_xid FROM audit_checkpoint WHERE id = 1),
                running AS (SELECT x FROM pg_snapshot_xip(pg_current_snapshot()) x
                            WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                WHERE a.datname IS DISTINCT FROM current_database()
                                  AND a.backend_xid::text::bigint = (x::text::numeric % 4294967296)::bigint)),
                mark AS (SELECT greatest(ck.through_xid, coalesce((SELECT min(x) FROM running),
                                         pg_snapshot_xmax(pg_current_snapshot()))) AS xmin FROM ck),
                batch AS (SELECT e.id FROM journal_entries e, ck, mark
                          WHERE e.created_xid >= ck.through_xid AND e.created_xid < mark.xmin),
                lines AS (SELECT l.entry_id, l.account, l.stripe, l.amount
                          FROM journal_lines l JOIN batch b ON b.id = l.entry_id),
                added AS (INSERT INTO audit_totals (account, stripe, total)
                          SELECT account, stripe, sum(amount) FROM lines GROUP BY account, stripe
                          ON CONFLICT (account, stripe)
                          DO UPDATE SET total = audit_totals.total + excluded.total
                          RETURNING 1),
                counts AS (SELECT
                    (SELECT count(*) FROM batch) AS entries,
                    (SELECT count(*) FROM (SELECT entry_id FROM lines GROUP BY entry_id
                                           HAVING sum(amount) <> 0) u) AS unbalanced,
                    (SELECT count(*) FROM batch b
                       WHERE NOT EXISTS (SELECT 1 FROM lines l WHERE l.entry_id = b.id)) AS without_lines,
                    (SELECT count(*) FROM added) AS totals_written)
           UPDATE audit_checkpoint c SET
               through_xid = (SELECT xmin FROM mark),
               entries = c.entries + counts.entries,
               unbalanced = c.unbalanced + counts.unbalanced,
               without_lines = c.without_lines + counts.without_lines,
               advanced_at = now()
           FROM counts WHERE c.id = 1
           RETURNING counts.entries AS "entries!", counts.unbalanced + counts.without_lines AS "faults!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Advance {
        entries: row.entries,
        faults: row.faults,
    })
}

/// Advances the checkpoint every `every`, for as long as the process runs.
pub fn spawn(pool: PgPool, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match advance(&pool).await {
                Ok(advance) if advance.faults > 0 => {
                    tracing::error!(?advance, "AUDIT: journal entries that do not balance");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "advancing the audit checkpoint failed"),
            }
        }
    });
}
