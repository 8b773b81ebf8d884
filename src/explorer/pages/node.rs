//! `/nodes/{id}`: a node's stake and pool exchange rate over epochs, its audit pass rate
//! per epoch, slashes, jail and the signed evidence of its failures.

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};

use crate::error::Error;
use crate::explorer::chart::{bar_chart, line_chart, Bar, Series, Source};
use crate::explorer::layout::{
    account_link, none_yet, or_dash, page as frame, pretty_json, short_id, value, Section,
};
use crate::explorer::Page;
use crate::http::explore::{HistoryQuery, NodeHistory};
use crate::http::extract::{ApiPath, ApiQuery, PathParam};
use crate::http::nodes::NodeDetail;
use crate::http::{self, AppState};
use crate::wire::ids::NodeId;

/// Epochs the charts show.
const EPOCHS_SHOWN: i64 = 50;

/// `GET /nodes/{id}`.
pub async fn page(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Page {
    render(state, &id).await.into()
}

async fn render(state: AppState, id: &str) -> Result<Markup, Error> {
    let id = NodeId::from_path(id)?;
    let Json(detail) = http::nodes::node(State(state.clone()), ApiPath(id)).await?;
    let query = HistoryQuery {
        from: None,
        limit: Some(EPOCHS_SHOWN),
    };
    let Json(history) =
        http::explore::node_history(State(state), ApiPath(id), ApiQuery(query)).await?;
    let url = format!("/v1/nodes/{id}");
    let history_url = format!("/v1/nodes/{id}/history?limit={EPOCHS_SHOWN}");
    let body = html! {
        (summary(&detail, &url))
        div.charts { (charts(&history, &history_url)) }
        (audits(&detail, &url))
    };
    Ok(frame(
        &format!("Node #{id} {}", detail.node.name),
        Section::Network,
        body,
    ))
}

fn summary(detail: &NodeDetail, url: &str) -> Markup {
    let n = &detail.node;
    html! {
        dl.facts {
            dt { "Name" } dd { (value(url, "name", &n.name)) }
            dt { "Operator" } dd { (account_link(&n.operator)) }
            dt { "Endpoint" } dd.mono { (value(url, "endpoint", &n.endpoint)) }
            dt { "Protocol key" } dd.mono { (short_id(&n.protocol_public_key)) }
            dt { "Stake (pool WAL)" } dd { (value(url, "stake", n.stake)) }
            dt { "Pending stake" } dd { (value(url, "pending_stake", n.pending_stake)) }
            dt { "Shards now" } dd { (value(url, "shards.length", n.shards.len())) }
            dt { "Commission rate" } dd { (value(url, "commission_rate", n.commission_rate)) }
            dt { "Unclaimed commission" } dd { (value(url, "unclaimed_commission", n.unclaimed_commission)) }
            dt { "Expected reward this epoch" } dd { (value(url, "expected_reward", n.expected_reward)) }
            dt { "Price votes (USD)" } dd { (value(url, "storage_price_vote", n.storage_price_vote)) " storage, "
                (value(url, "write_price_vote", n.write_price_vote)) " write" }
            dt { "Registered in epoch" } dd { (value(url, "registered_epoch", n.registered_epoch)) }
            dt { "Jailed until epoch" } dd { (value(url, "jailed_until_epoch", or_dash(n.jailed_until_epoch))) }
        }
    }
}

fn charts(history: &NodeHistory, url: &str) -> Markup {
    let source = |y: &str| Source {
        url: url.into(),
        path: "epochs".into(),
        x: "epoch".into(),
        y: y.into(),
    };
    let stake = Series {
        label: "pool WAL".into(),
        class: "s1",
        source: source("pool_wal"),
        points: history
            .epochs
            .iter()
            .filter_map(|e| Some((e.epoch, e.pool_wal?.as_decimal())))
            .collect(),
    };
    let rate = Series {
        label: "WAL per 10⁹ shares".into(),
        class: "s2",
        source: source("exchange_rate"),
        points: history
            .epochs
            .iter()
            .filter_map(|e| Some((e.epoch, e.exchange_rate?)))
            .collect(),
    };
    let passes: Vec<Bar> = history
        .epochs
        .iter()
        .filter_map(|e| {
            Some(Bar {
                label: e.epoch.to_string(),
                value: e.pass_rate?,
            })
        })
        .collect();
    html! {
        (line_chart("Stake", "WAL in the pool at each epoch's start", &[stake], None))
        (line_chart("Pool exchange rate", "WAL per 10⁹ shares", &[rate], None))
        (bar_chart("Audit pass rate", "passed / challenges, by epoch", &source("pass_rate"), &passes, Some(1.into())))
    }
}

fn audits(detail: &NodeDetail, url: &str) -> Markup {
    let a = &detail.audits;
    html! {
        h2 { "Audits by epoch" }
        @if a.epochs.is_empty() { (none_yet("not audited yet")) } @else {
            div.scroll { table {
                thead { tr { th { "Epoch" } th.num { "Challenges" } th.num { "Passed" } th.num { "Failed" }
                    th.num { "Missing" } th.num { "Timeout" } th.num { "Unreachable" } th.num { "Pass rate" } } }
                tbody { @for (i, e) in a.epochs.iter().enumerate() {
                    @let k = |f: &str| format!("audits.epochs.{i}.{f}");
                    tr { td { (value(url, &k("epoch"), e.epoch)) } td.num { (value(url, &k("challenges"), e.challenges)) }
                        td.num { (value(url, &k("passed"), e.passed)) } td.num { (value(url, &k("failed"), e.failed)) }
                        td.num { (value(url, &k("missing"), e.missing)) } td.num { (value(url, &k("timeout"), e.timeout)) }
                        td.num { (value(url, &k("unreachable"), e.unreachable)) } td.num { (value(url, &k("pass_rate"), e.pass_rate)) } }
                } }
            } }
        }
        h2 { "Slashes" }
        @if a.slashes.is_empty() { (none_yet("never slashed")) } @else {
            div.scroll { table {
                thead { tr { th { "Epoch" } th.num { "Pass rate" } th.num { "From the pool" } th.num { "From commission" }
                    th.num { "Burned" } th.num { "To subsidies" } th { "Jailed until" } } }
                tbody { @for (i, s) in a.slashes.iter().enumerate() {
                    @let k = |f: &str| format!("audits.slashes.{i}.{f}");
                    tr.slash { td { (value(url, &k("epoch"), s.epoch)) } td.num { (value(url, &k("pass_rate"), s.pass_rate)) }
                        td.num { (value(url, &k("pool_slashed"), s.pool_slashed)) }
                        td.num { (value(url, &k("commission_slashed"), s.commission_slashed)) }
                        td.num { (value(url, &k("burned"), s.burned)) } td.num { (value(url, &k("to_subsidy_pool"), s.to_subsidy_pool)) }
                        td { (value(url, &k("jailed_until_epoch"), or_dash(s.jailed_until_epoch))) } }
                } }
            } }
        }
        h2 { "Evidence of failures" }
        @if a.failures.is_empty() { (none_yet("no failed challenge")) } @else {
            @for (i, f) in a.failures.iter().enumerate() {
                details.evidence {
                    summary { "epoch " (value(url, &format!("audits.failures.{i}.epoch"), f.epoch)) ", blob "
                        a href={ "/blobs/" (f.blob_id) } { (short_id(&f.blob_id)) } ", shard "
                        (value(url, &format!("audits.failures.{i}.shard"), f.shard)) ", chunk " (f.chunk) }
                    p.mono { "challenge " (f.challenge_id) }
                    (pretty_json(&f.evidence))
                }
            }
        }
    }
}
