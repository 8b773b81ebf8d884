//! walctl's storage node commands: register, update, show, audit and list, with the
//! text renderers of a node and of its audit record.

use std::path::Path;

use serde_json::{json, Value};
use wal::client::keyfile;

use crate::cli::{Cli, NodeCommand};
use crate::output::{more_line, print, s};
use crate::{client, signing_client, with_cursor, CliError};

pub async fn run(cli: &Cli, command: &NodeCommand) -> Result<(), CliError> {
    match command {
        NodeCommand::Register {
            name,
            endpoint,
            protocol_key,
            commission_rate,
            storage_price_vote,
            write_price_vote,
        } => {
            let votes = [commission_rate, storage_price_vote, write_price_vote];
            register(cli, name, endpoint, protocol_key, votes).await
        }
        NodeCommand::Update {
            id,
            name,
            endpoint,
            protocol_key,
            commission_rate,
            storage_price_vote,
            write_price_vote,
        } => {
            let changes = [
                ("name", name),
                ("endpoint", endpoint),
                ("commission_rate", commission_rate),
                ("storage_price_vote", storage_price_vote),
                ("write_price_vote", write_price_vote),
            ];
            update(cli, id, protocol_key.as_deref(), changes).await
        }
        NodeCommand::Show { id } => show(cli, id).await,
        NodeCommand::Audit { id } => audit(cli, id).await,
        NodeCommand::List { limit, cursor } => list(cli, *limit, cursor).await,
    }
}

fn protocol_public_key(path: &Path) -> Result<String, CliError> {
    Ok(hex::encode(keyfile::read(path)?.verifying_key().to_bytes()))
}

/// `votes` are the commission rate and the storage and write price votes.
async fn register(
    cli: &Cli,
    name: &str,
    endpoint: &str,
    protocol_key: &Path,
    [commission_rate, storage_price_vote, write_price_vote]: [&String; 3],
) -> Result<(), CliError> {
    let body = json!({
        "name": name, "endpoint": endpoint, "protocol_public_key": protocol_public_key(protocol_key)?,
        "commission_rate": commission_rate, "storage_price_vote": storage_price_vote,
        "write_price_vote": write_price_vote,
    });
    let key = uuid::Uuid::new_v4().to_string();
    let out: Value = signing_client(cli)?.post("/v1/nodes", &body, &key).await?;
    print(cli, &out, node_text);
    Ok(())
}

/// Sends only the fields given (`changes`, and the new protocol key's public key), so
/// the others stay as they are.
async fn update(
    cli: &Cli,
    id: &str,
    protocol_key: Option<&Path>,
    changes: [(&str, &Option<String>); 5],
) -> Result<(), CliError> {
    let protocol_public_key = protocol_key.map(protocol_public_key).transpose()?;
    let key_change = ("protocol_public_key", &protocol_public_key);
    let body = update_body(changes.into_iter().chain([key_change]));
    let out: Value = signing_client(cli)?
        .send_signed(
            reqwest::Method::PATCH,
            &format!("/v1/nodes/{id}"),
            &body,
            None,
        )
        .await?;
    print(cli, &out, node_text);
    Ok(())
}

/// A PATCH body of the fields that have a value (a JSON object's keys are sorted, so
/// their order here does not matter).
#[expect(
    clippy::expect_used,
    reason = "a map of strings to JSON strings always serialises to a Vec"
)]
fn update_body<'a>(fields: impl Iterator<Item = (&'a str, &'a Option<String>)>) -> Vec<u8> {
    let body: serde_json::Map<String, Value> = fields
        .filter_map(|(field, value)| Some((field.to_owned(), Value::String(value.clone()?))))
        .collect();
    serde_json::to_vec(&body).expect("serialises")
}

async fn show(cli: &Cli, id: &str) -> Result<(), CliError> {
    let out: Value = client(cli, None).get(&format!("/v1/nodes/{id}")).await?;
    print(cli, &out, node_text);
    Ok(())
}

async fn audit(cli: &Cli, id: &str) -> Result<(), CliError> {
    let node: Value = client(cli, None).get(&format!("/v1/nodes/{id}")).await?;
    print(cli, &node["audits"], audit_text);
    Ok(())
}

async fn list(cli: &Cli, limit: u32, cursor: &Option<String>) -> Result<(), CliError> {
    let path = with_cursor(format!("/v1/nodes?limit={limit}"), cursor);
    let out: Value = client(cli, None).get(&path).await?;
    print(cli, &out, node_page_text);
    Ok(())
}

fn node_text(node: &Value) -> String {
    let pending: String = node["pending_commission"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                " (-> {} from epoch {})",
                s(p, "rate"),
                s(p, "effective_epoch")
            )
        })
        .collect();
    let jailed = match node["jailed_until_epoch"].as_i64() {
        Some(epoch) => format!("\n  jailed until epoch {epoch}"),
        None => String::new(),
    };
    format!(
        "node {} {:?} at {}
  operator {}
  protocol key {}
  commission {}{}  votes: storage {} USD, write {} USD
  stake {} WAL (pending {} WAL), shards {}, unclaimed commission {} WAL
  this epoch so far: expected reward {} WAL, of which commission {} WAL{}",
        s(node, "id"),
        s(node, "name"),
        s(node, "endpoint"),
        s(node, "operator"),
        s(node, "protocol_public_key"),
        s(node, "commission_rate"),
        pending,
        s(node, "storage_price_vote"),
        s(node, "write_price_vote"),
        s(node, "stake"),
        s(node, "pending_stake"),
        node["shards"].as_array().map_or(0, Vec::len),
        s(node, "unclaimed_commission"),
        s(node, "expected_reward"),
        s(node, "expected_commission"),
        jailed
    )
}

fn node_page_text(page: &Value) -> String {
    let mut lines: Vec<String> = page["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(node_text)
        .collect();
    lines.extend(more_line(page));
    lines.join("\n")
}

fn audit_text(audits: &Value) -> String {
    let jail = match audits["jailed_until_epoch"].as_i64() {
        Some(epoch) => format!("jailed until epoch {epoch}"),
        None => "not jailed".to_owned(),
    };
    let mut lines = vec![format!("node {}  {jail}", s(audits, "node_id"))];
    lines.push(format!(
        "{:>6} {:>10} {:>7} {:>7} {:>8} {:>8} {:>12} {:>10}",
        "epoch", "challenges", "passed", "failed", "missing", "timeout", "unreachable", "pass rate"
    ));
    for e in audits["epochs"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>6} {:>10} {:>7} {:>7} {:>8} {:>8} {:>12} {:>10}",
            s(e, "epoch"),
            s(e, "challenges"),
            s(e, "passed"),
            s(e, "failed"),
            s(e, "missing"),
            s(e, "timeout"),
            s(e, "unreachable"),
            s(e, "pass_rate")
        ));
    }
    for slash in audits["slashes"].as_array().into_iter().flatten() {
        lines.push(format!(
            "slashed at the end of epoch {}: pass rate {}, pool {} WAL, commission {} WAL (burned {}, to the subsidy pool {}), jailed until {}",
            s(slash, "epoch"), s(slash, "pass_rate"), s(slash, "pool_slashed"),
            s(slash, "commission_slashed"), s(slash, "burned"), s(slash, "to_subsidy_pool"),
            s(slash, "jailed_until_epoch")
        ));
    }
    let failures = audits["failures"].as_array().map_or(0, Vec::len);
    if failures > 0 {
        lines.push(format!(
            "{failures} signed wrong answers kept as evidence (--json shows them)"
        ));
    }
    lines.join("\n")
}
