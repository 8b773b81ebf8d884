//! What the checker reads from the ledger, through the typed client: the epoch, its
//! committee with endpoints and protocol keys, the blobs to audit, the parameter, and
//! what is already recorded.

use std::collections::HashMap;

use wal::client::{ClientError, LedgerClient};

/// A committee member as the checker sees it.
pub use wal::wire::CommitteeMember as Member;

pub async fn current_epoch_number(ledger: &LedgerClient) -> Result<i64, ClientError> {
    Ok(ledger.network().await?.epoch)
}

pub async fn challenges_per_epoch(ledger: &LedgerClient) -> Result<u32, ClientError> {
    Ok(ledger.params().await?.audit_challenges_per_epoch)
}

/// Challenges already recorded per node in `epoch` (a restarted checker continues).
pub async fn recorded(
    ledger: &LedgerClient,
    epoch: i64,
) -> Result<HashMap<String, u32>, ClientError> {
    let audits = ledger.epoch_audits(epoch).await?;
    Ok(audits
        .nodes
        .into_iter()
        .map(|n| (n.node_id, n.challenges))
        .collect())
}

/// The distinct (blob, shard) found missing or wrong in `epoch`.
pub async fn losses(ledger: &LedgerClient, epoch: i64) -> Result<Vec<(String, u32)>, ClientError> {
    let audits = ledger.epoch_audits(epoch).await?;
    Ok(audits
        .losses
        .into_iter()
        .filter_map(|l| Some((l.blob_id, u32::try_from(l.shard).ok()?)))
        .collect())
}
