//! One timed encode and one timed decode (from the last k slivers) of a 64 MiB blob at
//! 1000 shards: the case `benches/encoding.rs` covers too but that takes criterion an
//! hour at this codec's speed (10 samples of minutes each). Prints both times.
//!
//!   cargo bench --bench encoding_once [-- SIZE_MIB N_SHARDS]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::time::Instant;

use rand::RngCore;
use wal::encoding::{decode, encode};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let size_mib: usize = args.first().map_or(64, |a| a.parse().expect("SIZE_MIB"));
    let n_shards: u32 = args.get(1).map_or(1000, |a| a.parse().expect("N_SHARDS"));
    let mut blob = vec![0u8; size_mib << 20];
    rand::thread_rng().fill_bytes(&mut blob);
    let started = Instant::now();
    let (metadata, slivers) = encode(&blob, n_shards).expect("encodes");
    let encode_secs = started.elapsed().as_secs_f64();
    let k = metadata.k as usize;
    let last_k: Vec<Option<Vec<u8>>> = slivers
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i >= n_shards as usize - k).then_some(s))
        .collect();
    let started = Instant::now();
    let decoded = decode(&metadata, last_k).expect("decodes");
    let decode_secs = started.elapsed().as_secs_f64();
    assert!(decoded == blob, "byte for byte");
    println!(
        "{size_mib} MiB at {n_shards} shards (k = {k}): encode {encode_secs:.1} s ({:.2} MiB/s), decode {decode_secs:.1} s ({:.2} MiB/s)",
        size_mib as f64 / encode_secs,
        size_mib as f64 / decode_secs
    );
}
