//! `walctl`: the command-line client of the WAL ledger.

mod bench;
mod blobs;
mod staking;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use wal::client::{keyfile, ClientError, LedgerClient};
use wal::money::Wal;
use wal::wire::Address;

#[derive(Parser)]
#[command(version, about = "Command-line client of the WAL ledger")]
struct Cli {
    /// The ledger's base URL.
    #[arg(
        long,
        global = true,
        env = "WAL_LEDGER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// The key file (64 hex digits of the ed25519 seed); `keygen` writes it.
    #[arg(long, global = true, env = "WAL_KEY_FILE", default_value_os_t = default_key_path())]
    key: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for each answer before retrying (signed writes retry with the same
    /// Idempotency-Key, so they never execute twice).
    #[arg(long, global = true, default_value_t = 30)]
    timeout_secs: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new key file (mode 0600; never overwrites) and print its address.
    Keygen,
    /// Print the address of the key file.
    Address,
    /// Show an account's balance (default: yours).
    Balance { address: Option<String> },
    /// Send WAL: `walctl send 0x… 12.5`.
    Send {
        to: String,
        /// WAL, a decimal with at most 9 fractional digits.
        amount: String,
        #[arg(long)]
        memo: Option<String>,
        /// Reuse a key to make a retried command safe (default: a fresh random key).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List an account's journal lines, newest first (default: yours).
    History {
        address: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// `next_cursor` of a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Ask the devnet faucet for WAL (default: to yourself).
    Faucet {
        #[arg(long)]
        to: Option<String>,
    },
    /// Check the ledger's invariants now; exits 2 if they do not hold.
    Audit,
    /// Show the network: id, epoch, supply, shards.
    Network,
    /// Storage nodes: register, update, show, list.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Stake WAL with a node: `walctl stake <node_id> 100`.
    Stake { node_id: String, amount: String },
    /// Withdraw a stake: pending stake comes back at once, active stake at the next
    /// epoch change (with its rewards).
    Unstake { stake_id: String },
    /// List stakes (default: yours) with their current value.
    Stakes {
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        node_id: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Claim your node's unclaimed commission.
    Claim { node_id: String },
    /// Show the current committee and its shards.
    Committee,
    /// Show an epoch (default: the current one) and what its change did; with
    /// `--advance`, end the current epoch now (admin key only).
    Epoch {
        epoch: Option<i64>,
        #[arg(long, conflicts_with = "epoch")]
        advance: bool,
    },
    /// Add WAL to the reward slots of this epoch and the next `--epochs - 1`.
    Subsidize {
        amount: String,
        #[arg(long, default_value_t = 1)]
        epochs: u32,
    },
    /// What storing a file (or a size in bytes) costs now.
    Price {
        file_or_size: String,
        #[arg(long)]
        epochs: u32,
    },
    /// Store a file: quote, pay, encode, upload slivers to their nodes, certify.
    Store {
        file: PathBuf,
        #[arg(long)]
        epochs: u32,
        /// The most to pay in WAL (default: the quote).
        #[arg(long)]
        max_total: Option<String>,
        /// Allow deleting it early for a refund.
        #[arg(long)]
        deletable: bool,
    },
    /// A blob's storage: its active contracts, certification, end epoch.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// Extend a storage contract by `--epochs` at the current price.
    Extend {
        contract_id: String,
        #[arg(long)]
        epochs: u32,
        /// The most to pay in WAL (default: the price now).
        #[arg(long)]
        max_total: Option<String>,
    },
    /// Delete a deletable storage contract; whole future epochs are refunded.
    Delete { contract_id: String },
    /// Read a blob back from the storage nodes into a file.
    Read {
        blob_id: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Load test: concurrent signed transfers among fresh accounts funded from your
    /// key, or storage purchases by as many buyers as clients.
    Bench {
        /// What each client does.
        #[arg(long, value_enum, default_value = "transfer")]
        op: bench::Operation,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Accounts the transfers move between.
        #[arg(long, default_value_t = 64)]
        accounts: usize,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 20)]
        duration_secs: u64,
    },
}

#[derive(Subcommand)]
enum BlobCommand {
    /// Show a blob's contracts, certification and end epoch.
    Status { blob_id: String },
    /// Which sliver each committee node holds, fetched and verified now.
    Health { blob_id: String },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Register a node operated by your key.
    Register {
        #[arg(long)]
        name: String,
        /// The node's public base URL, e.g. http://10.0.0.5:9000.
        #[arg(long)]
        endpoint: String,
        /// The node's protocol key file (its address is the public key registered).
        #[arg(long)]
        protocol_key: PathBuf,
        /// "0.1" is 10%.
        #[arg(long)]
        commission_rate: String,
        /// USD per storage unit (1 MiB) per epoch.
        #[arg(long)]
        storage_price_vote: String,
        /// USD per storage unit, once.
        #[arg(long)]
        write_price_vote: String,
    },
    /// Change your node; a commission change applies two epochs later.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
        /// A new protocol key file.
        #[arg(long)]
        protocol_key: Option<PathBuf>,
        #[arg(long)]
        commission_rate: Option<String>,
        #[arg(long)]
        storage_price_vote: Option<String>,
        #[arg(long)]
        write_price_vote: Option<String>,
    },
    /// Show a node.
    Show { id: String },
    /// A node's audits: pass rate per epoch, slashes, jail, evidence of failures.
    Audit { id: String },
    /// List registered nodes.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
}

fn protocol_public_key(path: &std::path::Path) -> Result<String, CliError> {
    Ok(hex::encode(keyfile::read(path)?.verifying_key().to_bytes()))
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

async fn node_command(cli: &Cli, command: &NodeCommand) -> Result<(), CliError> {
    match command {
        NodeCommand::Register {
            name,
            endpoint,
            protocol_key,
            commission_rate,
            storage_price_vote,
            write_price_vote,
        } => {
            let body = json!({
                "name": name, "endpoint": endpoint, "protocol_public_key": protocol_public_key(protocol_key)?,
                "commission_rate": commission_rate, "storage_price_vote": storage_price_vote,
                "write_price_vote": write_price_vote,
            });
            let key = uuid::Uuid::new_v4().to_string();
            let out: Value = signing_client(cli)?.post("/v1/nodes", &body, &key).await?;
            print(cli, &out, node_text);
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
            let mut body = serde_json::Map::new();
            let mut put = |field: &str, value: Option<String>| {
                if let Some(value) = value {
                    body.insert(field.to_owned(), Value::String(value));
                }
            };
            put("name", name.clone());
            put("endpoint", endpoint.clone());
            put(
                "protocol_public_key",
                protocol_key
                    .as_deref()
                    .map(protocol_public_key)
                    .transpose()?,
            );
            put("commission_rate", commission_rate.clone());
            put("storage_price_vote", storage_price_vote.clone());
            put("write_price_vote", write_price_vote.clone());
            let bytes = serde_json::to_vec(&body).expect("serialises");
            let out: Value = signing_client(cli)?
                .send_signed(
                    reqwest::Method::PATCH,
                    &format!("/v1/nodes/{id}"),
                    &bytes,
                    None,
                )
                .await?;
            print(cli, &out, node_text);
        }
        NodeCommand::Show { id } => {
            let out: Value = client(cli, None).get(&format!("/v1/nodes/{id}")).await?;
            print(cli, &out, node_text);
        }
        NodeCommand::Audit { id } => {
            let node: Value = client(cli, None).get(&format!("/v1/nodes/{id}")).await?;
            print(cli, &node["audits"], audit_text);
        }
        NodeCommand::List { limit, cursor } => {
            let mut path = format!("/v1/nodes?limit={limit}");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let out: Value = client(cli, None).get(&path).await?;
            print(cli, &out, |page| {
                let mut lines: Vec<String> = page["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(node_text)
                    .collect();
                if let Some(cursor) = page["next_cursor"].as_str() {
                    lines.push(format!("more: --cursor {cursor}"));
                }
                lines.join("\n")
            });
        }
    }
    Ok(())
}

fn audit_text(audits: &Value) -> String {
    let mut lines = vec![format!(
        "node {}  jailed until epoch {}",
        s(audits, "node_id"),
        s(audits, "jailed_until_epoch")
    )];
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

fn default_key_path() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".wal").join("key")
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(code) => code,
        Err(error) => {
            if cli.json {
                let problem = match &error {
                    CliError::Client(ClientError::Problem(p)) => json!(p),
                    other => json!({"detail": other.to_string()}),
                };
                println!("{}", json!({ "error": problem }));
            }
            eprintln!("walctl: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    KeyFile(#[from] keyfile::KeyFileError),
    #[error("{0}")]
    Usage(String),
}

/// A fresh Idempotency-Key for one command (its retries reuse it).
fn fresh_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn client(cli: &Cli, key: Option<SigningKey>) -> LedgerClient {
    LedgerClient::new(&cli.url, key, Duration::from_secs(cli.timeout_secs))
}

fn signing_client(cli: &Cli) -> Result<LedgerClient, CliError> {
    let key = keyfile::read(&cli.key)?;
    Ok(client(cli, Some(key)))
}

/// The address given, or the key file's.
fn address_or_own(cli: &Cli, given: &Option<String>) -> Result<String, CliError> {
    match given {
        Some(text) if text.starts_with("sys:") => Ok(text.clone()),
        Some(text) => Ok(text
            .parse::<Address>()
            .map_err(|e| CliError::Usage(e.to_string()))?
            .to_string()),
        None => Ok(Address::from_key(&keyfile::read(&cli.key)?.verifying_key()).to_string()),
    }
}

fn print(cli: &Cli, value: &Value, text: impl FnOnce(&Value) -> String) {
    if cli.json {
        println!("{value}");
    } else {
        println!("{}", text(value));
    }
}

fn s(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(text) => text.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

async fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Keygen => {
            let key = SigningKey::generate(&mut OsRng);
            keyfile::write_new(&cli.key, &key)?;
            let address = Address::from_key(&key.verifying_key());
            let out = json!({"address": address, "key_file": cli.key.display().to_string()});
            print(cli, &out, |v| {
                format!(
                    "address  {}\nkey file {}",
                    s(v, "address"),
                    s(v, "key_file")
                )
            });
        }
        Command::Address => {
            let key = keyfile::read(&cli.key)?;
            let out = json!({"address": Address::from_key(&key.verifying_key())});
            print(cli, &out, |v| s(v, "address"));
        }
        Command::Balance { address } => {
            let address = address_or_own(cli, address)?;
            let out: Value = client(cli, None)
                .get(&format!("/v1/accounts/{address}"))
                .await?;
            print(cli, &out, |v| format!("{} WAL", s(v, "balance")));
        }
        Command::Send {
            to,
            amount,
            memo,
            idempotency_key,
        } => {
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
            print(cli, &out, |v| {
                format!(
                    "sent {} WAL to {} (transfer {}, epoch {})",
                    s(v, "amount"),
                    s(v, "to"),
                    s(v, "id"),
                    s(v, "epoch")
                )
            });
        }
        Command::History {
            address,
            limit,
            cursor,
        } => {
            let address = address_or_own(cli, address)?;
            let mut path = format!("/v1/accounts/{address}/entries?limit={limit}");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let out: Value = client(cli, None).get(&path).await?;
            print(cli, &out, history_text);
        }
        Command::Faucet { to } => {
            let client = signing_client(cli)?;
            let body = match to {
                Some(to) => {
                    json!({"to": to.parse::<Address>().map_err(|e| CliError::Usage(format!("to: {e}")))?})
                }
                None => json!({}),
            };
            let key = uuid::Uuid::new_v4().to_string();
            let out: Value = client.post("/v1/faucet", &body, &key).await?;
            print(cli, &out, |v| {
                format!(
                    "received {} WAL at {} (transfer {})",
                    s(v, "amount"),
                    s(v, "to"),
                    s(v, "id")
                )
            });
        }
        Command::Audit => {
            let out: Value = client(cli, None).get("/v1/audit").await?;
            print(cli, &out, |v| {
                let fields = v.as_object().map(|o| {
                    o.iter()
                        .map(|(k, x)| format!("{k:<22} {}", s(&json!({k: x}), k)))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
                fields.unwrap_or_default()
            });
            if out["ok"] != Value::Bool(true) {
                eprintln!("walctl: the audit FAILED");
                return Ok(ExitCode::from(2));
            }
        }
        Command::Network => {
            let out: Value = client(cli, None).get("/v1/network").await?;
            print(cli, &out, |v| {
                format!(
                    "network {} epoch {} supply {} WAL shards {} faucet {}",
                    s(v, "network_id"),
                    s(v, "epoch"),
                    s(v, "total_supply"),
                    s(v, "n_shards"),
                    s(v, "faucet_enabled")
                )
            });
        }
        Command::Node(command) => node_command(cli, command).await?,
        Command::Stake { .. }
        | Command::Unstake { .. }
        | Command::Stakes { .. }
        | Command::Claim { .. }
        | Command::Committee
        | Command::Epoch { .. }
        | Command::Subsidize { .. } => staking::run(cli, &cli.command).await?,
        Command::Price { .. }
        | Command::Store { .. }
        | Command::Read { .. }
        | Command::Blob(_)
        | Command::Extend { .. }
        | Command::Delete { .. } => blobs::run(cli, &cli.command).await?,
        Command::Bench {
            op,
            clients,
            accounts,
            duration_secs,
        } => {
            let report = bench::run(
                cli,
                *op,
                *clients,
                *accounts,
                Duration::from_secs(*duration_secs),
            )
            .await?;
            print(cli, &report, |v| {
                format!(
                    "{} clients, {} accounts, {} s: {} {op}s ok, {} failed\n{} {op}s/s  latency p50 {} ms  p95 {} ms  p99 {} ms",
                    s(v, "clients"), s(v, "accounts"), s(v, "seconds"), s(v, "ok"), s(v, "failed"),
                    s(v, "per_sec"), s(v, "p50_ms"), s(v, "p95_ms"), s(v, "p99_ms"),
                    op = s(v, "operation")
                )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
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
    if let Some(cursor) = page["next_cursor"].as_str() {
        lines.push(format!("more: --cursor {cursor}"));
    }
    lines.join("\n")
}
