//! `walctl bench`: load from many signed clients at once, reported as operations per
//! second and latency percentiles. `transfer` moves 1000 FROST between random pairs of
//! fresh accounts; `purchase` has every client buy one-epoch storage for fresh random
//! 1 KiB blobs as its own buyer, so purchases by different users run side by side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use serde_json::{json, Value};
use wal::client::LedgerClient;
use wal::money::Wal;
use wal::wire::Address;

use crate::cli::Cli;
use crate::output::{print, s};
use crate::{client, fresh_key, signing_client, CliError};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Operation {
    Transfer,
    Purchase,
}

/// Size of each blob a purchase bench buys storage for.
const PURCHASED_BLOB_BYTES: usize = 1024;

/// Runs the bench and prints its report.
pub async fn command(
    cli: &Cli,
    operation: Operation,
    clients: usize,
    accounts: usize,
    duration_secs: u64,
) -> Result<(), CliError> {
    let duration = Duration::from_secs(duration_secs);
    let report = run(cli, operation, clients, accounts, duration).await?;
    print(cli, &report, report_text);
    Ok(())
}

/// Funds fresh keys from the caller's key (`accounts` of them for transfers, one per
/// client for purchases), then runs `clients` concurrent loops for `duration`.
async fn run(
    cli: &Cli,
    operation: Operation,
    clients: usize,
    accounts: usize,
    duration: Duration,
) -> Result<Value, CliError> {
    let accounts = match operation {
        Operation::Transfer => accounts,
        Operation::Purchase => clients,
    };
    if clients == 0 || (matches!(operation, Operation::Transfer) && accounts < 2) {
        return Err(CliError::Usage(
            "bench needs at least 1 client, and 2 accounts for transfers".into(),
        ));
    }
    let signers = Arc::new(funded_signers(cli, accounts).await?);
    let purchase = match operation {
        Operation::Transfer => None,
        Operation::Purchase => Some(Arc::new(PurchaseTerms::now(cli).await?)),
    };
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client_index in 0..clients {
        let (signers, purchase) = (signers.clone(), purchase.clone());
        tasks.spawn(client_loop(signers, purchase, client_index, deadline));
    }
    let mut latencies_us = Vec::new();
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        let (mut l, f) =
            joined.map_err(|e| CliError::Usage(format!("a bench client crashed: {e}")))?;
        latencies_us.append(&mut l);
        failed += f;
    }
    Ok(report(
        operation,
        clients,
        accounts,
        started.elapsed(),
        latencies_us,
        failed,
    ))
}

/// `accounts` fresh keys, each given 1000 WAL from the caller's key, as clients that
/// already know the network id (so that fetching it is not timed).
async fn funded_signers(cli: &Cli, accounts: usize) -> Result<Vec<LedgerClient>, CliError> {
    let funder = signing_client(cli)?;
    let keys: Vec<SigningKey> = (0..accounts)
        .map(|_| SigningKey::generate(&mut OsRng))
        .collect();
    for key in &keys {
        let to = Address::from_key(&key.verifying_key());
        let body = json!({"to": to, "amount": Wal::from_wal(1_000), "memo": "bench funding"});
        let _: Value = funder.post("/v1/transfers", &body, &fresh_key()).await?;
    }
    let signers: Vec<LedgerClient> = keys.iter().map(|k| client(cli, Some(k.clone()))).collect();
    for signer in &signers {
        signer.network_id().await?;
    }
    Ok(signers)
}

/// One bench client: sends until `deadline`; the latencies of the successes in
/// microseconds, and the count of failures.
async fn client_loop(
    signers: Arc<Vec<LedgerClient>>,
    purchase: Option<Arc<PurchaseTerms>>,
    client_index: usize,
    deadline: Instant,
) -> (Vec<u64>, u64) {
    let mut latencies_us = Vec::new();
    let mut failed = 0u64;
    while Instant::now() < deadline {
        let (signer, path, body) = match &purchase {
            None => transfer(&signers),
            Some(terms) => (client_index, "/v1/storage/contracts", terms.body()),
        };
        let sent = Instant::now();
        let result: Result<Value, _> = signers[signer]
            .send_signed(reqwest::Method::POST, path, &body, Some(&fresh_key()))
            .await;
        match result {
            Ok(_) => {
                latencies_us.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX))
            }
            Err(_) => failed += 1,
        }
    }
    (latencies_us, failed)
}

