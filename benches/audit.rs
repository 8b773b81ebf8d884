//! The checker's two costs, printed:
//! 1. chunk-proof verifications per second: `wal::wire::challenge::check_answer`
//!    (the ed25519 signature over the nonce and the chunk, and the chunk's Merkle proof
//!    against the sliver root), the exact code the checker judges answers with, on one
//!    core and on every core;
//! 2. repairing one node's slivers of 100 blobs (1 MiB, 10 shards) with
//!    `wal::client::repair::rebuild`, the checker's repair: stream k slivers over
//!    loopback HTTP, decode stripe by stripe, stream the lost sliver to its holder,
//!    which verifies it. The ten "nodes" are in-process axum servers holding slivers in
//!    memory (no disk, no ledger), so this is the checker's side of a repair.
//!
//!   cargo bench --bench audit
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use ed25519_dalek::SigningKey;
use rand::{Rng, RngCore};
use wal::encoding::{chunk_proof, encode, BlobMetadata};
use wal::wire::challenge::{self, check_answer, Answer, Verdict};
use wal::wire::confirmation::blob_id_bytes;

fn random_bytes(size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

struct Case {
    nonce: [u8; 32],
    shard: u32,
    chunk: u32,
    answer: Answer,
}

fn verifications_per_second() {
    let n_shards = 100;
    let (metadata, slivers) = encode(&random_bytes(16 << 20), n_shards).unwrap();
    let blob = blob_id_bytes(&metadata.blob_id()).unwrap();
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let chunks = metadata.validate().unwrap().chunk_count();
    let mut rng = rand::thread_rng();
    let cases: Vec<Case> = (0..20_000)
        .map(|_| {
            let (shard, chunk) = (rng.gen_range(0..n_shards), rng.gen_range(0..chunks));
            let mut nonce = [0u8; 32];
            rng.fill_bytes(&mut nonce);
            let proof = chunk_proof(&slivers[shard as usize], metadata.chunk_len, chunk).unwrap();
            let signature = challenge::Signed {
                nonce: &nonce,
                blob_id: &blob,
                shard,
                chunk_index: chunk,
                chunk: &proof.chunk,
                siblings: &proof.siblings,
            }
            .sign(&key);
            let answer = Answer {
                chunk: hex::encode(&proof.chunk),
                siblings: proof.siblings.iter().map(hex::encode).collect(),
                signature,
            };
            Case {
                nonce,
                shard,
                chunk,
                answer,
            }
        })
        .collect();
    let node_key = key.verifying_key();
    let check = |cases: &[Case]| {
        for c in cases {
            let verdict = check_answer(
                &node_key, &metadata, &blob, &c.nonce, c.shard, c.chunk, &c.answer,
            );
            assert_eq!(verdict, Verdict::Correct);
        }
    };
    let started = Instant::now();
    check(&cases);
    let one_core = cases.len() as f64 / started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in cases.chunks(cases.len().div_ceil(cores)) {
            scope.spawn(|| check(part));
        }
    });
    let all_cores = cases.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "chunk-proof verifications (4 KiB chunks, {} per sliver, 100 shards): {:.0}/s on one core, {:.0}/s on {cores} cores",
        chunks, one_core, all_cores
    );
}

type Slivers = HashMap<(String, u32), Vec<u8>>;

/// Slivers in memory by (blob id, shard); PUT verifies against the metadata.
#[derive(Clone, Default)]
struct Store {
    slivers: Arc<Mutex<Slivers>>,
    metadata: Arc<HashMap<String, BlobMetadata>>,
}

async fn get_sliver(
    State(s): State<Store>,
    Path((id, shard)): Path<(String, u32)>,
) -> Result<Vec<u8>, StatusCode> {
    s.slivers
        .lock()
        .unwrap()
        .get(&(id, shard))
        .cloned()
        .ok_or(StatusCode::NOT_FOUND)
}

