#![allow(
    clippy::cast_possible_truncation,
    reason = "test sizes and shard counts are small literals"
)]

use super::*;
use proptest::prelude::*;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

fn blob(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

#[test]
fn layouts_follow_size_and_shards() {
    let layout = Layout::new(10_000, 10).unwrap();
    assert_eq!(
        (layout.k, layout.sliver_len, layout.chunk_len),
        (4, 2500, 2500)
    );
    let big = Layout::new(1 << 20, 1000).unwrap();
    assert_eq!(big.k, 334);
    assert_eq!(big.sliver_len % 2, 0, "GF(2^16) symbols are two bytes");
    assert_eq!(big.chunk_len, 3140);
    assert_eq!(Layout::new(5, 100).unwrap().sliver_len, 1);
    assert_eq!(Layout::new(1, 1).unwrap().k, 1);
    assert!(Layout::new(1, 0).is_err() && Layout::new(1, 1001).is_err());
}

#[test]
fn bad_metadata_is_refused_by_field() {
    let (metadata, _) = encode(&blob(1000, 1), 7).unwrap();
    let mut wrong_k = metadata.clone();
    wrong_k.k = 5;
    assert!(matches!(
        wrong_k.validate(),
        Err(EncodingError::Field { field: "k", .. })
    ));
    let mut wrong_len = metadata.clone();
    wrong_len.sliver_len += 1;
    assert!(matches!(
        wrong_len.validate(),
        Err(EncodingError::Field {
            field: "sliver_len",
            ..
        })
    ));
    let mut wrong_roots = metadata.clone();
    wrong_roots.sliver_roots.pop();
    assert!(matches!(
        wrong_roots.validate(),
        Err(EncodingError::RootCount { .. })
    ));
    let mut upper = metadata.clone();
    upper.sliver_roots[0] = upper.sliver_roots[0].to_uppercase();
    assert!(matches!(
        upper.validate(),
        Err(EncodingError::RootSyntax(0))
    ));
}

#[test]
fn gf16_beyond_256_shards_round_trips() {
    let data = blob(70_000, 2);
    let (metadata, slivers) = encode(&data, 1000).unwrap();
    assert_eq!(metadata.k, 334);
    // Keep only the last k slivers: nearly all parity.
    let keep: Vec<Option<Vec<u8>>> = slivers
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i >= 1000 - 334).then_some(s))
        .collect();
    assert_eq!(decode(&metadata, keep).unwrap(), data);
}

#[test]
fn an_inconsistent_encoding_is_refused() {
    // A writer commits to a parity sliver that does not belong to the data: each
    // sliver matches its own root, but the slivers are not one code word. Caught
    // whether the bad sliver is among those read (bytes differ from the derived
    // parity) or not (its root differs from the derived parity's).
    for encoding in ENCODINGS {
        let data = blob(3000, 9);
        let (mut metadata, mut slivers) = encode_as(&data, 7, encoding).unwrap();
        slivers[6][0] ^= 1;
        metadata.sliver_roots[6] = hex::encode(sliver_root(&slivers[6], metadata.chunk_len));
        for read in [4..7, 0..3] {
            let chosen: Vec<Option<Vec<u8>>> = slivers
                .iter()
                .enumerate()
                .map(|(i, s)| (read.contains(&i) || i == 3).then(|| s.clone()))
                .collect();
            assert_eq!(
                decode(&metadata, chosen),
                Err(EncodingError::Inconsistent),
                "{encoding:?} reading {read:?}"
            );
        }
    }
}

#[test]
fn the_metadata_names_its_encoding() {
    let data = blob(5000, 3);
    let (gf8, _) = encode_as(&data, 10, Encoding::RsGf8).unwrap();
    let (leopard, _) = encode_as(&data, 10, Encoding::RsGf16Leopard).unwrap();
    assert_ne!(
        gf8.blob_id(),
        leopard.blob_id(),
        "the encoding is part of the id"
    );
    let json = serde_json::to_value(&leopard).unwrap();
    assert_eq!(json["encoding"], "rs-gf16-leopard");
    assert_eq!(serde_json::to_value(&gf8).unwrap()["encoding"], "rs-gf8");
    // Another encoding name for the same roots is other metadata, refused by its layout
    // (GF(2^16) slivers are whole two-byte symbols).
    let mut renamed = gf8.clone();
    renamed.encoding = Encoding::RsGf16Leopard;
    assert!(renamed.validate().is_err() || renamed.blob_id() != gf8.blob_id());
    assert!(matches!(
        encode_as(&data, 300, Encoding::RsGf8),
        Err(EncodingError::EncodingShards { max: 256, .. })
    ));
    assert_eq!(Encoding::for_shards(1000), Encoding::RsGf16Leopard);
}

