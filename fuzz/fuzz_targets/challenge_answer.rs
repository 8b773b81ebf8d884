//! The challenge-answer check (`wire::challenge::check_answer`), which the checker uses
//! to judge a node and the ledger to accept a failed audit's evidence.
//!
//! A small blob is encoded for a few shards; a node (fixed key) answers the challenge
//! for one chunk correctly; then the fuzzer edits the answer (chunk, siblings,
//! signature, as hex or as bytes), the challenge (nonce, blob, shard, chunk index) and
//! may have the node sign its edited answer again. Asserted:
//! - the node's correct answer is `Correct`;
//! - nothing panics (odd-length or non-hex strings, wrong lengths, huge indices);
//! - `Correct` only for the true bytes of the chunk at the position asked about
//!   (otherwise a Merkle proof was forged);
//! - an answer the node did not sign over exactly this challenge (changed chunk,
//!   siblings, nonce, blob, shard or index without re-signing; other signature bytes)
//!   is `Unsigned`, never evidence;
//! - an edited answer the node did sign is never `Unsigned`: `Wrong` unless it is the
//!   true chunk with a valid proof.

#![no_main]

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use wal::encoding::{chunk_proof, encode};
use wal::wire::challenge::{check_answer, Answer, Signed, Verdict};

#[derive(Arbitrary, Debug)]
struct Input {
    blob: Vec<u8>,
    /// The blob is `blob` repeated, so that slivers span several chunks.
    repeat: u8,
    n_shards: u8,
    shard: u8,
    chunk_index: u16,
    nonce: [u8; 32],
    edits: Vec<Edit>,
    resign: bool,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    ChunkHex(String),
    ChunkByte { at: u16, xor: u8 },
    ChunkTruncate(u16),
    SiblingHex { index: u8, text: String },
    SiblingByte { index: u8, at: u8, xor: u8 },
    DropSibling(u8),
    AddSibling([u8; 32]),
    SignatureHex(String),
    SignatureByte { at: u8, xor: u8 },
    Nonce([u8; 32]),
    BlobByte { at: u8, xor: u8 },
    Shard(u32),
    ChunkIndex(u32),
    UpperCase,
}

fn decode_siblings(answer: &Answer) -> Option<Vec<[u8; 32]>> {
    answer
        .siblings
        .iter()
        .map(|s| {
            let mut h = [0u8; 32];
            hex::decode_to_slice(s, &mut h).ok().map(|()| h)
        })
        .collect()
}

