//! The tally, pure (ECONOMICS.md, "Governance"): who counts with how much power, and
//! the outcome, compared exactly in FROST.
//!
//! A voter counts with the value of its own stakes; an operator that voted also counts,
//! for each node it operates, with the rest of that node's pool: the pool's WAL minus
//! the stakes whose owners voted themselves (delegators inherit their operator's vote
//! unless they vote). The total power is the sum of every pool's WAL, so the counted
//! power never exceeds it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::Hash;

use rust_decimal::Decimal;

/// A voter's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Choice {
    /// For the changes.
    Yes,
    /// Against them.
    No,
    /// Counts toward quorum only.
    Abstain,
    /// Against, and burns the deposit if veto reaches `gov_veto` of the participation.
    Veto,
}

impl Choice {
    /// Every choice, in the order the API lists them.
    pub const ALL: [Choice; 4] = [Choice::Yes, Choice::No, Choice::Abstain, Choice::Veto];

    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Yes => "yes",
            Choice::No => "no",
            Choice::Abstain => "abstain",
            Choice::Veto => "veto",
        }
    }

    /// The choice named `text` (lower case), if any.
    pub fn parse(text: &str) -> Option<Choice> {
        Choice::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What a tally decides (`failed` is decided later, by the execution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Participation below `gov_quorum` of the total power: the deposit is burned.
    NoQuorum,
    /// Veto at least `gov_veto` of the participation: the deposit is burned.
    Vetoed,
    /// Yes above `gov_threshold` of yes + no + veto: refunded, the changes apply.
    Passed,
    /// Otherwise: refunded.
    Rejected,
}

impl Outcome {
    /// The proposal status it leads to.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::NoQuorum => "no_quorum",
            Outcome::Vetoed => "vetoed",
            Outcome::Passed => "passed",
            Outcome::Rejected => "rejected",
        }
    }

    /// Whether the proposer gets the deposit back.
    pub fn refunds_deposit(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Rejected)
    }
}

/// A voter's last vote on the proposal.
#[derive(Clone, Debug)]
pub struct Ballot<V> {
    /// Who voted.
    pub voter: V,
    /// What it chose.
    pub choice: Choice,
}

/// The value of one stake that counts (active, or withdrawing at the tally), in FROST.
#[derive(Clone, Debug)]
pub struct StakeValue<V> {
    /// The stake's owner.
    pub owner: V,
    /// The node whose pool holds it.
    pub node: i64,
    /// Its value: shares x pool WAL / pool shares, rounded down.
    pub frost: u128,
}

/// A node's pool: its operator and WAL.
#[derive(Clone, Debug)]
pub struct PoolPower<V> {
    /// The node.
    pub node: i64,
    /// The node's operator, who inherits the pool's undelegated votes.
    pub operator: V,
    /// The pool's WAL in FROST (pending stake excluded).
    pub wal_frost: u128,
}

/// The power counted for each choice and the total, in FROST.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Power voting yes.
    pub yes: u128,
    /// Power voting no.
    pub no: u128,
    /// Power abstaining.
    pub abstain: u128,
    /// Power vetoing.
    pub veto: u128,
    /// The sum of every pool's WAL.
    pub total_power: u128,
}

impl Tally {
    /// Yes + no + abstain + veto.
    pub fn participation(&self) -> u128 {
        self.yes + self.no + self.abstain + self.veto
    }

    fn add(&mut self, choice: Choice, power: u128) {
        match choice {
            Choice::Yes => self.yes += power,
            Choice::No => self.no += power,
            Choice::Abstain => self.abstain += power,
            Choice::Veto => self.veto += power,
        }
    }
}

/// A tally and each voter's power in it.
#[derive(Clone, Debug)]
pub struct Counted<V> {
    /// The sums.
    pub tally: Tally,
    /// What each voter's vote counted, in FROST: `own` plus `inherited`.
    pub power: HashMap<V, u128>,
    /// The value of each voter's own stakes, in FROST.
    pub own: HashMap<V, u128>,
    /// What each operator that voted inherited from its pools, in FROST.
    pub inherited: HashMap<V, u128>,
}

/// Each owner's counting stakes as (node, FROST): what `count_grouped` reads.
pub type StakesByOwner<V> = HashMap<V, Vec<(i64, u128)>>;

