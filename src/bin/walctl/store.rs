//! `walctl store` and `walctl certify`: compute a file's metadata (one stripe in
//! memory at a time), pay for its storage unless it is paid for already, stream each
//! node its slivers, and certify the blob with the nodes' signed confirmations.
//!
//! Paying is never repeated: a store that finds the blob certified for the epochs asked
//! pays nothing (unless `--force`), and one that finds its own paid, uncertified
//! contract for the blob completes that one instead of buying another.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use wal::client::store::{self, Prior, Purchase};
use wal::client::upload::file_metadata;
use wal::encoding::BlobMetadata;

use crate::cli::Cli;
use crate::complete::complete;
use crate::holders::byte_progress;
use crate::output::{print, s};
use crate::{client, signing_client, CliError};

/// What `walctl store` was asked.
pub struct StoreArgs<'a> {
    /// The file to store.
    pub file: &'a Path,
    /// Epochs, the most to pay, deletable, force.
    pub buy: &'a crate::cli::BuyFlags,
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

/// Stores the file; the outcome as `walctl store --json` prints it.
pub(crate) async fn store(cli: &Cli, args: &StoreArgs<'_>) -> Result<Value, CliError> {
    let ledger = client(cli, None);
    let network = ledger.network().await?;
    let metadata = metadata_of_file(cli, args.file, network.n_shards).await?;
    let blob_id = metadata.blob_id();
    let signer = signing_client(cli)?;
    let owner = signer
        .address()
        .ok_or(CliError::Client(wal::client::ClientError::NoKey))?;
    let asked_end = network.epoch + i64::from(args.buy.epochs);
    let prior = store::prior(&ledger, &blob_id, &owner, args.buy.deletable, asked_end).await?;
    let (contract, resumed) = match prior {
        Prior::Covered { end_epoch } if !args.buy.force => {
            return Ok(json!({
                "blob_id": blob_id, "contract_id": null, "total": "0", "end_epoch": end_epoch,
                "certified": true, "already_stored": true, "confirmed_nodes": 0, "failures": [],
            }));
        }
        Prior::Own {
            contract_id,
            end_epoch,
        } if !args.buy.force => {
            return Err(CliError::Usage(format!(
                "you store blob {blob_id} already, until epoch {end_epoch} (contract {contract_id}): `walctl extend {contract_id} --epochs N` keeps it longer; --force buys another contract"
            )));
        }
        Prior::Unfinished(contract) if !args.buy.force => (contract, true),
        _ => {
            let purchase = Purchase {
                metadata: &metadata,
                epochs: args.buy.epochs,
                max_total: args.buy.max_total.clone(),
                deletable: args.buy.deletable,
                owner: None,
                attributes: Default::default(),
            };
            (store::buy(&ledger, &signer, &purchase).await?, false)
        }
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
