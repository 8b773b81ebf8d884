//! walctl's command line: the clap definitions of every command and flag.
//!
//! The commands are grouped by the module that runs them (accounts, nodes, staking,
//! blobs, bench); the groups are flattened, so the command line stays one flat list in
//! the order shown by `walctl --help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench;

#[derive(Parser)]
#[command(version, about = "Command-line client of the WAL ledger")]
pub struct Cli {
    /// The ledger's base URL.
    #[arg(
        long,
        global = true,
        env = "WAL_LEDGER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The key file (64 hex digits of the ed25519 seed); `keygen` writes it.
    #[arg(long, global = true, env = "WAL_KEY_FILE", default_value_os_t = default_key_path())]
    pub key: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for each answer before retrying (signed writes retry with the same
    /// Idempotency-Key, so they never execute twice).
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    // Flattened: keygen .. network are top-level commands.
    #[command(flatten)]
    Account(AccountCommand),
    /// Storage nodes: register, update, show, list.
    #[command(subcommand)]
    Node(NodeCommand),
    // Flattened: stake .. subsidize are top-level commands.
    #[command(flatten)]
    Staking(StakingCommand),
    // Flattened: price .. read are top-level commands.
    #[command(flatten)]
    Storage(StorageCommand),
    /// Governance: propose parameter changes, vote by stake, follow tallies.
    #[command(subcommand)]
    Gov(GovCommand),
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
pub enum AccountCommand {
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
    /// What to know before storing: the epoch and its time left, the code, the largest
    /// blob, the prices, and what 1 MiB / 1 GiB / 1 TiB cost for 1, 10 and 53 epochs.
    Info,
}

/// How long to store and what to pay: `store` and `store-quilt` take the same flags.
#[derive(Args)]
pub struct BuyFlags {
    #[arg(long)]
    pub epochs: u32,
    /// The most to pay in WAL (default: the quote).
    #[arg(long)]
    pub max_total: Option<String>,
    /// Allow deleting it early for a refund.
    #[arg(long)]
    pub deletable: bool,
    /// Buy storage even if the blob is already certified for the epochs asked.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum GovCommand {
    /// Propose parameter changes (pays `proposal_deposit`):
    /// `walctl gov propose --title T --description D --set reward_burn_rate=0.05`.
    Propose {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// `name=value`, once per parameter (1 to 16); `walctl gov params` lists them.
        #[arg(long = "set", required = true, value_name = "NAME=VALUE")]
        changes: Vec<String>,
    },
    /// Vote on a proposal with your stake (and, as an operator, your pools' undelegated
    /// stake); a later vote replaces the earlier one.
    Vote {
        proposal_id: String,
        #[arg(value_parser = ["yes", "no", "abstain", "veto"])]
        choice: String,
    },
    /// List proposals, newest first.
    List {
        /// voting, passed, rejected, vetoed, no_quorum or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// `next_cursor` of a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a proposal: its changes, the tally against quorum, threshold and veto, and
    /// the time left to vote.
    Show { proposal_id: String },
    /// The governable parameters in force (now, or in `--epoch N`), with where each
    /// value came from.
    Params {
        #[arg(long)]
        epoch: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum NodeCommand {
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

#[derive(Subcommand)]
pub enum StakingCommand {
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
}

#[derive(Subcommand)]
pub enum StorageCommand {
    /// What storing a file (or a size in bytes) costs now.
    Price {
        file_or_size: String,
        #[arg(long)]
        epochs: u32,
    },
    /// Store a file: encode, pay (unless already paid or stored), upload each node its
    /// slivers, certify. A slow or hung node is dropped after --timeout-secs.
    Store {
        file: PathBuf,
        #[command(flatten)]
        buy: BuyFlags,
    },
    /// Store many small files as one blob (a quilt), each named by its file name; a
    /// directory stores the files in it. Prints the quilt id and each file's patch id.
    StoreQuilt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        buy: BuyFlags,
    },
    /// List a quilt's files, or read one (to stdout, or into `-o FILE`).
    ReadQuilt {
        quilt_id: String,
        /// The file to read; without it, the quilt's files are listed.
        identifier: Option<String>,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Finish a paid, uncertified contract: collect the nodes' confirmations (uploading
    /// the slivers they lack from `--file`) and certify it. Pays nothing.
    Certify {
        contract_id: String,
        /// The stored file, for nodes that lack their slivers.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// A blob's storage: its active contracts, certification, end epoch.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// List storage contracts (default: yours): blob id, size, end epoch, certified.
    Blobs {
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// `next_cursor` of a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
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
    /// Read a blob back from the storage nodes: to stdout, or into `-o FILE`.
    Read {
        blob_id: String,
        /// The file to write (`-` or none: stdout; the summary then goes to stderr).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite `--output` if it exists.
        #[arg(long)]
        force: bool,
        /// Also code the parity again and check every sliver's root, so the read fails
        /// unless any k slivers rebuild these bytes (slower; by default the bytes are
        /// checked to be the data slivers the writer committed to, which two reads that
        /// succeed always agree on).
        #[arg(long)]
        strict_consistency_check: bool,
    },
    /// Compute a file's blob id without storing it (for this network's shard count).
    BlobId {
        file: PathBuf,
        /// Shards to encode for (default: the network's).
        #[arg(long)]
        n_shards: Option<u32>,
    },
}

#[derive(Subcommand)]
pub enum BlobCommand {
    /// Show a blob's contracts, certification and end epoch.
    Status { blob_id: String },
    /// Which sliver each committee node holds, fetched and verified now.
    Health { blob_id: String },
    /// A contract's attributes, served by the gateway as headers (`content-type`, ...).
    #[command(subcommand)]
    Attr(AttrCommand),
}

#[derive(Subcommand)]
pub enum AttrCommand {
    /// Show a contract's attributes.
    Get { contract_id: String },
    /// Set attributes of your contract: `walctl blob attr set 12 content-type=image/png`.
    Set {
        contract_id: String,
        #[arg(required = true, value_name = "NAME=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove attributes of your contract.
    Rm {
        contract_id: String,
        #[arg(required = true)]
        names: Vec<String>,
    },
}

fn default_key_path() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".wal").join("key")
}
