//! Epoch-change time against the number of stakes and nodes (issue 3's benchmark; not
//! a test). For each size it builds a scratch database with synthetic nodes and stakes
//! whose WAL really sits in the journal (the audit holds), then times real epoch
//! changes through `wal::epoch::change::advance`:
//!   * activation: the change that makes every stake active at once;
//!   * 100 withdrawals: a change with rewards that also pays 100 withdrawals;
//!   * steady: the median of 5 changes with rewards and a committee, nothing else;
//!   * governance: at 150 nodes and 100k stakes of 5000 owners, the change that tallies
//!     20 proposals with a vote from every owner on each (100k votes), next to the same
//!     network's change without proposals;
//!   * contracts: the same network with 10k, 100k and 1M storage contracts whose WAL sits
//!     in the reward slots of the epochs they cover: the steady change (median of 9),
//!     and over 3 rounds of 20 proposals with 100k votes the change while they vote and
//!     the change that tallies them, at each count, with the ratio of 1M to 10k.
//!
//! Run: `cargo bench --bench epoch_change` (DATABASE_URL names the server; default
//! postgres://postgres@127.0.0.1:5432/postgres; `-- governance` or `-- contracts` for
//! those rows only). Prints Markdown tables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use wal::app::genesis;
use wal::epoch::change::{advance, ChangeSettings, Outcome};
use wal::ledger::account::{Account, Address, SystemAccount};
use wal::ledger::genesis::GenesisParams;
use wal::ledger::journal::{self, Leg, NewEntry};
use wal::money::Wal;
use wal::rewards::subsidy::{self, SubsidyRequest};

const N_SHARDS: u32 = 1000;
const SETTINGS: ChangeSettings = ChangeSettings {
    n_shards: N_SHARDS,
    epoch_duration_secs: 3600,
};
const STAKE_WAL: i64 = 10;
const WITHDRAWALS: usize = 100;

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn database_url(name: &str) -> String {
    let server = server_url();
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

fn key_address(seed: u64) -> Address {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    Address::from_key(&ed25519_dalek::SigningKey::from_bytes(&bytes).verifying_key())
}

/// Genesis, `nodes` nodes and `stakes` pending stakes of 10 WAL spread over them,
/// their WAL moved by real journal entries, and a subsidy over 53 epochs.
async fn populate(pool: &PgPool, nodes: i64, stakes: i64, owners: u64) -> anyhow::Result<()> {
    wal::app::MIGRATOR.run(pool).await?;
    let treasury = key_address(1);
    genesis::run(
        pool,
        &GenesisParams {
            network_id: "bench".into(),
            treasury,
            total_supply: Wal::from_wal(5_000_000_000),
            n_shards: N_SHARDS,
            genesis_wal_usd: Decimal::new(10, 2),
            epoch_duration_secs: 3600,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    sqlx::query(
        "INSERT INTO nodes (operator, name, endpoint, protocol_public_key, commission_rate,
                            storage_price_vote, write_price_vote, registered_epoch)
         SELECT $1, 'node-' || i, 'http://node-' || i || '.example', lpad(to_hex(i), 64, '0'),
                0.1, 0.0001, 0.00002, 0
         FROM generate_series(1, $2) AS i",
    )
    .bind(treasury.to_string())
    .bind(nodes)
    .execute(pool)
    .await?;
    // Stake i goes to node (i mod nodes) + 1; owners are `owners` distinct addresses.
    let owner_count = i64::try_from(owners)?;
    let owners: Vec<String> = (0..owners)
        .map(|i| key_address(1000 + i).to_string())
        .collect();
    sqlx::query(
        "INSERT INTO stakes (owner, node_id, principal, staked_epoch)
         SELECT ($1::text[])[1 + i % $5], 1 + i % $2, $3, 0 FROM generate_series(0, $4 - 1) AS i",
    )
    .bind(&owners)
    .bind(nodes)
    .bind(Decimal::from(STAKE_WAL))
    .bind(stakes)
    .bind(owner_count)
    .execute(pool)
    .await?;
    let mut tx = pool.begin().await?;
    let mut legs = Vec::new();
    let mut total = Wal::ZERO;
    for node in 1..=nodes {
        let count = stakes / nodes + i64::from(node - 1 < stakes % nodes);
        let amount = Wal::from_wal(count * STAKE_WAL);
        if amount.is_positive() {
            legs.push(Leg::credit(
                Account::System(SystemAccount::PendingStake(node)),
                amount,
            ));
            total = total.checked_add(amount).expect("within the supply");
        }
    }
    legs.push(Leg::debit(Account::User(treasury), total));
    let entry = NewEntry {
        kind: wal::ledger::kind::EntryKind::Stake,
        actor: Some(treasury),
        memo: Some("synthetic stakes"),
        legs,
    };
    journal::post(&mut tx, &entry).await?;
    let request = SubsidyRequest {
        amount: Wal::from_wal(53_000_000),
        epochs: 53,
    };
    let lock = wal::ledger::epochs::lock_shared(&mut tx).await?;
    subsidy::add(&mut tx, &lock, treasury, &request).await?;
    tx.commit().await?;
    Ok(())
}

async fn change(pool: &PgPool, from: i64, settings: ChangeSettings) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let outcome = advance(pool, from, settings, None).await?;
    anyhow::ensure!(outcome == Outcome::Advanced { ended: from }, "{outcome:?}");
    Ok(started.elapsed())
}

/// Asks `WITHDRAWALS` active stakes to withdraw, through the real store code.
async fn request_withdrawals(pool: &PgPool) -> anyhow::Result<()> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, owner FROM stakes WHERE withdraw_epoch IS NULL ORDER BY id LIMIT $1",
    )
    .bind(WITHDRAWALS as i64)
    .fetch_all(pool)
    .await?;
    for (id, owner) in rows {
        let mut tx = pool.begin().await?;
        let owner: Address = owner.parse()?;
        let lock = wal::ledger::epochs::lock_shared(&mut tx).await?;
        let id = wal::wire::ids::StakeId::from_row(id);
        wal::staking::stakes::withdraw(&mut tx, &lock, owner, id).await?;
        tx.commit().await?;
    }
    Ok(())
}

