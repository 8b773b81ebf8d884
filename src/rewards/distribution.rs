//! The reward part of an epoch change (ECONOMICS.md, "Epoch change" steps 1, 2 and 4)
//! as one pure function: from the epoch's slot, the subsidy pool and the committee to
//! what is burned, what each node earns, its commission, and what carries over.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::money::split::{fraction_down, split_by_weight};
use crate::money::Wal;

/// A committee member of the closing epoch.
#[derive(Clone, Debug)]
pub struct Member {
    /// The committee node (its row id in `nodes`) whose reward is computed.
    pub node_id: i64,
    /// Shards the node held in the closing epoch.
    pub shards: u32,
    /// Audit pass rate in 0..=1 (1 until audits exist), 0 if slashed.
    pub performance: Decimal,
    /// The commission rate in force in the closing epoch.
    pub commission_rate: Decimal,
}

/// One committee node's part of an epoch's reward, and how it was split.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemberReward {
    /// The committee node this reward is for.
    pub node_id: i64,
    /// Shards times performance: the node's weight in the split of R'.
    #[schema(value_type = String)]
    pub weight: Decimal,
    /// R' x weight / sum of weights, rounded down to the FROST: `commission + to_pool`.
    pub reward: Wal,
    /// To the operator's unclaimed commission.
    pub commission: Wal,
    /// Into the node's staking pool.
    pub to_pool: Wal,
}

/// What the reward steps of one epoch change do, to the FROST.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    /// WAL in the closing epoch's reward slot: prepaid fees and subsidies.
    pub slot: Wal,
    /// Drawn from the subsidy pool: `subsidy_rate` x slot rounded down, at most the pool.
    pub subsidy: Wal,
    /// R = slot + subsidy.
    pub reward_pool: Wal,
    /// `reward_burn_rate` x R, rounded down, to the burn account.
    pub burned: Wal,
    /// Each committee member's reward, in the order the members were given.
    pub members: Vec<MemberReward>,
    /// Rounding remainders, or all of R' when no member has weight: to slot[e+1].
    pub carried_to_next: Wal,
}

