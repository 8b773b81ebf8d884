//! walctl's staking, reward and epoch commands: stake, unstake, stakes, claim,
//! committee, epoch and subsidize, with their text renderers.

use serde_json::{json, Value};

use crate::cli::{Cli, StakingCommand};
use crate::output::{more_line, print, s};
use crate::{address_or_own, client, fresh_key, signing_client, with_cursor, CliError};

pub async fn run(cli: &Cli, command: &StakingCommand) -> Result<(), CliError> {
    match command {
        StakingCommand::Stake { node_id, amount } => stake(cli, node_id, amount).await,
        StakingCommand::Unstake { stake_id } => unstake(cli, stake_id).await,
        StakingCommand::Stakes {
            owner,
            node_id,
            limit,
            cursor,
        } => stakes(cli, owner, node_id, *limit, cursor).await,
        StakingCommand::Claim { node_id } => claim(cli, node_id).await,
        StakingCommand::Committee => committee(cli).await,
        StakingCommand::Epoch { epoch, advance } => epoch_command(cli, *epoch, *advance).await,
        StakingCommand::Subsidize { amount, epochs } => subsidize(cli, amount, *epochs).await,
    }
}

async fn stake(cli: &Cli, node_id: &str, amount: &str) -> Result<(), CliError> {
    let body = json!({"node_id": node_id, "amount": amount});
    let out: Value = signing_client(cli)?
        .post("/v1/stakes", &body, &fresh_key())
        .await?;
    print(cli, &out, stake_text);
    Ok(())
}

async fn unstake(cli: &Cli, stake_id: &str) -> Result<(), CliError> {
    let out: Value = signing_client(cli)?
        .post(
            &format!("/v1/stakes/{stake_id}/withdraw"),
            &json!({}),
            &fresh_key(),
        )
        .await?;
    print(cli, &out, stake_text);
    Ok(())
}

/// Lists by owner (default: yours) unless only a node is named.
async fn stakes(
    cli: &Cli,
    owner: &Option<String>,
    node_id: &Option<String>,
    limit: u32,
    cursor: &Option<String>,
) -> Result<(), CliError> {
    let mut path = format!("/v1/stakes?limit={limit}");
    if node_id.is_none() || owner.is_some() {
        path.push_str(&format!("&owner={}", address_or_own(cli, owner)?));
    }
    if let Some(node_id) = node_id {
        path.push_str(&format!("&node_id={node_id}"));
    }
    let path = with_cursor(path, cursor);
    let out: Value = client(cli, None).get(&path).await?;
    print(cli, &out, stake_page_text);
    Ok(())
}

async fn claim(cli: &Cli, node_id: &str) -> Result<(), CliError> {
    let out: Value = signing_client(cli)?
        .post(
            &format!("/v1/nodes/{node_id}/rewards/claim"),
            &json!({}),
            &fresh_key(),
        )
        .await?;
    print(cli, &out, claim_text);
    Ok(())
}

async fn committee(cli: &Cli) -> Result<(), CliError> {
    let out: Value = client(cli, None).get("/v1/committee").await?;
    print(cli, &out, committee_text);
    Ok(())
}

/// Shows an epoch, or with `advance` ends the current one.
async fn epoch_command(cli: &Cli, epoch: Option<i64>, advance: bool) -> Result<(), CliError> {
    let out: Value = if advance {
        // Name the epoch to end, so that a retry after a lost answer can never
        // end the next one too.
        let current: Value = client(cli, None).get("/v1/epochs/current").await?;
        let body = json!({"epoch": current["epoch"]});
        signing_client(cli)?
            .post("/v1/admin/epochs/advance", &body, &fresh_key())
            .await?
    } else {
        let path = match epoch {
            Some(n) => format!("/v1/epochs/{n}"),
            None => "/v1/epochs/current".into(),
        };
        client(cli, None).get(&path).await?
    };
    print(cli, &out, epoch_text);
    Ok(())
}

