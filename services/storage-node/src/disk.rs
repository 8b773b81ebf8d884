//! Slivers on disk, crash-safe: each is written to a temporary file as it arrives,
//! fsynced, renamed into place and the directory fsynced, so a sliver file either is
//! whole or does not exist. Next to it, its chunks' leaf hashes (32 bytes each), renamed
//! into place first, so a challenge or a read needs only the chunks it touches and the
//! leaves. Temporary files left by a crash are removed at start-up. Layout:
//! `<data_dir>/blobs/<blob_id>/<shard>.sliver` and `<shard>.leaves`. Every operation
//! runs on the blocking pool, never on the async workers.

use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal::encoding::merkle::{self, Hash, RootBuilder};

/// Bytes read from a sliver file at a time when it is verified or served.
pub const READ_BYTES: usize = 1 << 20;

#[derive(Clone)]
pub struct Disk {
    root: Arc<PathBuf>,
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Disk {
    /// Opens the data directory and removes torn writes of an earlier crash.
    pub async fn open(data_dir: &Path) -> std::io::Result<Disk> {
        let root = data_dir.join("blobs");
        blocking(move || Disk::open_blocking(root)).await
    }

    fn open_blocking(root: PathBuf) -> std::io::Result<Disk> {
        std::fs::create_dir_all(&root)?;
        for blob in std::fs::read_dir(&root)? {
            let blob = blob?.path();
            if !blob.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&blob)? {
                let file = file?.path();
                if file.extension().is_some_and(|e| e == "tmp") {
                    std::fs::remove_file(&file)?;
                }
            }
        }
        Ok(Disk {
            root: Arc::new(root),
        })
    }

    /// A temporary file for a sliver of `sliver_len` bytes that arrives in pieces.
    pub fn begin_blocking(
        &self,
        blob_id: &str,
        shard: u32,
        chunk_len: u64,
    ) -> std::io::Result<SliverWriter> {
        let dir = self.blob_dir(blob_id);
        std::fs::create_dir_all(&dir)?;
        let temporary = dir.join(format!("{shard}.{}.tmp", rand::random::<u64>()));
        let file = BufWriter::with_capacity(READ_BYTES, std::fs::File::create(&temporary)?);
        let chunk_len = usize::try_from(chunk_len).unwrap_or(usize::MAX);
        Ok(SliverWriter {
            disk: self.clone(),
            blob_id: blob_id.to_owned(),
            shard,
            temporary,
            file,
            root: RootBuilder::new(chunk_len, true),
        })
    }