struct Row {
    nodes: i64,
    stakes: i64,
    activation: Duration,
    withdrawals: Duration,
    steady: Duration,
}

/// A new empty database at `url` (dropped first if a failed run left it). Scratch
/// databases are dropped by force: a plain DROP DATABASE of the 1M-contract database
/// once failed on a session still in it after the pool had closed.
async fn fresh_database(url: &str) -> anyhow::Result<PgPool> {
    if Postgres::database_exists(url).await? {
        Postgres::force_drop_database(url).await?;
    }
    Postgres::create_database(url).await?;
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await?)
}

async fn measure(nodes: i64, stakes: i64) -> anyhow::Result<Row> {
    let name = format!("wal_bench_epoch_{nodes}_{stakes}");
    let url = database_url(&name);
    let pool = fresh_database(&url).await?;
    populate(&pool, nodes, stakes, 1000).await?;
    let settings = SETTINGS;
    let activation = change(&pool, 0, settings).await?;
    request_withdrawals(&pool).await?;
    let withdrawals = change(&pool, 1, settings).await?;
    let mut steady = Vec::new();
    for from in 2..7 {
        steady.push(change(&pool, from, settings).await?);
    }
    let report = wal::ledger::audit::run(&pool).await?;
    anyhow::ensure!(report.ok, "audit failed: {report:?}");
    pool.close().await;
    Postgres::force_drop_database(&url).await?;
    Ok(Row {
        nodes,
        stakes,
        activation,
        withdrawals,
        steady: median(steady),
    })
}

const PROPOSALS: usize = 20;
const VOTERS: u64 = 5000;

