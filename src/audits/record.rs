//! The ledger's side of the audits: `POST /v1/audits` batches from the checker
//! (auditor role), checked whole before anything is recorded; per-epoch tallies for
//! the epoch change; each node's audit record.
//!
//! A result names a committee member of the current epoch, a shard it holds, a chunk
//! of a blob with certified, unexpired storage, and an outcome. A `fail` must carry the
//! node's signed wrong answer: the ledger checks that the node's protocol key signed it
//! over the challenge's nonce and that the chunk does not verify against the blob's
//! metadata, so anyone can check a failure. `missing`, `timeout` and `unreachable`
//! carry no evidence (there is no answer to keep); an answer whose signature does not
//! verify is reported as `missing` (the node gave no valid answer).
//!
//! The challenge id is the challenge's nonce. A batch with a challenge id recorded
//! before, or twice within itself, is refused whole (409 / 400); a batch retried with
//! its Idempotency-Key replays the first answer. So nothing is ever counted twice.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::slashing::Tally;
use crate::encoding::BlobMetadata;
use crate::error::Error;
use crate::ledger::epochs::EpochLock;
use crate::storage::contracts::blob_summary;
use crate::wire::challenge::{self, Verdict};
use crate::wire::ids::{BlobId, NodeId};
use crate::wire::{AuditResult, Outcome};

/// The most results one batch may carry.
pub const BATCH_RESULTS_MAX: usize = 1000;

/// The body of `POST /v1/audits`: the checker's results for the current epoch, recorded
/// all or nothing.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditBatch {
    /// The current epoch.
    pub epoch: i64,
    /// The results: 1 to `BATCH_RESULTS_MAX` (1000), each challenge id at most once.
    pub results: Vec<AuditResult>,
}

/// The answer to `POST /v1/audits` once a batch is recorded.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    /// The epoch the results were recorded in.
    pub epoch: i64,
    /// How many results were recorded: always the whole batch.
    pub recorded: usize,
}

struct Member {
    shards: Vec<i32>,
    protocol_key: ed25519_dalek::VerifyingKey,
}

async fn committee(conn: &mut PgConnection, epoch: i64) -> Result<HashMap<i64, Member>, Error> {
    let rows = sqlx::query!(
        r#"SELECT c.node_id, c.shards, n.protocol_public_key
           FROM committee_members c JOIN nodes n ON n.id = c.node_id WHERE c.epoch = $1"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut members = HashMap::new();
    for r in rows {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&r.protocol_public_key, &mut key).map_err(Error::internal)?;
        let protocol_key =
            ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(Error::internal)?;
        members.insert(
            r.node_id,
            Member {
                shards: r.shards,
                protocol_key,
            },
        );
    }
    Ok(members)
}

fn nonce_of(challenge_id: &str) -> Result<[u8; 32], Error> {
    let mut nonce = [0u8; 32];
    if challenge_id.len() != 64 || hex::decode_to_slice(challenge_id, &mut nonce).is_err() {
        return Err(Error::InvalidArgument(format!(
            "challenge_id {challenge_id:?} is not the challenge's nonce as 64 hex digits"
        )));
    }
    Ok(nonce)
}

/// The metadata of a blob that may be audited in `epoch`: certified and unexpired.
async fn audited_blob(
    conn: &mut PgConnection,
    blobs: &mut HashMap<BlobId, BlobMetadata>,
    blob_id: BlobId,
    epoch: i64,
) -> Result<BlobMetadata, Error> {
    if let Some(metadata) = blobs.get(&blob_id) {
        return Ok(metadata.clone());
    }
    let summary = blob_summary(conn, &blob_id, epoch).await?;
    let Some(summary) = summary.filter(|s| s.certified && s.end_epoch.is_some()) else {
        return Err(Error::InvalidArgument(format!(
            "blob {blob_id} has no certified, unexpired storage in epoch {epoch}; only such blobs are audited"
        )));
    };
    blobs.insert(blob_id, summary.metadata.clone());
    Ok(summary.metadata)
}

