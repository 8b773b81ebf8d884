//! Committee shards (ECONOMICS.md, "Staking"): D'Hondt apportionment of `n_shards` by
//! stake with a per-node cap, and a shard assignment that leaves every shard with its
//! holder wherever the apportionment allows. Pure functions; the epoch change calls them.

use rust_decimal::Decimal;

use crate::money::Wal;

/// The committee of the next epoch from the eligible nodes `(node_id, active stake)`:
/// those with at least `stake_min`, the `size_max` largest by stake (ties: the older
/// node, lower id), returned in node id order (the order D'Hondt breaks ties in).
pub fn select(candidates: &[(i64, Wal)], stake_min: Wal, size_max: usize) -> Vec<(i64, Wal)> {
    let mut eligible: Vec<(i64, Wal)> = candidates
        .iter()
        .copied()
        .filter(|&(_, stake)| stake >= stake_min && stake.is_positive())
        .collect();
    eligible.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    eligible.truncate(size_max);
    eligible.sort_by_key(|&(id, _)| id);
    eligible
}

/// Beyond this committee size the cap stops shrinking: n_shards / 10 per node.
const CAP_COMMITTEE_SIZE: usize = 20;

/// The most shards one node may hold: ceil(2 n_shards / committee size), and
/// ceil(n_shards / 10) once the committee has 20 or more nodes. Always large enough for
/// the committee to hold every shard (cap * size >= 2 n_shards).
pub fn shard_cap(n_shards: u32, committee_size: usize) -> u32 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "clamped to 1..=CAP_COMMITTEE_SIZE (20) on this line"
    )]
    let divisor = committee_size.clamp(1, CAP_COMMITTEE_SIZE) as u32;
    (2 * n_shards).div_ceil(divisor)
}

/// D'Hondt: shard after shard goes to the node with the highest quotient
/// stake / (shards so far + 1) among nodes below the cap; ties go to the lower index.
/// `stakes` are the committee's positive stakes; the result is index-aligned and sums
/// to `n_shards`.
pub fn apportion(n_shards: u32, stakes: &[Decimal]) -> Vec<u32> {
    assert!(!stakes.is_empty(), "a committee has at least one node");
    assert!(
        stakes.iter().all(|s| s.is_sign_positive() && !s.is_zero()),
        "stakes are positive"
    );
    let cap = shard_cap(n_shards, stakes.len());
    let mut shards = vec![0u32; stakes.len()];
    for _ in 0..n_shards {
        let mut best: Option<usize> = None;
        for (node, stake) in stakes.iter().enumerate() {
            if shards[node] >= cap {
                continue;
            }
            // Compare stake_a / (s_a + 1) with stake_b / (s_b + 1) by cross-multiplying:
            // exact, no division.
            let better = match best {
                None => true,
                Some(b) => {
                    stake * Decimal::from(shards[b] + 1)
                        > stakes[b] * Decimal::from(shards[node] + 1)
                }
            };
            if better {
                best = Some(node);
            }
        }
        #[expect(
            clippy::expect_used,
            reason = "shard_cap makes cap * committee size >= n_shards, so some node always has room"
        )]
        let node = best.expect("the cap leaves room for every shard");
        shards[node] += 1;
    }
    shards
}

