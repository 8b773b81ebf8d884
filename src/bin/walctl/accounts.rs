//! walctl's account and ledger commands: keygen, address, balance, send, history,
//! faucet, audit and network, with their text renderers.

use std::process::ExitCode;

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use wal::client::keyfile;
use wal::money::Wal;
use wal::wire::Address;

use crate::cli::{AccountCommand, Cli};
use crate::output::{more_line, print, s};
use crate::{address_or_own, client, signing_client, with_cursor, CliError};

/// Runs one account command; only `audit` can end with a code other than success.
pub async fn run(cli: &Cli, command: &AccountCommand) -> Result<ExitCode, CliError> {
    match command {
        AccountCommand::Keygen => keygen(cli)?,
        AccountCommand::Address => address(cli)?,
        AccountCommand::Balance { address } => balance(cli, address).await?,
        AccountCommand::Send {
            to,
            amount,
            memo,
            idempotency_key,
        } => send(cli, to, amount, memo, idempotency_key).await?,
        AccountCommand::History {
            address,
            limit,
            cursor,
        } => history(cli, address, *limit, cursor).await?,
        AccountCommand::Faucet { to } => faucet(cli, to).await?,
        AccountCommand::Audit => return audit(cli).await,
        AccountCommand::Network => network(cli).await?,
        AccountCommand::Info => crate::info::command(cli).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn keygen(cli: &Cli) -> Result<(), CliError> {
    let key = SigningKey::generate(&mut OsRng);
    keyfile::write_new(&cli.key, &key)?;
    let address = Address::from_key(&key.verifying_key());
    let out = json!({"address": address, "key_file": cli.key.display().to_string()});
    print(cli, &out, keygen_text);
    Ok(())
}

fn address(cli: &Cli) -> Result<(), CliError> {
    let key = keyfile::read(&cli.key)?;
    let out = json!({"address": Address::from_key(&key.verifying_key())});
    print(cli, &out, |v| s(v, "address"));
    Ok(())
}

async fn balance(cli: &Cli, address: &Option<String>) -> Result<(), CliError> {
    let address = address_or_own(cli, address)?;
    let out: Value = client(cli, None)
        .get(&format!("/v1/accounts/{address}"))
        .await?;
    print(cli, &out, |v| format!("{} WAL", s(v, "balance")));
    Ok(())
}

async fn send(
    cli: &Cli,
    to: &str,
    amount: &str,
    memo: &Option<String>,
    idempotency_key: &Option<String>,
) -> Result<(), CliError> {
    let amount = Wal::parse(amount).map_err(|e| CliError::Usage(format!("amount: {e}")))?;
    let to: Address = to
        .parse()
        .map_err(|e| CliError::Usage(format!("to: {e}")))?;
    let key = idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = json!({"to": to, "amount": amount, "memo": memo});
    let out: Value = signing_client(cli)?
        .post("/v1/transfers", &body, &key)
        .await?;
    print(cli, &out, sent_text);
    Ok(())
}

async fn history(
    cli: &Cli,
    address: &Option<String>,
    limit: u32,
    cursor: &Option<String>,
) -> Result<(), CliError> {
    let address = address_or_own(cli, address)?;
    let path = with_cursor(
        format!("/v1/accounts/{address}/entries?limit={limit}"),
        cursor,
    );
    let out: Value = client(cli, None).get(&path).await?;
    print(cli, &out, history_text);
    Ok(())
}

async fn faucet(cli: &Cli, to: &Option<String>) -> Result<(), CliError> {
    // The key file is read before the address is checked, so a missing key is the
    // error reported first.
    let client = signing_client(cli)?;
    let body = match to {
        Some(to) => {
            json!({"to": to.parse::<Address>().map_err(|e| CliError::Usage(format!("to: {e}")))?})
        }
        None => json!({}),
    };
    let key = uuid::Uuid::new_v4().to_string();
    let out: Value = client.post("/v1/faucet", &body, &key).await?;
    print(cli, &out, faucet_text);
    Ok(())
}

/// Exits 2 when the ledger reports its invariants broken.
async fn audit(cli: &Cli) -> Result<ExitCode, CliError> {
    let out: Value = client(cli, None).get("/v1/audit").await?;
    print(cli, &out, audit_text);
    if out["ok"] != Value::Bool(true) {
        eprintln!("walctl: the audit FAILED");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

async fn network(cli: &Cli) -> Result<(), CliError> {
    let out: Value = client(cli, None).get("/v1/network").await?;
    print(cli, &out, network_text);
    Ok(())
}

fn keygen_text(v: &Value) -> String {
    format!(
        "address  {}\nkey file {}",
        s(v, "address"),
        s(v, "key_file")
    )
}

fn sent_text(v: &Value) -> String {
    format!(
        "sent {} WAL to {} (transfer {}, epoch {})",
        s(v, "amount"),
        s(v, "to"),
        s(v, "id"),
        s(v, "epoch")
    )
}

fn history_text(page: &Value) -> String {
    let mut lines = vec![format!(
        "{:>10}  {:<14} {:>5}  {:>22}  counterparty",
        "entry", "kind", "epoch", "amount"
    )];
    for e in page["entries"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>10}  {:<14} {:>5}  {:>22}  {}{}",
            s(e, "entry_id"),
            s(e, "kind"),
            s(e, "epoch"),
            s(e, "amount"),
            s(e, "counterparty"),
            e["memo"]
                .as_str()
                .map(|m| format!("  \"{m}\""))
                .unwrap_or_default()
        ));
    }
    lines.extend(more_line(page));
    lines.join("\n")
}

fn faucet_text(v: &Value) -> String {
    format!(
        "received {} WAL at {} (transfer {})",
        s(v, "amount"),
        s(v, "to"),
        s(v, "id")
    )
}

/// One line per field of the ledger's audit report, in the ledger's order.
fn audit_text(v: &Value) -> String {
    let fields = v.as_object().map(|o| {
        o.iter()
            .map(|(k, x)| format!("{k:<22} {}", s(&json!({k: x}), k)))
            .collect::<Vec<_>>()
            .join("\n")
    });
    fields.unwrap_or_default()
}

fn network_text(v: &Value) -> String {
    format!(
        "network {} epoch {} supply {} WAL shards {} faucet {}",
        s(v, "network_id"),
        s(v, "epoch"),
        s(v, "total_supply"),
        s(v, "n_shards"),
        s(v, "faucet_enabled")
    )
}
