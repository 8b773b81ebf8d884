//! walctl's governance commands: `gov propose`, `vote`, `list`, `show` and `params`,
//! with their text renderers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::cli::{Cli, GovCommand};
use crate::output::{more_line, print, s};
use crate::{client, fresh_key, signing_client, with_cursor, CliError};

pub async fn run(cli: &Cli, command: &GovCommand) -> Result<(), CliError> {
    match command {
        GovCommand::Propose {
            title,
            description,
            changes,
        } => propose(cli, title, description, changes).await,
        GovCommand::Vote {
            proposal_id,
            choice,
        } => vote(cli, proposal_id, choice).await,
        GovCommand::List {
            status,
            limit,
            cursor,
        } => list(cli, status, *limit, cursor).await,
        GovCommand::Show { proposal_id } => show(cli, proposal_id).await,
        GovCommand::Params { epoch } => params(cli, *epoch).await,
    }
}

/// `name=value` pairs as the request's `changes`; a name given twice is an error.
fn parse_changes(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut changes = BTreeMap::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            CliError::Usage(format!(
                "--set {pair:?}: expected NAME=VALUE, e.g. jail_epochs=3"
            ))
        })?;
        if changes.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(CliError::Usage(format!("--set names {name} twice")));
        }
    }
    Ok(changes)
}

async fn propose(
    cli: &Cli,
    title: &str,
    description: &str,
    changes: &[String],
) -> Result<(), CliError> {
    let body =
        json!({"title": title, "description": description, "changes": parse_changes(changes)?});
    let out: Value = signing_client(cli)?
        .post("/v1/proposals", &body, &fresh_key())
        .await?;
    print(cli, &out, |p| {
        format!(
            "proposal {} voting through epoch {}; deposit {} WAL paid\n{}",
            s(p, "id"),
            s(p, "voting_ends_epoch"),
            s(p, "deposit"),
            changes_text(p)
        )
    });
    Ok(())
}

async fn vote(cli: &Cli, proposal_id: &str, choice: &str) -> Result<(), CliError> {
    let out: Value = signing_client(cli)?
        .post(
            &format!("/v1/proposals/{proposal_id}/votes"),
            &json!({"choice": choice}),
            &fresh_key(),
        )
        .await?;
    print(cli, &out, |v| {
        format!(
            "voted {} on proposal {} with {} WAL of power (counted as it stands at the tally)",
            s(v, "choice"),
            s(v, "proposal_id"),
            s(v, "power")
        )
    });
    Ok(())
}

async fn list(
    cli: &Cli,
    status: &Option<String>,
    limit: u32,
    cursor: &Option<String>,
) -> Result<(), CliError> {
    let mut path = format!("/v1/proposals?limit={limit}");
    if let Some(status) = status {
        path.push_str(&format!("&status={status}"));
    }
    let out: Value = client(cli, None).get(&with_cursor(path, cursor)).await?;
    print(cli, &out, |page| {
        let mut lines = vec![format!(
            "{:>6}  {:<10} {:>6}  TITLE",
            "ID", "STATUS", "ENDS"
        )];
        for p in page["proposals"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{:>6}  {:<10} {:>6}  {}",
                s(p, "id"),
                s(p, "status"),
                s(p, "voting_ends_epoch"),
                s(p, "title")
            ));
        }
        lines.extend(more_line(page));
        lines.join("\n")
    });
    Ok(())
}

async fn show(cli: &Cli, proposal_id: &str) -> Result<(), CliError> {
    let public = client(cli, None);
    let proposal: Value = public.get(&format!("/v1/proposals/{proposal_id}")).await?;
    let params: Value = public.get("/v1/params").await?;
    let epoch: Value = public.get("/v1/epochs/current").await?;
    let mut out = proposal.clone();
    out["thresholds"] = json!({
        "gov_quorum": params["gov_quorum"],
        "gov_threshold": params["gov_threshold"],
        "gov_veto": params["gov_veto"],
    });
    if proposal["status"] == "voting" {
        out["voting_ends_at"] = json!(voting_ends_at(&proposal, &epoch)?);
    }
    print(cli, &out, |p| show_text(p, &epoch));
    Ok(())
}

