//! Governance in the epoch change (ECONOMICS.md, "Governance"), in its transaction:
//! `tally_closing` counts the proposals whose voting ends with the closing epoch, at
//! the start of the change (before its rewards and slashes); `execute`, in step 5,
//! applies the passed ones in proposal order, fails any that would leave the
//! parameters inconsistent, and refunds or burns every deposit in one journal entry.
//! O(proposals + votes + the voters' stakes + nodes).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::power;
use super::proposals::wal_of;
use super::tally::{outcome, Outcome, Tally, Thresholds};
use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::ledger::kind::EntryKind;
use crate::money::Wal;
use crate::params::{check_consistent, Params};

/// A proposal the closing epoch's change tallied.
#[derive(Debug)]
pub struct Tallied {
    id: i64,
    proposer: Address,
    deposit: Wal,
    changes: BTreeMap<String, String>,
    tally: Tally,
    outcome: Outcome,
}

/// What governance did at a change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Proposals decided, by final status.
    pub decided: BTreeMap<&'static str, u32>,
    /// Deposits given back.
    pub refunded: Wal,
    /// Deposits burned.
    pub burned: Wal,
}

/// Counts the proposals whose voting ends with epoch `closing`, with the powers as they
/// stand now (call it first in the change), and records each vote's power.
pub async fn tally_closing(
    conn: &mut PgConnection,
    closing: i64,
    params: &Params,
) -> Result<Vec<Tallied>, Error> {
    let rows = sqlx::query!(
        r#"SELECT id, proposer, deposit, changes FROM proposals
           WHERE status = 'voting' AND voting_ends_epoch <= $1 ORDER BY id FOR UPDATE"#,
        closing
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let inputs = power::load(conn, &ids, closing).await?;
    let mut powers = Powers::default();
    let mut own: HashMap<u32, u128> = HashMap::new();
    let thresholds = Thresholds {
        quorum: params.gov_quorum,
        threshold: params.gov_threshold,
        veto: params.gov_veto,
    };
    let mut tallied = Vec::with_capacity(rows.len());
    for row in rows {
        let counted = inputs.count(row.id);
        powers.add(row.id, &counted.inherited, &inputs)?;
        own.extend(counted.own);
        tallied.push(Tallied {
            id: row.id,
            proposer: row.proposer.parse().map_err(Error::internal)?,
            deposit: Wal::from_decimal_unchecked(row.deposit),
            changes: serde_json::from_value(row.changes).map_err(Error::internal)?,
            outcome: outcome(&counted.tally, &thresholds),
            tally: counted.tally,
        });
    }
    powers.record(conn).await?;
    record_own(conn, closing, &own, &inputs).await?;
    Ok(tallied)
}

/// What operators inherited on each tallied proposal, written in one statement.
#[derive(Default)]
struct Powers {
    proposals: Vec<i64>,
    operators: Vec<String>,
    powers: Vec<Decimal>,
}

impl Powers {
    fn add(
        &mut self,
        proposal_id: i64,
        inherited: &HashMap<u32, u128>,
        inputs: &power::Inputs,
    ) -> Result<(), Error> {
        for (&operator, frost) in inherited {
            self.proposals.push(proposal_id);
            self.operators.push(inputs.name(operator)?.to_owned());
            self.powers.push(wal_of(*frost)?.as_decimal());
        }
        Ok(())
    }

    async fn record(&self, conn: &mut PgConnection) -> Result<(), Error> {
        sqlx::query!(
            r#"INSERT INTO tally_inherited_power (proposal_id, operator, power)
               SELECT * FROM unnest($1::bigint[], $2::text[], $3::numeric[])"#,
            &self.proposals,
            &self.operators,
            &self.powers
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Each voter's own power at this tally: the same for every proposal tallied with it.
async fn record_own(
    conn: &mut PgConnection,
    closing: i64,
    own: &HashMap<u32, u128>,
    inputs: &power::Inputs,
) -> Result<(), Error> {
    let mut voters = Vec::with_capacity(own.len());
    let mut powers = Vec::with_capacity(own.len());
    for (&voter, frost) in own {
        voters.push(inputs.name(voter)?.to_owned());
        powers.push(wal_of(*frost)?.as_decimal());
    }
    sqlx::query!(
        r#"INSERT INTO tally_own_power (epoch, voter, power)
           SELECT $1, u.voter, u.power FROM unnest($2::text[], $3::numeric[]) AS u(voter, power)"#,
        closing,
        &voters,
        &powers
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Step 5: applies the passed proposals in order from epoch `closing + 1`, records every
/// outcome and settles the deposits; the parameters the next epoch runs under.
pub async fn execute(
    conn: &mut PgConnection,
    closing: i64,
    tallied: &[Tallied],
    params: Params,
) -> Result<(Params, Settled), Error> {
    let mut params = params;
    let mut settled = Settled::default();
    let mut refunds: BTreeMap<Address, Wal> = BTreeMap::new();
    for proposal in tallied {
        let status = match proposal.outcome {
            Outcome::Passed => match with_changes(&params, &proposal.changes) {
                Ok(after) => {
                    let names: Vec<String> = proposal.changes.keys().cloned().collect();
                    crate::params::apply(conn, &after, &names, closing + 1, proposal.id).await?;
                    params = after;
                    "passed"
                }
                Err(why) => {
                    tracing::info!(proposal = proposal.id, why, "a passed proposal failed");
                    "failed"
                }
            },
            other => other.as_str(),
        };
        if proposal.outcome.refunds_deposit() {
            let refund = refunds.entry(proposal.proposer).or_insert(Wal::ZERO);
            *refund = add(*refund, proposal.deposit)?;
            settled.refunded = add(settled.refunded, proposal.deposit)?;
        } else {
            settled.burned = add(settled.burned, proposal.deposit)?;
        }
        *settled.decided.entry(status).or_default() += 1;
        record_outcome(conn, proposal, status, closing).await?;
    }
    settle_deposits(conn, closing, &refunds, &settled).await?;
    Ok((params, settled))
}

fn add(a: Wal, b: Wal) -> Result<Wal, Error> {
    a.checked_add(b)
        .ok_or_else(|| Error::internal("deposits above the supply"))
}

/// The parameters after a proposal's changes, if they stay consistent.
fn with_changes(params: &Params, changes: &BTreeMap<String, String>) -> Result<Params, String> {
    let mut after = params.clone();
    for (name, value) in changes {
        after.set(name, value)?;
    }
    check_consistent(&after)?;
    Ok(after)
}

async fn record_outcome(
    conn: &mut PgConnection,
    proposal: &Tallied,
    status: &str,
    closing: i64,
) -> Result<(), Error> {
    let wal = |frost| wal_of(frost).map(Wal::as_decimal);
    let tally = &proposal.tally;
    let (yes, no, abstain, veto, total): (Decimal, Decimal, Decimal, Decimal, Decimal) = (
        wal(tally.yes)?,
        wal(tally.no)?,
        wal(tally.abstain)?,
        wal(tally.veto)?,
        wal(tally.total_power)?,
    );
    sqlx::query!(
        r#"UPDATE proposals SET status = $2, decided_epoch = $3, tally_yes = $4, tally_no = $5,
                  tally_abstain = $6, tally_veto = $7, tally_total_power = $8
           WHERE id = $1"#,
        proposal.id,
        status,
        closing,
        yes,
        no,
        abstain,
        veto,
        total
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One entry: the deposits of every tallied proposal leave `sys:gov:deposits`, back to
/// their proposers or into the burn account.
async fn settle_deposits(
    conn: &mut PgConnection,
    closing: i64,
    refunds: &BTreeMap<Address, Wal>,
    settled: &Settled,
) -> Result<(), Error> {
    let total = add(settled.refunded, settled.burned)?;
    if !total.is_positive() {
        return Ok(());
    }
    let mut legs = vec![Leg::debit(
        Account::System(SystemAccount::GovDeposits),
        total,
    )];
    legs.extend(
        refunds
            .iter()
            .map(|(proposer, amount)| Leg::credit(Account::User(*proposer), *amount)),
    );
    if settled.burned.is_positive() {
        legs.push(Leg::credit(
            Account::System(SystemAccount::Burn),
            settled.burned,
        ));
    }
    let memo = format!("deposits of the proposals tallied at the end of epoch {closing}");
    let entry = NewEntry {
        kind: EntryKind::ProposalSettlement,
        actor: None,
        memo: Some(&memo),
        legs,
    };
    journal::post(conn, &entry).await?;
    Ok(())
}
