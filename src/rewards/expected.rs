//! What an epoch's reward pool pays its committee: the one computation behind both the
//! epoch change (which pays it) and the node view (which shows what the current epoch
//! would pay if it ended now, with the performance its audits give so far).

use std::collections::HashMap;

use sqlx::PgConnection;

use super::distribution::{distribute, Distribution, Member};
use crate::audits::slashing::Tally;
use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::journal::balance_of_key;
use crate::params::Params;
use crate::staking::nodes::Node;

/// The committee of epoch `epoch` and the split of its reward slot (plus the subsidy)
/// among them.
pub async fn distribution(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<(Vec<Member>, Distribution), Error> {
    let members = super::members::load(conn, epoch, params, tallies).await?;
    let slot = Account::System(SystemAccount::Slot(epoch));
    let subsidy_pool = Account::System(SystemAccount::SubsidyPool);
    let distribution = distribute(
        balance_of_key(conn, &slot.key()).await?,
        balance_of_key(conn, &subsidy_pool.key()).await?,
        params.subsidy_rate,
        params.reward_burn_rate,
        &members,
    );
    Ok((members, distribution))
}

/// Fills in each node's expected reward and commission for the current epoch.
pub async fn with_expected_rewards(
    conn: &mut PgConnection,
    mut nodes: Vec<Node>,
) -> Result<Vec<Node>, Error> {
    if nodes.is_empty() {
        return Ok(nodes);
    }
    let epoch = crate::ledger::epochs::current_epoch(conn).await?.epoch;
    let params = crate::params::load(conn).await?;
    let tallies = crate::audits::record::tallies(conn, epoch).await?;
    let (_, expected) = distribution(conn, epoch, &params, &tallies).await?;
    for node in &mut nodes {
        if let Some(m) = expected
            .members
            .iter()
            .find(|m| m.node_id.to_string() == node.id)
        {
            node.expected_reward = m.reward;
            node.expected_commission = m.commission;
        }
    }
    Ok(nodes)
}

/// `with_expected_rewards` for one node.
pub async fn node_with_expected_rewards(
    conn: &mut PgConnection,
    node: Node,
) -> Result<Node, Error> {
    let mut nodes = with_expected_rewards(conn, vec![node]).await?;
    nodes
        .pop()
        .ok_or_else(|| Error::internal("the node vanished"))
}