/// A transfer of 1000 FROST between a random pair: (signer, path, body).
fn transfer(signers: &[LedgerClient]) -> (usize, &'static str, Vec<u8>) {
    let (from, to) = {
        let mut rng = rand::thread_rng();
        let from = rng.gen_range(0..signers.len());
        (
            from,
            (from + rng.gen_range(1..signers.len())) % signers.len(),
        )
    };
    #[expect(
        clippy::expect_used,
        reason = "funded_signers builds every bench client with Some(key)"
    )]
    let to = signers[to].address().expect("bench clients have keys");
    let body = json!({"to": to, "amount": Wal::from_frost(1_000)});
    (from, "/v1/transfers", body.to_string().into_bytes())
}

/// What a one-epoch purchase of a 1 KiB blob costs this epoch, and the shard count its
/// metadata must be encoded for.
struct PurchaseTerms {
    n_shards: u32,
    total: String,
}

impl PurchaseTerms {
    async fn now(cli: &Cli) -> Result<PurchaseTerms, CliError> {
        let ledger = client(cli, None);
        let network: Value = ledger.get("/v1/network").await?;
        let quote: Value = ledger
            .get(&format!("/v1/price?size={PURCHASED_BLOB_BYTES}&epochs=1"))
            .await?;
        let n_shards = u32::try_from(network["n_shards"].as_u64().unwrap_or(0)).map_err(|_| {
            CliError::Usage(format!(
                "the ledger's n_shards {} does not fit in a u32",
                network["n_shards"]
            ))
        })?;
        // Every purchase encodes a blob of this size with these shards; fail here, once,
        // if that cannot work, rather than in each bench client.
        wal::encoding::encode(&[0u8; PURCHASED_BLOB_BYTES], n_shards).map_err(|e| {
            CliError::Usage(format!(
                "a {PURCHASED_BLOB_BYTES}-byte blob does not encode at the ledger's {n_shards} shards: {e}"
            ))
        })?;
        Ok(PurchaseTerms {
            n_shards,
            total: quote["total"].as_str().unwrap_or("0").to_owned(),
        })
    }

    /// A purchase of storage for a fresh random blob (encoded before the clock starts).
    fn body(&self) -> Vec<u8> {
        let mut blob = vec![0u8; PURCHASED_BLOB_BYTES];
        rand::thread_rng().fill_bytes(&mut blob);
        #[expect(
            clippy::expect_used,
            reason = "PurchaseTerms::now encoded a blob of this size at these shards already; the layout depends only on both"
        )]
        let (metadata, _) =
            wal::encoding::encode(&blob, self.n_shards).expect("a 1 KiB blob encodes");
        json!({"metadata": metadata, "epochs": 1, "max_total": self.total})
            .to_string()
            .into_bytes()
    }
}

fn report(
    operation: Operation,
    clients: usize,
    accounts: usize,
    elapsed: Duration,
    mut latencies_us: Vec<u64>,
    failed: u64,
) -> Value {
    let seconds = elapsed.as_secs_f64();
    latencies_us.sort_unstable();
    let percentile_ms = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "p is at most 1, so the product is at most len, which is a usize"
        )]
        let index =
            ((latencies_us.len() as f64 * p).ceil() as usize).clamp(1, latencies_us.len()) - 1;
        (latencies_us[index] as f64 / 1000.0 * 100.0).round() / 100.0
    };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a float-to-int `as` saturates (and NaN is 0); a rate of operations is far below u64::MAX"
    )]
    let per_sec = (latencies_us.len() as f64 / seconds).round() as u64;
    let operation = match operation {
        Operation::Transfer => "transfer",
        Operation::Purchase => "purchase",
    };
    json!({
        "operation": operation,
        "clients": clients,
        "accounts": accounts,
        "seconds": (seconds * 10.0).round() / 10.0,
        "ok": latencies_us.len(),
        "failed": failed,
        "per_sec": per_sec,
        "p50_ms": percentile_ms(0.50),
        "p95_ms": percentile_ms(0.95),
        "p99_ms": percentile_ms(0.99),
    })
}

fn report_text(v: &Value) -> String {
    format!(
        "{} clients, {} accounts, {} s: {} {op}s ok, {} failed\n{} {op}s/s  latency p50 {} ms  p95 {} ms  p99 {} ms",
        s(v, "clients"), s(v, "accounts"), s(v, "seconds"), s(v, "ok"), s(v, "failed"),
        s(v, "per_sec"), s(v, "p50_ms"), s(v, "p95_ms"), s(v, "p99_ms"),
        op = s(v, "operation")
    )
}
