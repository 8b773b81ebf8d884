//! A storage node's answer to a chunk challenge: the chunk, its Merkle proof against
//! the sliver root in the blob metadata, and the node's ed25519 signature binding the
//! answer to the challenger's fresh nonce (so answers cannot be replayed, and a wrong
//! answer, signed, is evidence anyone can check).
//!
//! message = `wal-challenge-answer-v1` ‖ nonce (32 bytes) ‖ blob id (32 bytes) ‖
//! shard (u32 BE) ‖ chunk index (u32 BE) ‖ SHA-256(chunk).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"wal-challenge-answer-v1";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub blob_id: String,
    pub shard: u32,
    pub chunk: u32,
    /// 64 hex digits of fresh randomness from the challenger.
    pub nonce: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    /// The chunk's bytes, hex.
    pub chunk: String,
    /// Sibling hashes from the leaf up, hex.
    pub siblings: Vec<String>,
    /// 128 hex digits.
    pub signature: String,
}

pub fn message(
    nonce: &[u8; 32],
    blob_id: &[u8; 32],
    shard: u32,
    chunk_index: u32,
    chunk: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + 104);
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(blob_id);
    out.extend_from_slice(&shard.to_be_bytes());
    out.extend_from_slice(&chunk_index.to_be_bytes());
    out.extend_from_slice(&Sha256::digest(chunk));
    out
}

pub fn sign(
    key: &SigningKey,
    nonce: &[u8; 32],
    blob_id: &[u8; 32],
    shard: u32,
    chunk_index: u32,
    chunk: &[u8],
) -> String {
    hex::encode(
        key.sign(&message(nonce, blob_id, shard, chunk_index, chunk))
            .to_bytes(),
    )
}

pub fn verify_signature(
    key: &VerifyingKey,
    signature_hex: &str,
    nonce: &[u8; 32],
    blob_id: &[u8; 32],
    shard: u32,
    chunk_index: u32,
    chunk: &[u8],
) -> bool {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(signature_hex, &mut bytes).is_ok()
        && key
            .verify(
                &message(nonce, blob_id, shard, chunk_index, chunk),
                &Signature::from_bytes(&bytes),
            )
            .is_ok()
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
    if !verify_signature(
        node_key,
        &answer.signature,
        nonce,
        blob,
        shard,
        chunk_index,
        &chunk,
    ) {
        return Verdict::Unsigned;
    }
    let siblings: Option<Vec<[u8; 32]>> = answer
        .siblings
        .iter()
        .map(|s| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(s, &mut hash).ok().map(|()| hash)
        })
        .collect();
    let verifies = siblings.is_some_and(|siblings| {
        metadata
            .verify_chunk(shard, chunk_index, &chunk, &siblings)
            .is_ok()
    });
    if verifies {
        Verdict::Correct
    } else {
        Verdict::Wrong
    }
}
