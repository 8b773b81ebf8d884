//! The audit: the ledger's invariants, checked on one consistent snapshot.
//!
//! Its cost does not grow with the journal: the journal's checks (2 and 4) run over
//! the entries posted since the checkpoint (`checkpoint`), added to the sums the
//! checkpoint keeps of every entry before; the other checks read the balances, stakes
//! and proposals, whose size follows the accounts, not the journal. `run_full` checks
//! the whole journal and the checkpoint itself, for the operator (`wal-ledger audit
//! --full`).
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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use super::account::{Account, SystemAccount, GOV_DEPOSITS_KEY, ISSUANCE_KEY, PENDING_PREFIX};
use crate::error::Error;
use crate::money::Wal;

pub mod checkpoint;

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
    /// Of them, the entries the checkpoint covers (verified by an earlier advance).
    pub checkpointed_entries: i64,
    /// Of them, the entries posted since the checkpoint, verified by this audit.
    pub tail_entries: i64,
    /// Whether this audit read the whole journal (`wal-ledger audit --full`) rather
    /// than the tail and the checkpoint.
    pub full: bool,
    /// Full audits only: the checkpoint's sums (per account and stripe, and its count
    /// of entries) that disagree with the journal it covers; 0 otherwise.
    pub checkpoint_mismatches: i64,
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
    /// When the snapshot was read (after the request: callers share runs, a second apart).
    pub checked_at: DateTime<Utc>,
}

/// The journal's checks, incremental or full.
struct JournalChecks {
    unbalanced: i64,
    without_lines: i64,
    mismatches: i64,
    checkpointed: i64,
    tail: i64,
    checkpoint_mismatches: i64,
}

/// Checks every invariant on one read-only snapshot (it never blocks writers), the
/// journal from its checkpoint on; logs an error if one fails; `Unavailable` before
/// genesis.
pub async fn run(pool: &PgPool) -> Result<AuditReport, Error> {
    let mut tx = snapshot(pool).await?;
    let journal = journal_since_checkpoint(&mut tx).await?;
    finish(tx, journal, false).await
}

/// `run`, reading the whole journal instead of the checkpoint, and checking the
/// checkpoint against it: for the operator, after a restore or on suspicion.
pub async fn run_full(pool: &PgPool) -> Result<AuditReport, Error> {
    let mut tx = snapshot(pool).await?;
    // Its cost grows with the journal (25 s at 10 million lines here): more than the
    // statement timeout of requests, and it runs for the operator, not for a request.
    sqlx::query("SET LOCAL statement_timeout = '30min'")
        .execute(&mut *tx)
        .await?;
    let journal = whole_journal(&mut tx).await?;
    finish(tx, journal, true).await
}

/// One snapshot for every query, and read-only: the audit never blocks writers.
async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

async fn journal_since_checkpoint(
    tx: &mut Transaction<'static, Postgres>,
) -> Result<JournalChecks, Error> {
    let row = sqlx::query!(
        r#"WITH ck AS (SELECT through_xid, entries, unbalanced, without_lines
                       FROM audit_checkpoint WHERE id = 1),
                tail AS (SELECT e.id FROM journal_entries e, ck WHERE e.created_xid >= ck.through_xid),
                tail_lines AS (SELECT l.entry_id, l.account, l.stripe, l.amount
                               FROM journal_lines l JOIN tail t ON t.id = l.entry_id),
                totals AS (SELECT account, stripe, sum(total) AS total FROM (
                               SELECT account, stripe, total FROM audit_totals
                               UNION ALL SELECT account, stripe, amount FROM tail_lines) x
                           GROUP BY account, stripe)
           SELECT
             (SELECT entries FROM ck) AS "checkpointed!",
             (SELECT count(*) FROM tail) AS "tail!",
             (SELECT unbalanced FROM ck) + (SELECT count(*) FROM (SELECT entry_id FROM tail_lines
                GROUP BY entry_id HAVING sum(amount) <> 0) u) AS "unbalanced!",
             (SELECT without_lines FROM ck) + (SELECT count(*) FROM tail t
                WHERE NOT EXISTS (SELECT 1 FROM tail_lines l WHERE l.entry_id = t.id)) AS "without_lines!",
             (SELECT count(*) FROM balances b FULL JOIN totals j USING (account, stripe)
                WHERE coalesce(b.balance, 0) <> coalesce(j.total, 0)) AS "mismatches!""#
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(JournalChecks {
        unbalanced: row.unbalanced,
        without_lines: row.without_lines,
        mismatches: row.mismatches,
        checkpointed: row.checkpointed,
        tail: row.tail,
        checkpoint_mismatches: 0,
    })
}

