//! `/search?q=`: one box for an address, a blob id, a node id or a proposal id. A query
//! that names one thing redirects to its page; a number that is both a node and a
//! proposal lists both; anything else says what the box takes.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::error::Error;
use crate::explorer::layout::{page as frame, Section};
use crate::explorer::Page;
use crate::http::extract::PathParam;
use crate::http::AppState;
use crate::wire::ids::{NodeId, ProposalId};

/// The search box's query.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// What was typed.
    #[serde(default)]
    q: String,
}

/// What a query can name, by its form alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// `0x` and 64 hex digits, or a `sys:` account.
    Account(String),
    /// 64 hex digits.
    Blob(String),
    /// A positive integer: a node id, a proposal id, or both.
    Number(String),
}

/// Reads a query: surrounding space and an optional `node`/`proposal`/`#` prefix aside.
pub fn classify(query: &str) -> Option<Target> {
    let q = query.trim();
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = q.strip_prefix("0x").or_else(|| q.strip_prefix("0X")) {
        return hex(rest).then(|| Target::Account(format!("0x{}", rest.to_ascii_lowercase())));
    }
    if q.starts_with("sys:") {
        return Some(Target::Account(q.to_owned()));
    }
    if hex(q) {
        return Some(Target::Blob(q.to_ascii_lowercase()));
    }
    let number = q.trim_start_matches('#');
    let valid = !number.is_empty()
        && number.len() <= 18
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    valid.then(|| Target::Number(number.to_owned()))
}

/// `GET /search?q=`.
pub async fn page(State(state): State<AppState>, Query(query): Query<SearchQuery>) -> Response {
    match classify(&query.q) {
        Some(Target::Account(a)) => Redirect::to(&format!("/accounts/{a}")).into_response(),
        Some(Target::Blob(b)) => Redirect::to(&format!("/blobs/{b}")).into_response(),
        Some(Target::Number(n)) => number(state, &n).await,
        None => Page::from(Err(Error::InvalidArgument(format!(
            "{:?} is not an address (0x and 64 hex digits), a blob id (64 hex digits), \
             a node id or a proposal id (a number)",
            query.q.trim()
        ))))
        .into_response(),
    }
}

async fn number(state: AppState, n: &str) -> Response {
    let found = async {
        let mut conn = state.pool.acquire().await?;
        let node = match NodeId::from_path(n) {
            Ok(id) => crate::staking::nodes::find(&mut conn, id).await?.is_some(),
            Err(_) => false,
        };
        let epoch = crate::ledger::epochs::current_epoch(&mut conn).await?.epoch;
        let proposal = match ProposalId::from_path(n) {
            Ok(id) => crate::governance::proposals::find(&mut conn, id, epoch)
                .await?
                .is_some(),
            Err(_) => false,
        };
        Ok::<_, Error>((node, proposal))
    };
    match found.await {
        Ok((true, false)) => Redirect::to(&format!("/nodes/{n}")).into_response(),
        Ok((false, true)) => Redirect::to(&format!("/proposals/{n}")).into_response(),
        Ok((true, true)) => Page::from(Ok(frame(
            &format!("Search: {n}"),
            Section::Network,
            html! { ul { li { a href={ "/nodes/" (n) } { "Node #" (n) } } li { a href={ "/proposals/" (n) } { "Proposal #" (n) } } } },
        )))
        .into_response(),
        Ok((false, false)) => Page::from(Err(Error::NotFound(format!(
            "no node and no proposal has id {n}"
        ))))
        .into_response(),
        Err(e) => Page::from(Err(e)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_by_their_form() {
        let hex = "ab".repeat(32);
        assert_eq!(
            classify(&format!(" 0x{} ", hex.to_uppercase())),
            Some(Target::Account(format!("0x{hex}")))
        );
        assert_eq!(classify(&hex), Some(Target::Blob(hex.clone())));
        assert_eq!(classify("#12"), Some(Target::Number("12".into())));
        assert_eq!(
            classify("sys:burn"),
            Some(Target::Account("sys:burn".into()))
        );
        assert_eq!(classify("012"), None);
        assert_eq!(classify("0x12"), None);
        assert_eq!(classify("hello"), None);
        assert_eq!(classify(""), None);
    }
}
