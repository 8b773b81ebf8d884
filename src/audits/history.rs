//! A node's audit record as the node view shows it: pass rates per epoch, every slash,
//! and the signed evidence of its last failures.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::slashing::Tally;
use crate::error::Error;
use crate::money::Wal;

/// A node's audit results in one epoch: how many challenges it got and how each ended.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EpochAudit {
    /// The epoch the challenges were recorded in.
    pub epoch: i64,
    /// Challenges recorded for the node in that epoch, of every outcome.
    pub challenges: i64,
    /// Challenges answered with a chunk and proof that verify (`pass`).
    pub passed: i64,
    /// Challenges answered with a signed wrong chunk or proof (`fail`, kept as evidence).
    pub failed: i64,
    /// Challenges the node had no sliver for, or gave no validly signed answer to (`missing`).
    pub missing: i64,
    /// Challenges not answered in time, even when asked again later in the epoch (`timeout`).
    pub timeout: i64,
    /// Challenges for which the node could not be reached (`unreachable`).
    pub unreachable: i64,
    /// passed / challenges, rounded down to 9 decimals.
    #[schema(value_type = String)]
    pub pass_rate: Decimal,
}

/// One slash of the node at an epoch change: the audits that caused it and the WAL it took.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SlashRecord {
    /// The epoch whose audits caused the slash (applied when that epoch closed).
    pub epoch: i64,
    /// Challenges recorded for the node in that epoch.
    pub challenges: i32,
    /// Of those, the challenges it passed.
    pub passed: i32,
    /// passed / challenges, rounded down to 9 decimals; a decimal string in JSON.
    #[schema(value_type = String)]
    pub pass_rate: Decimal,
    /// WAL taken from the node's pool: `slash_rate` of it, rounded down to the FROST.
    pub pool_slashed: Wal,
    /// WAL taken from the operator: the whole unclaimed commission.
    pub commission_slashed: Wal,
    /// WAL burned: half of the slashed total, rounded up to the FROST.
    pub burned: Wal,
    /// WAL paid into the subsidy pool: half of the slashed total, rounded down.
    pub to_subsidy_pool: Wal,
    /// Set if the pass rate was below `jail_threshold`: the first epoch the node may rejoin
    /// the committee.
    pub jailed_until_epoch: Option<i64>,
}

/// A recorded `fail`: the challenge and the node's signed wrong answer, which anyone can
/// check against the blob's metadata.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FailureEvidence {
    /// The epoch the result was recorded in.
    pub epoch: i64,
    /// The challenge's id: its nonce, 64 hex digits.
    pub challenge_id: String,
    /// The challenged blob's id: 64 lowercase hex digits.
    pub blob_id: String,
    /// The challenged shard (sliver index), one the node held in that epoch.
    pub shard: i32,
    /// The index of the challenged chunk within the sliver.
    pub chunk: i32,
    /// The node's signed answer, `{chunk, siblings, signature}` in hex, as the ledger verified
    /// it before recording the result.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// A node's audit record: the last 20 epochs it was audited in, every slash, and the
/// evidence of its last 20 failures.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeAudits {
    /// The node's id, as a decimal string.
    pub node_id: String,
    /// The first epoch the node may rejoin the committee after its latest jailing (it may
    /// be past); `None` if it was never jailed.
    pub jailed_until_epoch: Option<i64>,
    /// The last 20 epochs the node was audited in, newest first.
    pub epochs: Vec<EpochAudit>,
    /// Every slash of the node, newest first.
    pub slashes: Vec<SlashRecord>,
    /// The evidence of the node's last 20 `fail` results, newest first.
    pub failures: Vec<FailureEvidence>,
}

/// Reads the audit record of node `node_id`; `jailed_until_epoch` is the node's own, passed
/// through.
pub async fn node_audits(
    conn: &mut PgConnection,
    node_id: i64,
    jailed_until_epoch: Option<i64>,
) -> Result<NodeAudits, Error> {
    Ok(NodeAudits {
        node_id: node_id.to_string(),
        jailed_until_epoch,
        epochs: audited_epochs(conn, node_id).await?,
        slashes: slash_records(conn, node_id).await?,
        failures: last_failures(conn, node_id).await?,
    })
}

/// The last 20 epochs the node was audited in, newest first.
async fn audited_epochs(conn: &mut PgConnection, node_id: i64) -> Result<Vec<EpochAudit>, Error> {
    sqlx::query!(
        r#"SELECT epoch, count(*) AS "challenges!",
                  count(*) FILTER (WHERE outcome = 'pass') AS "passed!",
                  count(*) FILTER (WHERE outcome = 'fail') AS "failed!",
                  count(*) FILTER (WHERE outcome = 'missing') AS "missing!",
                  count(*) FILTER (WHERE outcome = 'timeout') AS "timeout!",
                  count(*) FILTER (WHERE outcome = 'unreachable') AS "unreachable!"
           FROM audit_results WHERE node_id = $1
           GROUP BY epoch ORDER BY epoch DESC LIMIT 20"#,
        node_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(EpochAudit {
            epoch: r.epoch,
            challenges: r.challenges,
            passed: r.passed,
            failed: r.failed,
            missing: r.missing,
            timeout: r.timeout,
            unreachable: r.unreachable,
            pass_rate: Tally::from_counts(r.challenges, r.passed)?
                .pass_rate()
                .normalize(),
        })
    })
    .collect()
}

