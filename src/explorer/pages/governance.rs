//! `/governance` and `/proposals/{id}`: proposals with their tally against quorum,
//! threshold and veto, and the votes.

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};
use rust_decimal::Decimal;

use crate::error::Error;
use crate::explorer::chart::{gauge, percent};
use crate::explorer::layout::{account_link, none_yet, or_dash, page as frame, value, Section};
use crate::explorer::Page;
use crate::http::extract::{ApiPath, ApiQuery, PathParam};
use crate::http::proposals::{ProposalsQuery, VotesQuery};
use crate::http::{self, AppState};
use crate::params::Params;
use crate::wire::governance::{Proposal, VotesPage};
use crate::wire::ids::ProposalId;

/// `GET /governance`.
pub async fn page(State(state): State<AppState>) -> Page {
    list(state).await.into()
}

/// `GET /proposals/{id}`.
pub async fn proposal(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Page {
    one(state, &id).await.into()
}

async fn params_now(state: &AppState) -> Result<Params, Error> {
    let mut conn = state.pool.acquire().await?;
    crate::params::load(&mut conn).await
}

async fn list(state: AppState) -> Result<Markup, Error> {
    let params = params_now(&state).await?;
    let query = ProposalsQuery {
        status: None,
        limit: Some(50),
        cursor: None,
    };
    let Json(page) = http::proposals::list(State(state), ApiQuery(query)).await?;
    let url = "/v1/proposals?limit=50";
    let body = html! {
        p { "Anyone may propose changes of the governable parameters for a deposit of "
            (params.proposal_deposit) " WAL; stakers vote with their stake, operators also with their pools' stake \
            whose owners did not vote. A proposal passes with participation of at least " (percent(params.gov_quorum))
            " of the power, more than " (percent(params.gov_threshold)) " yes among yes, no and veto, and veto under "
            (percent(params.gov_veto)) "." }
        @if page.proposals.is_empty() { (none_yet("no proposal yet")) }
        @for (i, p) in page.proposals.iter().enumerate() {
            (card(p, &params, url, &format!("proposals.{i}."), true))
        }
    };
    Ok(frame("Governance", Section::Governance, body))
}

async fn one(state: AppState, text: &str) -> Result<Markup, Error> {
    let id = ProposalId::from_path(text)?;
    let params = params_now(&state).await?;
    let Json(proposal) = http::proposals::proposal(State(state.clone()), ApiPath(id)).await?;
    let query = VotesQuery {
        limit: Some(500),
        cursor: None,
    };
    let Json(votes) = http::proposals::votes(State(state), ApiPath(id), ApiQuery(query)).await?;
    let url = format!("/v1/proposals/{id}");
    let body = html! {
        (card(&proposal, &params, &url, "", false))
        h2 { "Votes" }
        (vote_table(&votes, &format!("/v1/proposals/{id}/votes?limit=500")))
    };
    Ok(frame(&format!("Proposal #{id}"), Section::Governance, body))
}

/// `part / whole`, 0 when the whole is 0 (nothing voted yet).
fn share(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        part / whole
    }
}

fn card(p: &Proposal, params: &Params, url: &str, prefix: &str, link: bool) -> Markup {
    let k = |f: &str| format!("{prefix}{f}");
    let t = &p.tally;
    let (yes, no, abstain, veto) = (
        t.yes.as_decimal(),
        t.no.as_decimal(),
        t.abstain.as_decimal(),
        t.veto.as_decimal(),
    );
    let voted = yes + no + abstain + veto;
    html! {
        article.proposal {
            h2 { @if link { a href={ "/proposals/" (p.id) } { "#" (p.id) } } @else { "#" (p.id) } " " (p.title) }
            p.status { span class={ "badge " (p.status.as_str()) } { (value(url, &k("status"), p.status.as_str())) }
                " · epochs " (value(url, &k("created_epoch"), p.created_epoch)) "–" (value(url, &k("voting_ends_epoch"), p.voting_ends_epoch))
                " · decided in " (value(url, &k("decided_epoch"), or_dash(p.decided_epoch)))
                " · deposit " (value(url, &k("deposit"), p.deposit)) " WAL by " (account_link(&p.proposer)) }
            @if !p.description.is_empty() { p.description { (p.description) } }
            ul.changes { @for (name, v) in &p.changes { li { code { (name) } " → " (v) } } }
            div.tally {
                (gauge("participation", share(voted, t.total_power.as_decimal()), params.gov_quorum, "quorum"))
                (gauge("yes", share(yes, yes + no + veto), params.gov_threshold, "threshold"))
                (gauge("veto", share(veto, voted), params.gov_veto, "veto"))
            }
            p.numbers { "yes " (value(url, &k("tally.yes"), t.yes)) " · no " (value(url, &k("tally.no"), t.no))
                " · abstain " (value(url, &k("tally.abstain"), t.abstain)) " · veto " (value(url, &k("tally.veto"), t.veto))
                " · of " (value(url, &k("tally.total_power"), t.total_power)) " WAL of power" }
        }
    }
}

fn vote_table(votes: &VotesPage, url: &str) -> Markup {
    if votes.votes.is_empty() {
        return none_yet("no vote yet");
    }
    html! {
        div.scroll { table {
            thead { tr { th { "Voter" } th { "Choice" } th.num { "Power (WAL)" } } }
            tbody { @for (i, v) in votes.votes.iter().enumerate() {
                tr { td { (account_link(&v.voter)) } td { (value(url, &format!("votes.{i}.choice"), &v.choice)) }
                    td.num { (value(url, &format!("votes.{i}.power"), v.power)) } }
            } }
        } }
    }
}
