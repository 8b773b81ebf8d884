//! `/blobs/{blob_id}`: a blob's status, contracts and attributes, the health of each of
//! its slivers as the holders serve them now, and a link to read it.

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};

use crate::error::Error;
use crate::explorer::layout::{account_link, bytes, or_dash, page as frame, value, Section};
use crate::explorer::Page;
use crate::http::contracts::{ContractsPage, ContractsQuery};
use crate::http::extract::{ApiPath, ApiQuery, PathParam};
use crate::http::{self, AppState};
use crate::wire::blobs::{BlobHealth, BlobStatus};
use crate::wire::ids::BlobId;

/// `GET /blobs/{blob_id}`.
pub async fn page(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Page {
    render(state, &id).await.into()
}

async fn render(state: AppState, text: &str) -> Result<Markup, Error> {
    let blob_id = BlobId::from_path(text)?;
    let Json(status) = http::contracts::blob_status(State(state.clone()), ApiPath(blob_id)).await?;
    let query = ContractsQuery {
        owner: None,
        blob_id: Some(blob_id),
        limit: Some(100),
        cursor: None,
    };
    let Json(contracts) = http::contracts::list(State(state.clone()), ApiQuery(query)).await?;
    // The health check reaches every holder; a refusal (too big, busy) is shown, not fatal.
    let health = http::explore::blob_health(State(state.clone()), ApiPath(blob_id)).await;
    let read_url = match &state.config.explorer_gateway_url {
        Some(gateway) => format!("{}/v1/blobs/{blob_id}", gateway.as_str()),
        None => format!("/v1/blobs/{blob_id}"),
    };
    let body = html! {
        (summary(&status, &read_url))
        h2 { "Slivers" }
        @match &health {
            Ok(Json(health)) => (slivers(health)),
            Err(e) => p.problem { "The slivers were not checked: " (e.to_problem().detail) },
        }
        h2 { "Contracts" }
        (contract_table(&contracts, &blob_id.to_string()))
    };
    Ok(frame("Blob", Section::Network, body))
}

fn summary(status: &BlobStatus, read_url: &str) -> Markup {
    let url = format!("/v1/blobs/{}/status", status.blob_id);
    let m = &status.metadata;
    html! {
        dl.facts {
            dt { "Blob id" } dd.mono { (value(&url, "blob_id", &status.blob_id)) }
            dt { "Certified" } dd { (value(&url, "certified", status.certified)) }
            dt { "Stored until epoch" } dd { (value(&url, "end_epoch", or_dash(status.end_epoch))) " (exclusive)" }
            dt { "Size" } dd { (value(&url, "metadata.size", m.size)) " bytes (" (bytes(i64::try_from(m.size).unwrap_or(i64::MAX))) ")" }
            dt { "Encoding" } dd { (m.encoding.name()) ", " (value(&url, "metadata.n_shards", m.n_shards)) " shards, any "
                (value(&url, "metadata.k", m.k)) " decode it" }
            dt { "Active contracts" } dd { (value(&url, "contracts.length", status.contracts.len())) }
            dt { "Read it" } dd { a href=(read_url) { (read_url) } }
        }
    }
}

fn slivers(health: &BlobHealth) -> Markup {
    let url = format!("/v1/blobs/{}/health", health.blob_id);
    let verdict = if health.fully_redundant {
        "fully redundant"
    } else if health.readable {
        "readable, redundancy reduced"
    } else {
        "NOT readable"
    };
    html! {
        p { (value(&url, "verified", health.verified)) " of " (value(&url, "n_shards", health.n_shards))
            " slivers verified in epoch " (value(&url, "epoch", health.epoch)) ": " strong { (verdict) } }
        ul.shards aria-label="slivers by shard" {
            @for (i, s) in health.slivers.iter().enumerate() {
                li class={ "sliver " (s.state.replace(' ', "-")) } title={ "shard " (s.shard) ": " (s.state) } {
                    (s.shard)
                    span.state { (value(&url, &format!("slivers.{i}.state"), &s.state)) }
                }
            }
        }
        details { summary { "Holders" }
            div.scroll { table {
                thead { tr { th { "Shard" } th { "Node" } th { "State" } th { "Endpoint" } } }
                tbody { @for s in &health.slivers {
                    tr { td { (s.shard) } td { @if let Some(n) = &s.node_id { a href={ "/nodes/" (n) } { "#" (n) } } @else { "—" } }
                        td { (s.state) } td.mono { (or_dash(s.endpoint.as_deref())) } }
                } }
            } }
        }
    }
}

fn contract_table(page: &ContractsPage, blob_id: &str) -> Markup {
    let url = format!("/v1/storage/contracts?blob_id={blob_id}&limit=100");
    html! {
        div.scroll { table {
            thead { tr { th { "Contract" } th { "Owner" } th { "Status" } th.num { "Epochs" } th.num { "Paid (WAL)" } th { "Attributes" } } }
            tbody { @for (i, c) in page.contracts.iter().enumerate() {
                @let k = |f: &str| format!("contracts.{i}.{f}");
                tr {
                    td { (value(&url, &k("id"), &c.id)) }
                    td { (account_link(&c.owner)) }
                    td { (value(&url, &k("status"), serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())) }
                    td.num { (value(&url, &k("start_epoch"), c.start_epoch)) "–" (value(&url, &k("end_epoch"), c.end_epoch)) }
                    td.num { (value(&url, &k("paid"), c.paid)) }
                    td { @if c.attributes.is_empty() { "—" } @else {
                        dl.attributes { @for (name, v) in &c.attributes {
                            dt { (name) } dd { (value(&url, &format!("{}.{name}", k("attributes")), v)) }
                        } }
                    } }
                }
            } }
        } }
    }
}
