//! Slivers on disk, crash-safe: each is written to a temporary file, fsynced, renamed
//! into place and the directory fsynced, so a sliver file either is whole or does not
//! exist. Temporary files left by a crash are removed at start-up. Layout:
//! `<data_dir>/blobs/<blob_id>/<shard>.sliver`. Every operation runs on the blocking
//! pool, never on the async workers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// Writes a sliver atomically (write, fsync, rename, fsync the directory).
    pub async fn put(
        &self,
        blob_id: &str,
        shard: u32,
        bytes: impl AsRef<[u8]> + Send + 'static,
    ) -> std::io::Result<()> {
        let (disk, id) = (self.clone(), blob_id.to_owned());
        blocking(move || disk.put_blocking(&id, shard, bytes.as_ref())).await
    }

    pub async fn get(&self, blob_id: &str, shard: u32) -> std::io::Result<Option<Vec<u8>>> {
        let (disk, id) = (self.clone(), blob_id.to_owned());
        blocking(move || disk.get_blocking(&id, shard)).await
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

    /// Writes a sliver atomically (write, fsync, rename, fsync the directory).
    fn put_blocking(&self, blob_id: &str, shard: u32, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.blob_dir(blob_id);
        std::fs::create_dir_all(&dir)?;
        let temporary = dir.join(format!("{shard}.{}.tmp", rand::random::<u64>()));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, self.sliver_path(blob_id, shard))?;
        sync_dir(&dir)?;
        sync_dir(self.root.as_path())
    }

    fn get_blocking(&self, blob_id: &str, shard: u32) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.sliver_path(blob_id, shard)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn has_blocking(&self, blob_id: &str, shard: u32) -> bool {
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