/// Every slash of the node, newest first.
async fn slash_records(conn: &mut PgConnection, node_id: i64) -> Result<Vec<SlashRecord>, Error> {
    Ok(sqlx::query!(
        r#"SELECT epoch, challenges, passed, pass_rate, pool_slashed, commission_slashed,
                  burned, to_subsidy_pool, jailed_until_epoch
           FROM slashes WHERE node_id = $1 ORDER BY epoch DESC"#,
        node_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| SlashRecord {
        epoch: r.epoch,
        challenges: r.challenges,
        passed: r.passed,
        pass_rate: r.pass_rate.normalize(),
        pool_slashed: Wal::from_decimal_unchecked(r.pool_slashed),
        commission_slashed: Wal::from_decimal_unchecked(r.commission_slashed),
        burned: Wal::from_decimal_unchecked(r.burned),
        to_subsidy_pool: Wal::from_decimal_unchecked(r.to_subsidy_pool),
        jailed_until_epoch: r.jailed_until_epoch,
    })
    .collect())
}

/// The signed evidence of the node's last 20 failures.
async fn last_failures(
    conn: &mut PgConnection,
    node_id: i64,
) -> Result<Vec<FailureEvidence>, Error> {
    Ok(sqlx::query_as!(
        FailureEvidence,
        r#"SELECT epoch, challenge_id, blob_id, shard, chunk, evidence AS "evidence!"
           FROM audit_results WHERE node_id = $1 AND outcome = 'fail'
           ORDER BY epoch DESC, recorded_at DESC LIMIT 20"#,
        node_id
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A node in one epoch: its pool at the epoch's start, its committee seat and its audits.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeEpoch {
    /// The epoch.
    pub epoch: i64,
    /// The pool's WAL at the epoch's start (after the change into it); null for epochs
    /// that began before the ledger kept this history.
    pub pool_wal: Option<Wal>,
    /// The pool's exchange rate at the epoch's start: WAL per 10^9 shares (1 when the
    /// pool began; rewards raise it, slashes lower it), rounded down to 9 decimals.
    #[schema(value_type = Option<String>)]
    pub exchange_rate: Option<Decimal>,
    /// The node's stake when it was chosen into the epoch's committee; null if not in it.
    pub committee_stake: Option<Wal>,
    /// The shards it held in the epoch (0 if not in the committee).
    pub shards: i32,
    /// Challenges recorded for it in the epoch.
    pub challenges: i64,
    /// Of those, passed.
    pub passed: i64,
    /// passed / challenges, rounded down to 9 decimals; null without challenges.
    #[schema(value_type = Option<String>)]
    pub pass_rate: Option<Decimal>,
    /// The performance its reward used (null until the epoch ended, or not in the committee).
    #[schema(value_type = Option<String>)]
    pub performance: Option<Decimal>,
    /// Its reward for the epoch, commission included (null until the epoch ended).
    pub reward: Option<Wal>,
}

/// The node's epochs `from..from + limit` since its registration, oldest first.
pub async fn node_epochs(
    conn: &mut PgConnection,
    node_id: i64,
    from: i64,
    limit: i64,
) -> Result<Vec<NodeEpoch>, Error> {
    let rows = sqlx::query!(
        r#"SELECT e.epoch, r.wal AS "pool_wal?",
                  trunc(r.wal * 1000000000 / NULLIF(r.shares, 0), 9) AS exchange_rate,
                  c.stake AS "committee_stake?", coalesce(cardinality(c.shards), 0) AS "shards!",
                  c.performance AS "performance?", c.reward AS "reward?",
                  a.challenges AS "challenges!", a.passed AS "passed!"
           FROM epochs e
           JOIN nodes n ON n.id = $1 AND e.epoch >= n.registered_epoch
           LEFT JOIN pool_history r ON r.node_id = $1 AND r.epoch = e.epoch
           LEFT JOIN committee_members c ON c.node_id = $1 AND c.epoch = e.epoch
           CROSS JOIN LATERAL (
               SELECT count(*) AS challenges, count(*) FILTER (WHERE outcome = 'pass') AS passed
               FROM audit_results WHERE node_id = $1 AND epoch = e.epoch) a
           WHERE e.epoch >= $2 ORDER BY e.epoch LIMIT $3"#,
        node_id,
        from,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let tally = Tally::from_counts(r.challenges, r.passed)?;
            Ok(NodeEpoch {
                epoch: r.epoch,
                pool_wal: r.pool_wal.map(Wal::from_decimal_unchecked),
                exchange_rate: r.exchange_rate.map(|d| d.normalize()),
                committee_stake: r.committee_stake.map(Wal::from_decimal_unchecked),
                shards: r.shards,
                challenges: r.challenges,
                passed: r.passed,
                pass_rate: (tally.challenges > 0).then(|| tally.pass_rate().normalize()),
                performance: r.performance.map(|d| d.normalize()),
                reward: r.reward.map(Wal::from_decimal_unchecked),
            })
        })
        .collect()
}
