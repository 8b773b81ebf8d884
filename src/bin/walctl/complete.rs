//! Completing a paid contract (`walctl store` after it paid, and `walctl certify`):
//! collect the confirmations of this epoch's committee, stream the nodes that lack
//! their slivers their share of the file, certify once 2f+1 shards are covered, and
//! collect again if the epoch changed on the way.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use wal::client::upload::{upload, Outcome, Target};
use wal::client::LedgerClient;
use wal::encoding::{faulty_shards, BlobMetadata};

use crate::cli::Cli;
use crate::holders::{byte_progress, holders, node_http, spinner, stall, upload_http};
use crate::{client, fresh_key, CliError};

/// How a completion ended.
pub struct Completion {
    pub certified: bool,
    /// Nodes whose confirmations were handed in.
    pub confirmed: usize,
    /// What went wrong on the way, one line each.
    pub failures: Vec<String>,
}

/// Certifies the contract: every committee node that holds its slivers already gives
/// its confirmation; the others get theirs streamed from `file`; once confirmations
/// cover 2f+1 shards the ledger certifies. If the epoch changed meanwhile (shards
/// moved), the confirmations are collected again for the new committee. Nodes whose
/// upload failed (not the silent ones) get one more afterwards, within the stall timeouts.
pub async fn complete(
    cli: &Cli,
    signer: &LedgerClient,
    file: Option<&Path>,
    metadata: &BlobMetadata,
    contract_id: &str,
) -> Result<Completion, CliError> {
    let mut failures = Vec::new();
    let mut confirmed = 0;
    for _round in 0..2 {
        let round = collect_confirmations(cli, file, metadata, &mut failures).await?;
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
        let certifying = spinner(cli, "certifying");
        let result = certify(signer, contract_id, &round.confirmations).await;
        certifying.finish_and_clear();
        match result {
            Ok(certified) => {
                let retried = upload_missing(
                    cli,
                    file,
                    metadata,
                    round.failed,
                    HashMap::new(),
                    &mut failures,
                )
                .await?;
                confirmed += retried.0.len();
                return Ok(Completion {
                    certified,
                    confirmed,
                    failures,
                });
            }
            Err(e)
                if client(cli, None)
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
    cli: &Cli,
    file: Option<&Path>,
    metadata: &BlobMetadata,
    failures: &mut Vec<String>,
) -> Result<Round, CliError> {
    let (epoch, targets) = targets(cli).await?;
    let (confirmations, missing, silent) = confirmations_of(cli, metadata, &targets).await?;
    let seconds = stall(cli).as_secs();
    failures.extend(
        silent
            .iter()
            .map(|t| format!("node {} gave no answer in {seconds} s", t.node_id)),
    );
    let (confirmations, failed) =
        upload_missing(cli, file, metadata, missing, confirmations, failures).await?;
    Ok(Round {
        epoch,
        confirmations,
        failed,
    })
}

/// Confirmations by node id: the shards each covers and the confirmation itself.
type Confirmations = HashMap<String, (usize, Value)>;

/// This epoch's committee as upload targets, one per node with all its shards.
async fn targets(cli: &Cli) -> Result<(i64, Vec<Target>), CliError> {
    let (epoch, holders) = holders(cli).await?;
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

/// Asks every target for its confirmation: the ones that answer without one are
/// missing (they need their slivers), the ones that do not answer in the stall timeout
/// are silent (an upload to them would only wait as long again).
async fn confirmations_of(
    cli: &Cli,
    metadata: &BlobMetadata,
    targets: &[Target],
) -> Result<(Confirmations, Vec<Target>, Vec<Target>), CliError> {
    let http = node_http(cli)?;
    let blob_id = metadata.blob_id();
    let asks = targets.iter().map(|target| {
        let url = format!("{}/v1/blobs/{blob_id}/confirmation", target.endpoint);
        let http = http.clone();
        async move {
            let answer = tokio::time::timeout(stall(cli), async {
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
    cli: &Cli,
    file: Option<&Path>,
    metadata: &BlobMetadata,
    missing: Vec<Target>,
    mut confirmations: Confirmations,
    failures: &mut Vec<String>,
) -> Result<(Confirmations, Vec<Target>), CliError> {
    if missing.is_empty() {
        return Ok((confirmations, missing));
    }
    let Some(file) = file else {
        failures.extend(missing.iter().map(|t| {
            format!(
                "node {} has no confirmation, and no --file was given to upload its slivers",
                t.node_id
            )
        }));
        return Ok((confirmations, missing));
    };
    let bar = byte_progress(cli, metadata.size, "uploading");
    let tick = bar.clone();
    let outcomes: Vec<Outcome> = upload(
        &upload_http(cli)?,
        file,
        metadata,
        missing,
        stall(cli),
        Arc::new(move |b| tick.inc(b)),
    )
    .await
    .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    bar.finish_and_clear();
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
            &fresh_key(),
        )
        .await
        .map_err(|e| format!("certification: {e}"))?;
    Ok(certified["certified"].as_bool().unwrap_or(false))
}
