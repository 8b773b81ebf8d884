//! walctl's blob commands: price, store (encode, pay, upload, certify) and read (fetch
//! verified slivers, decode, check the blob id).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use wal::client::read::fetch_blob;
use wal::encoding::{encode, BlobMetadata};

use crate::{client, fresh_key, print, s, signing_client, Cli, CliError, Command};

/// Parallel uploads or downloads at once.
const TRANSFERS_MAX: usize = 8;
const UPLOAD_ATTEMPTS: u32 = 3;
const NODE_TIMEOUT: Duration = Duration::from_secs(60);

struct Holder {
    node_id: String,
    endpoint: String,
}

/// Who holds each shard in the current epoch, with their endpoints.
async fn holders(cli: &Cli) -> Result<(i64, HashMap<u32, Arc<Holder>>), CliError> {
    let ledger = client(cli, None);
    let committee: Value = ledger.get("/v1/committee").await?;
    let mut out = HashMap::new();
    for member in committee["members"].as_array().into_iter().flatten() {
        let holder = Arc::new(Holder {
            node_id: s(member, "node_id"),
            endpoint: s(member, "endpoint"),
        });
        for shard in member["shards"].as_array().into_iter().flatten() {
            out.insert(shard.as_u64().unwrap_or(0) as u32, holder.clone());
        }
    }
    let epoch = committee["epoch"].as_i64().unwrap_or(0);
    Ok((epoch, out))
}

