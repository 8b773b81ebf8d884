//! Blobs as the storage contracts see them: who serves each shard, a blob's summary,
//! and the blobs the checker audits.

use sqlx::{PgConnection, PgPool};

use crate::encoding::BlobMetadata;
use crate::error::Error;
use crate::wire::ids::BlobId;
use crate::wire::StoredBlob;

/// Where each shard of the current committee is served: shard -> node endpoint.
pub async fn shard_endpoints(
    conn: &mut PgConnection,
    epoch: i64,
) -> Result<std::collections::HashMap<u32, String>, Error> {
    let rows = sqlx::query!(
        r#"SELECT c.shards, n.endpoint FROM committee_members c JOIN nodes n ON n.id = c.node_id
           WHERE c.epoch = $1"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .flat_map(|r| {
            let endpoint = r.endpoint;
            r.shards
                .into_iter()
                .map(move |shard| (shard as u32, endpoint.clone()))
        })
        .collect())
}

/// A blob's storage as of `epoch`: its metadata and its active contracts, however many
/// contracts it ever had.
pub struct BlobSummary {
    /// The blob's metadata, from its first contract (the blob id is the metadata's hash, so
    /// every contract of the blob has the same).
    pub metadata: BlobMetadata,
    /// Whether any active contract (not deleted, covering `epoch`) is certified.
    pub certified: bool,
    /// The latest `end_epoch` of its active contracts (the first epoch none covers);
    /// `None` if it has no active contract.
    pub end_epoch: Option<i64>,
    /// The first 100 active contracts.
    pub active: Vec<i64>,
}

/// The storage of blob `blob_id` as of `epoch`; `None` if no contract was ever bought
/// for it.
pub async fn blob_summary(
    conn: &mut PgConnection,
    blob_id: &BlobId,
    epoch: i64,
) -> Result<Option<BlobSummary>, Error> {
    let row = sqlx::query!(
        r#"SELECT
             (SELECT metadata FROM contracts WHERE blob_id = $1 ORDER BY id LIMIT 1) AS metadata,
             (SELECT max(end_epoch) FROM contracts
              WHERE blob_id = $1 AND deleted_epoch IS NULL AND end_epoch > $2) AS end_epoch,
             (SELECT coalesce(bool_or(certified_epoch IS NOT NULL), false) FROM contracts
              WHERE blob_id = $1 AND deleted_epoch IS NULL AND end_epoch > $2) AS "certified!",
             (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM
                (SELECT id FROM contracts WHERE blob_id = $1 AND deleted_epoch IS NULL
                   AND end_epoch > $2 ORDER BY id LIMIT 100) a) AS "active!""#,
        blob_id.to_string(),
        epoch
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(metadata) = row.metadata else {
        return Ok(None);
    };
    Ok(Some(BlobSummary {
        metadata: serde_json::from_value(metadata).map_err(Error::internal)?,
        certified: row.certified,
        end_epoch: row.end_epoch,
        active: row.active,
    }))
}

/// Blobs with a certified contract covering `epoch`, in blob id order after `after`.
pub async fn stored_blobs(
    conn: &mut PgConnection,
    epoch: i64,
    after: Option<BlobId>,
    limit: i64,
) -> Result<Vec<StoredBlob>, Error> {
    let rows = sqlx::query!(
        r#"SELECT blob_id, (array_agg(metadata ORDER BY id))[1] AS "metadata!",
                  max(end_epoch) AS "end_epoch!"
           FROM contracts
           WHERE blob_id > $2 AND certified_epoch IS NOT NULL AND deleted_epoch IS NULL
             AND end_epoch > $1
           GROUP BY blob_id ORDER BY blob_id LIMIT $3"#,
        epoch,
        after.map(|b| b.to_string()).unwrap_or_default(),
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredBlob {
                blob_id: r.blob_id,
                metadata: serde_json::from_value(r.metadata).map_err(Error::internal)?,
                end_epoch: r.end_epoch,
            })
        })
        .collect()
}

/// The blobs `stored_blobs` lists for `epoch`, counted, and their bytes (each blob once,
/// whatever its number of contracts): (blobs, unencoded bytes, encoded bytes). Read from
/// the totals the contracts' triggers keep (migration `stored_totals`): a row or so per
/// end epoch after `epoch`, whatever the number of contracts.
pub async fn stored_totals(conn: &mut PgConnection, epoch: i64) -> Result<(i64, i64, i64), Error> {
    let row = sqlx::query!(
        r#"SELECT coalesce(sum(blobs), 0)::bigint AS "blobs!",
                  coalesce(sum(bytes), 0)::bigint AS "bytes!",
                  coalesce(sum(encoded_bytes), 0)::bigint AS "encoded!"
           FROM stored_blob_changes WHERE end_epoch > $1"#,
        epoch
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.blobs, row.bytes, row.encoded))
}

/// Sums the stored totals' changes of each end epoch into one row, so `stored_totals`
/// reads few rows (maintenance runs it every minute).
pub async fn fold_stored_changes(pool: &PgPool) -> Result<(), Error> {
    sqlx::query!("SELECT stored_blob_changes_fold()")
        .execute(pool)
        .await?;
    Ok(())
}
