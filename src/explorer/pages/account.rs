//! `/accounts/{address}`: an account's balance and its journal lines, newest first, in
//! pages (`?cursor=` as the API's).

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};

use crate::error::Error;
use crate::explorer::layout::{iso, none_yet, or_dash, page as frame, value, Section};
use crate::explorer::Page;
use crate::http::accounts::{AccountKey, EntriesQuery};
use crate::http::extract::{ApiPath, ApiQuery, PathParam};
use crate::http::{self, AppState};

/// Journal lines per page.
const ENTRIES_PER_PAGE: i64 = 50;

/// `GET /accounts/{address}`.
pub async fn page(
    State(state): State<AppState>,
    ApiPath(address): ApiPath<String>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Page {
    render(state, &address, query).await.into()
}

async fn render(state: AppState, text: &str, query: EntriesQuery) -> Result<Markup, Error> {
    let cursor = query.cursor.as_ref().map(ToString::to_string);
    let query = EntriesQuery {
        limit: Some(query.limit.unwrap_or(ENTRIES_PER_PAGE)),
        ..query
    };
    let limit = query.limit.unwrap_or(ENTRIES_PER_PAGE);
    let Json(account) =
        http::accounts::account(State(state.clone()), ApiPath(AccountKey::from_path(text)?))
            .await?;
    let Json(entries) = http::accounts::entries(
        State(state),
        ApiPath(AccountKey::from_path(text)?),
        ApiQuery(query),
    )
    .await?;
    let url = format!("/v1/accounts/{}", account.address);
    let mut entries_url = format!("/v1/accounts/{}/entries?limit={limit}", account.address);
    if let Some(cursor) = &cursor {
        entries_url.push_str(&format!("&cursor={cursor}"));
    }
    let body = html! {
        dl.facts {
            dt { "Address" } dd.mono { (value(&url, "address", &account.address)) }
            dt { "Kind" } dd { (value(&url, "kind", account.kind)) }
            dt { "Balance" } dd.big { (value(&url, "balance", account.balance)) " WAL" }
        }
        h2 { "History" }
        @if entries.entries.is_empty() { (none_yet("no journal line")) } @else {
            div.scroll { table {
                thead { tr { th { "Entry" } th { "Epoch" } th { "Kind" } th.num { "Amount (WAL)" } th { "Counterparty" } th { "Memo" } th { "At" } } }
                tbody { @for (i, e) in entries.entries.iter().enumerate() {
                    @let k = |f: &str| format!("entries.{i}.{f}");
                    tr {
                        td { (value(&entries_url, &k("entry_id"), &e.entry_id)) }
                        td { (value(&entries_url, &k("epoch"), e.epoch)) }
                        td { (value(&entries_url, &k("kind"), &e.kind)) }
                        td.num class=[e.amount.starts_with('-').then_some("debit")] { (value(&entries_url, &k("amount"), &e.amount)) }
                        td { @match &e.counterparty {
                            Some(c) => a.mono href={ "/accounts/" (c) } { (crate::explorer::layout::short_id(c)) },
                            None => "—",
                        } }
                        td { (or_dash(e.memo.as_deref())) }
                        td { (iso(&e.created_at)) }
                    }
                } }
            } }
        }
        @if let Some(next) = &entries.next_cursor {
            p { a rel="next" href={ "/accounts/" (account.address) "?cursor=" (next) } { "Older entries →" } }
        }
    };
    Ok(frame("Account", Section::Network, body))
}
