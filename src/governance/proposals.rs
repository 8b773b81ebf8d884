//! Proposals: checked and paid for when made, shown with their tally (live while
//! voting), paged newest first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::power::{self, frost_of};
use super::tally::{compare_to_share, Counted, Tally};
use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::epochs::EpochLock;
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::ledger::kind::EntryKind;
use crate::money::Wal;
use crate::params::{check_consistent, Params};
use crate::wire::ids::ProposalId;
use crate::wire::{Proposal, ProposalRequest, ProposalStatus, ProposalTally};

/// Longest title, in characters.
pub const TITLE_CHARS_MAX: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_CHARS_MAX: usize = 10_000;
/// Most parameter changes in one proposal.
pub const CHANGES_MAX: usize = 16;
/// Proposals are made one at a time (the open-proposal cap), under this advisory lock.
const PROPOSALS_LOCK: i64 = 7_761_002;

/// Checks a proposal against the parameters in force: its text, and that every change
/// is governable and within bounds and the resulting set consistent. Pure.
pub fn check(request: &ProposalRequest, params: &Params) -> Result<Params, Error> {
    let bad = Error::InvalidArgument;
    let title_chars = request.title.chars().count();
    if title_chars == 0 || title_chars > TITLE_CHARS_MAX {
        return Err(bad(format!(
            "title must be 1..={TITLE_CHARS_MAX} characters, got {title_chars}"
        )));
    }
    if request.title.chars().any(char::is_control) {
        return Err(bad("title must not hold control characters".into()));
    }
    let description_chars = request.description.chars().count();
    if description_chars > DESCRIPTION_CHARS_MAX {
        return Err(bad(format!(
            "description must be at most {DESCRIPTION_CHARS_MAX} characters, got {description_chars}"
        )));
    }
    if request
        .description
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(bad(
            "description must not hold control characters other than line breaks and tabs".into(),
        ));
    }
    let n = request.changes.len();
    if n == 0 || n > CHANGES_MAX {
        return Err(bad(format!(
            "changes must name 1..={CHANGES_MAX} parameters, got {n}"
        )));
    }
    let mut after = params.clone();
    for (name, value) in &request.changes {
        after
            .set(name, value)
            .map_err(|e| bad(format!("changes: {e}")))?;
    }
    check_consistent(&after).map_err(|e| bad(format!("changes: {e}")))?;
    Ok(after)
}

/// `POST /v1/proposals`: checks it, enforces the open cap, takes the deposit.
pub async fn create(
    conn: &mut PgConnection,
    lock: &EpochLock,
    proposer: Address,
    request: &ProposalRequest,
) -> Result<Proposal, Error> {
    let params = crate::params::load(conn).await?;
    check(request, &params)?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", PROPOSALS_LOCK)
        .execute(&mut *conn)
        .await?;
    let open =
        sqlx::query_scalar!(r#"SELECT count(*) AS "open!" FROM proposals WHERE status = 'voting'"#)
            .fetch_one(&mut *conn)
            .await?;
    if open >= i64::from(params.proposals_open_max) {
        return Err(Error::Conflict(format!(
            "{open} proposals are voting, the most at once (proposals_open_max); \
             propose again after the next tally"
        )));
    }
    let deposit = params.proposal_deposit;
    let entry = NewEntry {
        kind: EntryKind::ProposalDeposit,
        actor: Some(proposer),
        memo: Some("proposal deposit"),
        legs: vec![
            Leg::debit(Account::User(proposer), deposit),
            Leg::credit(Account::System(SystemAccount::GovDeposits), deposit),
        ],
    };
    journal::post(conn, &entry).await.map_err(|e| match e {
        Error::InsufficientFunds(_) => Error::InsufficientFunds(format!(
            "a proposal needs a deposit of {deposit} WAL (proposal_deposit), more than {proposer} holds"
        )),
        other => other,
    })?;
    let epoch = lock.epoch();
    let changes = serde_json::to_value(&request.changes).map_err(Error::internal)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO proposals (proposer, title, description, changes, deposit, created_epoch,
                                  voting_ends_epoch)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"#,
        proposer.to_string(),
        request.title,
        request.description,
        changes,
        deposit.as_decimal(),
        epoch,
        epoch + i64::from(params.voting_epochs)
    )
    .fetch_one(&mut *conn)
    .await?;
    find(conn, ProposalId::from_row(id), epoch)
        .await?
        .ok_or_else(|| Error::internal("the new proposal vanished"))
}