    /// The sliver's leaf hashes, checked against its root `expected`. The saved leaves
    /// are used if they make the root; otherwise (missing, or rotted themselves) they
    /// are computed again from the sliver's bytes, and saved only if those verify.
    pub fn leaves_blocking(
        &self,
        blob_id: &str,
        shard: u32,
        chunk_len: u64,
        expected: &Hash,
    ) -> std::io::Result<Leaves> {
        if !self.has_blocking(blob_id, shard) {
            return Ok(Leaves::Absent);
        }
        match std::fs::read(self.leaves_path(blob_id, shard)) {
            Ok(bytes) => {
                let leaves = parse_leaves(&bytes);
                if !leaves.is_empty() && merkle::root(leaves.clone()) == *expected {
                    return Ok(Leaves::Verified(leaves));
                }
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let mut root = RootBuilder::new(usize::try_from(chunk_len).unwrap_or(usize::MAX), true);
        let mut file = self.open_sliver_blocking(blob_id, shard)?;
        let mut buffer = vec![0u8; READ_BYTES];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            root.push_bytes(&buffer[..read]);
        }
        match root.finish() {
            Some((hash, leaves)) if hash == *expected => {
                write_atomically(&self.leaves_path(blob_id, shard), &leaves.concat())?;
                Ok(Leaves::Verified(leaves))
            }
            _ => Ok(Leaves::Rotten),
        }
    }

    /// The sliver's file, opened for reading.
    pub fn open_sliver_blocking(
        &self,
        blob_id: &str,
        shard: u32,
    ) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.sliver_path(blob_id, shard))
    }

    /// Reads `len` bytes at `offset` of a sliver (a challenged chunk).
    pub fn read_at_blocking(
        &self,
        blob_id: &str,
        shard: u32,
        offset: u64,
        len: usize,
    ) -> std::io::Result<Vec<u8>> {
        read_at(&self.open_sliver_blocking(blob_id, shard)?, offset, len)
    }

    /// Whether every one of `shards` has its sliver of the blob here.
    pub async fn has_all(&self, blob_id: &str, shards: &[u32]) -> std::io::Result<bool> {
        let (disk, id, shards) = (self.clone(), blob_id.to_owned(), shards.to_vec());
        blocking(move || Ok(shards.iter().all(|&s| disk.has_blocking(&id, s)))).await
    }

    /// Blob ids with slivers here.
    pub async fn blobs(&self) -> std::io::Result<Vec<String>> {
        let disk = self.clone();
        blocking(move || disk.blobs_blocking()).await
    }

    /// Drops every sliver of a blob (its storage has expired).
    pub async fn drop_blob(&self, blob_id: &str) -> std::io::Result<()> {
        let (disk, id) = (self.clone(), blob_id.to_owned());
        blocking(move || disk.drop_blob_blocking(&id)).await
    }

    fn blob_dir(&self, blob_id: &str) -> PathBuf {
        self.root.join(blob_id)
    }

    fn sliver_path(&self, blob_id: &str, shard: u32) -> PathBuf {
        self.blob_dir(blob_id).join(format!("{shard}.sliver"))
    }

    fn leaves_path(&self, blob_id: &str, shard: u32) -> PathBuf {
        self.blob_dir(blob_id).join(format!("{shard}.leaves"))
    }

    /// Whether the sliver is here.
    pub fn has_blocking(&self, blob_id: &str, shard: u32) -> bool {
        self.sliver_path(blob_id, shard).is_file()
    }

    /// Blob ids with slivers here.
    fn blobs_blocking(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.as_path())? {
            if let Some(name) = entry?.file_name().to_str() {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Drops every sliver of a blob (its storage has expired).
    fn drop_blob_blocking(&self, blob_id: &str) -> std::io::Result<()> {
        std::fs::remove_dir_all(self.blob_dir(blob_id))?;
        sync_dir(self.root.as_path())
    }
}

/// Exactly `len` bytes at `offset` of a file.
pub fn read_at(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    file.read_exact_at(&mut out, offset)?;
    Ok(out)
}

fn parse_leaves(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(32)
        .map(|leaf| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(leaf);
            hash
        })
        .collect()
}

/// Writes a file whole or not at all: temporary file, fsync, rename, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("{}.tmp", rand::random::<u64>()));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    path.parent().map_or(Ok(()), sync_dir)
}

/// What `leaves_blocking` found.
pub enum Leaves {
    /// No sliver here.
    Absent,
    /// The leaves, which make the sliver's root.
    Verified(Vec<Hash>),
    /// The sliver's bytes no longer make its root: it rotted.
    Rotten,
}

/// A sliver being received: its bytes go to a temporary file as they arrive, its root
/// is computed on the way, and `commit` renames it into place only if the root is the
/// metadata's. Dropped without `commit`, it removes the temporary file.
pub struct SliverWriter {
    disk: Disk,
    blob_id: String,
    shard: u32,
    temporary: PathBuf,
    file: BufWriter<std::fs::File>,
    root: RootBuilder,
}

impl SliverWriter {
    /// The next bytes of the sliver.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.root.push_bytes(bytes);
        self.file.write_all(bytes)
    }

    /// The root of the bytes so far, consuming the writer's hashing state, with its
    /// leaves; `None` for no bytes.
    pub fn finish_root(&mut self) -> Option<(Hash, Vec<Hash>)> {
        std::mem::replace(&mut self.root, RootBuilder::new(1, false)).finish()
    }

    /// Saves the leaves, fsyncs and renames the sliver into place (the commit point).
    pub fn commit(mut self, leaves: &[Hash]) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        let disk = self.disk.clone();
        write_atomically(
            &disk.leaves_path(&self.blob_id, self.shard),
            &leaves.concat(),
        )?;
        std::fs::rename(&self.temporary, disk.sliver_path(&self.blob_id, self.shard))?;
        sync_dir(&disk.blob_dir(&self.blob_id))?;
        sync_dir(disk.root.as_path())
    }
}

impl Drop for SliverWriter {
    fn drop(&mut self) {
        // After a commit the temporary file is gone and this fails harmlessly.
        let _ = std::fs::remove_file(&self.temporary);
    }
}
