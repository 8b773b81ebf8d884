//! walctl's storage commands: the dispatch of price, store, blob, extend, delete and
//! read, and the ledger-only ones among them (price, blob status, extend, delete) with
//! their text renderers. The data path is in `store` and `read`.

use std::path::Path;

use serde_json::{json, Value};
use wal::encoding::Consistency;

use crate::cli::{BlobCommand, Cli, StorageCommand};
use crate::output::{more_line, print, s};
use crate::{
    address_or_own, client, fresh_key, read, signing_client, store, with_cursor, CliError,
};

pub async fn run(cli: &Cli, command: &StorageCommand) -> Result<(), CliError> {
    match command {
        StorageCommand::Price {
            file_or_size,
            epochs,
        } => price(cli, file_or_size, *epochs).await,
        StorageCommand::Store { file, buy } => {
            store::command(cli, &store::StoreArgs { file, buy }).await
        }
        StorageCommand::Certify { contract_id, file } => {
            store::certify_command(cli, contract_id, file.as_deref()).await
        }
        StorageCommand::Read {
            blob_id,
            output,
            force,
            strict_consistency_check,
        } => {
            let consistency = Consistency::strict_if(*strict_consistency_check);
            read::read_command(cli, blob_id, output.as_deref(), *force, consistency).await
        }
        StorageCommand::BlobId { file, n_shards } => blob_id(cli, file, *n_shards).await,
        StorageCommand::StoreQuilt { paths, buy } => {
            crate::quilt::store_quilt(cli, paths, buy).await
        }
        StorageCommand::ReadQuilt {
            quilt_id,
            identifier,
            output,
        } => {
            crate::quilt::read_quilt(cli, quilt_id, identifier.as_deref(), output.as_deref()).await
        }
        StorageCommand::Blobs {
            owner,
            limit,
            cursor,
        } => list(cli, owner, *limit, cursor).await,
        StorageCommand::Blob(BlobCommand::Health { blob_id }) => {
            read::health_command(cli, blob_id).await
        }
        StorageCommand::Blob(BlobCommand::Status { blob_id }) => status(cli, blob_id).await,
        StorageCommand::Blob(BlobCommand::Attr(command)) => {
            crate::attributes::run(cli, command).await
        }
        StorageCommand::Extend {
            contract_id,
            epochs,
            max_total,
        } => extend(cli, contract_id, *epochs, max_total).await,
        StorageCommand::Delete { contract_id } => delete(cli, contract_id).await,
    }
}

/// The size given, or the size of the file named.
fn size_of(file_or_size: &str) -> Result<u64, CliError> {
    if let Ok(size) = file_or_size.parse::<u64>() {
        return Ok(size);
    }
    let metadata = std::fs::metadata(file_or_size).map_err(|e| {
        CliError::Usage(format!(
            "{file_or_size}: neither a size nor a readable file: {e}"
        ))
    })?;
    Ok(metadata.len())
}

/// One page of an owner's storage contracts.
async fn list(
    cli: &Cli,
    owner: &Option<String>,
    limit: u32,
    cursor: &Option<String>,
) -> Result<(), CliError> {
    let owner = address_or_own(cli, owner)?;
    let path = with_cursor(
        format!("/v1/storage/contracts?owner={owner}&limit={limit}"),
        cursor,
    );
    let page: Value = client(cli, None).get(&path).await?;
    print(cli, &page, contracts_text);
    Ok(())
}

fn contracts_text(page: &Value) -> String {
    let mut lines = vec![format!(
        "{:>8}  {:<64} {:>12} {:>9} {:>9}  {}",
        "contract", "blob id", "bytes", "end epoch", "certified", "status"
    )];
    for c in page["contracts"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>8}  {:<64} {:>12} {:>9} {:>9}  {}",
            s(c, "id"),
            s(c, "blob_id"),
            s(c, "size"),
            s(c, "end_epoch"),
            if c["certified"] == true { "yes" } else { "no" },
            s(c, "status")
        ));
    }
    lines.extend(more_line(page));
    lines.join("\n")
}

/// The blob id `store` would give the file, computed here: nothing is sent.
async fn blob_id(cli: &Cli, file: &Path, n_shards: Option<u32>) -> Result<(), CliError> {
    let n_shards = match n_shards {
        Some(n) => n,
        None => client(cli, None).network().await?.n_shards,
    };
    let metadata = store::metadata_of_file(cli, file, n_shards).await?;
    let out = json!({
        "blob_id": metadata.blob_id(), "size": metadata.size, "n_shards": n_shards,
        "encoding": metadata.encoding.name(),
    });
    print(cli, &out, |o| s(o, "blob_id"));
    Ok(())
}

async fn price(cli: &Cli, file_or_size: &str, epochs: u32) -> Result<(), CliError> {
    let size = size_of(file_or_size)?;
    let out: Value = client(cli, None)
        .get(&format!("/v1/price?size={size}&epochs={epochs}"))
        .await?;
    print(cli, &out, price_text);
    Ok(())
}

async fn status(cli: &Cli, blob_id: &str) -> Result<(), CliError> {
    let out: Value = client(cli, None)
        .get(&format!("/v1/blobs/{blob_id}/status"))
        .await?;
    print(cli, &out, status_text);
    Ok(())
}

/// Extends the contract; without `max_total` the most paid is the storage cost now.
async fn extend(
    cli: &Cli,
    contract_id: &str,
    epochs: u32,
    max_total: &Option<String>,
) -> Result<(), CliError> {
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
    print(cli, &out, extended_text);
    Ok(())
}

async fn delete(cli: &Cli, contract_id: &str) -> Result<(), CliError> {
    let out: Value = signing_client(cli)?
        .send_signed(
            reqwest::Method::DELETE,
            &format!("/v1/storage/contracts/{contract_id}"),
            b"{}",
            None,
        )
        .await?;
    print(cli, &out, deleted_text);
    Ok(())
}

fn price_text(q: &Value) -> String {
    format!(
        "{} bytes ({} units encoded) for {} epochs: {} WAL (storage {} + write {}), at epoch {}'s prices",
        s(q, "size"), s(q, "storage_units"), s(q, "epochs"), s(q, "total"),
        s(q, "storage_cost"), s(q, "write_cost"), s(q, "epoch")
    )
}

fn status_text(b: &Value) -> String {
    format!(
        "blob {}: {} bytes, certified: {}, stored until epoch {}, contracts {}",
        s(b, "blob_id"),
        b["metadata"]["size"],
        s(b, "certified"),
        s(b, "end_epoch"),
        b["contracts"]
    )
}

fn extended_text(c: &Value) -> String {
    format!(
        "contract {} now ends at epoch {} ({} WAL paid in all)",
        s(c, "id"),
        s(c, "end_epoch"),
        s(c, "paid")
    )
}

fn deleted_text(c: &Value) -> String {
    format!(
        "contract {} deleted; {} WAL refunded",
        s(c, "id"),
        s(c, "refunded")
    )
}
