//! The committee of an epoch as the reward split sees it: shards, the commission rate
//! in force, and the performance its audits give (ECONOMICS.md, "Epoch change" step
//! 2). Read by the epoch change and by the node view's expected reward alike.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::distribution::Member;
use crate::audits::slashing::{performance, Tally};
use crate::error::Error;
use crate::params::Params;

/// The members of `epoch`'s committee, in node id order, with the performance their
/// `tallies` give (1 if not challenged, 0 if slashed).
pub async fn load(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<Vec<Member>, Error> {
    let rows = sqlx::query!(
        r#"SELECT c.node_id, cardinality(c.shards) AS "shards!",
                  commission_rate_at(c.node_id, $1) AS "commission_rate!"
           FROM committee_members c
           WHERE c.epoch = $1 ORDER BY c.node_id"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Member {
            node_id: r.node_id,
            shards: r.shards as u32,
            performance: performance(tallies.get(&r.node_id).copied().unwrap_or_default(), params),
            commission_rate: r.commission_rate,
        })
        .collect())
}
