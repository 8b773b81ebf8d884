//! Quilts: many small files stored and paid for as one blob (Walrus's quilt API, with a
//! layout of our own). This is the one definition of that layout:
//!
//! - The blob is the files' bytes one after the other, in the order given, then the
//!   **index**, then a 17-byte **footer**: the index's length in bytes (u64,
//!   big-endian), the version (u8, 1) and the ASCII bytes `WALQUILT`.
//! - The index is UTF-8 JSON, a list of `{"identifier", "tags", "offset", "length"}`
//!   (offsets from the start of the blob, within the files' bytes), in file order.
//! - An **identifier** is 1..=255 characters without control characters, not starting
//!   with `_` (Walrus keeps those, `_metadata` among them), unique in its quilt; a file
//!   has at most 16 **tags**, names 1..=64 characters, values at most 1024, no control
//!   characters.
//! - A **quilt patch id** is the unpadded URL-safe base64 of 49 bytes: the quilt's blob
//!   id (32), the version (1), the file's offset and length (u64 big-endian each). It
//!   names its bytes without the index, so a read by patch id is one range read.
//!
//! A reader reads the footer (the blob's last 17 bytes), then the index, then a
//! file's range: every part is an ordinary range read of the blob.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The version this code writes and reads.
pub const QUILT_VERSION: u8 = 1;
/// The footer's last bytes.
const MAGIC: &[u8; 8] = b"WALQUILT";
/// The footer's length: index length (8), version (1), magic (8).
pub const FOOTER_LEN: u64 = 17;
/// The most files in one quilt.
pub const PATCHES_MAX: usize = 100_000;
/// Identifier and tag limits (characters).
const IDENTIFIER_CHARS_MAX: usize = 255;
const TAGS_MAX: usize = 16;
const TAG_NAME_CHARS_MAX: usize = 64;
const TAG_VALUE_CHARS_MAX: usize = 1024;

/// Why a quilt cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum QuiltError {
    /// An identifier, a tag or the file set breaks a rule of the layout; says which.
    #[error("{0}")]
    Invalid(String),
    /// The blob is not a quilt of this version (its footer or index does not parse).
    #[error("not a quilt: {0}")]
    NotAQuilt(String),
    /// Writing or reading the bytes failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One file of a quilt, as its index records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// The file's name in the quilt.
    pub identifier: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Where its bytes start in the blob.
    pub offset: u64,
    /// How many bytes it has.
    pub length: u64,
}

fn check_identifier(identifier: &str) -> Result<(), QuiltError> {
    let chars = identifier.chars().count();
    if chars == 0
        || chars > IDENTIFIER_CHARS_MAX
        || identifier.starts_with('_')
        || identifier.chars().any(char::is_control)
    {
        return Err(QuiltError::Invalid(format!(
            "identifier {identifier:?}: 1..={IDENTIFIER_CHARS_MAX} characters, no control \
             characters, not starting with '_'"
        )));
    }
    Ok(())
}

fn check_tags(identifier: &str, tags: &BTreeMap<String, String>) -> Result<(), QuiltError> {
    let bad_text = |t: &str, max: usize| t.chars().count() > max || t.chars().any(char::is_control);
    if tags.len() > TAGS_MAX
        || tags.iter().any(|(name, value)| {
            name.is_empty()
                || bad_text(name, TAG_NAME_CHARS_MAX)
                || bad_text(value, TAG_VALUE_CHARS_MAX)
        })
    {
        return Err(QuiltError::Invalid(format!(
            "tags of {identifier:?}: at most {TAGS_MAX}, names 1..={TAG_NAME_CHARS_MAX} and \
             values at most {TAG_VALUE_CHARS_MAX} characters, no control characters"
        )));
    }
    Ok(())
}

/// Writes a quilt: `add` each file, then `finish` with the tags.
pub struct QuiltWriter<W: Write> {
    out: W,
    offset: u64,
    patches: Vec<Patch>,
    identifiers: HashSet<String>,
}