fuzz_target!(|input: Input| {
    // A few shards and a small blob keep one run in microseconds.
    let n_shards = u32::from(input.n_shards % 7) + 1;
    let mut blob = input.blob.repeat(usize::from(input.repeat % 8) + 1);
    blob.truncate(20_000);
    let (metadata, slivers) = encode(&blob, n_shards).expect("a small blob encodes");
    let layout = metadata.validate().expect("own metadata validates");
    let shard = u32::from(input.shard) % n_shards;
    let chunk_index = u32::from(input.chunk_index) % layout.chunk_count();
    let proof = chunk_proof(&slivers[shard as usize], layout.chunk_len, chunk_index)
        .expect("the chunk exists");
    let blob_id: [u8; 32] = hex::decode(metadata.blob_id())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_bytes(&[9; 32]);
    let sign =
        |nonce: &[u8; 32], blob: &[u8; 32], shard, index, chunk: &[u8], siblings: &[[u8; 32]]| {
            Signed {
                nonce,
                blob_id: blob,
                shard,
                chunk_index: index,
                chunk,
                siblings,
            }
            .sign(&key)
        };
    let honest = Answer {
        chunk: hex::encode(&proof.chunk),
        siblings: proof.siblings.iter().map(hex::encode).collect(),
        signature: sign(
            &input.nonce,
            &blob_id,
            shard,
            chunk_index,
            &proof.chunk,
            &proof.siblings,
        ),
    };
    let node = key.verifying_key();
    assert_eq!(
        check_answer(
            &node,
            &metadata,
            &blob_id,
            &input.nonce,
            shard,
            chunk_index,
            &honest
        ),
        Verdict::Correct
    );

    let mut answer = honest.clone();
    let (mut nonce, mut blob_asked, mut shard_asked, mut index_asked) =
        (input.nonce, blob_id, shard, chunk_index);
    for edit in input.edits.iter().take(6) {
        match edit {
            Edit::ChunkHex(text) => answer.chunk = text.clone(),
            Edit::ChunkByte { at, xor } => {
                if let Ok(mut bytes) = hex::decode(&answer.chunk) {
                    if !bytes.is_empty() {
                        let i = usize::from(*at) % bytes.len();
                        bytes[i] ^= xor;
                        answer.chunk = hex::encode(bytes);
                    }
                }
            }
            Edit::ChunkTruncate(n) => {
                let n = usize::from(*n).min(answer.chunk.len());
                answer.chunk.truncate(n);
            }
            Edit::SiblingHex { index, text } => {
                if let Some(s) = answer.siblings.get_mut(usize::from(*index)) {
                    *s = text.clone();
                }
            }
            Edit::SiblingByte { index, at, xor } => {
                if let Some(s) = answer.siblings.get_mut(usize::from(*index)) {
                    if let Ok(mut bytes) = hex::decode(&*s) {
                        if !bytes.is_empty() {
                            let i = usize::from(*at) % bytes.len();
                            bytes[i] ^= xor;
                            *s = hex::encode(bytes);
                        }
                    }
                }
            }
            Edit::DropSibling(index) => {
                if usize::from(*index) < answer.siblings.len() {
                    answer.siblings.remove(usize::from(*index));
                }
            }
            Edit::AddSibling(hash) => answer.siblings.push(hex::encode(hash)),
            Edit::SignatureHex(text) => answer.signature = text.clone(),
            Edit::SignatureByte { at, xor } => {
                if let Ok(mut bytes) = hex::decode(&answer.signature) {
                    if !bytes.is_empty() {
                        let i = usize::from(*at) % bytes.len();
                        bytes[i] ^= xor;
                        answer.signature = hex::encode(bytes);
                    }
                }
            }
            Edit::Nonce(n) => nonce = *n,
            Edit::BlobByte { at, xor } => blob_asked[usize::from(*at) % 32] ^= xor,
            Edit::Shard(s) => shard_asked = *s,
            Edit::ChunkIndex(i) => index_asked = *i,
            Edit::UpperCase => {
                answer.chunk = answer.chunk.to_uppercase();
                answer.signature = answer.signature.to_uppercase();
            }
        }
    }
    let chunk = hex::decode(&answer.chunk).ok();
    let siblings = decode_siblings(&answer);
    if input.resign {
        if let (Some(chunk), Some(siblings)) = (&chunk, &siblings) {
            answer.signature = sign(
                &nonce,
                &blob_asked,
                shard_asked,
                index_asked,
                chunk,
                siblings,
            );
        }
    }
    // Only the honest metadata is at hand; a changed blob id asks about another blob.
    let verdict = check_answer(
        &node,
        &metadata,
        &blob_asked,
        &nonce,
        shard_asked,
        index_asked,
        &answer,
    );
    let signature = hex::decode(&answer.signature).ok();
    let signed_by_node = match (&chunk, &siblings) {
        (Some(c), Some(s)) => {
            signature.as_deref()
                == Some(
                    hex::decode(sign(&nonce, &blob_asked, shard_asked, index_asked, c, s))
                        .expect("hex")
                        .as_slice(),
                )
        }
        _ => false,
    };
    if signed_by_node {
        assert_ne!(
            verdict,
            Verdict::Unsigned,
            "a node-signed answer was judged unsigned"
        );
    } else {
        assert_eq!(
            verdict,
            Verdict::Unsigned,
            "an answer the node did not sign counted"
        );
    }
    if verdict == Verdict::Correct {
        // Another position may hold the same bytes (padding chunks are all zeros), so
        // the chunk is compared with the one at the position asked about.
        let real = slivers
            .get(shard_asked as usize)
            .and_then(|sliver| chunk_proof(sliver, layout.chunk_len, index_asked))
            .expect("Correct only for a chunk that exists");
        assert_eq!(
            chunk.as_deref(),
            Some(real.chunk.as_slice()),
            "a forged chunk was judged correct"
        );
    }
});