/// Checks that `evidence` is node-signed and wrong: what a `fail` must prove.
fn check_evidence(
    result: &AuditResult,
    nonce: &[u8; 32],
    member: &Member,
    metadata: &BlobMetadata,
    blob: &BlobId,
) -> Result<(), Error> {
    let who = format!("challenge {}", result.challenge_id);
    let Some(answer) = &result.evidence else {
        return Err(Error::InvalidArgument(format!(
            "{who} is a fail without evidence; a fail carries the node's signed answer"
        )));
    };
    match challenge::check_answer(
        &member.protocol_key,
        metadata,
        blob.bytes(),
        nonce,
        result.shard,
        result.chunk,
        answer,
    ) {
        Verdict::Wrong => Ok(()),
        Verdict::Unsigned => Err(Error::InvalidArgument(format!(
            "{who}: the evidence is not signed by node {}'s protocol key over this challenge; \
             report an unsigned answer as missing",
            result.node_id
        ))),
        Verdict::Correct => Err(Error::InvalidArgument(format!(
            "{who}: the signed answer is correct, so it is no evidence of a failure"
        ))),
    }
}

/// Checks one result against the committee and the blob; returns nothing if it may
/// be recorded.
async fn check(
    conn: &mut PgConnection,
    result: &AuditResult,
    epoch: i64,
    members: &HashMap<i64, Member>,
    blobs: &mut HashMap<BlobId, BlobMetadata>,
) -> Result<(), Error> {
    let nonce = nonce_of(&result.challenge_id)?;
    let member = result
        .node_id
        .parse::<NodeId>()
        .ok()
        .and_then(|id| members.get(&id.get()))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "node {} is not in the committee of epoch {epoch}; only members are audited",
                result.node_id
            ))
        })?;
    if !member.shards.contains(&(result.shard as i32)) {
        return Err(Error::InvalidArgument(format!(
            "node {} does not hold shard {} in epoch {epoch}",
            result.node_id, result.shard
        )));
    }
    let blob: BlobId = result
        .blob_id
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("blob_id: {e}")))?;
    let metadata = audited_blob(conn, blobs, blob, epoch).await?;
    let chunks = metadata.validate().map_err(Error::internal)?.chunk_count();
    if result.chunk >= chunks {
        return Err(Error::InvalidArgument(format!(
            "blob {} has {chunks} chunks per sliver; chunk {} does not exist",
            result.blob_id, result.chunk
        )));
    }
    match result.outcome {
        Outcome::Fail => check_evidence(result, &nonce, member, &metadata, &blob),
        _ if result.evidence.is_some() => Err(Error::InvalidArgument(format!(
            "challenge {}: only a fail carries evidence",
            result.challenge_id
        ))),
        _ => Ok(()),
    }
}