/// A proposal row as stored.
struct Row {
    id: i64,
    proposer: String,
    title: String,
    description: String,
    changes: serde_json::Value,
    deposit: Decimal,
    created_epoch: i64,
    voting_ends_epoch: i64,
    status: String,
    decided_epoch: Option<i64>,
    tally_yes: Option<Decimal>,
    tally_no: Option<Decimal>,
    tally_abstain: Option<Decimal>,
    tally_veto: Option<Decimal>,
    tally_total_power: Option<Decimal>,
    created_at: DateTime<Utc>,
}

/// WAL of a FROST count (a power is at most the supply).
pub(super) fn wal_of(frost: u128) -> Result<Wal, Error> {
    let frost = i128::try_from(frost).map_err(Error::internal)?;
    Ok(Wal::from_decimal_unchecked(Decimal::from_i128_with_scale(
        frost,
        crate::money::WAL_DECIMALS,
    )))
}

/// A tally as the API shows it; `quorum` decides `quorum_reached`.
pub(super) fn tally_view(tally: &Tally, quorum_reached: bool) -> Result<ProposalTally, Error> {
    Ok(ProposalTally {
        yes: wal_of(tally.yes)?,
        no: wal_of(tally.no)?,
        abstain: wal_of(tally.abstain)?,
        veto: wal_of(tally.veto)?,
        total_power: wal_of(tally.total_power)?,
        quorum_reached,
    })
}

/// Whether a live tally reaches `quorum`.
pub(super) fn reaches_quorum(tally: &Tally, quorum: Decimal) -> bool {
    tally.total_power > 0
        && compare_to_share(tally.participation(), quorum, tally.total_power)
            != std::cmp::Ordering::Less
}

impl Row {
    /// The stored tally of a decided proposal.
    fn decided_tally(&self) -> Result<Option<ProposalTally>, Error> {
        let (Some(yes), Some(no), Some(abstain), Some(veto), Some(total)) = (
            self.tally_yes,
            self.tally_no,
            self.tally_abstain,
            self.tally_veto,
            self.tally_total_power,
        ) else {
            return Ok(None);
        };
        let frost = |d: Decimal| frost_of(Wal::from_decimal_unchecked(d));
        let tally = Tally {
            yes: frost(yes)?,
            no: frost(no)?,
            abstain: frost(abstain)?,
            veto: frost(veto)?,
            total_power: frost(total)?,
        };
        tally_view(&tally, self.status != "no_quorum").map(Some)
    }

    fn view(self, tally: ProposalTally) -> Result<Proposal, Error> {
        let changes: BTreeMap<String, String> =
            serde_json::from_value(self.changes).map_err(Error::internal)?;
        let status = ProposalStatus::parse(&self.status)
            .ok_or_else(|| Error::internal(format!("stored status {:?}", self.status)))?;
        Ok(Proposal {
            status,
            id: self.id.to_string(),
            proposer: self.proposer,
            title: self.title,
            description: self.description,
            changes,
            deposit: Wal::from_decimal_unchecked(self.deposit),
            created_epoch: self.created_epoch,
            voting_ends_epoch: self.voting_ends_epoch,
            tally,
            decided_epoch: self.decided_epoch,
            created_at: self.created_at,
        })
    }
}

