//! The audit: the ledger's invariants, checked on one consistent snapshot.
//!
//! 1. The sum of all balances except the issuance account equals the total supply,
//!    and the issuance account holds exactly minus the supply.
//! 2. Every journal entry balances (its lines sum to zero) and has lines.
//! 3. No account except issuance is negative.
//! 4. Every balance row equals the sum of the journal lines written to it: nothing
//!    but the journal changed a balance.
//! 5. Staking: each node's pending account holds exactly the principal of its stakes
//!    made this epoch and not withdrawn, and the shares its active stakes hold (each
//!    computed from its activation rate) never exceed the pool's shares.
//! 6. Governance: `sys:gov:deposits` holds exactly the deposits of the proposals still
//!    voting.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::account::{Account, SystemAccount, GOV_DEPOSITS_KEY, ISSUANCE_KEY, PENDING_PREFIX};
use crate::error::Error;
use crate::money::Wal;

/// What `GET /v1/audit` returns: the invariants of the module docs, checked on one
/// snapshot, with the counts behind them; `ok` needs every count of faults to be 0.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditReport {
    /// Whether every invariant holds.
    pub ok: bool,
    /// WAL minted at genesis: the network's fixed total supply.
    pub total_supply: Wal,
    /// Sum of every balance but the issuance account's; equals `total_supply` when sound.
    pub sum_of_balances: Wal,
    /// Balance of the genesis issuance account; always minus the supply.
    #[schema(value_type = String)]
    pub issuance_balance: String,
    /// Journal entries whose lines do not sum to zero.
    pub unbalanced_entries: i64,
    /// Journal entries that have no lines.
    pub entries_without_lines: i64,
    /// Balance rows (stripes) below zero, the issuance account's excepted.
    pub negative_balances: i64,
    /// Balance rows that differ from the sum of their journal lines.
    pub balance_mismatches: i64,
    /// Journal entries written since genesis.
    pub journal_entries: i64,
    /// Distinct accounts that have a balance row.
    pub accounts: i64,
    /// Nodes whose pending account or pool shares disagree with their stakes.
    pub stake_mismatches: i64,
    /// WAL in the burn account: everything burned since genesis (it stays in the supply).
    pub burned: Wal,
    /// WAL in `sys:gov:deposits`; equals `voting_deposits` when sound.
    pub gov_deposits: Wal,
    /// The deposits of the proposals still voting.
    pub voting_deposits: Wal,
}

/// Checks every invariant on one read-only snapshot (it never blocks writers) and logs
/// an error if one fails; `Unavailable` before genesis.
pub async fn run(pool: &PgPool) -> Result<AuditReport, Error> {
    let mut tx = pool.begin().await?;
    // One snapshot for every query, and read-only: the audit never blocks writers.
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query!(
        r#"SELECT
             (SELECT total_supply FROM network) AS total_supply,
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account <> $1) AS "sum_of_balances!",
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $1) AS "issuance!",
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $2) AS "burned!",
             (SELECT count(*) FROM (SELECT entry_id FROM journal_lines GROUP BY entry_id
                                    HAVING sum(amount) <> 0) u) AS "unbalanced!",
             (SELECT count(*) FROM journal_entries e
                WHERE NOT EXISTS (SELECT 1 FROM journal_lines l WHERE l.entry_id = e.id)) AS "without_lines!",
             (SELECT count(*) FROM balances WHERE balance < 0 AND account <> $1) AS "negative!",
             (SELECT count(*) FROM balances b
                FULL JOIN (SELECT account, stripe, sum(amount) AS total FROM journal_lines
                           GROUP BY account, stripe) j USING (account, stripe)
                WHERE coalesce(b.balance, 0) <> coalesce(j.total, 0)) AS "mismatches!",
             (SELECT count(*) FROM journal_entries) AS "entries!",
             (SELECT count(DISTINCT account) FROM balances) AS "accounts!",
             (SELECT count(*) FROM nodes n WHERE
                (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $3::text || n.id)
                  <> (SELECT coalesce(sum(principal), 0) FROM stakes s
                      WHERE s.node_id = n.id AND s.withdraw_epoch IS NULL
                        AND s.staked_epoch = (SELECT max(epoch) FROM epochs))
                OR n.pool_shares < (SELECT coalesce(sum(coalesce(s.shares,
                      CASE WHEN r.wal = 0 OR r.shares = 0 THEN s.principal * 1000000000
                           ELSE div(s.principal * r.shares, r.wal) END)), 0)
                    FROM stakes s JOIN pool_rates r ON r.node_id = s.node_id AND r.epoch = s.staked_epoch + 1
                    WHERE s.node_id = n.id AND s.withdrawn_amount IS NULL)) AS "stake_mismatches!",
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $4) AS "gov_deposits!",
             (SELECT coalesce(sum(deposit), 0) FROM proposals WHERE status = 'voting') AS "voting_deposits!""#,
        ISSUANCE_KEY,
        Account::System(SystemAccount::Burn).key(),
        PENDING_PREFIX,
        GOV_DEPOSITS_KEY
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let total_supply = row
        .total_supply
        .ok_or_else(|| Error::Unavailable("the ledger has no genesis yet".into()))?;
    let ok = row.sum_of_balances == total_supply
        && row.issuance == -total_supply
        && row.unbalanced == 0
        && row.without_lines == 0
        && row.negative == 0
        && row.mismatches == 0
        && row.stake_mismatches == 0
        && row.gov_deposits == row.voting_deposits;
    let report = AuditReport {
        ok,
        total_supply: Wal::from_decimal_unchecked(total_supply),
        sum_of_balances: Wal::from_decimal_unchecked(row.sum_of_balances),
        issuance_balance: Wal::from_decimal_unchecked(row.issuance).to_string(),
        unbalanced_entries: row.unbalanced,
        entries_without_lines: row.without_lines,
        negative_balances: row.negative,
        balance_mismatches: row.mismatches,
        journal_entries: row.entries,
        accounts: row.accounts,
        stake_mismatches: row.stake_mismatches,
        burned: Wal::from_decimal_unchecked(row.burned),
        gov_deposits: Wal::from_decimal_unchecked(row.gov_deposits),
        voting_deposits: Wal::from_decimal_unchecked(row.voting_deposits),
    };
    if !report.ok {
        tracing::error!(?report, "AUDIT FAILED");
    }
    Ok(report)
}
