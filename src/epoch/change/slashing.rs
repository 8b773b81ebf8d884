//! Step 3 of the change: slashing and jailing the nodes whose audits fell below the
//! thresholds.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::audits::{
    self,
    slashing::{Slash, Tally},
};
use crate::error::Error;
use crate::ledger::account::{Account, SystemAccount};
use crate::ledger::journal::{self, balance_of_key, Leg, NewEntry};
use crate::money::Wal;
use crate::params::Params;

/// Step 3: slashes (and jails) the nodes whose audits in `epoch` fell below the
/// thresholds; returns the total slashed. Only committee members have results.
pub(super) async fn slash(
    conn: &mut PgConnection,
    epoch: i64,
    params: &Params,
    tallies: &HashMap<i64, Tally>,
) -> Result<Wal, Error> {
    use audits::slashing::{verdict, Verdict};
    let mut total = Wal::ZERO;
    let mut nodes: Vec<(&i64, &Tally)> = tallies.iter().collect();
    nodes.sort_by_key(|(id, _)| **id);
    for (&node_id, &tally) in nodes {
        let jailed = match verdict(tally, params) {
            Verdict::Clean => continue,
            Verdict::Slashed => None,
            Verdict::SlashedAndJailed => Some(epoch + 1 + i64::from(params.jail_epochs)),
        };
        let pool = Account::System(SystemAccount::Pool(node_id));
        let commission = Account::System(SystemAccount::Commission(node_id));
        let s = audits::slashing::slash(
            balance_of_key(conn, &pool.key()).await?,
            balance_of_key(conn, &commission.key()).await?,
            params.slash_rate,
        );
        let memo = format!("slash of node {node_id} for epoch {epoch}");
        let entry = NewEntry {
            kind: crate::ledger::kind::EntryKind::Slash,
            actor: None,
            memo: Some(&memo),
            legs: slash_legs(node_id, &s),
        };
        // A pool of a few FROST at a small rate may lose nothing: the slash is still
        // recorded and the jail applies, but there is no entry to post.
        if s.pool.is_positive() || s.commission.is_positive() {
            journal::post(conn, &entry).await?;
        }
        record_slash(conn, epoch, node_id, tally, &s, jailed).await?;
        #[expect(
            clippy::expect_used,
            reason = "the slashed WAL is taken from balances in the journal, so the running total is bounded by the supply"
        )]
        let slashed_so_far = total
            .checked_add(s.pool)
            .and_then(|t| t.checked_add(s.commission))
            .expect("within the supply");
        total = slashed_so_far;
    }
    Ok(total)
}

/// The legs of a slash: the pool and the commission out, half burned, half to the
/// subsidy pool.
fn slash_legs(node_id: i64, s: &Slash) -> Vec<Leg> {
    vec![
        Leg::debit(Account::System(SystemAccount::Pool(node_id)), s.pool),
        Leg::debit(
            Account::System(SystemAccount::Commission(node_id)),
            s.commission,
        ),
        Leg::credit(Account::System(SystemAccount::Burn), s.burned),
        Leg::credit(
            Account::System(SystemAccount::SubsidyPool),
            s.to_subsidy_pool,
        ),
    ]
}

/// Records the slash (and the jail, if any) of one node.
async fn record_slash(
    conn: &mut PgConnection,
    epoch: i64,
    node_id: i64,
    tally: Tally,
    s: &Slash,
    jailed: Option<i64>,
) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO slashes (epoch, node_id, challenges, passed, pass_rate, pool_slashed,
                                    commission_slashed, burned, to_subsidy_pool, jailed_until_epoch)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        epoch,
        node_id,
        tally.challenges as i32,
        tally.passed as i32,
        tally.pass_rate(),
        s.pool.as_decimal(),
        s.commission.as_decimal(),
        s.burned.as_decimal(),
        s.to_subsidy_pool.as_decimal(),
        jailed
    )
    .execute(&mut *conn)
    .await?;
    if let Some(until) = jailed {
        sqlx::query!(
            "UPDATE nodes SET jailed_until_epoch = greatest(jailed_until_epoch, $2) WHERE id = $1",
            node_id,
            until
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
