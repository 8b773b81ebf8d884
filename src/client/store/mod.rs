//! Storing a blob, the one implementation `walctl store`, `walctl certify` and the
//! gateway's publisher share: find what the ledger already has for the blob (certified
//! long enough: pay nothing; the owner's own paid, uncertified contract: finish it
//! instead of buying another), buy otherwise, stream each committee node its slivers,
//! and certify once the confirmations cover 2f+1 shards, collecting them again if the
//! epoch changed on the way.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::upload::Progress;
mod buying;

pub use buying::{buy, prior, Prior, Purchase};

use super::upload::{upload, Outcome, Target};
use super::{ClientError, LedgerClient};
use crate::encoding::{faulty_shards, BlobMetadata};

/// Why storing failed before anything could be reported.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The ledger refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The file, the committee or an answer was unusable; says which.
    #[error("{0}")]
    Other(String),
}

/// What a long store reports while it runs (walctl draws bars; the gateway counts).
pub trait StoreObserver: Send + Sync {
    /// An upload of `bytes_total` blob bytes starts; the counter its bytes go to.
    fn uploading(&self, bytes_total: u64) -> Progress {
        let _ = bytes_total;
        Arc::new(|_| {})
    }
    /// The upload that started last is over.
    fn uploaded(&self) {}
    /// The confirmations go to the ledger.
    fn certifying(&self) {}
    /// The ledger answered.
    fn certified(&self) {}
}

/// An observer that reports nothing.
pub struct Quiet;

impl StoreObserver for Quiet {}

/// A shard's holder in the current epoch.
pub struct Holder {
    /// The node's id at the ledger.
    pub node_id: String,
    /// Its base URL.
    pub endpoint: String,
}

/// Who holds each shard in the current epoch, with their endpoints.
pub async fn holders(
    ledger: &LedgerClient,
) -> Result<(i64, HashMap<u32, Arc<Holder>>), StoreError> {
    let committee = ledger.committee().await?;
    Ok((committee.epoch, holders_of(committee.members)?))
}

/// Shard -> holder, from a committee's members.
pub fn holders_of(
    members: Vec<crate::wire::epochs::CommitteeMember>,
) -> Result<HashMap<u32, Arc<Holder>>, StoreError> {
    let mut out = HashMap::new();
    for member in members {
        let holder = Arc::new(Holder {
            node_id: member.node_id,
            endpoint: member.endpoint,
        });
        for shard in member.shards {
            let shard = u32::try_from(shard).map_err(|_| {
                StoreError::Other(format!(
                    "the committee lists {shard} as a shard: not a shard number"
                ))
            })?;
            out.insert(shard, holder.clone());
        }
    }
    Ok(out)
}

/// How a completion ended.
#[derive(Debug)]
pub struct Completion {
    /// Whether the ledger certified the blob.
    pub certified: bool,
    /// Nodes whose confirmations were handed in.
    pub confirmed: usize,
    /// What went wrong on the way, one line each.
    pub failures: Vec<String>,
}

/// Where a completion gets what it needs.
pub struct Completing<'a> {
    /// Public reads: the committee, the epoch.
    pub ledger: &'a LedgerClient,
    /// The contract's payer, who certifies.
    pub signer: &'a LedgerClient,
    /// The blob's bytes, to upload to the nodes that lack their slivers (none: only
    /// confirmations of nodes that have them are collected).
    pub file: Option<&'a Path>,
    /// How long a node may stay silent before it is given up on.
    pub stall: Duration,
    /// Who hears of the progress.
    pub observer: &'a dyn StoreObserver,
}