/// Blobs big enough to be cut into several column segments per sliver decode from
/// mostly parity in both codes.
#[test]
fn segmented_blobs_round_trip_in_both_codes() {
    for encoding in ENCODINGS {
        for (len, n) in [(1_000_003usize, 10u32), (700_001, 100), (2_000_000, 7)] {
            let data = blob(len, u64::from(n));
            let (metadata, slivers) = encode_as(&data, n, encoding).unwrap();
            let k = metadata.k as usize;
            let last_k: Vec<Option<Vec<u8>>> = slivers
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i >= n as usize - k).then_some(s))
                .collect();
            assert_eq!(
                decode(&metadata, last_k).unwrap(),
                data,
                "{encoding:?} {len} {n}"
            );
        }
    }
}

const ENCODINGS: [Encoding; 2] = [Encoding::RsGf8, Encoding::RsGf16Leopard];

fn shard_counts() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=12, Just(100), Just(256), Just(257), Just(300)]
}

/// An encoding that supports `n`: either code up to 256 shards, Leopard beyond.
fn encoding_for(n: u32, gf8: bool) -> Encoding {
    if gf8 && n <= GF8_SHARDS_MAX {
        Encoding::RsGf8
    } else {
        Encoding::RsGf16Leopard
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any k of the n slivers bring the blob back byte for byte.
    #[test]
    fn any_k_slivers_decode(len in 0usize..6000, n in shard_counts(), seed in any::<u64>(), gf8 in any::<bool>()) {
        let data = blob(len, seed);
        let (metadata, slivers) = encode_as(&data, n, encoding_for(n, gf8)).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let chosen = sample(&mut rng, n as usize, metadata.k as usize).into_vec();
        let subset: Vec<Option<Vec<u8>>> = slivers
            .iter()
            .enumerate()
            .map(|(i, s)| chosen.contains(&i).then(|| s.clone()))
            .collect();
        prop_assert_eq!(decode(&metadata, subset).unwrap(), data);
        for (i, sliver) in slivers.iter().enumerate() {
            prop_assert!(metadata.verify_sliver(i as u32, sliver).is_ok());
        }
    }

    /// A flipped byte anywhere is caught: in a sliver by its root, in a chunk by its
    /// proof; decoding ignores the bad sliver and still succeeds from the good ones.
    #[test]
    fn a_flipped_byte_is_rejected(len in 1usize..20_000, n in 4u32..=12, seed in any::<u64>(), at in any::<prop::sample::Index>(), which in any::<prop::sample::Index>(), gf8 in any::<bool>()) {
        let data = blob(len, seed);
        let (metadata, slivers) = encode_as(&data, n, encoding_for(n, gf8)).unwrap();
        let victim = which.index(n as usize);
        let mut bad = slivers[victim].clone();
        let position = at.index(bad.len());
        bad[position] ^= 0x01;
        prop_assert_eq!(metadata.verify_sliver(victim as u32, &bad), Err(EncodingError::SliverRoot(victim as u32)));
        let chunk_index = (position as u64 / metadata.chunk_len) as u32;
        let proof = chunk_proof(&bad, metadata.chunk_len, chunk_index).unwrap();
        prop_assert!(metadata.verify_chunk(victim as u32, chunk_index, &proof.chunk, &proof.siblings).is_err());
        let good = chunk_proof(&slivers[victim], metadata.chunk_len, chunk_index).unwrap();
        prop_assert!(metadata.verify_chunk(victim as u32, chunk_index, &good.chunk, &good.siblings).is_ok());
        // The right chunk under another index, or with a sibling dropped, fails too.
        prop_assert!(metadata.verify_chunk((victim as u32 + 1) % n, chunk_index, &good.chunk, &good.siblings).is_err()
            || slivers[victim] == slivers[(victim + 1) % n as usize]);
        let mut with_bad: Vec<Option<Vec<u8>>> = slivers.iter().cloned().map(Some).collect();
        with_bad[victim] = Some(bad);
        prop_assert_eq!(decode(&metadata, with_bad).unwrap(), data);
    }

    /// The blob id depends only on the bytes (and n_shards): the same bytes give the
    /// same id, one changed byte another.
    #[test]
    fn blob_ids_are_stable(len in 1usize..5000, n in shard_counts(), seed in any::<u64>(), at in any::<prop::sample::Index>(), gf8 in any::<bool>()) {
        let data = blob(len, seed);
        let encoding = encoding_for(n, gf8);
        let (first, _) = encode_as(&data, n, encoding).unwrap();
        let (second, _) = encode_as(&data.clone(), n, encoding).unwrap();
        prop_assert_eq!(first.blob_id(), second.blob_id());
        prop_assert_eq!(first.blob_id().len(), 64);
        let mut changed = data;
        changed[at.index(len)] ^= 0x80;
        let (third, _) = encode_as(&changed, n, encoding).unwrap();
        prop_assert_ne!(first.blob_id(), third.blob_id());
    }

    /// Every chunk of every size of tree proves against its root, and only at its index.
    #[test]
    fn merkle_proofs_verify(leaf_count in 1usize..70, seed in any::<u64>()) {
        let leaves: Vec<merkle::Hash> = (0..leaf_count).map(|i| merkle::leaf_hash(&(seed + i as u64).to_le_bytes())).collect();
        let root = merkle::root(leaves.clone());
        for (index, leaf) in leaves.iter().enumerate() {
            let proof = merkle::proof(leaves.clone(), index);
            prop_assert!(merkle::verify(&root, *leaf, index, leaf_count, &proof));
            if leaf_count > 1 {
                prop_assert!(!merkle::verify(&root, *leaf, (index + 1) % leaf_count, leaf_count, &proof));
            }
        }
    }
}

/// Known answers: a fixed blob's id per encoding. A codec crate update that changed the
/// code's output (and so every stored blob's parity) fails here first.
#[test]
fn blob_ids_are_pinned_per_encoding() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let ids: Vec<(Encoding, u32, String)> = [
        (Encoding::RsGf8, 10),
        (Encoding::RsGf8, 100),
        (Encoding::RsGf16Leopard, 10),
        (Encoding::RsGf16Leopard, 1000),
    ]
    .into_iter()
    .map(|(encoding, n)| {
        (
            encoding,
            n,
            encode_as(&data, n, encoding).unwrap().0.blob_id(),
        )
    })
    .collect();
    let expected = [
        "e72b5eae1dd95475421b04d82ee4ac3fb1c75473a77fdde98841768033ec59fb",
        "3889f8ed47e1b7d958068daab04354d8938a8bfd657acbe0cc1b0898d9790ae3",
        "e0d5e0852cfc39ea005f2a1f4f65578edc2d18014b27c88ee198a47132613a0c",
        "5a82d6e5d545ec7208c4c23b19ab7a31ae56b8aada67e239e3412106160fe0da",
    ];
    for ((encoding, n, id), want) in ids.iter().zip(expected) {
        assert_eq!(id, want, "{encoding:?} at {n} shards");
    }
}

