//! walctl's read side of the data path: `read` (fetch verified slivers, decode, check
//! the blob id) and `blob health` (which holder serves which sliver, verified now).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use wal::client::download::{read_blob, ReadError, ReadFrom};
use wal::encoding::{BlobMetadata, Consistency};

use crate::cli::{Cli, Command, StorageCommand};
use crate::holders::{byte_progress, holders, node_http, stall};
use crate::output::{print, s};
use crate::{client, CliError};

/// Reads a blob to `output`, or to stdout when it is none or `-` (the summary then
/// goes to stderr, so stdout carries the blob's bytes only). The blob streams through:
/// one stripe in memory at a time.
pub async fn read_command(
    cli: &Cli,
    blob_id: &str,
    output: Option<&Path>,
    force: bool,
    consistency: Consistency,
) -> Result<(), CliError> {
    let output = output.filter(|path| *path != Path::new("-"));
    if let Some(path) = output {
        if path.exists() && !force {
            return Err(exists(path));
        }
    }
    let blob_id = blob_id.to_ascii_lowercase();
    let metadata = metadata_of(cli, &blob_id).await?;
    match output {
        Some(path) => {
            let from = sources(cli, consistency).await?;
            let mut out = read_to_file(cli, (&metadata, &from), path, force).await?;
            out["output"] = json!(path.display().to_string());
            print(cli, &out, read_text);
        }
        None => {
            let from = sources(cli, consistency).await?;
            let (mut out, _) = read(cli, &metadata, &from, std::io::stdout())
                .await
                .map_err(quiet_on_closed_pipe)?;
            out["output"] = json!("-");
            let summary = if cli.json {
                out.to_string()
            } else {
                read_text(&out)
            };
            eprintln!("{summary}");
        }
    }
    Ok(())
}

fn exists(path: &Path) -> CliError {
    CliError::Usage(format!(
        "{} exists; pass --force to overwrite it, or -o another file",
        path.display()
    ))
}

/// A reader that closed the pipe (`| head`) ends the command quietly, as it ends `cat`.
fn quiet_on_closed_pipe(error: ReadError) -> CliError {
    match error {
        ReadError::Sink(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => CliError::Usage(other.to_string()),
    }
}

/// Reads the blob into a temporary file beside `path`, then puts it in place: never
/// over an existing file (or link) without `force`, even one that appeared while the
/// blob was read (a hard link fails if the name exists); with `force`, renamed over it,
/// so a failed read leaves the old file whole.
async fn read_to_file(
    cli: &Cli,
    (metadata, from): (&BlobMetadata, &Sources),
    path: &Path,
    force: bool,
) -> Result<Value, CliError> {
    let failed =
        |e: std::io::Error| CliError::Usage(format!("cannot write {}: {e}", path.display()));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".walctl-{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(failed)?;
    let result = async {
        // Not fsynced, as cp and curl do not: the kernel writes it back.
        let (out, _) = read(cli, metadata, from, file)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if force {
            std::fs::rename(&temporary, path).map_err(failed)?;
        } else {
            std::fs::hard_link(&temporary, path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => exists(path),
                _ => failed(e),
            })?;
        }
        Ok(out)
    }
    .await;
    let _ = std::fs::remove_file(&temporary);
    result
}

/// Whether the command writes a blob's bytes to stdout (`read` without `-o FILE`).
pub fn writes_data_to_stdout(command: &Command) -> bool {
    let to_stdout = |output: &Option<std::path::PathBuf>| {
        output.as_deref().is_none_or(|path| path == Path::new("-"))
    };
    match command {
        Command::Storage(StorageCommand::Read { output, .. }) => to_stdout(output),
        Command::Storage(StorageCommand::ReadQuilt {
            identifier: Some(_),
            output,
            ..
        }) => to_stdout(output),
        _ => false,
    }
}

pub async fn health_command(cli: &Cli, blob_id: &str) -> Result<(), CliError> {
    let out = health(cli, blob_id).await?;
    print(cli, &out, health_text);
    Ok(())
}

/// The blob's metadata from the ledger, checked against its id.
pub(crate) async fn metadata_of(cli: &Cli, blob_id: &str) -> Result<BlobMetadata, CliError> {
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

/// Streams the blob from its holders into `sink`; the summary.
/// Who to read from: this epoch's holders by shard, and the client for the nodes.
pub struct Sources {
    pub(crate) endpoints: HashMap<u32, String>,
    pub(crate) http: reqwest::Client,
    pub(crate) consistency: Consistency,
}

pub(crate) async fn sources(cli: &Cli, consistency: Consistency) -> Result<Sources, CliError> {
    let (_, holders) = holders(cli).await?;
    let endpoints = holders
        .iter()
        .map(|(&shard, h)| (shard, h.endpoint.clone()))
        .collect();
    Ok(Sources {
        endpoints,
        http: node_http(cli)?,
        consistency,
    })
}

async fn read<W: std::io::Write + Send + 'static>(
    cli: &Cli,
    metadata: &BlobMetadata,
    sources: &Sources,
    sink: W,
) -> Result<(Value, W), ReadError> {
    let from = ReadFrom {
        http: &sources.http,
        endpoints: &sources.endpoints,
        stall: stall(cli),
        consistency: sources.consistency,
    };
    let blob_id = metadata.blob_id();
    let bar = byte_progress(cli, metadata.size, "reading");
    let tick = bar.clone();
    let (report, sink) = read_blob(from, metadata, sink, Arc::new(move |b| tick.inc(b))).await?;
    bar.finish_and_clear();
    let summary = json!({
        "blob_id": blob_id, "size": report.bytes, "verified_slivers": report.slivers_used,
        "replaced_sources": report.replaced,
        "consistency_check": sources.consistency.name(),
    });
    Ok((summary, sink))
}

/// Which sliver is where, and whether each holder serves it verified.
async fn health(cli: &Cli, blob_id: &str) -> Result<Value, CliError> {
    let blob_id = blob_id.to_ascii_lowercase();
    let metadata = metadata_of(cli, &blob_id).await?;
    let (epoch, holders) = holders(cli).await?;
    let report =
        wal::client::health::check(&node_http(cli)?, &metadata, &blob_id, epoch, &holders).await;
    serde_json::to_value(report).map_err(|e| CliError::Usage(e.to_string()))
}

fn read_text(o: &Value) -> String {
    format!(
        "read blob {} ({} bytes) into {}",
        s(o, "blob_id"),
        s(o, "size"),
        s(o, "output")
    )
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