/// Groups stake values by owner, once for any number of counts, an owner's stakes in
/// one pool summed: each count then walks the voters' pools, not all their stakes.
pub fn group_by_owner<V: Eq + Hash + Clone>(stakes: &[StakeValue<V>]) -> StakesByOwner<V> {
    let mut per_pool: HashMap<(&V, i64), u128> = HashMap::new();
    for stake in stakes {
        *per_pool.entry((&stake.owner, stake.node)).or_default() += stake.frost;
    }
    let mut grouped: StakesByOwner<V> = HashMap::new();
    for ((owner, node), frost) in per_pool {
        grouped
            .entry(owner.clone())
            .or_default()
            .push((node, frost));
    }
    grouped
}

/// Counts `ballots` (one per voter) with the stakes that count (others' stakes are
/// ignored) and every node's pool.
pub fn count<V: Eq + Hash + Clone>(
    ballots: &[Ballot<V>],
    stakes: &[StakeValue<V>],
    pools: &[PoolPower<V>],
) -> Counted<V> {
    count_grouped(ballots, &group_by_owner(stakes), pools)
}

/// `count` with the stakes grouped by owner: O(ballots + the voters' stakes + pools).
pub fn count_grouped<V: Eq + Hash + Clone>(
    ballots: &[Ballot<V>],
    stakes: &StakesByOwner<V>,
    pools: &[PoolPower<V>],
) -> Counted<V> {
    let choices: HashMap<&V, Choice> = ballots.iter().map(|b| (&b.voter, b.choice)).collect();
    let mut own: HashMap<V, u128> = HashMap::with_capacity(choices.len());
    let mut voted_in_pool: HashMap<i64, u128> = HashMap::new();
    for voter in choices.keys() {
        let stakes = stakes.get(*voter).map(Vec::as_slice).unwrap_or(&[]);
        for (node, frost) in stakes {
            *voted_in_pool.entry(*node).or_default() += frost;
        }
        own.insert(
            (*voter).clone(),
            stakes.iter().map(|(_, frost)| frost).sum(),
        );
    }
    let mut tally = Tally::default();
    let mut inherited: HashMap<V, u128> = HashMap::new();
    for pool in pools {
        tally.total_power += pool.wal_frost;
        if choices.contains_key(&pool.operator) {
            let voted = voted_in_pool.get(&pool.node).copied().unwrap_or(0);
            *inherited.entry(pool.operator.clone()).or_default() +=
                pool.wal_frost.saturating_sub(voted);
        }
    }
    let mut power = own.clone();
    for (operator, frost) in &inherited {
        *power.entry(operator.clone()).or_default() += frost;
    }
    for (voter, choice) in &choices {
        tally.add(*choice, power.get(*voter).copied().unwrap_or(0));
    }
    Counted {
        tally,
        power,
        own,
        inherited,
    }
}

/// The governance thresholds of the tally, fractions (`gov_quorum`, `gov_threshold`,
/// `gov_veto`).
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// Share of the total power that must take part.
    pub quorum: Decimal,
    /// Share of yes + no + veto that yes must exceed.
    pub threshold: Decimal,
    /// Share of the participation at which veto wins.
    pub veto: Decimal,
}

/// The outcome of a tally, compared exactly.
pub fn outcome(tally: &Tally, thresholds: &Thresholds) -> Outcome {
    let participation = tally.participation();
    if tally.total_power == 0
        || compare_to_share(participation, thresholds.quorum, tally.total_power) == Ordering::Less
    {
        return Outcome::NoQuorum;
    }
    if compare_to_share(tally.veto, thresholds.veto, participation) != Ordering::Less {
        return Outcome::Vetoed;
    }
    let decisive = tally.yes + tally.no + tally.veto;
    if compare_to_share(tally.yes, thresholds.threshold, decisive) == Ordering::Greater {
        return Outcome::Passed;
    }
    Outcome::Rejected
}

/// `a` compared with `rate x b`, exactly: `a x 10^scale` against `mantissa x b` in 256
/// bits (a negative rate counts as 0).
pub fn compare_to_share(a: u128, rate: Decimal, b: u128) -> Ordering {
    let mantissa = u128::try_from(rate.mantissa()).unwrap_or(0);
    let ten_to_scale = 10u128.pow(rate.scale());
    mul_wide(a, ten_to_scale).cmp(&mul_wide(mantissa, b))
}

