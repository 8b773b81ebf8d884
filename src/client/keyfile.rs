//! Key files as API.md defines them: the 32-byte ed25519 secret seed as 64 hex digits
//! and a newline, mode 0600.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::SigningKey;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, creating or writing the file (or creating its directory) failed.
    #[error("{path}: {source}")]
    Io {
        /// The key file's path, as displayed.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not 64 hex digits and an optional line end; holds the path.
    #[error("{0}: a key file holds 64 hex digits (the ed25519 secret seed) and a newline")]
    Malformed(String),
    /// `write_new` found a file at the path already; holds the path.
    #[error("{0} already exists; refusing to overwrite a key (move it away first)")]
    Exists(String),
}

/// Reads a key file.
pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut seed = [0u8; 32];
    let hex_part = text.trim_end_matches(['\n', '\r']);
    hex::decode_to_slice(hex_part, &mut seed).map_err(|_| KeyFileError::Malformed(shown))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes a new key file with mode 0600; never overwrites an existing file.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io {
        path: shown.clone(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // create_new + mode: the file is never readable by others, not even for a moment.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyFileError::Exists(shown))
        }
        Err(e) => return Err(io(e)),
    };
    // The umask cannot widen 0600, but make the mode explicit anyway.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    writeln!(file, "{}", hex::encode(key.to_bytes())).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips_with_mode_0600_and_refuses_overwrite() {
        let dir = std::env::temp_dir().join(format!("wal-keyfile-{}", uuid::Uuid::new_v4()));
        let path = dir.join("key");
        let key = SigningKey::from_bytes(&[7u8; 32]);
        write_new(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap().to_bytes(), key.to_bytes());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", hex::encode([7u8; 32])));
        assert!(matches!(
            write_new(&path, &key),
            Err(KeyFileError::Exists(_))
        ));
        std::fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(read(&path), Err(KeyFileError::Malformed(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
