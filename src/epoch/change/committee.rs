//! Step 5c of the change: the committee and shards of the next epoch.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::stake::NodePool;
use crate::error::Error;
use crate::money::Wal;
use crate::params::Params;
use crate::staking::committee::{apportion, assign, select};
use crate::staking::pool::wal_of_frost;

/// Step 5c: the committee and shards of `ended + 1`, by stake, with stickiness.
pub(super) async fn choose_committee(
    conn: &mut PgConnection,
    ended: i64,
    pools: &HashMap<i64, NodePool>,
    params: &Params,
    n_shards: u32,
) -> Result<(), Error> {
    let next = ended + 1;
    let candidates: Vec<(i64, Wal)> = pools
        .iter()
        .filter(|(_, n)| n.jailed_until_epoch.is_none_or(|until| until <= next))
        .map(|(&id, n)| (id, wal_of_frost(n.pool.wal_frost)))
        .collect();
    let members = select(
        &candidates,
        params.node_stake_min,
        params.committee_size_max as usize,
    );
    if members.is_empty() {
        return Ok(());
    }
    let stakes: Vec<Decimal> = members.iter().map(|(_, s)| s.as_decimal()).collect();
    let counts = apportion(n_shards, &stakes);
    let index_of: HashMap<i64, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let previous_rows = sqlx::query!(
        "SELECT node_id, shards FROM committee_members WHERE epoch = $1",
        ended
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut previous: Vec<Option<usize>> = vec![None; n_shards as usize];
    for row in previous_rows {
        for shard in row.shards {
            if let Some(slot) = previous.get_mut(shard as usize) {
                *slot = index_of.get(&row.node_id).copied();
            }
        }
    }
    let holders = assign(&counts, &previous);
    let mut shards_of: Vec<Vec<i32>> = vec![Vec::new(); members.len()];
    for (shard, &holder) in holders.iter().enumerate() {
        shards_of[holder].push(i32::try_from(shard).map_err(Error::internal)?);
    }
    let ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
    let member_stakes: Vec<Decimal> = members.iter().map(|(_, s)| s.as_decimal()).collect();
    // Arrays of different lengths travel as their text form, one per member.
    let shard_lists: Vec<String> = shards_of
        .iter()
        .map(|s| {
            let list: Vec<String> = s.iter().map(i32::to_string).collect();
            format!("{{{}}}", list.join(","))
        })
        .collect();
    sqlx::query!(
        r#"INSERT INTO committee_members (epoch, node_id, stake, shards)
           SELECT $1, u.node_id, u.stake, u.shards::integer[]
           FROM unnest($2::bigint[], $3::numeric[], $4::text[]) AS u(node_id, stake, shards)"#,
        next,
        &ids,
        &member_stakes,
        &shard_lists
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