/// Steps 1, 2 and 4. Rounding: the burn, each reward and each commission round down;
/// the reward remainders go to the next slot; the commission remainder stays in the
/// reward that goes to the pool.
#[expect(
    clippy::expect_used,
    reason = "the slot and the subsidy are bounded by the supply, and burns and commissions are fractions (rounded down) of what they are taken from"
)]
pub fn distribute(
    slot: Wal,
    subsidy_pool: Wal,
    subsidy_rate: Decimal,
    burn_rate: Decimal,
    members: &[Member],
) -> Distribution {
    // Not fraction_down: subsidy_rate may be above 1 (ECONOMICS.md: 0 ..= 10), which its
    // 0..=1 assertion refused with a panic, stopping the epoch change. The slot is within
    // the supply, so the product fits a Decimal.
    let subsidy = Wal::from_decimal_unchecked(
        (slot.as_decimal() * subsidy_rate)
            .round_dp_with_strategy(crate::money::WAL_DECIMALS, RoundingStrategy::ToZero),
    )
    .min(subsidy_pool);
    let reward_pool = slot.checked_add(subsidy).expect("within the supply");
    let burned = fraction_down(reward_pool, burn_rate);
    let to_split = reward_pool
        .checked_sub(burned)
        .expect("a burn is a fraction");
    let weights: Vec<Decimal> = members
        .iter()
        .map(|m| Decimal::from(m.shards) * m.performance)
        .collect();
    let (rewards, carried_to_next) = split_by_weight(to_split, &weights);
    let members = members
        .iter()
        .zip(weights)
        .zip(rewards)
        .map(|((member, weight), reward)| {
            let commission = fraction_down(reward, member.commission_rate);
            MemberReward {
                node_id: member.node_id,
                weight: weight.normalize(),
                reward,
                commission,
                to_pool: reward.checked_sub(commission).expect("a fraction"),
            }
        })
        .collect();
    Distribution {
        slot,
        subsidy,
        reward_pool,
        burned,
        members,
        carried_to_next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A subsidy_rate above 1, which governance may set (0 ..= 10), panicked in
    /// fraction_down's 0..=1 assertion (found while writing fuzz/endpoint_bodies).
    #[test]
    fn subsidy_rates_above_one_multiply_the_slot() {
        let members = [member(1, 10, 10)];
        let d = distribute(
            Wal::from_wal(100),
            Wal::from_wal(1000),
            Decimal::from(2),
            Decimal::ZERO,
            &members,
        );
        assert_eq!(d.subsidy, Wal::from_wal(200));
        assert_eq!(d.reward_pool, Wal::from_wal(300));
        let capped = distribute(
            Wal::from_wal(100),
            Wal::from_wal(150),
            Decimal::from(10),
            Decimal::ZERO,
            &members,
        );
        assert_eq!(capped.subsidy, Wal::from_wal(150));
    }

    fn member(node_id: i64, shards: u32, commission_pct: i64) -> Member {
        Member {
            node_id,
            shards,
            performance: Decimal::ONE,
            commission_rate: Decimal::new(commission_pct, 2),
        }
    }

    #[test]
    fn an_epoch_of_three_nodes() {
        // 1000 WAL in the slot, 3% burned, 970 split 5:3:2, commissions 10%, 0%, 100%.
        let d = distribute(
            Wal::from_wal(1000),
            Wal::from_wal(50),
            Decimal::ZERO,
            Decimal::new(3, 2),
            &[member(1, 5, 10), member(2, 3, 0), member(3, 2, 100)],
        );
        assert_eq!(d.subsidy, Wal::ZERO);
        assert_eq!(d.burned, Wal::from_wal(30));
        let rewards: Vec<Wal> = d.members.iter().map(|m| m.reward).collect();
        assert_eq!(
            rewards,
            vec![Wal::from_wal(485), Wal::from_wal(291), Wal::from_wal(194)]
        );
        assert_eq!(d.members[0].commission, Wal::parse("48.5").unwrap());
        assert_eq!(d.members[2].to_pool, Wal::ZERO);
        assert_eq!(d.carried_to_next, Wal::ZERO);
    }

    #[test]
    fn an_empty_committee_carries_everything_but_the_burn() {
        let d = distribute(
            Wal::from_wal(100),
            Wal::from_wal(100),
            Decimal::new(5, 1),
            Decimal::new(3, 2),
            &[],
        );
        assert_eq!(d.subsidy, Wal::from_wal(50));
        assert_eq!(d.burned, Wal::parse("4.5").unwrap());
        assert_eq!(d.carried_to_next, Wal::parse("145.5").unwrap());
    }

    proptest! {
        /// Nothing is created or lost: slot + subsidy = burned + rewards + carry, each
        /// reward = commission + to_pool, and the subsidy never exceeds its pool.
        #[test]
        fn the_distribution_conserves_every_frost(
            slot in 0i64..1_000_000_000_000_000_000,
            subsidy_pool in 0i64..1_000_000_000_000_000_000,
            subsidy_bp in 0i64..=10_000,
            burn_bp in 0i64..=10_000,
            members in proptest::collection::vec((0u32..1000, 0i64..=100, 0i64..=10_000), 0..150)
        ) {
            let members: Vec<Member> = members.iter().enumerate().map(|(i, &(shards, perf, commission))| Member {
                node_id: i as i64,
                shards,
                performance: Decimal::new(perf, 2),
                commission_rate: Decimal::new(commission, 4),
            }).collect();
            let d = distribute(Wal::from_frost(slot), Wal::from_frost(subsidy_pool),
                Decimal::new(subsidy_bp, 4), Decimal::new(burn_bp, 4), &members);
            prop_assert!(d.subsidy <= Wal::from_frost(subsidy_pool));
            let rewards = Wal::checked_sum(d.members.iter().map(|m| m.reward)).unwrap();
            let out = Wal::checked_sum([d.burned, rewards, d.carried_to_next]).unwrap();
            prop_assert_eq!(out, d.reward_pool);
            prop_assert_eq!(d.reward_pool, Wal::from_frost(slot).checked_add(d.subsidy).unwrap());
            for m in &d.members {
                prop_assert_eq!(m.commission.checked_add(m.to_pool).unwrap(), m.reward);
                prop_assert!(!m.commission.is_negative() && !m.to_pool.is_negative());
            }
        }
    }
}