/// 20 proposals through the real store (deposits in the journal), and a vote from each
/// of the `VOTERS` owners on every one still voting, written in bulk.
async fn propose_and_vote(pool: &PgPool) -> anyhow::Result<()> {
    let treasury = key_address(1);
    for i in 0..PROPOSALS {
        let mut tx = pool.begin().await?;
        let lock = wal::ledger::epochs::lock_shared(&mut tx).await?;
        let request = wal::wire::ProposalRequest {
            title: format!("proposal {i}"),
            description: String::new(),
            changes: [("jail_epochs".to_owned(), "3".to_owned())].into(),
        };
        wal::governance::proposals::create(&mut tx, &lock, treasury, &request)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.commit().await?;
    }
    let owners: Vec<String> = (0..VOTERS)
        .map(|i| key_address(1000 + i).to_string())
        .collect();
    sqlx::query(
        "INSERT INTO votes (proposal_id, voter, choice, voted_epoch)
         SELECT p.id, o.owner, (ARRAY['yes', 'no', 'abstain', 'veto'])[1 + o.n % 4], p.created_epoch
         FROM proposals p, unnest($1::text[]) WITH ORDINALITY AS o(owner, n)
         WHERE p.status = 'voting'",
    )
    .bind(&owners)
    .execute(pool)
    .await?;
    Ok(())
}

/// The tallying change against the change without proposals, on one network.
async fn measure_governance() -> anyhow::Result<(Duration, Duration)> {
    let url = database_url("wal_bench_epoch_governance");
    let pool = fresh_database(&url).await?;
    populate(&pool, 150, 100_000, VOTERS).await?;
    let settings = SETTINGS;
    change(&pool, 0, settings).await?;
    let mut without = Vec::new();
    for from in 1..4 {
        without.push(change(&pool, from, settings).await?);
    }
    propose_and_vote(&pool).await?; // in epoch 4, voting through epoch 5
    change(&pool, 4, settings).await?;
    let tallying = change(&pool, 5, settings).await?;
    let decided: i64 =
        sqlx::query_scalar("SELECT count(*) FROM proposals WHERE status <> 'voting'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(decided == PROPOSALS as i64, "{decided} proposals decided");
    let report = wal::ledger::audit::run(&pool).await?;
    anyhow::ensure!(report.ok, "audit failed: {report:?}");
    pool.close().await;
    Postgres::force_drop_database(&url).await?;
    Ok((median(without), tallying))
}

const CONTRACT_COUNTS: [i64; 3] = [10_000, 100_000, 1_000_000];
/// Contract i covers epochs 0 .. 1 + i % 53: every length a purchase may have.
const CONTRACT_EPOCHS_MAX: i64 = 53;
/// What a contract pays into each slot it covers, in FROST (0.01 WAL).
const SLOT_FROST: i64 = 10_000_000;

/// `contracts` storage contracts bought in epoch 0, written in bulk: their slots in
/// `contract_slots` and their WAL moved from the treasury into the reward slots of the
/// epochs they cover by one journal entry, so the audit holds. Two in three are
/// certified, half deletable. The metadata is a placeholder: no change reads it, and
/// real metadata holds a 64-digit root per shard (67 kB a contract at 1000 shards, 67 GB
/// at 1M). Returns the number of slot rows.
async fn populate_contracts(pool: &PgPool, contracts: i64) -> anyhow::Result<i64> {
    let owners: Vec<String> = (0..VOTERS)
        .map(|i| key_address(1000 + i).to_string())
        .collect();
    let slot = Wal::from_frost(SLOT_FROST).as_decimal();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO contracts (owner, blob_id, metadata, size, encoded_size, storage_units,
                                start_epoch, end_epoch, deletable, paid, certified_epoch,
                                certified_shards)
         SELECT ($1::text[])[1 + i % cardinality($1::text[])], lpad(to_hex(i), 64, '0'),
                '{\"synthetic\": true}'::jsonb, 1048576, 5242880, 5, 0, 1 + i % $3,
                i % 2 = 0, $4 * (1 + i % $3),
                CASE WHEN i % 3 <> 0 THEN 0 END, CASE WHEN i % 3 <> 0 THEN 667 + i % 334 END
         FROM generate_series(0, $2 - 1) AS i",
    )
    .bind(&owners)
    .bind(contracts)
    .bind(CONTRACT_EPOCHS_MAX)
    .bind(slot)
    .execute(&mut *tx)
    .await?;
    let slots = sqlx::query(
        "INSERT INTO contract_slots (contract_id, epoch, amount)
         SELECT c.id, e, $1 FROM contracts c, generate_series(c.start_epoch, c.end_epoch - 1) AS e",
    )
    .bind(slot)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    pay_slots(&mut tx).await?;
    tx.commit().await?;
    // Statistics as autovacuum would leave them, and the bulk load written out, now:
    // else autovacuum and the checkpoint of its GBs of WAL run during the timed changes,
    // which contracts bought over many epochs never bring all at once.
    sqlx::query("VACUUM (ANALYZE) contracts, contract_slots")
        .execute(pool)
        .await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(i64::try_from(slots)?)
}