/// The sliver's chunk leaf hashes, as a node's `/leaves` serves them.
async fn get_leaves(
    State(s): State<Store>,
    Path((id, shard)): Path<(String, u32)>,
) -> Result<Vec<u8>, StatusCode> {
    let metadata = s.metadata.get(&id).ok_or(StatusCode::NOT_FOUND)?;
    let sliver = get_sliver(State(s.clone()), Path((id, shard))).await?;
    Ok(sliver
        .chunks(metadata.chunk_len as usize)
        .flat_map(wal::encoding::merkle::leaf_hash)
        .collect())
}

#[derive(serde::Deserialize)]
struct Selection {
    shards: String,
    from_stripe: Option<u64>,
}

/// Several slivers stripe-major from a stripe on, as a node's multi-sliver GET.
async fn get_slivers(
    State(s): State<Store>,
    Path(id): Path<String>,
    Query(selection): Query<Selection>,
) -> Result<Vec<u8>, StatusCode> {
    let metadata = s.metadata.get(&id).ok_or(StatusCode::NOT_FOUND)?;
    let layout = metadata
        .validate()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let slivers = s.slivers.lock().unwrap();
    let mut out = Vec::new();
    for stripe in selection.from_stripe.unwrap_or(0)..layout.stripes {
        for shard in selection.shards.split(',') {
            let shard: u32 = shard.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            let sliver = slivers
                .get(&(id.clone(), shard))
                .ok_or(StatusCode::NOT_FOUND)?;
            out.extend_from_slice(
                &sliver[(stripe * layout.stripe_sliver_len) as usize..][..layout.piece_bytes()],
            );
        }
    }
    Ok(out)
}

async fn put_sliver(
    State(s): State<Store>,
    Path((id, shard)): Path<(String, u32)>,
    body: Bytes,
) -> StatusCode {
    let Some(metadata) = s.metadata.get(&id) else {
        return StatusCode::FORBIDDEN;
    };
    if metadata.verify_sliver(shard, &body).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    s.slivers.lock().unwrap().insert((id, shard), body.to_vec());
    StatusCode::OK
}

async fn repair_100_blobs() {
    let (n_shards, lost) = (10u32, 3u32);
    let blobs: Vec<(BlobMetadata, Vec<Vec<u8>>)> = (0..100)
        .map(|_| encode(&random_bytes(1 << 20), n_shards).unwrap())
        .collect();
    let metadata: Arc<HashMap<String, BlobMetadata>> = Arc::new(
        blobs
            .iter()
            .map(|(m, _)| (m.blob_id(), m.clone()))
            .collect(),
    );
    let mut endpoints = HashMap::new();
    let mut stores = Vec::new();
    for shard in 0..n_shards {
        let store = Store {
            slivers: Arc::default(),
            metadata: metadata.clone(),
        };
        if shard != lost {
            let mut slivers = store.slivers.lock().unwrap();
            for (m, s) in &blobs {
                slivers.insert((m.blob_id(), shard), s[shard as usize].clone());
            }
        }
        let app = Router::new()
            .route(
                "/v1/blobs/{id}/slivers/{shard}",
                get(get_sliver).put(put_sliver),
            )
            .route("/v1/blobs/{id}/slivers/{shard}/leaves", get(get_leaves))
            .route("/v1/blobs/{id}/slivers", get(get_slivers))
            .layer(DefaultBodyLimit::disable())
            .with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        endpoints.insert(shard, format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stores.push(store);
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    for (m, _) in &blobs {
        let placed = wal::client::repair::rebuild(&http, m, &[lost], &endpoints, &endpoints)
            .await
            .unwrap();
        assert_eq!(placed, vec![(lost, wal::client::repair::Placed::Stored)]);
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        stores[lost as usize].slivers.lock().unwrap().len(),
        100,
        "every sliver is back"
    );
    println!(
        "repair of one node's slivers of 100 blobs (1 MiB, 10 shards, one at a time): {seconds:.2} s, {:.1} ms per blob",
        seconds * 10.0
    );
}

#[tokio::main]
async fn main() {
    verifications_per_second();
    repair_100_blobs().await;
}
