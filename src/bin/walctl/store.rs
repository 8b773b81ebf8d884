//! `walctl store`: encode a file, pay for its storage, upload each sliver to the node
//! holding its shard, and certify the blob with the nodes' signed confirmations.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use wal::client::LedgerClient;
use wal::encoding::{encode, BlobMetadata};

use crate::cli::Cli;
use crate::holders::{holders, node_http, progress, spinner, Holder, TRANSFERS_MAX};
use crate::output::{print, s};
use crate::{client, fresh_key, signing_client, CliError};

const UPLOAD_ATTEMPTS: u32 = 3;

/// Stores the file and prints the outcome; a blob paid for but not certified is an
/// error, after the outcome is printed.
pub async fn command(
    cli: &Cli,
    file: &Path,
    epochs: u32,
    max_total: Option<&str>,
    deletable: bool,
) -> Result<(), CliError> {
    let out = store(cli, file, epochs, max_total, deletable).await?;
    print(cli, &out, stored_text);
    if out["certified"] != json!(true) {
        return Err(CliError::Usage(format!(
            "the blob was paid for but not certified: {}",
            out["failures"]
        )));
    }
    Ok(())
}

async fn store(
    cli: &Cli,
    file: &Path,
    epochs: u32,
    max_total: Option<&str>,
    deletable: bool,
) -> Result<Value, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let ledger = client(cli, None);
    let encoding = spinner(cli, "encoding");
    let (metadata, slivers) = encode_for_network(&ledger, bytes).await?;
    encoding.finish_and_clear();
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
    let (confirmations, mut failures) = upload_all(cli, &blob_id, slivers).await?;
    let contract_id = s(&contract, "id");
    let certifying = spinner(cli, "certifying");
    let certified = match certify(&signer, &contract_id, &confirmations).await {
        Ok(certified) => certified,
        Err(e) => {
            failures.push(e);
            false
        }
    };
    certifying.finish_and_clear();
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

/// Encodes the blob for the network's shard count, off the async threads.
async fn encode_for_network(
    ledger: &LedgerClient,
    bytes: Vec<u8>,
) -> Result<(BlobMetadata, Vec<Vec<u8>>), CliError> {
    let network: Value = ledger.get("/v1/network").await?;
    let n_shards = u32::try_from(network["n_shards"].as_u64().unwrap_or(0)).map_err(|_| {
        CliError::Usage(format!(
            "the ledger's n_shards {} does not fit in a u32",
            network["n_shards"]
        ))
    })?;
    tokio::task::spawn_blocking(move || encode(&bytes, n_shards))
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?
        .map_err(|e| CliError::Usage(format!("cannot encode: {e}")))
}

/// Uploads every sliver to its shard's holder, `TRANSFERS_MAX` at once. Returns the
/// signed confirmations by node id, and the uploads that failed.
async fn upload_all(
    cli: &Cli,
    blob_id: &str,
    slivers: Vec<Vec<u8>>,
) -> Result<(HashMap<String, Value>, Vec<String>), CliError> {
    let (_, holders) = holders(cli).await?;
    let http = node_http()?;
    let bar = progress(cli, slivers.len() as u64, "uploading");
    let permits = Arc::new(Semaphore::new(TRANSFERS_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    for (shard, sliver) in slivers.into_iter().enumerate() {
        let shard = u32::try_from(shard)
            .map_err(|_| CliError::Usage(format!("sliver {shard} is past the u32 shard ids")))?;
        let Some(holder) = holders.get(&shard).cloned() else {
            return Err(CliError::Usage(format!(
                "shard {shard} has no holder in the committee"
            )));
        };
        let (http, blob_id, permits, bar) = (
            http.clone(),
            blob_id.to_owned(),
            permits.clone(),
            bar.clone(),
        );
        tasks.spawn(async move {
            #[expect(
                clippy::expect_used,
                reason = "the semaphore is never closed, so acquiring only waits"
            )]
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
    Ok((confirmations, failures))
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

/// Hands the confirmations to the ledger; whether it certified the blob, or why the
/// request failed.
async fn certify(
    signer: &LedgerClient,
    contract_id: &str,
    confirmations: &HashMap<String, Value>,
) -> Result<bool, String> {
    let list: Vec<Value> = confirmations
        .values()
        .map(|c| json!({"node_id": c["node_id"], "signature": c["signature"]}))
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
    format!(
        "stored blob {} (contract {}, {} WAL, until epoch {}); certified: {}",
        s(o, "blob_id"),
        s(o, "contract_id"),
        s(o, "total"),
        s(o, "end_epoch"),
        s(o, "certified")
    )
}
