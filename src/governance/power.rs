//! What counting needs, read from the database: the proposals' ballots, their voters'
//! counting stakes and every node's pool. O(votes + the voters' stakes + nodes), never
//! O(all stakers): a delegator who did not vote is counted through its pool's WAL.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::tally::{
    count_grouped, group_by_owner, Ballot, Choice, Counted, PoolPower, StakeValue, StakesByOwner,
};
use crate::error::Error;
use crate::money::Wal;

/// The ballots of some proposals and what counts them.
pub(super) struct Inputs {
    ballots: HashMap<i64, Vec<Ballot<String>>>,
    stakes: StakesByOwner<String>,
    pools: Vec<PoolPower<String>>,
}

impl Inputs {
    /// The count of one of the proposals loaded.
    pub(super) fn count(&self, proposal_id: i64) -> Counted<String> {
        let ballots = self
            .ballots
            .get(&proposal_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        count_grouped(ballots, &self.stakes, &self.pools)
    }
}

/// FROST of an amount the journal holds (never negative for these accounts).
pub(super) fn frost_of(amount: Wal) -> Result<u128, Error> {
    u128::try_from(amount.to_frost())
        .map_err(|_| Error::internal(format!("a negative power of {amount} WAL")))
}

/// Loads what counting the proposals `ids` needs, as of `epoch` (the current one).
pub(super) async fn load(
    conn: &mut PgConnection,
    ids: &[i64],
    epoch: i64,
) -> Result<Inputs, Error> {
    let votes = sqlx::query!(
        r#"SELECT proposal_id, voter, choice FROM votes
           WHERE proposal_id = ANY($1) ORDER BY proposal_id, voter"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut ballots: HashMap<i64, Vec<Ballot<String>>> = HashMap::new();
    let mut voters: Vec<String> = Vec::with_capacity(votes.len());
    for vote in votes {
        let choice = Choice::parse(&vote.choice)
            .ok_or_else(|| Error::internal(format!("stored choice {:?}", vote.choice)))?;
        voters.push(vote.voter.clone());
        ballots.entry(vote.proposal_id).or_default().push(Ballot {
            voter: vote.voter,
            choice,
        });
    }
    voters.sort_unstable();
    voters.dedup();
    let stakes = crate::staking::stakes::counting_stakes_of(conn, &voters, epoch)
        .await?
        .into_iter()
        .map(|s| {
            Ok(StakeValue {
                frost: frost_of(s.value)?,
                owner: s.owner,
                node: s.node_id,
            })
        })
        .collect::<Result<Vec<StakeValue<String>>, Error>>()?;
    Ok(Inputs {
        ballots,
        stakes: group_by_owner(&stakes),
        pools: pools(conn).await?,
    })
}

/// Every node's pool WAL (pending stake is in another account) and operator: O(nodes).
async fn pools(conn: &mut PgConnection) -> Result<Vec<PoolPower<String>>, Error> {
    let rows = sqlx::query!(
        r#"SELECT n.id, n.operator,
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $1::text || n.id) AS "pool_wal!"
           FROM nodes n ORDER BY n.id"#,
        crate::ledger::account::POOL_PREFIX
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PoolPower {
                node: r.id,
                operator: r.operator,
                wal_frost: frost_of(Wal::from_decimal_unchecked(r.pool_wal))?,
            })
        })
        .collect()
}
