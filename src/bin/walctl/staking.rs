//! walctl's staking, reward and epoch commands.

use serde_json::{json, Value};

use crate::{address_or_own, client, fresh_key, print, s, signing_client, Cli, CliError, Command};

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

pub async fn run(cli: &Cli, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Stake { node_id, amount } => {
            let body = json!({"node_id": node_id, "amount": amount});
            let out: Value = signing_client(cli)?
                .post("/v1/stakes", &body, &fresh_key())
                .await?;
            print(cli, &out, stake_text);
        }
        Command::Unstake { stake_id } => {
            let out: Value = signing_client(cli)?
                .post(
                    &format!("/v1/stakes/{stake_id}/withdraw"),
                    &json!({}),
                    &fresh_key(),
                )
                .await?;
            print(cli, &out, stake_text);
        }
        Command::Stakes {
            owner,
            node_id,
            limit,
            cursor,
        } => {
            let mut path = format!("/v1/stakes?limit={limit}");
            if node_id.is_none() || owner.is_some() {
                path.push_str(&format!("&owner={}", address_or_own(cli, owner)?));
            }
            if let Some(node_id) = node_id {
                path.push_str(&format!("&node_id={node_id}"));
            }
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let out: Value = client(cli, None).get(&path).await?;
            print(cli, &out, |page| {
                let mut lines: Vec<String> = page["stakes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(stake_text)
                    .collect();
                if lines.is_empty() {
                    lines.push("no stakes".into());
                }
                if let Some(cursor) = page["next_cursor"].as_str() {
                    lines.push(format!("more: --cursor {cursor}"));
                }
                lines.join("\n")
            });
        }
        Command::Claim { node_id } => {
            let out: Value = signing_client(cli)?
                .post(
                    &format!("/v1/nodes/{node_id}/rewards/claim"),
                    &json!({}),
                    &fresh_key(),
                )
                .await?;
            print(cli, &out, |c| {
                format!(
                    "claimed {} WAL of node {} to {}",
                    s(c, "amount"),
                    s(c, "node_id"),
                    s(c, "to")
                )
            });
        }
        Command::Committee => {
            let out: Value = client(cli, None).get("/v1/committee").await?;
            print(cli, &out, |c| {
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
            });
        }
        Command::Epoch { epoch, advance } => {
            let out: Value = if *advance {
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
        }
        Command::Subsidize { amount, epochs } => {
            let body = json!({"amount": amount, "epochs": epochs});
            let out: Value = signing_client(cli)?
                .post("/v1/subsidies", &body, &fresh_key())
                .await?;
            print(cli, &out, |sub| {
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
            });
        }
        _ => unreachable!("main dispatches only staking commands here"),
    }
    Ok(())
}