/// Certifies the contract: every committee node that holds its slivers already gives
/// its confirmation; the others get theirs streamed from the file; once confirmations
/// cover 2f+1 shards the ledger certifies. If the epoch changed meanwhile (shards
/// moved), the confirmations are collected again for the new committee. Nodes whose
/// upload failed (not the silent ones) get one more afterwards, within the stall timeouts.
pub async fn complete(
    with: &Completing<'_>,
    metadata: &BlobMetadata,
    contract_id: &str,
) -> Result<Completion, StoreError> {
    let mut failures = Vec::new();
    let mut confirmed = 0;
    for _round in 0..2 {
        let round = collect_confirmations(with, metadata, &mut failures).await?;
        confirmed = round.confirmations.len();
        let covered: usize = round
            .confirmations
            .values()
            .map(|(shards, _)| *shards)
            .sum();
        let needed = 2 * faulty_shards(metadata.n_shards) as usize + 1;
        if covered < needed {
            failures.push(format!(
                "the confirmations cover {covered} shards; certification needs 2f+1 = {needed}"
            ));
            break;
        }
        with.observer.certifying();
        let result = certify(with.signer, contract_id, &round.confirmations).await;
        with.observer.certified();
        match result {
            Ok(certified) => {
                let empty = HashMap::new();
                let retried =
                    upload_missing(with, metadata, round.failed, empty, &mut failures).await?;
                confirmed += retried.0.len();
                return Ok(Completion {
                    certified,
                    confirmed,
                    failures,
                });
            }
            Err(e)
                if with
                    .ledger
                    .network()
                    .await
                    .is_ok_and(|n| n.epoch != round.epoch) =>
            {
                failures.push(format!(
                    "{e}; the epoch changed, so the confirmations are collected again"
                ));
            }
            Err(e) => {
                failures.push(e);
                break;
            }
        }
    }
    Ok(Completion {
        certified: false,
        confirmed,
        failures,
    })
}

/// One round of confirmations for this epoch's committee.
struct Round {
    epoch: i64,
    confirmations: Confirmations,
    /// Nodes whose upload failed (worth one more try); silent ones are not among them.
    failed: Vec<Target>,
}

async fn collect_confirmations(
    with: &Completing<'_>,
    metadata: &BlobMetadata,
    failures: &mut Vec<String>,
) -> Result<Round, StoreError> {
    let (epoch, targets) = targets(with.ledger).await?;
    let (confirmations, missing, silent) = confirmations_of(with, metadata, &targets).await?;
    let seconds = with.stall.as_secs();
    failures.extend(
        silent
            .iter()
            .map(|t| format!("node {} gave no answer in {seconds} s", t.node_id)),
    );
    let (confirmations, failed) =
        upload_missing(with, metadata, missing, confirmations, failures).await?;
    Ok(Round {
        epoch,
        confirmations,
        failed,
    })
}

/// Confirmations by node id: the shards each covers and the confirmation itself.
type Confirmations = HashMap<String, (usize, Value)>;

/// This epoch's committee as upload targets, one per node with all its shards.
async fn targets(ledger: &LedgerClient) -> Result<(i64, Vec<Target>), StoreError> {
    let (epoch, holders) = holders(ledger).await?;
    let mut by_node: BTreeMap<String, Target> = BTreeMap::new();
    for (shard, holder) in holders {
        by_node
            .entry(holder.node_id.clone())
            .or_insert_with(|| Target {
                node_id: holder.node_id.clone(),
                endpoint: holder.endpoint.clone(),
                shards: Vec::new(),
            })
            .shards
            .push(shard);
    }
    let mut targets: Vec<Target> = by_node.into_values().collect();
    targets.iter_mut().for_each(|t| t.shards.sort_unstable());
    Ok((epoch, targets))
}