/// One entry from the treasury into each slot: the sum the contracts recorded for it.
async fn pay_slots(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    let per_epoch: Vec<(i64, Decimal)> = sqlx::query_as(
        "SELECT epoch, sum(amount) FROM contract_slots GROUP BY epoch ORDER BY epoch",
    )
    .fetch_all(&mut *tx)
    .await?;
    let treasury = key_address(1);
    let mut legs = Vec::new();
    let mut total = Wal::ZERO;
    for (epoch, amount) in per_epoch {
        let amount = Wal::from_decimal_unchecked(amount);
        legs.push(Leg::credit(
            Account::System(SystemAccount::Slot(epoch)),
            amount,
        ));
        total = total.checked_add(amount).expect("within the supply");
    }
    legs.push(Leg::debit(Account::User(treasury), total));
    let entry = NewEntry {
        kind: wal::ledger::kind::EntryKind::StoragePurchase,
        actor: Some(treasury),
        memo: Some("synthetic storage contracts"),
        legs,
    };
    journal::post(tx, &entry).await?;
    Ok(())
}

struct ContractsRow {
    contracts: i64,
    slots: i64,
    steady: Duration,
    voting: Duration,
    tallying: Duration,
}

/// Steady changes in the contracts rows: more than elsewhere, their 30 to 50 ms being
/// the size of the noise on this shared machine.
const STEADY: i64 = 9;
/// Rounds of 20 proposals in the contracts rows: a tally happens once per round.
const ROUNDS: i64 = 3;

/// At 150 nodes and 100k stakes of 5000 owners with `contracts` contracts: the median
/// of `STEADY` steady changes, then, for each of `ROUNDS` rounds of 20 proposals with 100k
/// votes, the change while they vote and the change that tallies them (medians).
async fn measure_contracts(contracts: i64) -> anyhow::Result<ContractsRow> {
    let url = database_url(&format!("wal_bench_epoch_contracts_{contracts}"));
    let pool = fresh_database(&url).await?;
    populate(&pool, 150, 100_000, VOTERS).await?;
    let slots = populate_contracts(&pool, contracts).await?;
    let settings = SETTINGS;
    change(&pool, 0, settings).await?;
    let mut steady = Vec::new();
    for from in 1..=STEADY {
        steady.push(change(&pool, from, settings).await?);
    }
    let (mut voting, mut tallying) = (Vec::new(), Vec::new());
    for from in (STEADY + 1..).step_by(2).take(ROUNDS as usize) {
        propose_and_vote(&pool).await?; // in epoch `from`, voting through `from + 1`
        voting.push(change(&pool, from, settings).await?);
        tallying.push(change(&pool, from + 1, settings).await?);
    }
    check_contracts_run(&pool, STEADY + 2 * ROUNDS).await?;
    pool.close().await;
    Postgres::force_drop_database(&url).await?;
    Ok(ContractsRow {
        contracts,
        slots,
        steady: median(steady),
        voting: median(voting),
        tallying: median(tallying),
    })
}