/// Records a batch for the current epoch `current`, all of it or nothing.
pub async fn record(
    conn: &mut PgConnection,
    lock: &EpochLock,
    batch: &AuditBatch,
) -> Result<Recorded, Error> {
    let current = lock.epoch();
    if batch.epoch < current {
        return Err(Error::Conflict(format!(
            "epoch {} is closed (the current epoch is {current}); its results can no longer count",
            batch.epoch
        )));
    }
    if batch.epoch > current {
        return Err(Error::InvalidArgument(format!(
            "epoch {} has not started (the current epoch is {current})",
            batch.epoch
        )));
    }
    if batch.results.is_empty() || batch.results.len() > BATCH_RESULTS_MAX {
        return Err(Error::InvalidArgument(format!(
            "a batch carries 1 to {BATCH_RESULTS_MAX} results, not {}",
            batch.results.len()
        )));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = batch
        .results
        .iter()
        .find(|r| !seen.insert(r.challenge_id.as_str()))
    {
        return Err(Error::InvalidArgument(format!(
            "challenge {} appears twice in the batch",
            twice.challenge_id
        )));
    }
    let members = committee(conn, current).await?;
    let mut blobs = HashMap::new();
    for result in &batch.results {
        check(conn, result, current, &members, &mut blobs).await?;
    }
    insert(conn, batch).await
}

async fn insert(conn: &mut PgConnection, batch: &AuditBatch) -> Result<Recorded, Error> {
    let r = &batch.results;
    let ids: Vec<String> = r.iter().map(|r| r.challenge_id.clone()).collect();
    // Every result passed `check`, so its ids parse; they are stored canonically.
    let nodes: Vec<i64> = r
        .iter()
        .map(|r| r.node_id.parse().map_or(0, NodeId::get))
        .collect();
    let blob_ids: Vec<String> = r
        .iter()
        .map(|r| {
            r.blob_id
                .parse()
                .map_or_else(|_| r.blob_id.clone(), |b: BlobId| b.to_string())
        })
        .collect();
    let shards: Vec<i32> = r.iter().map(|r| r.shard as i32).collect();
    let chunks: Vec<i32> = r.iter().map(|r| r.chunk as i32).collect();
    let outcomes: Vec<String> = r.iter().map(|r| r.outcome.as_str().to_owned()).collect();
    let evidence: Vec<Option<serde_json::Value>> = r
        .iter()
        .map(|r| r.evidence.as_ref().map(|e| serde_json::json!(e)))
        .collect();
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO audit_results (challenge_id, epoch, node_id, blob_id, shard, chunk, outcome, evidence)
           SELECT u.id, $1, u.node, u.blob, u.shard, u.chunk, u.outcome, u.evidence
           FROM unnest($2::text[], $3::bigint[], $4::text[], $5::integer[], $6::integer[],
                       $7::text[], $8::jsonb[])
                AS u(id, node, blob, shard, chunk, outcome, evidence)
           ON CONFLICT (challenge_id) DO NOTHING
           RETURNING challenge_id"#,
        batch.epoch,
        &ids,
        &nodes,
        &blob_ids,
        &shards,
        &chunks,
        &outcomes,
        &evidence as &[Option<serde_json::Value>]
    )
    .fetch_all(&mut *conn)
    .await?;
    if inserted.len() != ids.len() {
        let fresh: HashSet<&String> = inserted.iter().collect();
        let old: Vec<&String> = ids
            .iter()
            .filter(|id| !fresh.contains(id))
            .take(5)
            .collect();
        return Err(Error::Conflict(format!(
            "challenges {old:?} were recorded before; nothing of this batch was recorded \
             (retry a batch with its Idempotency-Key)"
        )));
    }
    Ok(Recorded {
        epoch: batch.epoch,
        recorded: inserted.len(),
    })
}

/// Each node's challenges and passes in `epoch`.
pub async fn tallies(conn: &mut PgConnection, epoch: i64) -> Result<HashMap<i64, Tally>, Error> {
    let rows = sqlx::query!(
        r#"SELECT node_id, count(*) AS "challenges!",
                  count(*) FILTER (WHERE outcome = 'pass') AS "passed!"
           FROM audit_results WHERE epoch = $1 GROUP BY node_id"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let tally = Tally::from_counts(r.challenges, r.passed)?;
            Ok((r.node_id, tally))
        })
        .collect()
}

pub use super::history::{node_audits, EpochAudit, FailureEvidence, NodeAudits, SlashRecord};
pub use crate::wire::audits::Loss;

/// The distinct slivers found missing or wrong in `epoch` (what the checker repairs
/// once the epoch has closed).
pub async fn losses(conn: &mut PgConnection, epoch: i64) -> Result<Vec<Loss>, Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT node_id, blob_id, shard FROM audit_results
           WHERE epoch = $1 AND outcome IN ('missing', 'fail')
           ORDER BY blob_id, shard, node_id"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Loss {
            node_id: r.node_id.to_string(),
            blob_id: r.blob_id,
            shard: r.shard,
        })
        .collect())
}
