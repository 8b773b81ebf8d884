//! Votes: one per voter and proposal, the last one counting; shown with the power
//! they count now (while voting) or counted (once decided).

use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::power;
use super::proposals::wal_of;
use super::tally::Choice;
use crate::error::Error;
use crate::ledger::account::Address;
use crate::ledger::epochs::EpochLock;
use crate::money::Wal;
use crate::wire::ids::ProposalId;
use crate::wire::Vote;

/// `POST /v1/proposals/{id}/votes`: records (or replaces) the signer's vote on a
/// proposal still voting; the answer carries what the vote counts now.
pub async fn vote(
    conn: &mut PgConnection,
    lock: &EpochLock,
    voter: Address,
    id: ProposalId,
    choice: &str,
) -> Result<Vote, Error> {
    let choice = Choice::parse(choice).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "choice {choice:?} is not one of \"yes\", \"no\", \"abstain\", \"veto\""
        ))
    })?;
    let proposal_id = id.get();
    let status = sqlx::query_scalar!("SELECT status FROM proposals WHERE id = $1", proposal_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no proposal with id {id}")))?;
    if status != "voting" {
        return Err(Error::Conflict(format!(
            "proposal {id} is closed ({status}); votes are taken only while it votes"
        )));
    }
    let voter_text = voter.to_string();
    let may_vote = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM stakes WHERE owner = $1 AND withdrawn_amount IS NULL)
               OR EXISTS (SELECT 1 FROM nodes WHERE operator = $1) AS "may!""#,
        voter_text
    )
    .fetch_one(&mut *conn)
    .await?;
    if !may_vote {
        return Err(Error::Forbidden(format!(
            "{voter} has no stake (active or pending) and operates no node, so it has no vote; \
             stake with POST /v1/stakes first"
        )));
    }
    sqlx::query!(
        r#"INSERT INTO votes (proposal_id, voter, choice, voted_epoch) VALUES ($1, $2, $3, $4)
           ON CONFLICT (proposal_id, voter) DO UPDATE
           SET choice = excluded.choice, voted_epoch = excluded.voted_epoch, voted_at = now()"#,
        proposal_id,
        voter_text,
        choice.as_str(),
        lock.epoch()
    )
    .execute(&mut *conn)
    .await?;
    let inputs = power::load(conn, &[proposal_id], lock.epoch()).await?;
    let counted = inputs.count(proposal_id);
    Ok(Vote {
        proposal_id: id.to_string(),
        power: wal_of(inputs.power_of(&counted, &voter_text))?,
        voter: voter_text,
        choice: choice.as_str().to_owned(),
    })
}

/// Votes on a proposal by voter address, after `after`; `None` if no such proposal.
pub async fn page(
    conn: &mut PgConnection,
    id: ProposalId,
    after: Option<Address>,
    limit: i64,
    epoch: i64,
) -> Result<Option<Vec<Vote>>, Error> {
    let proposal_id = id.get();
    let proposal = sqlx::query!(
        "SELECT status, decided_epoch FROM proposals WHERE id = $1",
        proposal_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(proposal) = proposal else {
        return Ok(None);
    };
    let status = proposal.status;
    let rows = sqlx::query!(
        r#"SELECT v.voter, v.choice,
                  (SELECT o.power FROM tally_own_power o WHERE o.epoch = $4 AND o.voter = v.voter)
                    + coalesce((SELECT i.power FROM tally_inherited_power i
                                WHERE i.proposal_id = v.proposal_id AND i.operator = v.voter), 0)
                    AS power
           FROM votes v
           WHERE v.proposal_id = $1 AND v.voter > $2 ORDER BY v.voter LIMIT $3"#,
        proposal_id,
        after.map(|a| a.to_string()).unwrap_or_default(),
        limit,
        proposal.decided_epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    let live = if status == "voting" {
        let inputs = power::load(conn, &[proposal_id], epoch).await?;
        let counted = inputs.count(proposal_id);
        Some((inputs, counted))
    } else {
        None
    };
    let power_of = |voter: &str, stored: Option<Decimal>| -> Result<Wal, Error> {
        match &live {
            Some((inputs, counted)) => wal_of(inputs.power_of(counted, voter)),
            None => Ok(Wal::from_decimal_unchecked(stored.unwrap_or(Decimal::ZERO))),
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(Vote {
                proposal_id: id.to_string(),
                power: power_of(&r.voter, r.power)?,
                voter: r.voter,
                choice: r.choice,
            })
        })
        .collect::<Result<Vec<_>, Error>>()
        .map(Some)
}
