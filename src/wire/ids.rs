//! Typed ids, each with one parsing rule, used wherever the id crosses the wire: in a
//! path, a query, a request body. A handler gets an id already parsed, so no store
//! re-parses text, and two endpoints cannot disagree on what an id looks like.
//!
//! - Row ids (`NodeId`, `StakeId`, `ContractId`, `TransferId`, `EntryId`): a positive integer in
//!   decimal, 1 to 18 digits without sign or leading zero (`^[1-9][0-9]{0,17}$`), so
//!   every id fits an i64 and has exactly one spelling.
//! - Hashes and keys (`BlobId`, `ProtocolKey`): 64 hex digits of 32 bytes, either case
//!   (written back in lower case), as addresses are; a protocol key also accepts `0x`
//!   and must be a valid ed25519 point.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not the id it was meant to be; says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {what}: expected {expected}")]
pub struct IdError {
    /// What the text was meant to be, e.g. "node id" or "blob id".
    pub what: &'static str,
    /// What a valid one looks like, e.g. "64 hex digits".
    pub expected: &'static str,
    /// The text that was refused, as given.
    pub text: String,
}

/// The rule of every row id: decimal digits, no sign, no leading zero, 1..=18 digits.
fn row_id(text: &str) -> Option<i64> {
    let well_formed = (1..=18).contains(&text.len())
        && !text.starts_with('0')
        && text.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| text.parse().ok()).flatten()
}

/// 32 bytes from exactly 64 hex digits of either case.
fn hex32(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    (text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok()).then_some(bytes)
}

/// Ids are strings on the wire, so serde goes through `FromStr` and `Display`.
macro_rules! text_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! row_ids {
    ($($(#[$doc:meta])* $name:ident => $what:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// What the id names, for messages ("no node with id ...").
            pub const WHAT: &'static str = $what;

            /// The id of a row, from the database (ids there are positive).
            pub fn from_row(id: i64) -> $name {
                $name(id)
            }

            /// The id as the database's integer (always positive).
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<$name, IdError> {
                row_id(text).map($name).ok_or_else(|| IdError {
                    what: concat!($what, " id"),
                    expected: "a positive decimal integer of at most 18 digits",
                    text: text.to_owned(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        text_serde!($name);
    )*};
}

row_ids! {
    /// A registered storage node.
    NodeId => "node";
    /// A stake with a node.
    StakeId => "stake";
    /// A storage contract.
    ContractId => "storage contract";
    /// A transfer: the id of its journal entry.
    TransferId => "transfer";
    /// A journal entry (what an account's entries page continues below).
    EntryId => "journal entry";
    /// A governance proposal.
    ProposalId => "proposal";
}

/// A blob's id: the 32-byte hash of its metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// What the id names, for messages ("blob id").
    pub const WHAT: &'static str = "blob id";

    /// The blob id's 32 bytes: the SHA-256 of the blob's canonical metadata encoding.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for BlobId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<BlobId, IdError> {
        hex32(text).map(BlobId).ok_or_else(|| IdError {
            what: BlobId::WHAT,
            expected: "64 hex digits",
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

text_serde!(BlobId);

/// A storage node's protocol key: the ed25519 key it signs confirmations and answers
/// with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolKey(pub [u8; 32]);

impl ProtocolKey {
    /// What the key is, for messages ("protocol public key").
    pub const WHAT: &'static str = "protocol public key";

    /// Whether `text` has a key's syntax (64 hex digits, `0x` allowed), point or not.
    pub fn has_key_syntax(text: &str) -> bool {
        hex32(text.strip_prefix("0x").unwrap_or(text)).is_some()
    }

    /// The ed25519 key, or `None` if the bytes are not a valid curve point.
    pub fn verifying_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl FromStr for ProtocolKey {
    type Err = IdError;

    fn from_str(text: &str) -> Result<ProtocolKey, IdError> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let key = hex32(digits).map(ProtocolKey);
        key.filter(|key| key.verifying_key().is_some())
            .ok_or_else(|| IdError {
                what: ProtocolKey::WHAT,
                expected: "64 hex digits of a valid ed25519 public key",
                text: text.to_owned(),
            })
    }
}

impl fmt::Display for ProtocolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

text_serde!(ProtocolKey);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_row_id_has_one_spelling() {
        assert_eq!("7".parse::<NodeId>().map(NodeId::get), Ok(7));
        assert_eq!(
            "999999999999999999".parse::<StakeId>().map(StakeId::get),
            Ok(999_999_999_999_999_999)
        );
        for bad in [
            "",
            "0",
            "007",
            "+7",
            "-7",
            " 7",
            "7 ",
            "abc",
            "1e3",
            "1234567890123456789",
        ] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_id_error_names_what_was_expected() {
        let error = "abc".parse::<ContractId>().unwrap_err().to_string();
        assert!(error.contains("storage contract id"), "{error}");
        assert!(error.contains("positive decimal integer"), "{error}");
    }

    #[test]
    fn a_blob_id_takes_either_case_and_writes_lower_case() {
        let lower = "ab".repeat(32);
        let upper = lower.to_uppercase();
        let from_upper: BlobId = upper.parse().unwrap();
        assert_eq!(from_upper, lower.parse().unwrap());
        assert_eq!(from_upper.to_string(), lower);
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            format!("0x{}", "ab".repeat(31)),
            "zz".repeat(32),
        ] {
            assert!(bad.parse::<BlobId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_protocol_key_must_be_a_point() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let text = hex::encode(key.to_bytes());
        let parsed: ProtocolKey = format!("0x{}", text.to_uppercase()).parse().unwrap();
        assert_eq!(parsed.to_string(), text);
        // About half of all 32-byte strings decode to no curve point; take the first.
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
            .unwrap();
        assert!(hex::encode(not_a_point).parse::<ProtocolKey>().is_err());
    }

    #[test]
    fn ids_are_strings_in_json() {
        let id: NodeId = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"42\"");
        assert!(serde_json::from_str::<NodeId>("42").is_err());
        assert!(serde_json::from_str::<NodeId>("\"042\"").is_err());
    }

    proptest! {
        #[test]
        fn every_positive_id_round_trips(n in 1i64..=999_999_999_999_999_999) {
            let id: NodeId = n.to_string().parse().unwrap();
            prop_assert_eq!(id.get(), n);
            prop_assert_eq!(id.to_string(), n.to_string());
        }

        #[test]
        fn every_blob_id_round_trips(bytes in any::<[u8; 32]>()) {
            let id = BlobId(bytes);
            prop_assert_eq!(id.to_string().parse::<BlobId>().unwrap(), id);
        }
    }
}
