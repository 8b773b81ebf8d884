//! Blob metadata (`BlobMetadata` from JSON, `validate`, `canonical_bytes`, `blob_id`,
//! `verify_chunk`) and the layout it must match (`Layout::with_encoding`).
//!
//! The first byte picks the mode. JSON mode: the rest is a metadata document as a
//! client sends it in `POST /v1/storage/contracts`. Layout mode: the fuzzer picks an
//! encoding, a size and a shard count, and metadata is made from their layout with
//! fuzzer-chosen roots. Asserted:
//! - nothing panics, whatever the fields (huge sizes, 0 or 10^9 shards, bad roots);
//! - metadata that validates matches its layout field by field, re-serialises to JSON
//!   that parses to equal metadata and validates again, has a canonical encoding of
//!   20 + 29 + 32·n_shards bytes and a blob id of 64 lowercase hex digits;
//! - a layout holds the blob: k·sliver_len ≥ size, stripes ≥ 1, sliver_len =
//!   stripes·stripe_sliver_len, a multiple of the symbol size (and of 4096 when striped),
//!   no stripe is all padding, chunk_len = min(4096, sliver_len), and a stripe's
//!   encoded bytes stay within 32 MiB unless a sliver is at its 4096-byte floor;
//! - `verify_chunk` with arbitrary indices, chunk bytes and siblings never panics, and
//!   accepts nothing for a chunk index past the sliver or a shard past `n_shards`.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use wal::encoding::{BlobMetadata, Encoding, Layout, BLOB_SIZE_MAX, STRIPE_ENCODED_BYTES_MAX};

#[derive(Arbitrary, Debug)]
struct Probe {
    shard: u32,
    chunk_index: u32,
    chunk: Vec<u8>,
    siblings: Vec<[u8; 32]>,
}

fn check_layout(layout: &Layout) {
    let k = u64::from(layout.k);
    assert!(layout.k >= 1 && layout.k <= layout.n_shards);
    assert!(layout.stripes >= 1);
    assert_eq!(layout.sliver_len, layout.stripes * layout.stripe_sliver_len);
    assert!(
        k * layout.sliver_len >= layout.size,
        "{layout:?} does not hold the blob"
    );
    assert_eq!(layout.stripe_sliver_len % layout.encoding.symbol_bytes(), 0);
    if layout.stripes > 1 {
        assert_eq!(layout.stripe_sliver_len % 4096, 0);
        // The last stripe holds some of the blob.
        assert!((layout.stripes - 1) * k * layout.stripe_sliver_len < layout.size);
    }
    assert!(
        layout.stripe_sliver_len * u64::from(layout.n_shards) <= STRIPE_ENCODED_BYTES_MAX
            || layout.stripe_sliver_len == 4096,
        "{layout:?}: a stripe is above 32 MiB"
    );
    assert_eq!(layout.chunk_len, layout.sliver_len.min(4096));
    assert!(layout.chunk_count() >= 1);
    assert_eq!(
        u64::from(layout.chunk_count()),
        layout.sliver_len.div_ceil(layout.chunk_len)
    );
}

fn check_metadata(metadata: &BlobMetadata, probe: &Probe) {
    let validated = metadata.validate();
    assert_eq!(
        validated,
        metadata.validate(),
        "validate is not deterministic"
    );
    let chunk = metadata.verify_chunk(
        probe.shard,
        probe.chunk_index,
        &probe.chunk,
        &probe.siblings,
    );
    let Ok(layout) = validated else {
        assert!(chunk.is_err(), "verify_chunk accepted invalid metadata");
        // canonical_bytes and blob_id must not panic on invalid metadata either.
        let _ = metadata.blob_id();
        return;
    };
    check_layout(&layout);
    assert_eq!(
        Layout::with_encoding(metadata.size, metadata.n_shards, metadata.encoding),
        Ok(layout)
    );
    assert_eq!(
        (layout.k, layout.sliver_len, layout.chunk_len),
        (metadata.k, metadata.sliver_len, metadata.chunk_len)
    );
    if chunk.is_ok() {
        assert!(probe.shard < metadata.n_shards && probe.chunk_index < layout.chunk_count());
    }
    let canonical = metadata.canonical_bytes();
    assert_eq!(canonical.len(), 20 + 29 + 32 * metadata.sliver_roots.len());
    let id = metadata.blob_id();
    assert!(id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    let json = serde_json::to_vec(metadata).expect("metadata serialises");
    let again: BlobMetadata = serde_json::from_slice(&json).expect("own JSON parses");
    assert_eq!(&again, metadata);
    assert_eq!(again.validate(), Ok(layout));
    assert_eq!(again.blob_id(), id);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(metadata) = serde_json::from_slice::<BlobMetadata>(rest) else {
            return;
        };
        let mut u = Unstructured::new(&[]);
        let probe = Probe::arbitrary(&mut u).expect("an empty probe");
        check_metadata(&metadata, &probe);
        return;
    }
    let mut u = Unstructured::new(rest);
    let (Ok(gf16), Ok(size), Ok(n_shards), Ok(probe)) = (
        bool::arbitrary(&mut u),
        u64::arbitrary(&mut u),
        u16::arbitrary(&mut u),
        Probe::arbitrary(&mut u),
    ) else {
        return;
    };
    let encoding = if gf16 {
        Encoding::RsGf16Leopard
    } else {
        Encoding::RsGf8
    };
    // Sizes above the maximum must be refused; fold most inputs into the valid range.
    let size = if size & 1 == 0 {
        size % (BLOB_SIZE_MAX + 1)
    } else {
        size
    };
    let n_shards = u32::from(n_shards);
    let Ok(layout) = Layout::with_encoding(size, n_shards, encoding) else {
        assert!(
            size > BLOB_SIZE_MAX || !(1..=1000).contains(&n_shards) || !encoding.supports(n_shards),
            "refused a valid layout: {size} bytes, {n_shards} shards, {encoding:?}"
        );
        return;
    };
    check_layout(&layout);
    // Roots from the fuzzer's bytes; validate must accept any lowercase hex.
    let roots = (0..n_shards)
        .map(|i| hex::encode([probe.chunk.get(i as usize).copied().unwrap_or(0); 32]))
        .collect();
    let metadata = BlobMetadata {
        encoding,
        size,
        n_shards,
        k: layout.k,
        sliver_len: layout.sliver_len,
        chunk_len: layout.chunk_len,
        sliver_roots: roots,
    };
    assert_eq!(metadata.validate(), Ok(layout));
    check_metadata(&metadata, &probe);
});
