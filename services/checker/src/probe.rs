//! One challenge to one node: a random chunk of one of its slivers with a fresh nonce,
//! and the answer classified. A pass needs the chunk to verify against the blob's
//! metadata and the node's protocol key to have signed it over the nonce; a signed
//! answer that does not verify is a fail, kept as evidence.

use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use rand::rngs::OsRng;
use rand::RngCore;
use wal::encoding::BlobMetadata;
use wal::wire::challenge::{check_answer, Answer, Challenge, Verdict};
use wal::wire::Outcome;

/// What one attempt gave.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The nonce, 64 hex digits (the challenge id the ledger records).
    pub nonce: String,
    pub outcome: Outcome,
    /// For a fail: the node's signed wrong answer.
    pub evidence: Option<Answer>,
}

/// What is challenged: chunk `chunk` of sliver `shard` of a blob, on one node.
pub struct Target<'a> {
    pub endpoint: &'a str,
    pub node_key: &'a VerifyingKey,
    pub metadata: &'a BlobMetadata,
    pub blob_id: &'a str,
    /// `blob_id` as bytes (the caller checked it is a valid id).
    pub blob: &'a [u8; 32],
    pub shard: u32,
    pub chunk: u32,
}

/// Challenges the target's node once, with a fresh nonce.
pub async fn probe(http: &reqwest::Client, target: &Target<'_>, timeout: Duration) -> Probe {
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let request = Challenge {
        blob_id: target.blob_id.to_owned(),
        shard: target.shard,
        chunk: target.chunk,
        nonce: hex::encode(nonce),
    };
    let sent = http
        .post(format!("{}/v1/challenges", target.endpoint))
        .json(&request)
        .timeout(timeout)
        .send()
        .await;
    let (outcome, evidence) = match sent {
        Err(e) if e.is_timeout() => (Outcome::Timeout, None),
        Err(_) => (Outcome::Unreachable, None),
        // The node cannot answer now (it cannot reach the ledger, it is overloaded):
        // like a timeout, asked again later.
        Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
            (Outcome::Timeout, None)
        }
        Ok(r) if !r.status().is_success() => (Outcome::Missing, None),
        Ok(r) => match tokio::time::timeout(timeout, r.json::<Answer>()).await {
            Err(_) => (Outcome::Timeout, None),
            Ok(Err(_)) => (Outcome::Missing, None),
            Ok(Ok(answer)) => judge(target, &nonce, answer),
        },
    };
    Probe {
        nonce: request.nonce,
        outcome,
        evidence,
    }
}

/// Pass if signed and correct; fail (with the answer as evidence) if signed and wrong;
/// missing if not validly signed (there is nothing to hold the node to).
pub fn judge(target: &Target<'_>, nonce: &[u8; 32], answer: Answer) -> (Outcome, Option<Answer>) {
    match check_answer(
        target.node_key,
        target.metadata,
        target.blob,
        nonce,
        target.shard,
        target.chunk,
        &answer,
    ) {
        Verdict::Correct => (Outcome::Pass, None),
        Verdict::Wrong => (Outcome::Fail, Some(answer)),
        Verdict::Unsigned => (Outcome::Missing, None),
    }
}
