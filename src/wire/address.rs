//! A user's address: the identity that signs requests and holds WAL.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user's address: `0x` + 64 lowercase hex digits of its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 32]);

/// Why a text or key is not a usable address (400 `INVALID_ARGUMENT` at the API).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// Not `0x` followed by exactly 64 hex digits; carries the text (at most 80 characters).
    #[error("address {0:?} is not 0x followed by 64 hex digits")]
    Malformed(String),
    /// 64 hex digits, but not a valid ed25519 public key; refused where WAL is sent to it.
    #[error("address {0} is not a valid ed25519 public key; WAL sent there could never be spent")]
    NotAKey(String),
}

impl Address {
    /// The address of these 32 public-key bytes (not checked to be a valid key).
    pub fn from_bytes(bytes: [u8; 32]) -> Address {
        Address(bytes)
    }

    /// The address of an ed25519 public key.
    pub fn from_key(key: &VerifyingKey) -> Address {
        Address(key.to_bytes())
    }

    /// The 32 bytes of the ed25519 public key the address names.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public key this address names, if its bytes are a valid curve point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, AddressError> {
        decompressed(&self.0).ok_or_else(|| AddressError::NotAKey(self.to_string()))
    }

    /// Parses and also requires a valid public key: used where WAL is sent to an
    /// address, so that no one can send to an address nobody can ever sign for.
    pub fn parse_spendable(text: &str) -> Result<Address, AddressError> {
        let address: Address = text.parse()?;
        address.verifying_key()?;
        Ok(address)
    }
}

/// Keys decompressed at most once per process while they stay cached: decompressing a
/// point (a square root in the field) costs about a fifth of a signature check, and a
/// signed transfer needs two (its signer's and its recipient's). Bytes that are no point
/// are not cached; at `KEYS_CACHED_MAX` entries (a few MiB) the cache starts over, so
/// many distinct keys cost memory only up to that bound.
fn decompressed(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    const KEYS_CACHED_MAX: usize = 16_384;
    static KEYS: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Mutex::default);
    // A panic elsewhere while holding the lock leaves a map that is still valid.
    let cached = keys
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(bytes)
        .copied();
    if cached.is_some() {
        return cached;
    }
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
    if keys.len() >= KEYS_CACHED_MAX {
        keys.clear();
    }
    keys.insert(*bytes, key);
    Some(key)
}

impl FromStr for Address {
    type Err = AddressError;
    /// `0x` + 64 hex digits; uppercase hex is accepted and normalised.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || AddressError::Malformed(text.chars().take(80).collect());
        let hex_part = text.strip_prefix("0x").ok_or_else(malformed)?;
        if hex_part.len() != 64 {
            return Err(malformed());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| malformed())?;
        Ok(Address(bytes))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "server")]
impl utoipa::PartialSchema for Address {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^0x[0-9a-fA-F]{64}$"))
            .description(Some(
                "0x + 64 hex digits of the account's ed25519 public key",
            ))
            .into()
    }
}

#[cfg(feature = "server")]
impl utoipa::ToSchema for Address {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The cached decompression answers as ed25519-dalek does, the first time and the
        /// next, for points and for bytes that are none.
        #[test]
        fn cached_keys_are_the_keys(bytes in any::<[u8; 32]>(), seed in any::<[u8; 32]>()) {
            let real = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            for candidate in [bytes, real] {
                let address = Address::from_bytes(candidate);
                let expected = VerifyingKey::from_bytes(&candidate).ok();
                prop_assert_eq!(address.verifying_key().ok(), expected);
                prop_assert_eq!(address.verifying_key().ok(), expected);
            }
        }
    }
}