/// Views of rows: decided ones with their stored tally, voting ones counted now.
async fn views(
    conn: &mut PgConnection,
    rows: Vec<Row>,
    epoch: i64,
) -> Result<Vec<Proposal>, Error> {
    let voting: Vec<i64> = rows
        .iter()
        .filter(|r| r.tally_total_power.is_none())
        .map(|r| r.id)
        .collect();
    let live = if voting.is_empty() {
        None
    } else {
        let quorum = crate::params::load(conn).await?.gov_quorum;
        Some((power::load(conn, &voting, epoch).await?, quorum))
    };
    let mut proposals = Vec::with_capacity(rows.len());
    for row in rows {
        let tally = match (row.decided_tally()?, &live) {
            (Some(tally), _) => tally,
            (None, Some((inputs, quorum))) => {
                let Counted { tally, .. } = inputs.count(row.id);
                tally_view(&tally, reaches_quorum(&tally, *quorum))?
            }
            (None, None) => return Err(Error::internal("a voting proposal was not counted")),
        };
        proposals.push(row.view(tally)?);
    }
    Ok(proposals)
}

/// A proposal by id, with its tally.
pub async fn find(
    conn: &mut PgConnection,
    id: ProposalId,
    epoch: i64,
) -> Result<Option<Proposal>, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT id, proposer, title, description, changes, deposit, created_epoch,
                  voting_ends_epoch, status, decided_epoch, tally_yes, tally_no, tally_abstain,
                  tally_veto, tally_total_power, created_at
           FROM proposals WHERE id = $1"#,
        id.get()
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(views(conn, vec![row], epoch).await?.pop())
}

/// Proposals newest first, optionally of one status, below the id `before`.
pub async fn page(
    conn: &mut PgConnection,
    status: Option<ProposalStatus>,
    before: i64,
    limit: i64,
    epoch: i64,
) -> Result<Vec<Proposal>, Error> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, proposer, title, description, changes, deposit, created_epoch,
                  voting_ends_epoch, status, decided_epoch, tally_yes, tally_no, tally_abstain,
                  tally_veto, tally_total_power, created_at
           FROM proposals WHERE ($1::text IS NULL OR status = $1) AND id < $2
           ORDER BY id DESC LIMIT $3"#,
        status.map(ProposalStatus::as_str),
        before,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    views(conn, rows, epoch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(title: &str, description: &str, changes: &[(&str, &str)]) -> ProposalRequest {
        ProposalRequest {
            title: title.into(),
            description: description.into(),
            changes: changes
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn a_proposal_is_checked_whole() {
        let params = crate::params::tests::defaults();
        let after = check(
            &request("t", "d\nline two", &[("reward_burn_rate", "0.05")]),
            &params,
        )
        .unwrap();
        assert_eq!(after.reward_burn_rate, Decimal::new(5, 2));
        let too_many: Vec<(String, String)> = crate::params::DEFINITIONS
            .iter()
            .take(17)
            .map(|d| (d.name.to_owned(), params.text_of(d.name).unwrap()))
            .collect();
        let too_many: Vec<(&str, &str)> = too_many
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let long_title = "x".repeat(201);
        let long_description = "x".repeat(10_001);
        for (bad, why) in [
            (request("", "", &[("jail_epochs", "3")]), "title"),
            (request(&long_title, "", &[("jail_epochs", "3")]), "title"),
            (request("a\u{0}b", "", &[("jail_epochs", "3")]), "control"),
            (request("t", "a\u{0}b", &[("jail_epochs", "3")]), "control"),
            (
                request("t", &long_description, &[("jail_epochs", "3")]),
                "description",
            ),
            (request("t", "", &[]), "1..=16"),
            (request("t", "", &too_many), "1..=16"),
            (request("t", "", &[("n_shards", "20")]), "genesis"),
            (request("t", "", &[("bogus", "1")]), "not a governable"),
            (request("t", "", &[("jail_epochs", "54")]), "bounds"),
            (
                request("t", "", &[("slash_rate", "0.0000000001")]),
                "fractional",
            ),
            (
                request("t", "", &[("jail_threshold", "0.95")]),
                "slash_threshold",
            ),
        ] {
            let error = check(&bad, &params).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidArgument(d) if d.contains(why)),
                "{why}: {error:?}"
            );
        }
        // Both thresholds moved together keep the set consistent.
        check(
            &request(
                "t",
                "",
                &[("jail_threshold", "0.95"), ("slash_threshold", "0.96")],
            ),
            &params,
        )
        .unwrap();
    }
}
