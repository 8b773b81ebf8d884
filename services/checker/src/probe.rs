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
        Ok(r) => match tokio::time::timeout(timeout, r.bytes()).await {
            Err(_) => (Outcome::Timeout, None),
            // The answer was cut off on the way (a connection reset mid-body): the node
            // was not heard, as when it is unreachable, so it is asked again rather
            // than held to a sliver it may well have.
            Ok(Err(_)) => (Outcome::Unreachable, None),
            Ok(Ok(body)) => match serde_json::from_slice::<Answer>(&body) {
                Err(_) => (Outcome::Missing, None),
                Ok(answer) => judge(target, &nonce, answer),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wal::wire::confirmation::blob_id_bytes;

    /// A node that answers every challenge 200 with a body it says is `length` bytes
    /// long, sends `body` and closes the connection.
    async fn node_answering(length: usize, body: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0u8; 64 * 1024];
                let _ = stream.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body).await;
            }
        });
        url
    }

    async fn outcome_of(endpoint: &str) -> Outcome {
        let (metadata, _) = wal::encoding::encode(&[7u8; 5_000], 7).unwrap();
        let blob_id = metadata.blob_id();
        let blob = blob_id_bytes(&blob_id).unwrap();
        let node_key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let target = Target {
            endpoint,
            node_key: &node_key,
            metadata: &metadata,
            blob_id: &blob_id,
            blob: &blob,
            shard: 0,
            chunk: 0,
        };
        probe(&reqwest::Client::new(), &target, Duration::from_secs(10))
            .await
            .outcome
    }

    #[tokio::test]
    async fn an_answer_cut_off_mid_body_is_asked_again_not_counted_missing() {
        // A link that resets connections mid-stream (the multi-host test's fault proxy
        // drops 1%) cut an honest node's answer short; that used to count as missing.
        let cut = node_answering(4096, b"{\"chunk\":\"AAAA").await;
        assert_eq!(outcome_of(&cut).await, Outcome::Unreachable);
        // A whole answer that is no answer is still the node's own fault.
        let garbage = node_answering(2, b"{}").await;
        assert_eq!(outcome_of(&garbage).await, Outcome::Missing);
    }
}