fn progress(cli: &Cli, length: u64, what: &str) -> ProgressBar {
    if cli.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} slivers {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

async fn upload(
    http: &reqwest::Client,
    holder: &Holder,
    blob_id: &str,
    shard: u32,
    sliver: Vec<u8>,
) -> Result<Value, String> {
    let url = format!("{}/v1/blobs/{blob_id}/slivers/{shard}", holder.endpoint);
    let mut last = String::new();
    for attempt in 0..UPLOAD_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        match http.put(&url).body(sliver.clone()).send().await {
            Ok(r) if r.status().is_success() => return r.json().await.map_err(|e| e.to_string()),
            Ok(r) => {
                let status = r.status();
                last = format!("HTTP {status}: {}", r.text().await.unwrap_or_default());
                if status.is_client_error() {
                    break; // refused for a reason retrying does not change
                }
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "node {} refused sliver {shard}: {last}",
        holder.node_id
    ))
}

async fn store(
    cli: &Cli,
    file: &std::path::Path,
    epochs: u32,
    max_total: Option<&str>,
    deletable: bool,
) -> Result<Value, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let ledger = client(cli, None);
    let network: Value = ledger.get("/v1/network").await?;
    let n_shards = network["n_shards"].as_u64().unwrap_or(0) as u32;
    let (metadata, slivers) = tokio::task::spawn_blocking(move || encode(&bytes, n_shards))
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?
        .map_err(|e| CliError::Usage(format!("cannot encode: {e}")))?;
    let quote: Value = ledger
        .get(&format!("/v1/price?size={}&epochs={epochs}", metadata.size))
        .await?;
    let max_total = max_total
        .map(str::to_owned)
        .unwrap_or_else(|| s(&quote, "total"));
    let body = json!({"metadata": metadata, "epochs": epochs, "max_total": max_total, "deletable": deletable});
    let signer = signing_client(cli)?;
    let contract: Value = signer
        .post("/v1/storage/contracts", &body, &fresh_key())
        .await?;
    let blob_id = metadata.blob_id();
    let (_, holders) = holders(cli).await?;
    let http = reqwest::Client::builder()
        .timeout(NODE_TIMEOUT)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let bar = progress(cli, slivers.len() as u64, "uploading");
    let permits = Arc::new(Semaphore::new(TRANSFERS_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    for (shard, sliver) in slivers.into_iter().enumerate() {
        let shard = shard as u32;
        let Some(holder) = holders.get(&shard).cloned() else {
            return Err(CliError::Usage(format!(
                "shard {shard} has no holder in the committee"
            )));
        };
        let (http, blob_id, permits, bar) =
            (http.clone(), blob_id.clone(), permits.clone(), bar.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("open semaphore");
            let result = upload(&http, &holder, &blob_id, shard, sliver).await;
            bar.inc(1);
            (holder, result)
        });
    }
    let mut confirmations: HashMap<String, Value> = HashMap::new();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (holder, result) = done.map_err(|e| CliError::Usage(e.to_string()))?;
        match result {
            Ok(stored) if !stored["confirmation"].is_null() => {
                confirmations.insert(holder.node_id.clone(), stored["confirmation"].clone());
            }
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
    }
    bar.finish_and_clear();
    let list: Vec<Value> = confirmations
        .values()
        .map(|c| json!({"node_id": c["node_id"], "signature": c["signature"]}))
        .collect();
    let contract_id = s(&contract, "id");
    let certified: Result<Value, _> = signer
        .post(
            &format!("/v1/storage/contracts/{contract_id}/certificate"),
            &json!({"confirmations": list}),
            &fresh_key(),
        )
        .await;
    let certified = match certified {
        Ok(c) => c["certified"].as_bool().unwrap_or(false),
        Err(e) => {
            failures.push(format!("certification: {e}"));
            false
        }
    };
    Ok(json!({
        "blob_id": blob_id,
        "contract_id": contract_id,
        "total": contract["paid"],
        "end_epoch": contract["end_epoch"],
        "certified": certified,
        "confirmed_nodes": confirmations.len(),
        "failures": failures,
    }))
}

/// The blob's metadata from the ledger, checked against its id.
async fn metadata_of(cli: &Cli, blob_id: &str) -> Result<BlobMetadata, CliError> {
    let status: Value = client(cli, None)
        .get(&format!("/v1/blobs/{blob_id}/status"))
        .await?;
    let metadata: BlobMetadata = serde_json::from_value(status["metadata"].clone())
        .map_err(|e| CliError::Usage(format!("the ledger's metadata is unreadable: {e}")))?;
    if metadata.blob_id() != blob_id {
        return Err(CliError::Usage(
            "the ledger's metadata does not match the blob id".into(),
        ));
    }
    Ok(metadata)
}

/// Which sliver is where, and whether each holder serves it verified.
async fn health(cli: &Cli, blob_id: &str) -> Result<Value, CliError> {
    let blob_id = blob_id.to_ascii_lowercase();
    let metadata = metadata_of(cli, &blob_id).await?;
    let (epoch, holders) = holders(cli).await?;
    let http = reqwest::Client::builder()
        .timeout(NODE_TIMEOUT)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut tasks = tokio::task::JoinSet::new();
    for shard in 0..metadata.n_shards {
        let holder = holders.get(&shard).cloned();
        let (http, metadata, blob_id) = (http.clone(), metadata.clone(), blob_id.clone());
        tasks.spawn(async move {
            let Some(holder) = holder else {
                return json!({"shard": shard, "node_id": null, "state": "no holder"});
            };
            let url = format!("{}/v1/blobs/{blob_id}/slivers/{shard}", holder.endpoint);
            let state = match http.get(url).send().await {
                Err(_) => "unreachable",
                Ok(r) if r.status().as_u16() == 404 => "missing",
                Ok(r) if !r.status().is_success() => "refused",
                Ok(r) => match r.bytes().await {
                    Ok(b) if metadata.verify_sliver(shard, &b).is_ok() => "verified",
                    Ok(_) => "corrupt",
                    Err(_) => "unreachable",
                },
            };
            json!({"shard": shard, "node_id": holder.node_id, "endpoint": holder.endpoint, "state": state})
        });
    }
    let mut slivers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        slivers.push(done.map_err(|e| CliError::Usage(e.to_string()))?);
    }
    slivers.sort_by_key(|s| s["shard"].as_u64());
    let verified = slivers.iter().filter(|s| s["state"] == "verified").count();
    Ok(json!({
        "blob_id": blob_id, "epoch": epoch, "n_shards": metadata.n_shards, "k": metadata.k,
        "verified": verified, "readable": verified >= metadata.k as usize,
        "fully_redundant": verified == metadata.n_shards as usize, "slivers": slivers,
    }))
}

fn health_text(h: &Value) -> String {
    let mut lines = vec![format!(
        "blob {} in epoch {}: {} of {} slivers verified (k = {}): {}",
        s(h, "blob_id"),
        s(h, "epoch"),
        s(h, "verified"),
        s(h, "n_shards"),
        s(h, "k"),
        if h["fully_redundant"] == true {
            "fully redundant"
        } else if h["readable"] == true {
            "readable, redundancy reduced"
        } else {
            "NOT readable"
        }
    )];
    for sliver in h["slivers"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>6}  node {:>6}  {:<10} {}",
            s(sliver, "shard"),
            s(sliver, "node_id"),
            s(sliver, "state"),
            s(sliver, "endpoint")
        ));
    }
    lines.join("\n")
}

