//! `walctl blob attr get|set|rm CONTRACT_ID`: a contract's attributes (`PATCH
//! /v1/storage/contracts/{id}`, owner only), which the gateway serves as headers.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cli::{AttrCommand, Cli};
use crate::output::print;
use crate::{client, fresh_key, signing_client, CliError};

pub async fn run(cli: &Cli, command: &AttrCommand) -> Result<(), CliError> {
    match command {
        AttrCommand::Get { contract_id } => {
            let contract: Value = client(cli, None)
                .get(&format!("/v1/storage/contracts/{contract_id}"))
                .await?;
            show(cli, contract_id, &contract);
            Ok(())
        }
        AttrCommand::Set { contract_id, pairs } => {
            let mut patch = BTreeMap::new();
            for pair in pairs {
                let (name, value) = pair.split_once('=').ok_or_else(|| {
                    CliError::Usage(format!(
                        "{pair:?}: expected NAME=VALUE, e.g. content-type=image/png"
                    ))
                })?;
                patch.insert(name.to_owned(), Some(value.to_owned()));
            }
            apply(cli, contract_id, patch).await
        }
        AttrCommand::Rm { contract_id, names } => {
            let patch = names.iter().map(|n| (n.clone(), None)).collect();
            apply(cli, contract_id, patch).await
        }
    }
}

async fn apply(
    cli: &Cli,
    contract_id: &str,
    patch: BTreeMap<String, Option<String>>,
) -> Result<(), CliError> {
    let body = serde_json::to_vec(&json!({ "attributes": patch }))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    // A PATCH sets the same values however often it runs: no retry bookkeeping needed.
    let contract: Value = signing_client(cli)?
        .send_signed(
            reqwest::Method::PATCH,
            &format!("/v1/storage/contracts/{contract_id}"),
            &body,
            Some(&fresh_key()),
        )
        .await?;
    show(cli, contract_id, &contract);
    Ok(())
}

fn show(cli: &Cli, contract_id: &str, contract: &Value) {
    let out = json!({"contract_id": contract_id, "attributes": contract["attributes"]});
    print(cli, &out, |o| {
        let lines: Vec<String> = o["attributes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| format!("{name}: {}", value.as_str().unwrap_or_default()))
            .collect();
        if lines.is_empty() {
            format!("contract {contract_id} has no attributes")
        } else {
            lines.join("\n")
        }
    });
}
