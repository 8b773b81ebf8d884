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
        prop_assert_eq!(decode_with(&metadata, subset.clone(), Consistency::Default).unwrap(), data.clone());
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

    /// An inconsistent encoding (one sliver changed and its root recomputed, as a
    /// dishonest writer would): the strict check refuses any k slivers; the default
    /// check returns the bytes of the data slivers as committed or an error, so two
    /// reads that succeed agree, and a read of the data slivers succeeds unless the
    /// change was in their padding.
    #[test]
    fn reads_of_an_inconsistent_blob_agree_or_fail(len in 1usize..6000, n in 4u32..=12, seed in any::<u64>(), at in any::<prop::sample::Index>(), which in any::<prop::sample::Index>(), gf8 in any::<bool>()) {
        let data = blob(len, seed);
        let (mut metadata, mut slivers) = encode_as(&data, n, encoding_for(n, gf8)).unwrap();
        let layout = metadata.validate().unwrap();
        prop_assume!(layout.stripes == 1);
        let (k, victim) = (layout.k as usize, which.index(n as usize));
        let position = at.index(slivers[victim].len());
        slivers[victim][position] ^= 0x01;
        metadata.sliver_roots[victim] = hex::encode(sliver_root(&slivers[victim], metadata.chunk_len));
        let committed: Vec<u8> = slivers[..k].concat().into_iter().take(len).collect();
        let in_padding = victim < k && victim * slivers[0].len() + position >= len;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data_only: Vec<usize> = (0..k).collect();
        for chosen in [data_only.clone()].into_iter().chain((0..4).map(|_| sample(&mut rng, n as usize, k).into_vec())) {
            let subset: Vec<Option<Vec<u8>>> = (0..n as usize)
                .map(|i| chosen.contains(&i).then(|| slivers[i].clone()))
                .collect();
            prop_assert_eq!(decode(&metadata, subset.clone()), Err(EncodingError::Inconsistent));
            match decode_with(&metadata, subset, Consistency::Default) {
                Ok(read) => prop_assert_eq!(&read, &committed),
                Err(e) => prop_assert!(e == EncodingError::Inconsistent && (chosen != data_only || in_padding), "{e:?}"),
            }
        }
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
/// code's output (and so every stored blob's parity) fails here first. (These
/// one-stripe blobs had the same slivers under metadata v2: only the domain changed.)
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
        "a30d15423aab5ea8149d5b91347c8d4fb99892a8d72e3e28e924455d6432ed5d",
        "1727ceefaa79c06200ae5db9a35ab92cb4d59e808b99b4a0ccec59d7be591a76",
        "c6488024fafa475db8d921ef9e59fdbe6277259a1a35061f7d1c5e871369574c",
        "e4cf350691e9f09ca0e74a346dd00db323d46b4999ec55dae46f764db8a9960f",
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The striped layout's bounds: enough room for the blob, no stripe all padding, a
    /// stripe's encoded bytes within the limit, and stripes made of whole chunks.
    #[test]
    fn stripes_cover_the_blob_within_bounds(size in 0u64..=BLOB_SIZE_MAX, n in 1u32..=N_SHARDS_MAX) {
        let layout = Layout::with_encoding(size, n, Encoding::RsGf16Leopard).unwrap();
        let data = layout.stripe_data_len();
        prop_assert!(layout.stripes >= 1);
        prop_assert!(layout.stripes * data >= size);
        prop_assert!(layout.stripes == 1 || (layout.stripes - 1) * data < size);
        prop_assert_eq!(layout.sliver_len, layout.stripes * layout.stripe_sliver_len);
        prop_assert!(layout.stripe_sliver_len * u64::from(n) <= STRIPE_ENCODED_BYTES_MAX.max(u64::from(n) * CHUNK_LEN_MAX));
        if layout.stripes > 1 {
            prop_assert_eq!(layout.stripe_sliver_len % CHUNK_LEN_MAX, 0);
        }
        prop_assert_eq!(layout.stripe_range(layout.stripes - 1).end, size);
    }

    /// The streaming root equals the tree built level by level, however the bytes are
    /// split into pushes, and with leaves pushed in place of whole chunks.
    #[test]
    fn the_streaming_root_is_the_tree_root(len in 1usize..40_000, chunk_len in 1usize..5000, cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6), seed in any::<u64>()) {
        let data = blob(len, seed);
        let expected = sliver_root(&data, chunk_len as u64);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len)).collect();
        points.sort_unstable();
        let mut builder = merkle::RootBuilder::new(chunk_len, true);
        let mut from = 0;
        for point in points.into_iter().chain([len]) {
            builder.push_bytes(&data[from..point]);
            from = point;
        }
        let (root, leaves) = builder.finish().unwrap();
        prop_assert_eq!(root, expected);
        prop_assert_eq!(leaves.len(), len.div_ceil(chunk_len));
        let mut by_leaves = merkle::RootBuilder::new(chunk_len, false);
        leaves.iter().for_each(|&leaf| by_leaves.push_leaf(leaf));
        prop_assert_eq!(by_leaves.finish().unwrap().0, expected);
    }

    /// Any k pieces of a stripe rebuild every piece of it.
    #[test]
    fn any_k_pieces_decode_a_stripe(len in 0usize..6000, n in shard_counts(), seed in any::<u64>(), gf8 in any::<bool>()) {
        let data = blob(len, seed);
        let layout = Layout::with_encoding(len as u64, n, encoding_for(n, gf8)).unwrap();
        let pieces = encode_stripe(&layout, &data).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let chosen = sample(&mut rng, n as usize, layout.k as usize).into_vec();
        let given = pieces.iter().enumerate().map(|(i, p)| chosen.contains(&i).then(|| p.clone())).collect();
        prop_assert_eq!(decode_stripe(&layout, given, Consistency::Strict).unwrap(), pieces);
    }
}

