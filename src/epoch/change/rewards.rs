//! Steps 1, 2 and 4 of the change: the reward pool of the closing epoch to its
//! committee, and each member's record.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::audits::slashing::Tally;
use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::params::Params;
use crate::rewards::distribution::{Distribution, Member};

/// Steps 1, 2 and 4: the reward pool of epoch `epoch` to its committee.
pub(super) async fn pay_rewards(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<Distribution, Error> {
    let (members, d) = crate::rewards::expected::distribution(conn, epoch, params, tallies).await?;
    if d.reward_pool.is_positive() {
        let legs = reward_legs(epoch, &d);
        let memo = format!("rewards of epoch {epoch}");
        let entry = NewEntry {
            kind: crate::ledger::kind::EntryKind::EpochRewards,
            actor: None,
            memo: Some(&memo),
            legs,
        };
        journal::post(conn, &entry).await?;
    }
    record_member_rewards(conn, epoch, &members, &d, tallies).await?;
    Ok(d)
}

/// The legs of an epoch's reward entry: the slot and the subsidy out; the burn, the
/// carry to the next slot, and each member's commission and pool share in.
fn reward_legs(epoch: i64, d: &Distribution) -> Vec<Leg> {
    let mut legs = vec![
        Leg::debit(Account::System(SystemAccount::Slot(epoch)), d.slot),
        Leg::debit(Account::System(SystemAccount::SubsidyPool), d.subsidy),
        Leg::credit(Account::System(SystemAccount::Burn), d.burned),
        Leg::credit(
            Account::System(SystemAccount::Slot(epoch + 1)),
            d.carried_to_next,
        ),
    ];
    for m in &d.members {
        legs.push(Leg::credit(
            Account::System(SystemAccount::Commission(m.node_id)),
            m.commission,
        ));
        legs.push(Leg::credit(
            Account::System(SystemAccount::Pool(m.node_id)),
            m.to_pool,
        ));
    }
    legs
}

/// Writes each member's weight, reward, commission and audit tally to its committee row.
async fn record_member_rewards(
    conn: &mut PgConnection,
    epoch: i64,
    members: &[Member],
    d: &Distribution,
    tallies: &HashMap<i64, Tally>,
) -> Result<(), Error> {
    let ids: Vec<i64> = d.members.iter().map(|m| m.node_id).collect();
    let weights: Vec<Decimal> = d.members.iter().map(|m| m.weight).collect();
    let rewards: Vec<Decimal> = d.members.iter().map(|m| m.reward.as_decimal()).collect();
    let commissions: Vec<Decimal> = d
        .members
        .iter()
        .map(|m| m.commission.as_decimal())
        .collect();
    let rates: Vec<Decimal> = members.iter().map(|m| m.commission_rate).collect();
    let performances: Vec<Decimal> = members.iter().map(|m| m.performance).collect();
    let challenges: Vec<i32> = ids
        .iter()
        .map(|&id| tally_of(tallies, id).challenges as i32)
        .collect();
    let passed: Vec<i32> = ids
        .iter()
        .map(|&id| tally_of(tallies, id).passed as i32)
        .collect();
    sqlx::query!(
        r#"UPDATE committee_members c
           SET weight = u.weight, reward = u.reward, commission = u.commission,
               commission_rate = u.rate, performance = u.performance,
               challenges = u.challenges, passed = u.passed
           FROM unnest($2::bigint[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[],
                       $7::numeric[], $8::integer[], $9::integer[])
                AS u(node_id, weight, reward, commission, rate, performance, challenges, passed)
           WHERE c.epoch = $1 AND c.node_id = u.node_id"#,
        epoch,
        &ids,
        &weights,
        &rewards,
        &commissions,
        &rates,
        &performances,
        &challenges,
        &passed
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn tally_of(tallies: &HashMap<i64, Tally>, node_id: i64) -> Tally {
    tallies.get(&node_id).copied().unwrap_or_default()
}
