//! `/`: the network now: its epoch with a live countdown, supply, burned, stake, stored
//! bytes, and the committee with its shards.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};

use crate::error::Error;
use crate::explorer::chart::{bar_chart, Bar, Source};
use crate::explorer::layout::{bytes, iso, or_dash, page as frame, value, Section};
use crate::explorer::Page;
use crate::http::extract::ApiQuery;
use crate::http::nodes::NodesQuery;
use crate::http::{self, AppState};
use crate::wire::epochs::{Committee, CommitteeMember};
use crate::wire::nodes::Node;

/// The API URL of the nodes list the committee table reads names and commissions from.
const NODES_URL: &str = "/v1/nodes?limit=500";

/// `GET /`.
pub async fn page(State(state): State<AppState>) -> Page {
    render(state).await.into()
}

async fn render(state: AppState) -> Result<Markup, Error> {
    let Json(network) = http::meta::network(State(state.clone())).await?;
    let Json(stats) = http::explore::stats(State(state.clone())).await?;
    let Json(committee) = http::epochs::committee(State(state.clone())).await?;
    let query = NodesQuery {
        limit: Some(500),
        cursor: None,
        protocol_public_key: None,
    };
    let Json(nodes) = http::nodes::list(State(state.clone()), ApiQuery(query)).await?;
    let last = if network.epoch > 0 {
        let number = crate::http::extract::EpochNumber(network.epoch - 1);
        let path = crate::http::extract::ApiPath(number);
        Some(http::epochs::by_number(State(state), path).await?.0)
    } else {
        None
    };
    let body = html! {
        section.cards {
            div.card { h2 { "Epoch" } p.big { (value("/v1/network", "epoch", network.epoch)) }
                p { "started " (value("/v1/network", "epoch_started_at", iso(&network.epoch_started_at))) }
                p { "ends " (value("/v1/network", "epoch_ends_at", iso(&network.epoch_ends_at))) }
                p.countdown { "ends in " time data-countdown datetime=(iso(&network.epoch_ends_at)) { "…" } } }
            div.card { h2 { "Supply" } p.big { (value("/v1/stats", "total_supply", stats.total_supply)) " WAL" }
                p { "burned " (value("/v1/stats", "burned", stats.burned)) " WAL" }
                p { "subsidy pool " (value("/v1/stats", "subsidy_pool", stats.subsidy_pool)) " WAL" } }
            div.card { h2 { "Stake" } p.big { (value("/v1/stats", "total_stake", stats.total_stake)) " WAL" }
                p { "pending " (value("/v1/stats", "pending_stake", stats.pending_stake)) " WAL" }
                p { (value("/v1/stats", "nodes", stats.nodes)) " nodes registered" } }
            div.card { h2 { "Stored" } p.big { (bytes(stats.stored_bytes)) }
                p { (value("/v1/stats", "stored_bytes", stats.stored_bytes)) " bytes in "
                    (value("/v1/stats", "stored_blobs", stats.stored_blobs)) " blobs" }
                p { (value("/v1/stats", "stored_encoded_bytes", stats.stored_encoded_bytes)) " bytes encoded" } }
        }
        p.meta { "Network " (value("/v1/network", "network_id", &network.network_id)) ", "
            (value("/v1/network", "n_shards", network.n_shards)) " shards, genesis "
            (value("/v1/network", "genesis_at", iso(&network.genesis_at))) }
        h2 { "Committee of epoch " (committee.epoch) }
        (committee_table(&committee, &nodes.nodes, last.as_ref().map(|l| (l.epoch, &l.committee[..]))))
        div.charts { (shard_chart(&committee)) }
    };
    Ok(frame(
        &format!("Network {}", network.network_id),
        Section::Network,
        body,
    ))
}

fn committee_table(
    committee: &Committee,
    nodes: &[Node],
    last: Option<(i64, &[CommitteeMember])>,
) -> Markup {
    if committee.members.is_empty() {
        return crate::explorer::layout::none_yet(
            "no committee yet: stake with a node and wait for the next epoch",
        );
    }
    let node_index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let last_index: HashMap<&str, usize> = last
        .map(|(_, members)| {
            members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.node_id.as_str(), i))
                .collect()
        })
        .unwrap_or_default();
    let last_url = last
        .map(|(epoch, _)| format!("/v1/epochs/{epoch}"))
        .unwrap_or_default();
    html! {
        div.scroll { table {
            thead { tr { th { "Node" } th.num { "Stake (WAL)" } th.num { "Shards" } th.num { "Commission" }
                th.num { "Performance, last epoch" } } }
            tbody {
                @for (i, m) in committee.members.iter().enumerate() {
                    @let node = node_index.get(m.node_id.as_str()).map(|&j| (j, &nodes[j]));
                    tr {
                        td { a href={ "/nodes/" (m.node_id) } { "#" (m.node_id) }
                            @if let Some((j, n)) = node { " " (value(NODES_URL, &format!("nodes.{j}.name"), &n.name)) } }
                        td.num { (value("/v1/committee", &format!("members.{i}.stake"), m.stake)) }
                        td.num { (value("/v1/committee", &format!("members.{i}.shards.length"), m.shards.len())) }
                        td.num { @if let Some((j, n)) = node {
                            (value(NODES_URL, &format!("nodes.{j}.commission_rate"), n.commission_rate)) } }
                        td.num { @match last_index.get(m.node_id.as_str()) {
                            Some(&k) => (value(&last_url, &format!("committee.{k}.performance"),
                                or_dash(last.and_then(|(_, ms)| ms[k].performance)))),
                            None => "—",
                        } }
                    }
                }
            }
        } }
    }
}

fn shard_chart(committee: &Committee) -> Markup {
    let bars: Vec<Bar> = committee
        .members
        .iter()
        .map(|m| Bar {
            label: m.node_id.clone(),
            value: m.shards.len().into(),
        })
        .collect();
    let source = Source {
        url: "/v1/committee".into(),
        path: "members".into(),
        x: "node_id".into(),
        y: "shards.length".into(),
    };
    bar_chart(
        "Shards per node",
        "shards, by node id",
        &source,
        &bars,
        None,
    )
}