impl<W: Write> QuiltWriter<W> {
    /// A quilt written to `out`.
    pub fn new(out: W) -> QuiltWriter<W> {
        QuiltWriter {
            out,
            offset: 0,
            patches: Vec::new(),
            identifiers: HashSet::new(),
        }
    }

    /// Appends a file's bytes.
    pub fn add(&mut self, identifier: &str, mut bytes: impl Read) -> Result<(), QuiltError> {
        check_identifier(identifier)?;
        if !self.identifiers.insert(identifier.to_owned()) {
            return Err(QuiltError::Invalid(format!(
                "identifier {identifier:?} is given twice; each file needs its own"
            )));
        }
        if self.patches.len() == PATCHES_MAX {
            return Err(QuiltError::Invalid(format!(
                "a quilt holds at most {PATCHES_MAX} files"
            )));
        }
        let length = std::io::copy(&mut bytes, &mut self.out)?;
        self.patches.push(Patch {
            identifier: identifier.to_owned(),
            tags: BTreeMap::new(),
            offset: self.offset,
            length,
        });
        self.offset += length;
        Ok(())
    }

    /// Writes the index (with `tags` by identifier: each must name a file) and the
    /// footer; the output and the index.
    pub fn finish(
        mut self,
        tags: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<(W, Vec<Patch>), QuiltError> {
        if self.patches.is_empty() {
            return Err(QuiltError::Invalid(
                "a quilt needs at least one file".into(),
            ));
        }
        for (identifier, tags) in tags {
            check_tags(&identifier, &tags)?;
            let patch = self
                .patches
                .iter_mut()
                .find(|p| p.identifier == identifier)
                .ok_or_else(|| {
                    QuiltError::Invalid(format!(
                        "_metadata names {identifier:?}, which is no file of the quilt"
                    ))
                })?;
            patch.tags = tags;
        }
        let index =
            serde_json::to_vec(&self.patches).map_err(|e| QuiltError::Invalid(e.to_string()))?;
        self.out.write_all(&index)?;
        self.out.write_all(&(index.len() as u64).to_be_bytes())?;
        self.out.write_all(&[QUILT_VERSION])?;
        self.out.write_all(MAGIC)?;
        self.out.flush()?;
        Ok((self.out, self.patches))
    }
}

/// The index's length, from the footer (the blob's last `FOOTER_LEN` bytes) of a
/// quilt of `size` bytes.
pub fn index_len(footer: &[u8], size: u64) -> Result<u64, QuiltError> {
    let not = |why: &str| QuiltError::NotAQuilt(why.to_owned());
    if footer.len() as u64 != FOOTER_LEN || &footer[9..17] != MAGIC {
        return Err(not("its last bytes are not a quilt footer"));
    }
    if footer[8] != QUILT_VERSION {
        return Err(QuiltError::NotAQuilt(format!(
            "version {} is not {QUILT_VERSION}",
            footer[8]
        )));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&footer[..8]);
    let len = u64::from_be_bytes(len);
    if len > size.saturating_sub(FOOTER_LEN) {
        return Err(not("its index is longer than the blob"));
    }
    Ok(len)
}

/// The index, checked against the quilt's size: every file within the files' bytes.
pub fn parse_index(index: &[u8], size: u64) -> Result<Vec<Patch>, QuiltError> {
    let patches: Vec<Patch> = serde_json::from_slice(index)
        .map_err(|e| QuiltError::NotAQuilt(format!("its index does not parse: {e}")))?;
    let data_end = size.saturating_sub(FOOTER_LEN + index.len() as u64);
    if patches.iter().any(|p| {
        p.offset
            .checked_add(p.length)
            .is_none_or(|end| end > data_end)
    }) {
        return Err(QuiltError::NotAQuilt(
            "its index points past its files".into(),
        ));
    }
    Ok(patches)
}

/// A file of a quilt, named by the quilt's blob id and the file's byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchId {
    /// The quilt's blob id.
    pub quilt: [u8; 32],
    /// Where the file starts in the quilt.
    pub offset: u64,
    /// Its length.
    pub length: u64,
}

