//! Criterion's view of `wal::encoding` (the code each shard count gets by default,
//! `rs-gf8` up to 256 shards and `rs-gf16-leopard` beyond, plus the chunk Merkle roots)
//! at 10, 100 and 1000 shards with 1 MiB and 64 MiB blobs, next to reed-solomon-simd
//! encoding the same data shards (code only, no Merkle trees). Decoding starts from the
//! last k slivers (mostly parity: the worst case). The README's table against the full
//! anchor pipeline comes from `benches/codec_table.rs`. Run: `cargo bench --bench
//! encoding` (or a filter such as `-- 1MiB`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    // criterion_group! makes a public `benches` fn it gives no way to document.
    missing_docs
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::RngCore;
use wal::encoding::{decode, encode, Layout};

fn blob(size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("encoding");
    group.sample_size(10);
    for (label, size) in [("1MiB", 1usize << 20), ("64MiB", 64 << 20)] {
        let data = blob(size);
        group.throughput(Throughput::Bytes(size as u64));
        for n in [10u32, 100, 1000] {
            let id = format!("{label}/n{n}");
            group.bench_with_input(BenchmarkId::new("encode", &id), &n, |b, &n| {
                b.iter(|| encode(&data, n).unwrap())
            });
            let (metadata, slivers) = encode(&data, n).unwrap();
            let k = metadata.k as usize;
            group.bench_with_input(BenchmarkId::new("decode", &id), &n, |b, _| {
                b.iter(|| {
                    let last_k: Vec<Option<Vec<u8>>> = slivers
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i >= slivers.len() - k).then(|| s.clone()))
                        .collect();
                    decode(&metadata, last_k).unwrap()
                })
            });
            // reed-solomon-simd on the same data shards (padded to 64 bytes).
            let layout = Layout::new(size as u64, n).unwrap();
            let shard_len = (layout.sliver_len as usize).next_multiple_of(64);
            let originals: Vec<Vec<u8>> = (0..k)
                .map(|i| {
                    let mut shard = vec![0u8; shard_len];
                    let start = (i * layout.sliver_len as usize).min(size);
                    let end = ((i + 1) * layout.sliver_len as usize).min(size);
                    shard[..end - start].copy_from_slice(&data[start..end]);
                    shard
                })
                .collect();
            let recovery = n as usize - k;
            if recovery > 0 {
                group.bench_with_input(BenchmarkId::new("simd-encode", &id), &n, |b, _| {
                    b.iter(|| reed_solomon_simd::encode(k, recovery, &originals).unwrap())
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