async fn subsidize(cli: &Cli, amount: &str, epochs: u32) -> Result<(), CliError> {
    let body = json!({"amount": amount, "epochs": epochs});
    let out: Value = signing_client(cli)?
        .post("/v1/subsidies", &body, &fresh_key())
        .await?;
    print(cli, &out, subsidy_text);
    Ok(())
}

fn stake_text(stake: &Value) -> String {
    let mut line = format!(
        "stake {} with node {}: {} WAL principal, {}, worth {} WAL now",
        s(stake, "id"),
        s(stake, "node_id"),
        s(stake, "principal"),
        s(stake, "status"),
        s(stake, "value")
    );
    match stake["status"].as_str() {
        Some("pending") => line.push_str(&format!(
            " (active from epoch {})",
            s(stake, "active_from_epoch")
        )),
        Some("withdrawing") => line.push_str(&format!(
            " (paid at the end of epoch {})",
            s(stake, "withdraw_epoch")
        )),
        Some("withdrawn") => line.push_str(&format!(
            " (paid {} WAL in epoch {})",
            s(stake, "withdrawn_amount"),
            s(stake, "withdrawn_epoch")
        )),
        _ => {}
    }
    line
}

fn member_text(member: &Value) -> String {
    let shards = member["shards"].as_array().map_or(0, Vec::len);
    let mut line = format!(
        "  node {}: stake {} WAL, {} shards",
        s(member, "node_id"),
        s(member, "stake"),
        shards
    );
    if !member["reward"].is_null() {
        line.push_str(&format!(
            ", reward {} WAL (commission {} WAL at {})",
            s(member, "reward"),
            s(member, "commission"),
            s(member, "commission_rate")
        ));
    }
    line
}

fn epoch_text(epoch: &Value) -> String {
    let mut lines = vec![format!(
        "epoch {}: {} .. {}{}; reward slot {} WAL",
        s(epoch, "epoch"),
        s(epoch, "started_at"),
        s(epoch, "ends_at"),
        if epoch["ended"] == json!(true) {
            " (ended)"
        } else {
            ""
        },
        s(epoch, "reward_slot_balance")
    )];
    let change = &epoch["change"];
    if !change.is_null() {
        lines.push(format!(
            "  change: reward pool {} WAL (subsidy {}), burned {}, paid {}, carried {}, \
             slashed {}; stake activated {}, {} withdrawals paid {} WAL",
            s(change, "reward_pool"),
            s(change, "subsidy"),
            s(change, "burned"),
            s(change, "distributed"),
            s(change, "carried_to_next"),
            s(change, "slashed"),
            s(change, "stake_activated"),
            s(change, "withdrawals"),
            s(change, "withdrawals_paid")
        ));
    }
    lines.push("  committee:".into());
    lines.extend(
        epoch["committee"]
            .as_array()
            .into_iter()
            .flatten()
            .map(member_text),
    );
    lines.join("\n")
}

fn stake_page_text(page: &Value) -> String {
    let mut lines: Vec<String> = page["stakes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(stake_text)
        .collect();
    if lines.is_empty() {
        lines.push("no stakes".into());
    }
    lines.extend(more_line(page));
    lines.join("\n")
}

fn claim_text(c: &Value) -> String {
    format!(
        "claimed {} WAL of node {} to {}",
        s(c, "amount"),
        s(c, "node_id"),
        s(c, "to")
    )
}

fn committee_text(c: &Value) -> String {
    let mut lines = vec![format!(
        "committee of epoch {} ({} shards):",
        s(c, "epoch"),
        s(c, "n_shards")
    )];
    lines.extend(
        c["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(member_text),
    );
    lines.join("\n")
}

fn subsidy_text(sub: &Value) -> String {
    let slots: Vec<String> = sub["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|slot| format!("epoch {}: {} WAL", s(slot, "epoch"), s(slot, "amount")))
        .collect();
    format!(
        "subsidy {} of {} WAL: {}",
        s(sub, "id"),
        s(sub, "amount"),
        slots.join(", ")
    )
}