impl PatchId {
    /// The id of `patch` in quilt `quilt`.
    pub fn of(quilt: [u8; 32], patch: &Patch) -> PatchId {
        PatchId {
            quilt,
            offset: patch.offset,
            length: patch.length,
        }
    }
}

impl std::fmt::Display for PatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut bytes = Vec::with_capacity(49);
        bytes.extend_from_slice(&self.quilt);
        bytes.push(QUILT_VERSION);
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        bytes.extend_from_slice(&self.length.to_be_bytes());
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl std::str::FromStr for PatchId {
    type Err = QuiltError;

    fn from_str(text: &str) -> Result<PatchId, QuiltError> {
        let bad = || {
            QuiltError::Invalid(format!(
                "{text:?} is not a quilt patch id (66 URL-safe base64 characters)"
            ))
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        if bytes.len() != 49 || bytes[32] != QUILT_VERSION {
            return Err(bad());
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        let mut quilt = [0u8; 32];
        quilt.copy_from_slice(&bytes[..32]);
        Ok(PatchId {
            quilt,
            offset: word(33),
            length: word(41),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quilt(files: &[(String, Vec<u8>)]) -> (Vec<u8>, Vec<Patch>) {
        let mut writer = QuiltWriter::new(Vec::new());
        for (name, bytes) in files {
            writer.add(name, bytes.as_slice()).unwrap();
        }
        writer.finish(BTreeMap::new()).unwrap()
    }

    #[test]
    fn identifiers_and_tags_follow_the_rules() {
        let mut writer = QuiltWriter::new(Vec::new());
        for bad in ["", "_metadata", "a\nb", &"x".repeat(256)] {
            assert!(writer.add(bad, &b"x"[..]).is_err(), "{bad:?}");
        }
        writer.add("a.txt", &b"hello"[..]).unwrap();
        assert!(writer.add("a.txt", &b"again"[..]).is_err());
        let tags = BTreeMap::from([("nobody".to_owned(), BTreeMap::new())]);
        assert!(writer.finish(tags).is_err());
        assert!(QuiltWriter::new(Vec::new())
            .finish(BTreeMap::new())
            .is_err());
    }

    #[test]
    fn a_broken_footer_or_index_is_no_quilt() {
        let (bytes, _) = quilt(&[("a".into(), b"abc".to_vec())]);
        let size = bytes.len() as u64;
        let footer = &bytes[bytes.len() - 17..];
        assert!(index_len(footer, size).is_ok());
        let mut wrong = footer.to_vec();
        wrong[16] ^= 1;
        assert!(index_len(&wrong, size).is_err());
        let mut long = footer.to_vec();
        long[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(index_len(&long, size).is_err());
        let lying = br#"[{"identifier":"a","tags":{},"offset":2,"length":5}]"#;
        assert!(parse_index(lying, 3 + lying.len() as u64 + 17).is_err());
        assert!("not-an-id".parse::<PatchId>().is_err());
    }

    proptest! {
        /// Every file comes back from the index and its patch id, byte for byte.
        #[test]
        fn files_round_trip(files in prop::collection::btree_map("[a-z0-9.]{1,12}", prop::collection::vec(any::<u8>(), 0..300), 1..8), quilt_id in any::<[u8; 32]>()) {
            let files: Vec<(String, Vec<u8>)> = files.into_iter().collect();
            let (bytes, written) = quilt(&files);
            let size = bytes.len() as u64;
            let footer = &bytes[bytes.len() - 17..];
            let len = index_len(footer, size).unwrap();
            let index_start = usize::try_from(size - 17 - len).unwrap();
            let index = parse_index(&bytes[index_start..bytes.len() - 17], size).unwrap();
            prop_assert_eq!(&index, &written);
            for ((name, content), patch) in files.iter().zip(&index) {
                prop_assert_eq!(&patch.identifier, name);
                let id: PatchId = PatchId::of(quilt_id, patch).to_string().parse().unwrap();
                prop_assert_eq!(id.quilt, quilt_id);
                let (start, end) = (usize::try_from(id.offset).unwrap(), usize::try_from(id.offset + id.length).unwrap());
                prop_assert_eq!(&bytes[start..end], content.as_slice());
            }
        }
    }
}
