//! `walctl store` and `walctl certify`: compute a file's metadata (one stripe in
//! memory at a time), pay for its storage unless it is paid for already, stream each
//! node its slivers, and certify the blob with the nodes' signed confirmations.
//!
//! Paying is never repeated: a store that finds the blob certified for the epochs asked
//! pays nothing (unless `--force`), and one that finds its own paid, uncertified
//! contract for the blob completes that one instead of buying another.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use wal::client::upload::{file_metadata, upload, Outcome, Target};
use wal::client::LedgerClient;
use wal::encoding::{faulty_shards, BlobMetadata};
use wal::wire::Address;

use crate::cli::Cli;
use crate::holders::{byte_progress, holders, node_http, spinner, stall, upload_http};
use crate::output::{print, s};
use crate::{client, fresh_key, signing_client, CliError};

/// What `walctl store` was asked.
pub struct StoreArgs<'a> {
    /// The file to store.
    pub file: &'a Path,
    /// Epochs of storage to buy.
    pub epochs: u32,
    /// The most to pay (default: the quote).
    pub max_total: Option<&'a str>,
    /// Whether the contract may be deleted early.
    pub deletable: bool,
    /// Buy even if the blob is certified for the epochs asked already.
    pub force: bool,
}

/// Stores the file and prints the outcome; a blob paid for but not certified is an
/// error, after the outcome is printed.
pub async fn command(cli: &Cli, args: &StoreArgs<'_>) -> Result<(), CliError> {
    let out = store(cli, args).await?;
    print(cli, &out, stored_text);
    unfinished_is_an_error(&out)
}

/// `walctl certify CONTRACT_ID [--file FILE]`: collects the confirmations of the nodes
/// that hold their slivers (uploading to the others from `file`) and certifies.
pub async fn certify_command(
    cli: &Cli,
    contract_id: &str,
    file: Option<&Path>,
) -> Result<(), CliError> {
    let contract: Value = client(cli, None)
        .get(&format!("/v1/storage/contracts/{contract_id}"))
        .await?;
    let metadata: BlobMetadata = serde_json::from_value(contract["metadata"].clone())
        .map_err(|e| CliError::Usage(format!("the ledger's metadata is unreadable: {e}")))?;
    if let Some(file) = file {
        let mine = metadata_of_file(cli, file, metadata.n_shards).await?;
        if mine != metadata {
            return Err(CliError::Usage(format!(
                "{} is not the blob of contract {contract_id} (its id would be {})",
                file.display(),
                mine.blob_id()
            )));
        }
    }
    let signer = signing_client(cli)?;
    let done = complete(cli, &signer, file, &metadata, contract_id).await?;
    let out = json!({
        "blob_id": metadata.blob_id(), "contract_id": contract_id, "total": "0",
        "end_epoch": contract["end_epoch"], "resumed": true, "certified": done.certified,
        "confirmed_nodes": done.confirmed, "failures": done.failures,
    });
    print(cli, &out, stored_text);
    unfinished_is_an_error(&out)
}

fn unfinished_is_an_error(out: &Value) -> Result<(), CliError> {
    if out["certified"] == json!(true) {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "the blob was paid for but not certified: {}; run the same `walctl store` again, or `walctl certify {} --file FILE`, to finish it without paying again",
        out["failures"],
        s(out, "contract_id")
    )))
}

async fn store(cli: &Cli, args: &StoreArgs<'_>) -> Result<Value, CliError> {
    let ledger = client(cli, None);
    let network = ledger.network().await?;
    let metadata = metadata_of_file(cli, args.file, network.n_shards).await?;
    let blob_id = metadata.blob_id();
    let signer = signing_client(cli)?;
    let owner = signer
        .address()
        .ok_or(CliError::Client(wal::client::ClientError::NoKey))?;
    let asked_end = network.epoch + i64::from(args.epochs);
    let (contract, resumed) = match prior(&ledger, &blob_id, &owner, args, asked_end).await? {
        Prior::Covered { end_epoch } if !args.force => {
            return Ok(json!({
                "blob_id": blob_id, "contract_id": null, "total": "0", "end_epoch": end_epoch,
                "certified": true, "already_stored": true, "confirmed_nodes": 0, "failures": [],
            }));
        }
        Prior::Own {
            contract_id,
            end_epoch,
        } if !args.force => {
            return Err(CliError::Usage(format!(
                "you store blob {blob_id} already, until epoch {end_epoch} (contract {contract_id}): `walctl extend {contract_id} --epochs N` keeps it longer; --force buys another contract"
            )));
        }
        Prior::Unfinished(contract) if !args.force => (contract, true),
        _ => (buy(&ledger, &signer, &metadata, args).await?, false),
    };
    let contract_id = s(&contract, "id");
    let done = complete(cli, &signer, Some(args.file), &metadata, &contract_id).await?;
    Ok(json!({
        "blob_id": blob_id,
        "contract_id": contract_id,
        "total": if resumed { json!("0") } else { contract["paid"].clone() },
        "end_epoch": contract["end_epoch"],
        "resumed": resumed,
        "certified": done.certified,
        "confirmed_nodes": done.confirmed,
        "failures": done.failures,
    }))
}

