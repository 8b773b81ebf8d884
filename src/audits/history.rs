//! A node's audit record as the node view shows it: pass rates per epoch, every slash,
//! and the signed evidence of its last failures.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::slashing::Tally;
use crate::error::Error;
use crate::money::Wal;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EpochAudit {
    pub epoch: i64,
    pub challenges: i64,
    pub passed: i64,
    pub failed: i64,
    pub missing: i64,
    pub timeout: i64,
    pub unreachable: i64,
    /// passed / challenges, rounded down to 9 decimals.
    #[schema(value_type = String)]
    pub pass_rate: Decimal,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SlashRecord {
    pub epoch: i64,
    pub challenges: i32,
    pub passed: i32,
    #[schema(value_type = String)]
    pub pass_rate: Decimal,
    pub pool_slashed: Wal,
    pub commission_slashed: Wal,
    pub burned: Wal,
    pub to_subsidy_pool: Wal,
    pub jailed_until_epoch: Option<i64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FailureEvidence {
    pub epoch: i64,
    pub challenge_id: String,
    pub blob_id: String,
    pub shard: i32,
    pub chunk: i32,
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// A node's audit record: the last 20 epochs it was audited in, every slash, and the
/// evidence of its last 20 failures.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeAudits {
    pub node_id: String,
    pub jailed_until_epoch: Option<i64>,
    pub epochs: Vec<EpochAudit>,
    pub slashes: Vec<SlashRecord>,
    pub failures: Vec<FailureEvidence>,
}

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
            pass_rate: Tally {
                challenges: u32::try_from(r.challenges).map_err(Error::internal)?,
                passed: u32::try_from(r.passed).map_err(Error::internal)?,
            }
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
