//! The frame every page shares (head, navigation, search box) and the small pieces pages
//! are made of: a value that names its API source, a missing value, a byte count.

use std::fmt::Display;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::wire::Problem;

/// The navigation's sections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The network page and what hangs off it (nodes, blobs, accounts).
    Network,
    /// The price charts.
    Prices,
    /// Proposals and votes.
    Governance,
}

/// A whole page: `title`, the section lit in the navigation, and the body.
pub fn page(title: &str, section: Section, body: Markup) -> Markup {
    let nav = [
        (Section::Network, "/", "Network"),
        (Section::Prices, "/prices", "Prices"),
        (Section::Governance, "/governance", "Governance"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · WAL explorer" }
                link rel="stylesheet" href="/explorer/explorer.css";
                link rel="icon" href="/explorer/favicon.svg" type="image/svg+xml";
                script src="/explorer/explorer.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "WAL explorer" }
                    nav {
                        @for (s, href, name) in nav {
                            a href=(href) aria-current=[(s == section).then_some("page")] { (name) }
                        }
                    }
                    form.search action="/search" method="get" role="search" {
                        input type="search" name="q" required
                            placeholder="address, blob id, node or proposal id"
                            aria-label="address, blob id, node id or proposal id";
                        button type="submit" { "Search" }
                    }
                }
                main { h1 { (title) } (body) }
                footer { "Served by the ledger; every number here is also in the " a href="/openapi.json" { "JSON API" } "." }
            }
        }
    }
}

/// A refusal as a page: the API's status, code and detail.
pub fn error_page(problem: &Problem) -> Markup {
    page(
        &format!("{} {}", problem.status, problem.title),
        Section::Network,
        html! {
            p.problem { code { (problem.code) } ": " (problem.detail) }
            p { a href="/" { "Back to the network" } }
        },
    )
}

/// A value shown as the API gives it, naming its source: `src` is the API URL, `key`
/// the dotted path of the field (`members.0.stake`).
pub fn value(src: &str, key: &str, text: impl Display) -> Markup {
    html! { span.v data-src=(src) data-key=(key) { (text) } }
}

/// The text of a value that may be null: the value, or "—".
pub fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// A moment as the JSON API writes it (RFC 3339, UTC, `Z`), so page and API agree.
pub fn iso(moment: &chrono::DateTime<chrono::Utc>) -> String {
    serde_json::to_value(moment)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| moment.to_rfc3339())
}

/// A byte count for people, binary units ("3.0 MiB"), beside its exact value.
pub fn bytes(count: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = count as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// A link to an account page (an address or a `sys:` account).
pub fn account_link(address: &str) -> Markup {
    html! { a.mono href={ "/accounts/" (address) } { (short_id(address)) } }
}

/// A long id shortened for a table cell (the whole id in the title and the link).
pub fn short_id(id: &str) -> Markup {
    if id.len() <= 18 {
        return html! { (id) };
    }
    html! { abbr title=(id) { (id[..10]) "…" (id[id.len() - 6..]) } }
}

/// The JSON of a signed answer, pretty-printed for a `<pre>`.
pub fn pretty_json(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// An empty marker when a list has nothing to show.
pub fn none_yet(what: &str) -> Markup {
    html! { p.empty { (PreEscaped("&mdash; ")) (what) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn values_are_escaped_and_name_their_source() {
        let html = value("/v1/x", "a.b", "<script>").into_string();
        assert!(html.contains("data-src=\"/v1/x\""));
        assert!(html.contains("&lt;script&gt;"));
    }
}