/// The column segments follow the number of threads; the code must not: one thread
/// and eight give the same slivers.
#[test]
fn the_code_does_not_depend_on_the_thread_count() {
    let data = blob(3_000_001, 11);
    for (encoding, n) in [
        (Encoding::RsGf8, 10),
        (Encoding::RsGf16Leopard, 10),
        (Encoding::RsGf16Leopard, 300),
    ] {
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| encode_as(&data, n, encoding).unwrap())
        };
        let (one, slivers_one) = on(1);
        let (eight, slivers_eight) = on(8);
        assert_eq!(one, eight, "{encoding:?} at {n}");
        assert!(slivers_one == slivers_eight, "{encoding:?} at {n}");
    }
}

/// `rs-gf16-leopard` is reed-solomon-simd's code exactly: our slivers, coded in column
/// segments on several threads, equal reed-solomon-simd coding whole slivers at once.
#[test]
fn leopard_slivers_are_reed_solomon_simd_on_whole_slivers() {
    for (len, n) in [(3_000_001usize, 10u32), (1 << 20, 1000), (70_001, 7)] {
        let data = blob(len, 5);
        let (metadata, slivers) = encode_as(&data, n, Encoding::RsGf16Leopard).unwrap();
        let k = metadata.k as usize;
        let whole = reed_solomon_simd::encode(k, n as usize - k, &slivers[..k]).unwrap();
        assert!(whole == slivers[k..], "{len} bytes at {n} shards");
    }
}
