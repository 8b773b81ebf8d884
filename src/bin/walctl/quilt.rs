//! `walctl store-quilt` and `walctl read-quilt`: many small files as one blob (the
//! layout and patch ids of `wal::encoding::quilt`, as the gateway's quilt routes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use wal::client::download::{read_range, ReadFrom};
use wal::encoding::quilt::{self, Patch, PatchId, QuiltWriter};
use wal::encoding::BlobMetadata;

use crate::cli::{BuyFlags, Cli};
use crate::holders::stall;
use crate::output::{print, s};
use crate::read::{metadata_of, sources, Sources};
use crate::store::{store, StoreArgs};
use crate::CliError;

/// The files named, a directory standing for the files in it (sorted by name).
fn files_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        let unreadable =
            |e: std::io::Error| CliError::Usage(format!("cannot read {}: {e}", path.display()));
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(unreadable)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            std::fs::metadata(path).map_err(unreadable)?;
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Writes the files into a quilt at `out`; its index.
fn write_quilt(files: &[PathBuf], out: &Path) -> Result<Vec<Patch>, CliError> {
    let bad = |e: quilt::QuiltError| CliError::Usage(e.to_string());
    let file = std::fs::File::create(out)
        .map_err(|e| CliError::Usage(format!("{}: {e}", out.display())))?;
    let mut writer = QuiltWriter::new(std::io::BufWriter::new(file));
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: a quilt file needs a UTF-8 name",
                path.display()
            ))
        })?;
        let content = std::fs::File::open(path)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        writer.add(name, content).map_err(bad)?;
    }
    let (_, patches) = writer.finish(BTreeMap::new()).map_err(bad)?;
    Ok(patches)
}

pub async fn store_quilt(cli: &Cli, paths: &[PathBuf], buy: &BuyFlags) -> Result<(), CliError> {
    let files = files_of(paths)?;
    let spool = std::env::temp_dir().join(format!("walctl-quilt-{}.bin", uuid::Uuid::new_v4()));
    let patches = write_quilt(&files, &spool);
    let stored = match patches {
        Ok(patches) => {
            let store_args = StoreArgs { file: &spool, buy };
            store(cli, &store_args).await.map(|out| (out, patches))
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&spool);
    let (mut out, patches) = stored?;
    let quilt_id = s(&out, "blob_id");
    let id = quilt_bytes(&quilt_id)?;
    out["quilt_id"] = json!(quilt_id);
    out["patches"] = json!(patches
        .iter()
        .map(|p| json!({"identifier": p.identifier, "quilt_patch_id": PatchId::of(id, p).to_string(), "size": p.length}))
        .collect::<Vec<_>>());
    print(cli, &out, |o| {
        let mut lines = vec![format!(
            "quilt {} of {} files (contract {}, {} WAL); certified: {}",
            s(o, "quilt_id"),
            patches.len(),
            s(o, "contract_id"),
            s(o, "total"),
            s(o, "certified")
        )];
        lines.extend(
            o["patches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("  {}  {}", s(p, "quilt_patch_id"), s(p, "identifier"))),
        );
        lines.join("\n")
    });
    Ok(())
}

fn quilt_bytes(quilt_id: &str) -> Result<[u8; 32], CliError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(quilt_id, &mut bytes)
        .map_err(|_| CliError::Usage(format!("{quilt_id:?} is not a quilt (blob) id")))?;
    Ok(bytes)
}

/// Bytes `range` of the blob, in memory.
async fn read_bytes(
    cli: &Cli,
    metadata: &BlobMetadata,
    from: &Sources,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, CliError> {
    let read_from = ReadFrom {
        http: &from.http,
        endpoints: &from.endpoints,
        stall: stall(cli),
        consistency: from.consistency,
    };
    let (_, bytes) = read_range(read_from, metadata, range, Vec::new())
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(bytes)
}

/// The quilt's index: its footer, then the index, two range reads.
async fn index(cli: &Cli, metadata: &BlobMetadata, from: &Sources) -> Result<Vec<Patch>, CliError> {
    let size = metadata.size;
    let not_a_quilt =
        |e: quilt::QuiltError| CliError::Usage(format!("blob {}: {e}", metadata.blob_id()));
    if size < quilt::FOOTER_LEN {
        return Err(CliError::Usage(format!(
            "blob {} is no quilt: it is too short",
            metadata.blob_id()
        )));
    }
    let footer = read_bytes(cli, metadata, from, size - quilt::FOOTER_LEN..size).await?;
    let len = quilt::index_len(&footer, size).map_err(not_a_quilt)?;
    let start = size - quilt::FOOTER_LEN - len;
    let bytes = read_bytes(cli, metadata, from, start..start + len).await?;
    quilt::parse_index(&bytes, size).map_err(not_a_quilt)
}

pub async fn read_quilt(
    cli: &Cli,
    quilt_id: &str,
    identifier: Option<&str>,
    output: Option<&Path>,
) -> Result<(), CliError> {
    let quilt_id = quilt_id.to_ascii_lowercase();
    let id = quilt_bytes(&quilt_id)?;
    let metadata = metadata_of(cli, &quilt_id).await?;
    let from = sources(cli, wal::encoding::Consistency::Default).await?;
    let patches = index(cli, &metadata, &from).await?;
    let Some(identifier) = identifier else {
        let out: Value = json!({"quilt_id": quilt_id, "patches": patches.iter().map(|p| json!({
            "identifier": p.identifier, "quilt_patch_id": PatchId::of(id, p).to_string(),
            "size": p.length, "tags": p.tags})).collect::<Vec<_>>()});
        print(cli, &out, |o| {
            o["patches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{:>10}  {}", s(p, "size"), s(p, "identifier")))
                .collect::<Vec<_>>()
                .join("\n")
        });
        return Ok(());
    };
    let patch = patches
        .iter()
        .find(|p| p.identifier == identifier)
        .ok_or_else(|| CliError::Usage(format!("quilt {quilt_id} has no file {identifier:?}; `walctl read-quilt {quilt_id}` lists them")))?;
    let bytes = read_bytes(
        cli,
        &metadata,
        &from,
        patch.offset..patch.offset + patch.length,
    )
    .await?;
    match output {
        Some(path) if path != Path::new("-") => {
            if path.exists() {
                return Err(CliError::Usage(format!(
                    "{} exists; -o another file",
                    path.display()
                )));
            }
            std::fs::write(path, &bytes)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        }
        _ => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(CliError::Usage(format!("cannot write to stdout: {e}")));
                }
            }
        }
    }
    Ok(())
}