/// When voting closes: the end of the current epoch plus whole epochs after it.
fn voting_ends_at(proposal: &Value, epoch: &Value) -> Result<DateTime<Utc>, CliError> {
    let time = |field: &str| {
        epoch[field]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .ok_or_else(|| CliError::Usage(format!("the ledger's epoch has no {field}")))
    };
    let (started, ends) = (time("started_at")?, time("ends_at")?);
    let current = epoch["epoch"].as_i64().unwrap_or(0);
    let last = proposal["voting_ends_epoch"].as_i64().unwrap_or(current);
    let epochs_after = i32::try_from((last - current).max(0)).unwrap_or(i32::MAX);
    Ok(ends + (ends - started) * epochs_after)
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(Decimal::ZERO)
}

/// `part / whole` as a percentage with two decimals (display only; the ledger compares
/// exactly).
fn percent(part: Decimal, whole: Decimal) -> String {
    if whole.is_zero() {
        return "-".into();
    }
    format!("{:.2}%", (part * Decimal::ONE_HUNDRED / whole).round_dp(2))
}

fn changes_text(p: &Value) -> String {
    p["changes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| format!("  {name} = {}", value.as_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show_text(p: &Value, epoch: &Value) -> String {
    let t = &p["tally"];
    let (yes, no, abstain, veto) = (
        decimal(&t["yes"]),
        decimal(&t["no"]),
        decimal(&t["abstain"]),
        decimal(&t["veto"]),
    );
    let total = decimal(&t["total_power"]);
    let participation = yes + no + abstain + veto;
    let th = &p["thresholds"];
    let rate = |name: &str| percent(decimal(&th[name]), Decimal::ONE);
    let mut lines = vec![
        format!("proposal {}: {}", s(p, "id"), s(p, "title")),
        format!("status      {}", s(p, "status")),
        format!(
            "proposer    {} (deposit {} WAL)",
            s(p, "proposer"),
            s(p, "deposit")
        ),
        format!(
            "voting      epochs {} ..= {}",
            s(p, "created_epoch"),
            s(p, "voting_ends_epoch")
        ),
    ];
    if let Some(ends) = p["voting_ends_at"].as_str() {
        let left = ends
            .parse::<DateTime<Utc>>()
            .map(|at| at - Utc::now())
            .map(|d| {
                let (days, hours, minutes) =
                    (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
                format!("{days}d {hours}h {minutes}m")
            })
            .unwrap_or_else(|_| "?".into());
        lines.push(format!(
            "time left   {left} (closes at {ends}; now epoch {})",
            s(epoch, "epoch")
        ));
    }
    lines.push(format!("changes\n{}", changes_text(p)));
    lines.push(format!(
        "tally       yes {yes}, no {no}, abstain {abstain}, veto {veto} of {total} WAL"
    ));
    lines.push(format!(
        "quorum      {} of the power took part (needs {})",
        percent(participation, total),
        rate("gov_quorum")
    ));
    lines.push(format!(
        "threshold   yes is {} of yes + no + veto (needs more than {})",
        percent(yes, yes + no + veto),
        rate("gov_threshold")
    ));
    lines.push(format!(
        "veto        {} of the participation (vetoes at {})",
        percent(veto, participation),
        rate("gov_veto")
    ));
    lines.join("\n")
}

async fn params(cli: &Cli, epoch: Option<i64>) -> Result<(), CliError> {
    let path = match epoch {
        Some(epoch) => format!("/v1/params?epoch={epoch}"),
        None => "/v1/params".to_owned(),
    };
    let out: Value = client(cli, None).get(&path).await?;
    print(cli, &out, |p| {
        let mut lines = vec![format!("parameters in force in epoch {}", s(p, "epoch"))];
        for (name, by) in p["set_by"].as_object().into_iter().flatten() {
            let source = match by["proposal_id"].as_str() {
                Some(id) => format!("proposal {id}, from epoch {}", s(by, "epoch")),
                None => "genesis default".to_owned(),
            };
            lines.push(format!("  {name:<28} {:<14} ({source})", s(p, name)));
        }
        lines.join("\n")
    });
    Ok(())
}
