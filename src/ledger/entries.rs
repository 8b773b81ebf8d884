//! Reading accounts: balances and journal lines, newest first, in cursor pages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::Error;
use crate::money::Wal;

/// One journal entry as seen from one account.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccountEntry {
    /// The journal entry's id (ids only grow; a page's `next_cursor` is its last one).
    pub entry_id: String,
    /// What the entry records, as its snake_case kind (`transfer`, `stake`, `epoch_rewards`...).
    pub kind: String,
    /// The epoch that was current when the entry was posted.
    pub epoch: i64,
    /// The account's net change: positive received, negative sent.
    #[schema(value_type = String)]
    pub amount: String,
    /// The other account, when the entry moved WAL between exactly two accounts.
    pub counterparty: Option<String>,
    /// Address of the signer whose request caused the entry; null for the ledger's own entries
    /// (genesis, epoch changes).
    pub actor: Option<String>,
    /// Free text kept with the entry: a transfer's memo, or the ledger's note of what it did.
    pub memo: Option<String>,
    /// When the entry was posted.
    pub created_at: DateTime<Utc>,
}

/// A page of `GET /v1/accounts/{address}/entries`, newest first.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EntriesPage {
    /// The account's key: its lowercase address, or a system account's `sys:` name.
    pub address: String,
    /// At most `limit` of the account's entries, newest first.
    pub entries: Vec<AccountEntry>,
    /// Pass as `?cursor=` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Up to `limit` of the account's entries below `before_entry_id`, newest first. Entry
/// ids only grow, so a page that continues below a cursor is stable under concurrent
/// inserts.
pub async fn page(
    conn: &mut PgConnection,
    account_key: &str,
    before_entry_id: i64,
    limit: i64,
) -> Result<Vec<AccountEntry>, Error> {
    let rows = sqlx::query!(
        r#"SELECT l.entry_id, e.kind, e.epoch, e.actor, e.memo, e.created_at,
                  sum(l.amount) AS "amount!",
                  (SELECT min(o.account) FROM journal_lines o
                   WHERE o.entry_id = l.entry_id AND o.account <> l.account
                   HAVING count(DISTINCT o.account) = 1) AS counterparty
           FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
           WHERE l.account = $1 AND l.entry_id < $2
           GROUP BY l.entry_id, l.account, e.id
           ORDER BY l.entry_id DESC
           LIMIT $3"#,
        account_key,
        before_entry_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    let entries = rows
        .into_iter()
        .map(|r| AccountEntry {
            entry_id: r.entry_id.to_string(),
            kind: r.kind,
            epoch: r.epoch,
            amount: Wal::from_decimal_unchecked(r.amount).to_string(),
            counterparty: r.counterparty,
            actor: r.actor,
            memo: r.memo,
            created_at: r.created_at,
        })
        .collect();
    Ok(entries)
}