async fn whole_journal(tx: &mut Transaction<'static, Postgres>) -> Result<JournalChecks, Error> {
    let row = sqlx::query!(
        r#"WITH ck AS (SELECT through_xid, entries FROM audit_checkpoint WHERE id = 1),
                covered AS (SELECT l.account, l.stripe, sum(l.amount) AS total
                            FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id, ck
                            WHERE e.created_xid < ck.through_xid GROUP BY l.account, l.stripe),
                covered_entries AS (SELECT count(*) AS n FROM journal_entries e, ck
                                    WHERE e.created_xid < ck.through_xid)
           SELECT
             (SELECT n FROM covered_entries) AS "checkpointed!",
             (SELECT count(*) FROM journal_entries) - (SELECT n FROM covered_entries) AS "tail!",
             (SELECT count(*) FROM (SELECT entry_id FROM journal_lines GROUP BY entry_id
                HAVING sum(amount) <> 0) u) AS "unbalanced!",
             (SELECT count(*) FROM journal_entries e
                WHERE NOT EXISTS (SELECT 1 FROM journal_lines l WHERE l.entry_id = e.id)) AS "without_lines!",
             (SELECT count(*) FROM balances b
                FULL JOIN (SELECT account, stripe, sum(amount) AS total FROM journal_lines
                           GROUP BY account, stripe) j USING (account, stripe)
                WHERE coalesce(b.balance, 0) <> coalesce(j.total, 0)) AS "mismatches!",
             (SELECT count(*) FROM audit_totals t FULL JOIN covered c USING (account, stripe)
                WHERE coalesce(t.total, 0) <> coalesce(c.total, 0))
               + CASE WHEN (SELECT entries FROM ck) = (SELECT n FROM covered_entries) THEN 0 ELSE 1 END
               AS "checkpoint_mismatches!""#
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(JournalChecks {
        unbalanced: row.unbalanced,
        without_lines: row.without_lines,
        mismatches: row.mismatches,
        checkpointed: row.checkpointed,
        tail: row.tail,
        checkpoint_mismatches: row.checkpoint_mismatches,
    })
}

/// The checks that read balances, stakes and proposals, not the journal.
struct StateChecks {
    total_supply: rust_decimal::Decimal,
    sum_of_balances: rust_decimal::Decimal,
    issuance: rust_decimal::Decimal,
    burned: rust_decimal::Decimal,
    negative: i64,
    accounts: i64,
    stake_mismatches: i64,
    gov_deposits: rust_decimal::Decimal,
    voting_deposits: rust_decimal::Decimal,
    checked_at: DateTime<Utc>,
}

/// The state checks in the journal checks' snapshot, then the report.
async fn finish(
    mut tx: Transaction<'static, Postgres>,
    journal: JournalChecks,
    full: bool,
) -> Result<AuditReport, Error> {
    let state = state_checks(&mut tx).await?;
    tx.commit().await?;
    let report = report(&state, &journal, full);
    if !report.ok {
        tracing::error!(?report, "AUDIT FAILED");
    }
    Ok(report)
}

async fn state_checks(tx: &mut Transaction<'static, Postgres>) -> Result<StateChecks, Error> {
    let row = sqlx::query!(
        r#"SELECT
             (SELECT total_supply FROM network) AS total_supply,
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account <> $1) AS "sum_of_balances!",
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $1) AS "issuance!",
             (SELECT coalesce(sum(balance), 0) FROM balances WHERE account = $2) AS "burned!",
             (SELECT count(*) FROM balances WHERE balance < 0 AND account <> $1) AS "negative!",
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
             (SELECT coalesce(sum(deposit), 0) FROM proposals WHERE status = 'voting') AS "voting_deposits!",
             now() AS "checked_at!""#,
        ISSUANCE_KEY,
        Account::System(SystemAccount::Burn).key(),
        PENDING_PREFIX,
        GOV_DEPOSITS_KEY
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(StateChecks {
        total_supply: row
            .total_supply
            .ok_or_else(|| Error::Unavailable("the ledger has no genesis yet".into()))?,
        sum_of_balances: row.sum_of_balances,
        issuance: row.issuance,
        burned: row.burned,
        negative: row.negative,
        accounts: row.accounts,
        stake_mismatches: row.stake_mismatches,
        gov_deposits: row.gov_deposits,
        voting_deposits: row.voting_deposits,
        checked_at: row.checked_at,
    })
}

fn report(state: &StateChecks, journal: &JournalChecks, full: bool) -> AuditReport {
    let ok = state.sum_of_balances == state.total_supply
        && state.issuance == -state.total_supply
        && journal.unbalanced == 0
        && journal.without_lines == 0
        && state.negative == 0
        && journal.mismatches == 0
        && journal.checkpoint_mismatches == 0
        && state.stake_mismatches == 0
        && state.gov_deposits == state.voting_deposits;
    AuditReport {
        ok,
        total_supply: Wal::from_decimal_unchecked(state.total_supply),
        sum_of_balances: Wal::from_decimal_unchecked(state.sum_of_balances),
        issuance_balance: Wal::from_decimal_unchecked(state.issuance).to_string(),
        unbalanced_entries: journal.unbalanced,
        entries_without_lines: journal.without_lines,
        negative_balances: state.negative,
        balance_mismatches: journal.mismatches,
        journal_entries: journal.checkpointed + journal.tail,
        checkpointed_entries: journal.checkpointed,
        tail_entries: journal.tail,
        full,
        checkpoint_mismatches: journal.checkpoint_mismatches,
        accounts: state.accounts,
        stake_mismatches: state.stake_mismatches,
        burned: Wal::from_decimal_unchecked(state.burned),
        gov_deposits: Wal::from_decimal_unchecked(state.gov_deposits),
        voting_deposits: Wal::from_decimal_unchecked(state.voting_deposits),
        checked_at: state.checked_at,
    }
}
