//! Where and when to challenge, drawn with a CSPRNG (ChaCha, seeded from the OS) so a
//! node can predict neither which chunk is asked nor when.

use std::time::Duration;

use rand::Rng;
use wal::wire::StoredBlob;

/// Offsets for `count` challenges spread evenly over `window`: each at a uniformly
/// random moment of its own slot.
pub fn spread(count: u32, window: Duration, rng: &mut impl Rng) -> Vec<Duration> {
    let slot = window.as_secs_f64() / f64::from(count.max(1));
    (0..count)
        .map(|i| Duration::from_secs_f64(slot * (f64::from(i) + rng.gen::<f64>())))
        .collect()
}

/// Random draws before `draw` gives up (the caller waits and draws again).
const DRAWS: usize = 32;

/// A random chunk of a random sliver the node holds, other than the `excluded` (blob
/// id, shard) pairs: (blob index, shard, chunk). None if the draws found only
/// excluded pairs.
pub fn draw(
    blobs: &[StoredBlob],
    shards: &[u32],
    rng: &mut impl Rng,
    excluded: impl Fn(&str, u32) -> bool,
) -> Option<(usize, u32, u32)> {
    if blobs.is_empty() || shards.is_empty() {
        return None;
    }
    for _ in 0..DRAWS {
        let blob = rng.gen_range(0..blobs.len());
        let shard = shards[rng.gen_range(0..shards.len())];
        if excluded(&blobs[blob].blob_id, shard) {
            continue;
        }
        let chunks = blobs[blob].metadata.validate().ok()?.chunk_count();
        return Some((blob, shard, rng.gen_range(0..chunks)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn challenges_are_spread_over_the_whole_window() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let window = Duration::from_secs(100);
        let times = spread(10, window, &mut rng);
        assert_eq!(times.len(), 10);
        for (i, t) in times.iter().enumerate() {
            assert!(*t >= Duration::from_secs(10 * i as u64));
            assert!(*t < Duration::from_secs(10 * (i as u64 + 1)));
        }
        assert!(spread(0, window, &mut rng).is_empty());
    }

    #[test]
    fn draws_stay_within_the_node_shards_and_the_chunks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (metadata, _) = wal::encoding::encode(&vec![7u8; 50_000], 7).unwrap();
        let blobs = vec![StoredBlob {
            blob_id: metadata.blob_id(),
            metadata: metadata.clone(),
            end_epoch: 9,
        }];
        let chunks = metadata.validate().unwrap().chunk_count();
        for _ in 0..200 {
            let (blob, shard, chunk) = draw(&blobs, &[2, 5], &mut rng, |_, _| false).unwrap();
            assert_eq!(blob, 0);
            assert!(shard == 2 || shard == 5);
            assert!(chunk < chunks);
            let (_, shard, _) = draw(&blobs, &[2, 5], &mut rng, |_, s| s == 2).unwrap();
            assert_eq!(shard, 5, "an excluded sliver is never drawn");
        }
        assert!(draw(&blobs, &[2], &mut rng, |_, _| true).is_none());
        assert!(draw(&blobs, &[], &mut rng, |_, _| false).is_none());
        assert!(draw(&[], &[1], &mut rng, |_, _| false).is_none());
    }
}