/// The HTTP client for storage nodes: it gives up on a connection or a read that
/// stalls for `stall`, never on a transfer that is merely long.
pub fn node_http(stall: Duration) -> Result<reqwest::Client, StoreError> {
    reqwest::Client::builder()
        .pool_idle_timeout(crate::client::POOL_IDLE_TIMEOUT)
        .connect_timeout(stall)
        .read_timeout(stall)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

/// Asks every target for its confirmation: the ones that answer without one are
/// missing (they need their slivers), the ones that do not answer in the stall timeout
/// are silent (an upload to them would only wait as long again).
async fn confirmations_of(
    with: &Completing<'_>,
    metadata: &BlobMetadata,
    targets: &[Target],
) -> Result<(Confirmations, Vec<Target>, Vec<Target>), StoreError> {
    let http = node_http(with.stall)?;
    let blob_id = metadata.blob_id();
    let asks = targets.iter().map(|target| {
        let url = format!("{}/v1/blobs/{blob_id}/confirmation", target.endpoint);
        let http = http.clone();
        async move {
            let answer = tokio::time::timeout(with.stall, async {
                let response = http.get(&url).send().await.ok()?;
                if !response.status().is_success() {
                    return Some(None);
                }
                Some(response.json::<Value>().await.ok())
            });
            answer.await.ok().flatten()
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    let mut confirmations = Confirmations::new();
    let (mut missing, mut silent) = (Vec::new(), Vec::new());
    for (target, answer) in targets.iter().zip(answers) {
        match answer {
            Some(Some(c)) => {
                confirmations.insert(target.node_id.clone(), (target.shards.len(), c));
            }
            Some(None) => missing.push(target.clone()),
            None => silent.push(target.clone()),
        }
    }
    Ok((confirmations, missing, silent))
}

/// Uploads to the missing targets (if there is a file) and adds their confirmations;
/// returns the confirmations and the targets that failed (their reasons in `failures`).
async fn upload_missing(
    with: &Completing<'_>,
    metadata: &BlobMetadata,
    missing: Vec<Target>,
    mut confirmations: Confirmations,
    failures: &mut Vec<String>,
) -> Result<(Confirmations, Vec<Target>), StoreError> {
    if missing.is_empty() {
        return Ok((confirmations, missing));
    }
    let Some(file) = with.file else {
        failures.extend(missing.iter().map(|t| {
            format!(
                "node {} has no confirmation, and no file was given to upload its slivers",
                t.node_id
            )
        }));
        return Ok((confirmations, missing));
    };
    let http =
        super::upload::http_client(with.stall).map_err(|e| StoreError::Other(e.to_string()))?;
    let progress = with.observer.uploading(metadata.size);
    let outcomes: Vec<Outcome> = upload(&http, file, metadata, missing, with.stall, progress)
        .await
        .map_err(|e| StoreError::Other(format!("{}: {e}", file.display())))?;
    with.observer.uploaded();
    let mut failed = Vec::new();
    for (target, result) in outcomes {
        match result {
            Ok(stored) if !stored["confirmation"].is_null() => {
                confirmations.insert(
                    target.node_id.clone(),
                    (target.shards.len(), stored["confirmation"].clone()),
                );
            }
            Ok(_) => {
                failures.push(format!(
                    "node {} stored its slivers but gave no confirmation (its shards changed?)",
                    target.node_id
                ));
                failed.push(target);
            }
            Err(e) => {
                failures.push(e);
                failed.push(target);
            }
        }
    }
    Ok((confirmations, failed))
}

/// Hands the confirmations to the ledger; whether it certified the blob, or why the
/// request failed.
async fn certify(
    signer: &LedgerClient,
    contract_id: &str,
    confirmations: &Confirmations,
) -> Result<bool, String> {
    let list: Vec<Value> = confirmations
        .values()
        .map(|(_, c)| json!({"node_id": c["node_id"], "signature": c["signature"]}))
        .collect();
    let certified: Value = signer
        .post(
            &format!("/v1/storage/contracts/{contract_id}/certificate"),
            &json!({"confirmations": list}),
            &uuid::Uuid::new_v4().to_string(),
        )
        .await
        .map_err(|e| format!("certification: {e}"))?;
    Ok(certified["certified"].as_bool().unwrap_or(false))
}
