//! The codec table: `wal::encoding` (code + sliver Merkle roots, all cores) next to the
//! anchor pipeline (reed-solomon-simd, the codec Walrus uses, plus a SHA-256 Merkle
//! tree over the same 4 KiB chunks, one thread), encode and decode, on the same blob,
//! interleaved in the same run so the machine's noise hits both alike. Decode starts
//! from the last k slivers (mostly parity: the worst case); ours includes verifying
//! them and the consistency check (re-deriving the parity), the anchor's verifies the
//! k slivers' roots and decodes. Prints MiB/s (median of RUNS) and ours / anchor.
//!
//!   cargo bench --bench codec_table [-- SIZES_MIB SHARDS RUNS]   e.g. -- 1,64 10,100,1000 5
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::time::Instant;

use rand::RngCore;
use wal::encoding::{decode, encode, merkle, Layout};

fn list<T: std::str::FromStr>(arg: Option<&String>, default: &str) -> Vec<T> {
    arg.map_or(default, |a| a.as_str())
        .split(',')
        .map(|v| v.parse().ok().expect("a comma-separated list of numbers"))
        .collect()
}

/// The anchor's Merkle root of a sliver: the same tree over the same 4 KiB chunks.
fn anchor_root(sliver: &[u8], chunk_len: usize) -> merkle::Hash {
    merkle::root(sliver.chunks(chunk_len).map(merkle::leaf_hash).collect())
}

/// reed-solomon-simd encode of the k data slivers, then every sliver's root.
fn anchor_encode(blob: &[u8], layout: &Layout) -> Vec<Vec<u8>> {
    let (k, len) = (layout.k as usize, layout.sliver_len as usize);
    let shard_len = len.next_multiple_of(2);
    let mut slivers: Vec<Vec<u8>> = (0..k)
        .map(|i| {
            let mut shard = vec![0u8; shard_len];
            let start = (i * len).min(blob.len());
            let end = ((i + 1) * len).min(blob.len());
            shard[..end - start].copy_from_slice(&blob[start..end]);
            shard
        })
        .collect();
    let parity = layout.n_shards as usize - k;
    if parity > 0 {
        slivers.extend(reed_solomon_simd::encode(k, parity, &slivers).unwrap());
    }
    for sliver in &slivers {
        std::hint::black_box(anchor_root(sliver, layout.chunk_len as usize));
    }
    slivers
}

/// Verify the last k slivers' roots, then reed-solomon-simd decode.
fn anchor_decode(slivers: &[Vec<u8>], layout: &Layout) {
    let (n, k) = (layout.n_shards as usize, layout.k as usize);
    for sliver in &slivers[n - k..] {
        std::hint::black_box(anchor_root(sliver, layout.chunk_len as usize));
    }
    if n > k {
        // The last k slivers: originals among them by index, the rest as recovery.
        let last = (n - k..n).map(|i| (i, &slivers[i]));
        let (originals, recovery): (Vec<_>, Vec<_>) = last.partition(|(i, _)| *i < k);
        let recovery = recovery.into_iter().map(|(i, s)| (i - k, s));
        let restored = reed_solomon_simd::decode(k, n - k, originals, recovery);
        std::hint::black_box(restored.unwrap());
    }
}

fn mib_per_s(bytes: usize, secs: &mut [f64]) -> f64 {
    secs.sort_by(f64::total_cmp);
    bytes as f64 / f64::from(1 << 20) / secs[secs.len() / 2]
}

fn time(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

fn row(size_mib: usize, n_shards: u32, runs: usize) {
    let mut blob = vec![0u8; size_mib << 20];
    rand::thread_rng().fill_bytes(&mut blob);
    let layout = Layout::new(blob.len() as u64, n_shards).unwrap();
    let k = layout.k as usize;
    let [mut ours_enc, mut ours_dec, mut anchor_enc, mut anchor_dec] = [(); 4].map(|_| Vec::new());
    for _ in 0..runs {
        let mut encoded = None;
        ours_enc.push(time(|| encoded = Some(encode(&blob, n_shards).unwrap())));
        let (metadata, slivers) = encoded.unwrap();
        let last_k: Vec<Option<Vec<u8>>> = slivers
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i >= n_shards as usize - k).then_some(s))
            .collect();
        ours_dec.push(time(|| assert!(decode(&metadata, last_k).unwrap() == blob)));
        let mut anchor = Vec::new();
        anchor_enc.push(time(|| anchor = anchor_encode(&blob, &layout)));
        anchor_dec.push(time(|| anchor_decode(&anchor, &layout)));
    }
    let bytes = blob.len();
    let (oe, od) = (
        mib_per_s(bytes, &mut ours_enc),
        mib_per_s(bytes, &mut ours_dec),
    );
    let (ae, ad) = (
        mib_per_s(bytes, &mut anchor_enc),
        mib_per_s(bytes, &mut anchor_dec),
    );
    println!(
        "| {size_mib} MiB | {n_shards} | {} | {oe:.0} | {ae:.0} | {:.2}x | {od:.0} | {ad:.0} | {:.2}x |",
        layout.encoding.name(),
        oe / ae,
        od / ad
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let sizes: Vec<usize> = list(args.first(), "1,64");
    let shards: Vec<u32> = list(args.get(1), "10,100,1000");
    let runs: usize = args.get(2).map_or(5, |a| a.parse().expect("RUNS"));
    println!(
        "threads: {}, runs: {runs} (median)",
        rayon::current_num_threads()
    );
    println!("| blob | shards | encoding | encode MiB/s | anchor | ratio | decode MiB/s | anchor | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &size in &sizes {
        for &n in &shards {
            row(size, n, runs);
        }
    }
}
