//! A storage node's confirmation that it holds its slivers of a blob: an ed25519
//! signature by the node's protocol key over a domain-separated message naming the
//! blob, the epoch, the node and the shards it holds (shared by the ledger, which
//! verifies, and the storage nodes, which sign).
//!
//! message = `wal-storage-confirmation-v1` ‖ blob id (32 bytes) ‖ epoch (u64 BE) ‖
//! node id (u64 BE) ‖ shard count (u32 BE) ‖ each shard (u32 BE, ascending).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

const DOMAIN: &[u8] = b"wal-storage-confirmation-v1";

/// The bytes a node signs to confirm it holds `shards` (sorted here) of a blob in `epoch`.
pub fn message(blob_id: &[u8; 32], epoch: i64, node_id: i64, shards: &[u32]) -> Vec<u8> {
    let mut sorted = shards.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(DOMAIN.len() + 52 + 4 * sorted.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(blob_id);
    out.extend_from_slice(&(epoch as u64).to_be_bytes());
    out.extend_from_slice(&(node_id as u64).to_be_bytes());
    // A node holds at most N_SHARDS_MAX shards; a list past u32::MAX (which no valid
    // confirmation has) saturates rather than wrapping to a short length.
    let count = u32::try_from(sorted.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for shard in sorted {
        out.extend_from_slice(&shard.to_be_bytes());
    }
    out
}

/// The node's signature, as 128 hex digits.
pub fn sign(
    key: &SigningKey,
    blob_id: &[u8; 32],
    epoch: i64,
    node_id: i64,
    shards: &[u32],
) -> String {
    hex::encode(
        key.sign(&message(blob_id, epoch, node_id, shards))
            .to_bytes(),
    )
}

/// Whether `signature_hex` is the node's signature of that confirmation.
pub fn verify(
    key: &VerifyingKey,
    signature_hex: &str,
    blob_id: &[u8; 32],
    epoch: i64,
    node_id: i64,
    shards: &[u32],
) -> bool {
    let mut bytes = [0u8; 64];
    if hex::decode_to_slice(signature_hex, &mut bytes).is_err() {
        return false;
    }
    key.verify(
        &message(blob_id, epoch, node_id, shards),
        &Signature::from_bytes(&bytes),
    )
    .is_ok()
}

/// A blob id's 32 bytes, by the one rule of [`crate::wire::ids::BlobId`].
pub fn blob_id_bytes(blob_id: &str) -> Option<[u8; 32]> {
    blob_id
        .parse::<crate::wire::ids::BlobId>()
        .ok()
        .map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_names_blob_epoch_node_and_shards() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let blob = [7u8; 32];
        let signature = sign(&key, &blob, 4, 2, &[5, 1]);
        let public = key.verifying_key();
        assert!(verify(&public, &signature, &blob, 4, 2, &[1, 5]));
        assert!(!verify(&public, &signature, &[8u8; 32], 4, 2, &[1, 5]));
        assert!(!verify(&public, &signature, &blob, 5, 2, &[1, 5]));
        assert!(!verify(&public, &signature, &blob, 4, 3, &[1, 5]));
        assert!(!verify(&public, &signature, &blob, 4, 2, &[1, 6]));
        assert!(!verify(&public, "zz", &blob, 4, 2, &[1, 5]));
    }
}