/// The file's metadata for `n_shards`, computed off the async threads with a bar.
pub async fn metadata_of_file(
    cli: &Cli,
    file: &Path,
    n_shards: u32,
) -> Result<BlobMetadata, CliError> {
    let size = std::fs::metadata(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?
        .len();
    let bar = byte_progress(cli, size, "encoding");
    let tick = bar.clone();
    let path = file.to_owned();
    let metadata = tokio::task::spawn_blocking(move || {
        file_metadata(
            &path,
            n_shards,
            &(Arc::new(move |bytes| tick.inc(bytes)) as _),
        )
    })
    .await
    .map_err(|e| CliError::Usage(e.to_string()))?
    .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    bar.finish_and_clear();
    Ok(metadata)
}

/// What the ledger already has for this blob.
enum Prior {
    /// Certified storage until at least the end asked for.
    Covered { end_epoch: i64 },
    /// The owner's own active certified contract, ending before the end asked for.
    Own { contract_id: String, end_epoch: i64 },
    /// The owner's own active contract for it on the terms asked, paid, not certified.
    Unfinished(Value),
    /// None of these.
    Nothing,
}

async fn prior(
    ledger: &LedgerClient,
    blob_id: &str,
    owner: &Address,
    args: &StoreArgs<'_>,
    asked_end: i64,
) -> Result<Prior, CliError> {
    match ledger.blob_status(blob_id).await {
        Ok(status) => {
            let covered = status
                .end_epoch
                .filter(|&end| status.certified && end >= asked_end);
            if let Some(end_epoch) = covered {
                return Ok(Prior::Covered { end_epoch });
            }
        }
        Err(e) if e.code() == Some("NOT_FOUND") => return Ok(Prior::Nothing),
        Err(e) => return Err(e.into()),
    }
    let page: Value = ledger
        .get(&format!(
            "/v1/storage/contracts?owner={owner}&blob_id={blob_id}&limit=500"
        ))
        .await?;
    let active: Vec<&Value> = page["contracts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "active")
        .collect();
    if let Some(own) = active.iter().rev().find(|c| c["certified"] == true) {
        return Ok(Prior::Own {
            contract_id: s(own, "id"),
            end_epoch: own["end_epoch"].as_i64().unwrap_or(0),
        });
    }
    // Only a contract on the terms asked is finished in place of buying one.
    let unfinished = active.into_iter().rev().find(|c| {
        c["certified"] == false
            && c["end_epoch"].as_i64().is_some_and(|end| end >= asked_end)
            && c["deletable"] == args.deletable
    });
    Ok(unfinished
        .cloned()
        .map_or(Prior::Nothing, Prior::Unfinished))
}

async fn buy(
    ledger: &LedgerClient,
    signer: &LedgerClient,
    metadata: &BlobMetadata,
    args: &StoreArgs<'_>,
) -> Result<Value, CliError> {
    let quote: Value = ledger
        .get(&format!(
            "/v1/price?size={}&epochs={}",
            metadata.size, args.epochs
        ))
        .await?;
    let max_total = args
        .max_total
        .map(str::to_owned)
        .unwrap_or_else(|| s(&quote, "total"));
    let body = json!({"metadata": metadata, "epochs": args.epochs, "max_total": max_total, "deletable": args.deletable});
    Ok(signer
        .post("/v1/storage/contracts", &body, &fresh_key())
        .await?)
}

/// How a completion ended.
struct Completion {
    certified: bool,
    /// Nodes whose confirmations were handed in.
    confirmed: usize,
    failures: Vec<String>,
}

/// Certifies the contract: every committee node that holds its slivers already gives
/// its confirmation; the others get theirs streamed from `file`; once confirmations
/// cover 2f+1 shards the ledger certifies. If the epoch changed meanwhile (shards
/// moved), the confirmations are collected again for the new committee. Nodes whose
/// upload failed (not the silent ones) get one more afterwards, within the stall timeouts.
async fn complete(
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

fn stored_text(o: &Value) -> String {
    if o["already_stored"] == true {
        return format!(
            "blob {} is already certified until epoch {}: nothing paid (--force buys more)",
            s(o, "blob_id"),
            s(o, "end_epoch")
        );
    }
    format!(
        "{} blob {} (contract {}, {} WAL{}, until epoch {}); certified: {}",
        if o["resumed"] == true {
            "finished"
        } else {
            "stored"
        },
        s(o, "blob_id"),
        s(o, "contract_id"),
        s(o, "total"),
        if o["resumed"] == true {
            " now: it was paid before"
        } else {
            ""
        },
        s(o, "end_epoch"),
        s(o, "certified")
    )
}