/// Assigns shard indices to nodes given how many each gets (`counts`, index-aligned
/// with the new committee) and who held each shard before (`previous[shard]`: the
/// holder's index in the new committee, or None if it left or the shard is new).
/// Every node first keeps up to its count of the shards it held (lowest first); the
/// rest go, lowest shard first, to the nodes still short, lowest index first.
#[expect(
    clippy::expect_used,
    reason = "the counts sum to n_shards (asserted), so the room left covers every shard not kept"
)]
pub fn assign(counts: &[u32], previous: &[Option<usize>]) -> Vec<usize> {
    let n_shards = previous.len();
    assert_eq!(counts.iter().map(|&c| c as usize).sum::<usize>(), n_shards);
    let mut room: Vec<u32> = counts.to_vec();
    let mut holder: Vec<Option<usize>> = vec![None; n_shards];
    for (shard, prev) in previous.iter().enumerate() {
        if let Some(node) = *prev {
            if node < room.len() && room[node] > 0 {
                room[node] -= 1;
                holder[shard] = Some(node);
            }
        }
    }
    let mut short = room
        .iter()
        .enumerate()
        .flat_map(|(node, &n)| std::iter::repeat_n(node, n as usize));
    holder
        .into_iter()
        .map(|h| h.unwrap_or_else(|| short.next().expect("counts cover every shard")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stakes(values: &[u64]) -> Vec<Decimal> {
        values.iter().map(|&v| Decimal::from(v)).collect()
    }

    #[test]
    fn dhondt_follows_stake_within_the_cap() {
        assert_eq!(apportion(10, &stakes(&[600, 300, 100])), vec![6, 3, 1]);
        // One giant node is held to ceil(2 * 10 / 3) = 7 shards.
        assert_eq!(apportion(10, &stakes(&[1_000_000, 1, 1])), vec![7, 2, 1]);
        assert_eq!(shard_cap(1000, 150), 100);
        assert_eq!(shard_cap(100, 7), 29);
    }

    #[test]
    fn the_committee_is_the_largest_eligible_stakes() {
        let w = Wal::from_wal;
        let candidates = [
            (1, w(5)),
            (2, w(50)),
            (3, Wal::ZERO),
            (4, w(20)),
            (5, w(20)),
        ];
        assert_eq!(
            select(&candidates, w(1), 10),
            vec![(1, w(5)), (2, w(50)), (4, w(20)), (5, w(20))]
        );
        assert_eq!(select(&candidates, w(10), 2), vec![(2, w(50)), (4, w(20))]);
    }

    #[test]
    fn assignment_keeps_shards_with_their_holders() {
        let previous = vec![Some(0), Some(0), Some(1), Some(1), None];
        assert_eq!(assign(&[1, 2, 2], &previous), vec![0, 2, 1, 1, 2]);
    }

    fn committee() -> impl Strategy<Value = (u32, Vec<u64>)> {
        (
            1u32..=1000,
            proptest::collection::vec(1u64..1_000_000_000, 1..40),
        )
    }

    proptest! {
        #[test]
        fn dhondt_gives_exactly_n_shards_within_the_cap((n, s) in committee()) {
            let shards = apportion(n, &stakes(&s));
            prop_assert_eq!(shards.iter().sum::<u32>(), n);
            let cap = shard_cap(n, s.len());
            prop_assert!(shards.iter().all(|&c| c <= cap));
        }

        #[test]
        fn more_stake_never_means_fewer_shards((n, s) in committee(), node in any::<prop::sample::Index>(), extra in 1u64..1_000_000_000) {
            let node = node.index(s.len());
            let before = apportion(n, &stakes(&s));
            let mut richer = s.clone();
            richer[node] += extra;
            let after = apportion(n, &stakes(&richer));
            prop_assert!(after[node] >= before[node], "{} -> {}", before[node], after[node]);
        }

        #[test]
        fn unchanged_stakes_move_no_shard((n, s) in committee()) {
            let counts = apportion(n, &stakes(&s));
            let first = assign(&counts, &vec![None; n as usize]);
            let previous: Vec<Option<usize>> = first.iter().map(|&h| Some(h)).collect();
            let second = assign(&apportion(n, &stakes(&s)), &previous);
            prop_assert_eq!(first, second);
        }

        #[test]
        fn assignment_matches_the_counts((n, s) in committee(), seed in proptest::collection::vec(any::<Option<u8>>(), 1000)) {
            let counts = apportion(n, &stakes(&s));
            let previous: Vec<Option<usize>> =
                seed[..n as usize].iter().map(|p| p.map(|v| v as usize % (s.len() + 2))).collect();
            let holders = assign(&counts, &previous);
            for (node, &count) in counts.iter().enumerate() {
                prop_assert_eq!(holders.iter().filter(|&&h| h == node).count(), count as usize);
            }
            // Every previous holder that still has room keeps its shards.
            for (node, &count) in counts.iter().enumerate() {
                let held_before = previous.iter().filter(|&&p| p == Some(node)).count();
                let kept = previous.iter().zip(&holders).filter(|(p, h)| **p == Some(node) && **h == node).count();
                prop_assert_eq!(kept, held_before.min(count as usize));
            }
        }
    }
}
