//! A storage node's answer to a chunk challenge: the chunk, its Merkle proof against
//! the sliver root in the blob metadata, and the node's ed25519 signature binding the
//! whole answer (chunk and proof) to the challenger's fresh nonce, so answers cannot be
//! replayed, and a wrong answer, signed, is evidence anyone can check: nobody but the
//! node can turn its correct answer into a wrong one.
//!
//! message = `wal-challenge-answer-v2` ‖ nonce (32 bytes) ‖ blob id (32 bytes) ‖
//! shard (u32 BE) ‖ chunk index (u32 BE) ‖ SHA-256(chunk) ‖ SHA-256(siblings, each
//! 32 bytes, leaf to root).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::merkle::Hash;

const DOMAIN: &[u8] = b"wal-challenge-answer-v2";

/// A chunk challenge, the body the checker posts to a node's `POST /v1/challenges`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// The challenged blob's id, 64 hex digits.
    pub blob_id: String,
    /// The shard index whose sliver is challenged; the node must hold it.
    pub shard: u32,
    /// The chunk index within that sliver.
    pub chunk: u32,
    /// 64 hex digits of fresh randomness from the challenger.
    pub nonce: String,
}

/// A node's answer to a `Challenge`; the checker sends a wrong one to the ledger as evidence.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The chunk's bytes, hex.
    pub chunk: String,
    /// Sibling hashes from the leaf up, hex.
    pub siblings: Vec<String>,
    /// 128 hex digits.
    pub signature: String,
}

/// What a node signs when it answers a challenge.
pub struct Signed<'a> {
    /// The challenger's 32-byte nonce.
    pub nonce: &'a [u8; 32],
    /// The blob id's 32 bytes.
    pub blob_id: &'a [u8; 32],
    /// The shard index of the challenged sliver.
    pub shard: u32,
    /// The chunk index within the sliver.
    pub chunk_index: u32,
    /// The chunk's bytes as the node sends them.
    pub chunk: &'a [u8],
    /// The Merkle sibling hashes from the leaf up to the sliver root.
    pub siblings: &'a [Hash],
}

impl Signed<'_> {
    /// The signed bytes: domain tag, nonce, blob id, shard, chunk index, hashes (see module docs).
    pub fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DOMAIN.len() + 136);
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(self.nonce);
        out.extend_from_slice(self.blob_id);
        out.extend_from_slice(&self.shard.to_be_bytes());
        out.extend_from_slice(&self.chunk_index.to_be_bytes());
        out.extend_from_slice(&Sha256::digest(self.chunk));
        let mut siblings = Sha256::new();
        for sibling in self.siblings {
            siblings.update(sibling);
        }
        out.extend_from_slice(&siblings.finalize());
        out
    }

    /// The signature, 128 hex digits.
    pub fn sign(&self, key: &SigningKey) -> String {
        hex::encode(key.sign(&self.message()).to_bytes())
    }

    /// Whether `signature_hex` (128 hex digits) is `key`'s valid ed25519 signature of `message`.
    pub fn verify(&self, key: &VerifyingKey, signature_hex: &str) -> bool {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature_hex, &mut bytes).is_ok()
            && key
                .verify(&self.message(), &Signature::from_bytes(&bytes))
                .is_ok()
    }
}

/// What an answer to a challenge proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by the node and the chunk verifies against the metadata.
    Correct,
    /// Signed by the node, but the chunk or its proof is wrong: evidence.
    Wrong,
    /// Not a valid signature of the node over this challenge: proves nothing.
    Unsigned,
}

/// Checks an answer to the challenge `(nonce, blob, shard, chunk)` against the node's
/// protocol key and the blob's metadata. The checker uses it to judge answers and
/// the ledger to check evidence, so both read an answer the same way.
pub fn check_answer(
    node_key: &VerifyingKey,
    metadata: &crate::encoding::BlobMetadata,
    blob: &[u8; 32],
    nonce: &[u8; 32],
    shard: u32,
    chunk_index: u32,
    answer: &Answer,
) -> Verdict {
    let Ok(chunk) = hex::decode(&answer.chunk) else {
        return Verdict::Unsigned;
    };
    let siblings: Option<Vec<Hash>> = answer
        .siblings
        .iter()
        .map(|s| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(s, &mut hash).ok().map(|()| hash)
        })
        .collect();
    let Some(siblings) = siblings else {
        return Verdict::Unsigned;
    };
    let signed = Signed {
        nonce,
        blob_id: blob,
        shard,
        chunk_index,
        chunk: &chunk,
        siblings: &siblings,
    };
    if !signed.verify(node_key, &answer.signature) {
        return Verdict::Unsigned;
    }
    let verifies = metadata
        .verify_chunk(shard, chunk_index, &chunk, &siblings)
        .is_ok();
    if verifies {
        Verdict::Correct
    } else {
        Verdict::Wrong
    }
}