/// The full product of two u128 as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & LOW);
    let (b_hi, b_lo) = (b >> 64, b & LOW);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let middle = (lo_lo >> 64) + (hi_lo & LOW) + (lo_hi & LOW);
    let low = (lo_lo & LOW) | (middle << 64);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (middle >> 64);
    (high, low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> Thresholds {
        Thresholds {
            quorum: Decimal::new(334, 3),
            threshold: Decimal::new(5, 1),
            veto: Decimal::new(334, 3),
        }
    }

    fn tally(yes: u128, no: u128, abstain: u128, veto: u128, total: u128) -> Tally {
        Tally {
            yes,
            no,
            abstain,
            veto,
            total_power: total,
        }
    }

    #[test]
    fn the_five_boundaries_are_exact() {
        let t = defaults();
        // Quorum: 334 of 1000 is enough, 333.999999999 is not.
        assert_eq!(outcome(&tally(334, 0, 0, 0, 1000), &t), Outcome::Passed);
        assert_eq!(outcome(&tally(333, 0, 0, 0, 1000), &t), Outcome::NoQuorum);
        assert_eq!(outcome(&tally(0, 0, 0, 0, 0), &t), Outcome::NoQuorum);
        // Veto at exactly 33.4% of participation vetoes.
        assert_eq!(outcome(&tally(666, 0, 0, 334, 1000), &t), Outcome::Vetoed);
        assert_eq!(outcome(&tally(667, 0, 0, 333, 1000), &t), Outcome::Passed);
        // Exactly half is not more than half.
        assert_eq!(outcome(&tally(500, 500, 0, 0, 1000), &t), Outcome::Rejected);
        assert_eq!(outcome(&tally(501, 499, 0, 0, 1000), &t), Outcome::Passed);
        // Abstain counts for quorum, not for the threshold.
        assert_eq!(outcome(&tally(1, 0, 999, 0, 1000), &t), Outcome::Passed);
        assert_eq!(outcome(&tally(0, 0, 1000, 0, 1000), &t), Outcome::Rejected);
    }

    #[test]
    fn wide_products_are_exact() {
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(mul_wide(1 << 64, 1 << 64), (1, 0));
        assert_eq!(mul_wide(12345, 678), (0, 12345 * 678));
        assert_eq!(
            compare_to_share(u128::MAX, Decimal::ONE, u128::MAX),
            Ordering::Equal
        );
    }

    #[test]
    fn delegators_inherit_their_operators_vote_unless_they_vote() {
        // Node 1 (operator "op"): pool 100, of which alice holds 30 and bob 20.
        let pools = [PoolPower {
            node: 1,
            operator: "op",
            wal_frost: 100,
        }];
        let stakes = [
            StakeValue {
                owner: "alice",
                node: 1,
                frost: 30,
            },
            StakeValue {
                owner: "bob",
                node: 1,
                frost: 20,
            },
        ];
        let ballot = |voter, choice| Ballot { voter, choice };
        let only_op = count(&[ballot("op", Choice::Yes)], &stakes, &pools);
        assert_eq!(only_op.tally, tally(100, 0, 0, 0, 100));
        let both = count(
            &[ballot("op", Choice::Yes), ballot("alice", Choice::No)],
            &stakes,
            &pools,
        );
        assert_eq!(both.tally, tally(70, 30, 0, 0, 100));
        assert_eq!(both.power["op"], 70);
        let alone = count(&[ballot("bob", Choice::Veto)], &stakes, &pools);
        assert_eq!(alone.tally, tally(0, 0, 0, 20, 100));
    }

    #[test]
    fn an_owners_stakes_in_one_pool_are_grouped_as_one() {
        let stake = |owner, node, frost| StakeValue { owner, node, frost };
        let grouped = group_by_owner(&[
            stake("alice", 1, 30),
            stake("alice", 2, 5),
            stake("alice", 1, 12),
            stake("bob", 1, 7),
        ]);
        let mut alice = grouped["alice"].clone();
        alice.sort_unstable();
        assert_eq!(alice, [(1, 42), (2, 5)]);
        assert_eq!(grouped["bob"], [(1, 7)]);
    }

    fn choice() -> impl Strategy<Value = Choice> {
        prop::sample::select(Choice::ALL.to_vec())
    }

    /// Up to 4 pools (operators 0..4) and stakes of owners 0..8 that fit in them.
    fn network() -> impl Strategy<Value = (Vec<PoolPower<u8>>, Vec<StakeValue<u8>>)> {
        let pools = prop::collection::vec((0u8..4, 0u128..1_000_000), 1..4);
        let stakes = prop::collection::vec((0u8..8, 0usize..4, 0u128..1_000_000), 0..12);
        (pools, stakes).prop_map(|(pools, stakes)| {
            let pools: Vec<PoolPower<u8>> = pools
                .into_iter()
                .enumerate()
                .map(|(i, (operator, wal))| PoolPower {
                    node: i64::try_from(i).unwrap(),
                    operator,
                    wal_frost: wal,
                })
                .collect();
            // Each pool's stakes are parts of its WAL, as values rounded down are.
            let mut left: Vec<u128> = pools.iter().map(|p| p.wal_frost).collect();
            let mut values = Vec::new();
            for (owner, pool, frost) in stakes {
                let pool = pool % pools.len();
                let frost = frost.min(left[pool]);
                left[pool] -= frost;
                values.push(StakeValue {
                    owner,
                    node: pools[pool].node,
                    frost,
                });
            }
            (pools, values)
        })
    }

    fn ballots() -> impl Strategy<Value = Vec<Ballot<u8>>> {
        prop::collection::btree_map(0u8..8, choice(), 0..8).prop_map(|votes| {
            votes
                .into_iter()
                .map(|(voter, choice)| Ballot { voter, choice })
                .collect()
        })
    }

    fn thresholds() -> impl Strategy<Value = Thresholds> {
        (100u64..=1000, 500u64..=1000, 100u64..=1000).prop_map(|(q, t, v)| Thresholds {
            quorum: Decimal::new(i64::try_from(q).unwrap(), 3),
            threshold: Decimal::new(i64::try_from(t).unwrap(), 3),
            veto: Decimal::new(i64::try_from(v).unwrap(), 3),
        })
    }

    proptest! {
        #[test]
        fn counted_power_never_exceeds_the_total((pools, stakes) in network(), ballots in ballots()) {
            let counted = count(&ballots, &stakes, &pools);
            let sum: u128 = counted.power.values().sum();
            prop_assert_eq!(sum, counted.tally.participation());
            prop_assert!(sum <= counted.tally.total_power);
        }

        #[test]
        fn the_outcome_does_not_depend_on_the_order_of_votes(
            (pools, stakes) in network(), ballots in ballots(), t in thresholds(), seed in any::<u64>()
        ) {
            let counted = count(&ballots, &stakes, &pools);
            let mut shuffled = ballots.clone();
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = usize::try_from(state >> 33).unwrap() % (i + 1);
                shuffled.swap(i, j);
            }
            let mut reversed_stakes = stakes.clone();
            reversed_stakes.reverse();
            let again = count(&shuffled, &reversed_stakes, &pools);
            prop_assert_eq!(counted.tally, again.tally);
            prop_assert_eq!(counted.power, again.power);
            prop_assert_eq!(outcome(&counted.tally, &t), outcome(&again.tally, &t));
        }

        #[test]
        fn more_yes_never_turns_passed_into_anything_else(
            yes in 0u128..1_000_000, no in 0u128..1_000_000, abstain in 0u128..1_000_000,
            veto in 0u128..1_000_000, spare in 0u128..1_000_000, more in 0u128..1_000_000,
            t in thresholds()
        ) {
            let total = yes + no + abstain + veto + spare + more;
            let before = tally(yes, no, abstain, veto, total);
            let after = tally(yes + more, no, abstain, veto, total);
            if outcome(&before, &t) == Outcome::Passed {
                prop_assert_eq!(outcome(&after, &t), Outcome::Passed);
            }
        }

        #[test]
        fn share_comparison_matches_exact_decimals(a in 0u64..u64::MAX, b in 0u64..u64::MAX, nano in 0i64..=1_000_000_000) {
            let rate = Decimal::new(nano, 9);
            let exact = (Decimal::from(a) * Decimal::from(1_000_000_000u64))
                .cmp(&(Decimal::from(nano) * Decimal::from(b)));
            prop_assert_eq!(compare_to_share(u128::from(a), rate, u128::from(b)), exact);
        }
    }
}