/// A blob of several stripes, in both codes: any k slivers decode it, a flipped byte
/// in a later stripe of a sliver is caught (whole-sliver root and chunk proof), and
/// the metadata streamed stripe by stripe is the metadata of the whole encode.
#[test]
fn striped_blobs_round_trip_and_catch_flips() {
    for (encoding, n, stripes) in [
        (Encoding::RsGf8, 256, 2.5),
        (Encoding::RsGf16Leopard, 1000, 2.2),
        (Encoding::RsGf8, 7, 1.3),
    ] {
        let one = Layout::with_encoding(0, n, encoding).unwrap();
        let per_sliver = (STRIPE_ENCODED_BYTES_MAX / u64::from(n)) / CHUNK_LEN_MAX * CHUNK_LEN_MAX;
        let len = (f64::from(one.k) * per_sliver as f64 * stripes) as usize + 3;
        let data = blob(len, u64::from(n));
        let (metadata, slivers) = encode_as(&data, n, encoding).unwrap();
        let layout = metadata.validate().unwrap();
        assert!(layout.stripes >= 2, "{encoding:?} {n}: {layout:?}");
        let mut streamed = MetadataBuilder::new(layout);
        for stripe in 0..layout.stripes {
            let range = layout.stripe_range(stripe);
            streamed.push_stripe(
                &encode_stripe(&layout, &data[range.start as usize..range.end as usize]).unwrap(),
            );
        }
        assert_eq!(streamed.finish(), metadata);
        let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(n));
        let chosen = sample(&mut rng, n as usize, metadata.k as usize).into_vec();
        let mut subset: Vec<Option<Vec<u8>>> = (0..n as usize)
            .map(|i| chosen.contains(&i).then(|| slivers[i].clone()))
            .collect();
        assert_eq!(
            decode(&metadata, subset.clone()).unwrap(),
            data,
            "{encoding:?} {n}"
        );
        let victim = chosen[0];
        let at = layout.stripe_sliver_len as usize + 17;
        let mut bad = slivers[victim].clone();
        bad[at] ^= 0x40;
        assert_eq!(
            metadata.verify_sliver(victim as u32, &bad),
            Err(EncodingError::SliverRoot(victim as u32))
        );
        let chunk = (at as u64 / metadata.chunk_len) as u32;
        let proof = chunk_proof(&bad, metadata.chunk_len, chunk).unwrap();
        assert!(metadata
            .verify_chunk(victim as u32, chunk, &proof.chunk, &proof.siblings)
            .is_err());
        subset[victim] = Some(bad);
        assert!(matches!(
            decode(&metadata, subset),
            Err(EncodingError::NotEnoughSlivers { .. })
        ));
    }
}

/// A writer that commits to parity not belonging to the data in one later stripe only
/// (with roots computed over its wrong slivers) is refused by a strict reader of the
/// data slivers, and by any reader of the wrong parity.
#[test]
fn an_inconsistent_later_stripe_is_refused() {
    let n = 256;
    let layout = Layout::with_encoding(0, n, Encoding::RsGf8).unwrap();
    let per_sliver = (STRIPE_ENCODED_BYTES_MAX / u64::from(n)) / CHUNK_LEN_MAX * CHUNK_LEN_MAX;
    let data = blob((u64::from(layout.k) * per_sliver * 2) as usize + 10, 5);
    let (mut metadata, mut slivers) = encode_as(&data, n, Encoding::RsGf8).unwrap();
    let layout = metadata.validate().unwrap();
    let parity = layout.k as usize;
    slivers[parity][layout.stripe_sliver_len as usize * 2] ^= 1;
    metadata.sliver_roots[parity] = hex::encode(sliver_root(&slivers[parity], metadata.chunk_len));
    let data_only: Vec<Option<Vec<u8>>> = (0..n as usize)
        .map(|i| (i < parity).then(|| slivers[i].clone()))
        .collect();
    assert_eq!(
        decode(&metadata, data_only.clone()),
        Err(EncodingError::Inconsistent)
    );
    // The default check does not code the parity again: the data slivers read are the
    // blob, and only a reader rebuilding data from the wrong parity is refused.
    assert_eq!(
        decode_with(&metadata, data_only, Consistency::Default).unwrap(),
        data
    );
    let with_parity: Vec<Option<Vec<u8>>> = (0..n as usize)
        .map(|i| (i > 0 && i <= parity).then(|| slivers[i].clone()))
        .collect();
    assert_eq!(
        decode(&metadata, with_parity.clone()),
        Err(EncodingError::Inconsistent)
    );
    assert_eq!(
        decode_with(&metadata, with_parity, Consistency::Default),
        Err(EncodingError::Inconsistent)
    );
}
