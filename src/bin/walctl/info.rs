//! `walctl info`: what a user needs before storing: the epoch and its clock, the code
//! (n_shards, k, the largest blob), the prices per storage unit, and what 1 MiB, 1 GiB
//! and 1 TiB cost for 1, 10 and 53 epochs at those prices.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use wal::encoding::{data_shards, Encoding, BLOB_SIZE_MAX};

use crate::cli::Cli;
use crate::output::{print, s};
use crate::{client, CliError};

/// A storage unit: what prices are per (1 MiB of encoded slivers).
const UNIT_BYTES: u64 = 1 << 20;
const EXAMPLE_SIZES: [(&str, u64); 3] =
    [("1 MiB", 1 << 20), ("1 GiB", 1 << 30), ("1 TiB", 1 << 40)];
const EXAMPLE_EPOCHS: [u32; 3] = [1, 10, 53];

pub async fn command(cli: &Cli) -> Result<(), CliError> {
    let ledger = client(cli, None);
    let network = ledger.network().await?;
    let quote: Value = ledger
        .get(&format!("/v1/price?size={UNIT_BYTES}&epochs=1"))
        .await?;
    let price = decimal(&quote, "price_per_unit_epoch")?;
    let write = decimal(&quote, "write_price_per_unit")?;
    let n = network.n_shards;
    let now = Utc::now();
    let examples: Vec<Value> = EXAMPLE_SIZES
        .iter()
        .flat_map(|&(label, size)| {
            let units = encoded_size(size, n).div_ceil(UNIT_BYTES);
            EXAMPLE_EPOCHS.iter().map(move |&epochs| {
                let total = Decimal::from(units) * (price * Decimal::from(epochs) + write);
                json!({"size": label, "bytes": size, "epochs": epochs, "storage_units": units,
                       "total": total.normalize().to_string()})
            })
        })
        .collect();
    let out = json!({
        "network_id": network.network_id, "epoch": network.epoch,
        "epoch_started_at": network.epoch_started_at, "epoch_ends_at": network.epoch_ends_at,
        "epoch_secs": (network.epoch_ends_at - network.epoch_started_at).num_seconds(),
        "epoch_secs_left": (network.epoch_ends_at - now).num_seconds().max(0),
        "n_shards": n, "k": data_shards(n), "encoding": Encoding::for_shards(n).name(),
        "blob_bytes_max": BLOB_SIZE_MAX,
        "price_per_unit_epoch": price.normalize().to_string(),
        "write_price_per_unit": write.normalize().to_string(),
        "unit_bytes": UNIT_BYTES, "examples": examples,
    });
    print(cli, &out, info_text);
    Ok(())
}

fn decimal(quote: &Value, field: &str) -> Result<Decimal, CliError> {
    s(quote, field)
        .parse()
        .map_err(|e| CliError::Usage(format!("the ledger's quote has no {field}: {e}")))
}

/// All slivers' bytes for a blob of `size` (the encoding module's layout, without its
/// size limit, so that examples past it can be priced).
fn encoded_size(size: u64, n_shards: u32) -> u64 {
    let symbol = Encoding::for_shards(n_shards).symbol_bytes();
    let sliver = size
        .div_ceil(u64::from(data_shards(n_shards)))
        .next_multiple_of(symbol)
        .max(symbol);
    sliver * u64::from(n_shards)
}

fn info_text(o: &Value) -> String {
    let left = o["epoch_secs_left"].as_i64().unwrap_or(0);
    let mut lines = vec![
        format!("network {}", s(o, "network_id")),
        format!(
            "epoch {}: {} to {} ({} s long), {}h {:02}m left",
            s(o, "epoch"),
            s(o, "epoch_started_at"),
            s(o, "epoch_ends_at"),
            s(o, "epoch_secs"),
            left / 3600,
            left % 3600 / 60
        ),
        format!(
            "code: {} shards, any k = {} rebuild a blob ({}); the largest blob is {} bytes",
            s(o, "n_shards"),
            s(o, "k"),
            s(o, "encoding"),
            s(o, "blob_bytes_max")
        ),
        format!(
            "prices: {} WAL per storage unit (1 MiB of slivers) per epoch, plus {} WAL per unit once",
            s(o, "price_per_unit_epoch"),
            s(o, "write_price_per_unit")
        ),
        format!("{:>7} {:>7} {:>14} {:>22}", "size", "epochs", "storage units", "WAL"),
    ];
    for e in o["examples"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>7} {:>7} {:>14} {:>22}",
            s(e, "size"),
            s(e, "epochs"),
            s(e, "storage_units"),
            s(e, "total")
        ));
    }
    lines.join("\n")
}