async fn read(cli: &Cli, blob_id: &str, output: &std::path::Path) -> Result<Value, CliError> {
    let blob_id = blob_id.to_ascii_lowercase();
    let metadata = metadata_of(cli, &blob_id).await?;
    let (_, holders) = holders(cli).await?;
    let endpoints: HashMap<u32, String> = holders
        .iter()
        .map(|(&shard, h)| (shard, h.endpoint.clone()))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(NODE_TIMEOUT)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let bar = progress(cli, u64::from(metadata.n_shards), "reading");
    let tick = bar.clone();
    let (bytes, verified) = fetch_blob(
        &http,
        &metadata,
        &endpoints,
        TRANSFERS_MAX,
        Arc::new(move || tick.inc(1)),
    )
    .await
    .map_err(|e| CliError::Usage(format!("cannot rebuild blob {blob_id}: {e}")))?;
    bar.finish_and_clear();
    std::fs::write(output, &bytes)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", output.display())))?;
    Ok(
        json!({"blob_id": blob_id, "size": bytes.len(), "verified_slivers": verified, "output": output.display().to_string()}),
    )
}

pub async fn run(cli: &Cli, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Price {
            file_or_size,
            epochs,
        } => {
            let size = match file_or_size.parse::<u64>() {
                Ok(size) => size,
                Err(_) => std::fs::metadata(file_or_size)
                    .map_err(|e| {
                        CliError::Usage(format!(
                            "{file_or_size}: neither a size nor a readable file: {e}"
                        ))
                    })?
                    .len(),
            };
            let out: Value = client(cli, None)
                .get(&format!("/v1/price?size={size}&epochs={epochs}"))
                .await?;
            print(cli, &out, |q| {
                format!(
                    "{} bytes ({} units encoded) for {} epochs: {} WAL (storage {} + write {}), at epoch {}'s prices",
                    s(q, "size"), s(q, "storage_units"), s(q, "epochs"), s(q, "total"),
                    s(q, "storage_cost"), s(q, "write_cost"), s(q, "epoch")
                )
            });
        }
        Command::Store {
            file,
            epochs,
            max_total,
            deletable,
        } => {
            let out = store(cli, file, *epochs, max_total.as_deref(), *deletable).await?;
            print(cli, &out, |o| {
                format!(
                    "stored blob {} (contract {}, {} WAL, until epoch {}); certified: {}",
                    s(o, "blob_id"),
                    s(o, "contract_id"),
                    s(o, "total"),
                    s(o, "end_epoch"),
                    s(o, "certified")
                )
            });
            if out["certified"] != json!(true) {
                return Err(CliError::Usage(format!(
                    "the blob was paid for but not certified: {}",
                    out["failures"]
                )));
            }
        }
        Command::Read { blob_id, output } => {
            let out = read(cli, blob_id, output).await?;
            print(cli, &out, |o| {
                format!(
                    "read blob {} ({} bytes) into {}",
                    s(o, "blob_id"),
                    s(o, "size"),
                    s(o, "output")
                )
            });
        }
        Command::Blob(crate::BlobCommand::Health { blob_id }) => {
            let out = health(cli, blob_id).await?;
            print(cli, &out, health_text);
        }
        Command::Blob(crate::BlobCommand::Status { blob_id }) => {
            let out: Value = client(cli, None)
                .get(&format!("/v1/blobs/{blob_id}/status"))
                .await?;
            print(cli, &out, |b| {
                format!(
                    "blob {}: {} bytes, certified: {}, stored until epoch {}, contracts {}",
                    s(b, "blob_id"),
                    b["metadata"]["size"],
                    s(b, "certified"),
                    s(b, "end_epoch"),
                    b["contracts"]
                )
            });
        }
        Command::Extend {
            contract_id,
            epochs,
            max_total,
        } => {
            let ledger = client(cli, None);
            let max_total = match max_total {
                Some(max) => max.clone(),
                None => {
                    let contract: Value = ledger
                        .get(&format!("/v1/storage/contracts/{contract_id}"))
                        .await?;
                    let quote: Value = ledger
                        .get(&format!(
                            "/v1/price?size={}&epochs={epochs}",
                            contract["size"]
                        ))
                        .await?;
                    s(&quote, "storage_cost")
                }
            };
            let body = json!({"epochs": epochs, "max_total": max_total});
            let out: Value = signing_client(cli)?
                .post(
                    &format!("/v1/storage/contracts/{contract_id}/extend"),
                    &body,
                    &fresh_key(),
                )
                .await?;
            print(cli, &out, |c| {
                format!(
                    "contract {} now ends at epoch {} ({} WAL paid in all)",
                    s(c, "id"),
                    s(c, "end_epoch"),
                    s(c, "paid")
                )
            });
        }
        Command::Delete { contract_id } => {
            let out: Value = signing_client(cli)?
                .send_signed(
                    reqwest::Method::DELETE,
                    &format!("/v1/storage/contracts/{contract_id}"),
                    b"{}",
                    None,
                )
                .await?;
            print(cli, &out, |c| {
                format!(
                    "contract {} deleted; {} WAL refunded",
                    s(c, "id"),
                    s(c, "refunded")
                )
            });
        }
        _ => unreachable!("main dispatches only blob commands here"),
    }
    Ok(())
}
