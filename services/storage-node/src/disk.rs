//! Slivers on disk, crash-safe: each is written to a temporary file, fsynced, renamed
//! into place and the directory fsynced, so a sliver file either is whole or does not
//! exist. Temporary files left by a crash are removed at start-up. Layout:
//! `<data_dir>/blobs/<blob_id>/<shard>.sliver`.

use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Disk {
    root: PathBuf,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Disk {
    /// Opens the data directory and removes torn writes of an earlier crash.
    pub fn open(data_dir: &Path) -> std::io::Result<Disk> {
        let root = data_dir.join("blobs");
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
        Ok(Disk { root })
    }

    fn blob_dir(&self, blob_id: &str) -> PathBuf {
        self.root.join(blob_id)
    }

    fn sliver_path(&self, blob_id: &str, shard: u32) -> PathBuf {
        self.blob_dir(blob_id).join(format!("{shard}.sliver"))
    }

    /// Writes a sliver atomically (write, fsync, rename, fsync the directory).
    pub fn put(&self, blob_id: &str, shard: u32, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.blob_dir(blob_id);
        std::fs::create_dir_all(&dir)?;
        let temporary = dir.join(format!("{shard}.{}.tmp", rand::random::<u64>()));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, self.sliver_path(blob_id, shard))?;
        sync_dir(&dir)?;
        sync_dir(&self.root)
    }

    pub fn get(&self, blob_id: &str, shard: u32) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.sliver_path(blob_id, shard)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn has(&self, blob_id: &str, shard: u32) -> bool {
        self.sliver_path(blob_id, shard).is_file()
    }

    /// Blob ids with slivers here.
    pub fn blobs(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            if let Some(name) = entry?.file_name().to_str() {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Drops every sliver of a blob (its storage has expired).
    pub fn drop_blob(&self, blob_id: &str) -> std::io::Result<()> {
        std::fs::remove_dir_all(self.blob_dir(blob_id))?;
        sync_dir(&self.root)
    }
}