/// Every proposal was decided, the contracts' slots reached the rewards of epochs 1 to
/// `last`, the audit holds.
async fn check_contracts_run(pool: &PgPool, last: i64) -> anyhow::Result<()> {
    let decided: i64 =
        sqlx::query_scalar("SELECT count(*) FROM proposals WHERE status <> 'voting'")
            .fetch_one(pool)
            .await?;
    let proposals = PROPOSALS as i64 * ROUNDS;
    anyhow::ensure!(
        decided == proposals,
        "{decided} of {proposals} proposals decided"
    );
    let unpaid: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM epoch_changes WHERE epoch BETWEEN 1 AND $1 AND reward_slot = 0",
    )
    .bind(last)
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(unpaid == 0, "{unpaid} changes paid no slot");
    let report = wal::ledger::audit::run(pool).await?;
    anyhow::ensure!(report.ok, "audit failed: {report:?}");
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn ratio(last: Duration, first: Duration) -> String {
    format!("{:.2}x", last.as_secs_f64() / first.as_secs_f64())
}

async fn print_stakes_table() -> anyhow::Result<()> {
    let sizes = [
        (10, 1_000),
        (10, 10_000),
        (10, 100_000),
        (150, 1_000),
        (150, 10_000),
        (150, 100_000),
    ];
    println!("epoch change time, n_shards {N_SHARDS}, in ms");
    println!("| nodes | stakes | activation | rewards + {WITHDRAWALS} withdrawals | steady (median of 5) |");
    println!("|---:|---:|---:|---:|---:|");
    for (nodes, stakes) in sizes {
        let row = measure(nodes, stakes).await?;
        println!(
            "| {} | {} | {} | {} | {} |",
            row.nodes,
            row.stakes,
            ms(row.activation),
            ms(row.withdrawals),
            ms(row.steady)
        );
    }
    Ok(())
}

async fn print_governance_table() -> anyhow::Result<()> {
    let (without, tallying) = measure_governance().await?;
    println!();
    println!("| nodes | stakes | proposals | votes | change without proposals (median of 3) | tallying change | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| 150 | 100000 | {PROPOSALS} | {} | {} | {} | {} |",
        PROPOSALS as u64 * VOTERS,
        ms(without),
        ms(tallying),
        ratio(tallying, without)
    );
    Ok(())
}

async fn print_contracts_table() -> anyhow::Result<()> {
    println!();
    println!(
        "150 nodes, 100000 stakes, n_shards {N_SHARDS}, {PROPOSALS} proposals with {} votes, in ms",
        PROPOSALS as u64 * VOTERS
    );
    println!("| contracts | contract slots | steady (median of {STEADY}) | proposals voting (median of {ROUNDS}) | tallying change (median of {ROUNDS}) |");
    println!("|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for contracts in CONTRACT_COUNTS {
        let row = measure_contracts(contracts).await?;
        println!(
            "| {} | {} | {} | {} | {} |",
            row.contracts,
            row.slots,
            ms(row.steady),
            ms(row.voting),
            ms(row.tallying)
        );
        rows.push(row);
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    println!(
        "| ratio {}/{} | | {} | {} | {} |",
        last.contracts,
        first.contracts,
        ratio(last.steady, first.steady),
        ratio(last.voting, first.voting),
        ratio(last.tallying, first.tallying)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `-- governance` or `-- contracts` runs those rows only.
    let only = std::env::args().find(|a| a == "governance" || a == "contracts");
    if only.is_none() {
        print_stakes_table().await?;
    }
    if only.as_deref() != Some("contracts") {
        print_governance_table().await?;
    }
    if only.as_deref() != Some("governance") {
        print_contracts_table().await?;
    }
    Ok(())
}
