//! Genesis: the network row, epoch 0 and the one mint of the total supply to the
//! treasury. Runs once per database; a second genesis is refused.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::account::{Account, Address, SystemAccount};
use super::journal::{self, Leg, NewEntry};
use crate::error::Error;
use crate::money::Wal;

/// What genesis needs, taken from the config (`app::genesis_params`).
#[derive(Clone, Debug)]
pub struct GenesisParams {
    /// The network id every signature's `tag` must carry (1..=64 characters).
    pub network_id: String,
    /// The address that receives the whole supply at genesis.
    pub treasury: Address,
    /// WAL minted once, to the treasury (positive).
    pub total_supply: Wal,
    /// Shards of the network, 1..=1000; fixed for the network's life.
    pub n_shards: u32,
    /// The WAL/USD reference rate of epoch 0, in USD per WAL (positive).
    pub genesis_wal_usd: Decimal,
    /// Length of epoch 0, in seconds (positive).
    pub epoch_duration_secs: u64,
}

/// What genesis fixed: read once at start-up, never changes afterwards.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkInfo {
    /// The network id every signature's `tag` must carry.
    pub network_id: String,
    /// The address that received the genesis mint.
    pub treasury_address: String,
    /// WAL minted at genesis; burns never lower it (burned WAL stays in the burn account).
    pub total_supply: Wal,
    /// Shards of the network, 1..=1000.
    pub n_shards: u32,
    /// The WAL/USD reference rate of epoch 0, in USD per WAL.
    pub genesis_wal_usd: Decimal,
    /// When genesis ran.
    pub genesis_at: DateTime<Utc>,
}

/// Why genesis did not run.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The database already has a genesis; holds the id of its network.
    #[error("genesis already ran on this database (network {0:?}); refusing to mint again")]
    AlreadyDone(String),
    /// A database or journal error; the genesis transaction must be rolled back.
    #[error(transparent)]
    Ledger(#[from] Error),
}

impl From<sqlx::Error> for GenesisError {
    fn from(err: sqlx::Error) -> Self {
        GenesisError::Ledger(err.into())
    }
}

/// The ledger's part of genesis, in the caller's transaction: the network row, epoch 0
/// and the mint. Two processes racing here: the second waits on the network row's
/// primary key and then gets `AlreadyDone`. (The whole genesis, with the first prices,
/// is `app::genesis::run`.)
pub async fn mint(
    tx: &mut PgConnection,
    params: &GenesisParams,
) -> Result<NetworkInfo, GenesisError> {
    let inserted = sqlx::query!(
        r#"INSERT INTO network (network_id, treasury_address, total_supply, n_shards, genesis_wal_usd)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"#,
        params.network_id,
        params.treasury.to_string(),
        params.total_supply.as_decimal(),
        params.n_shards as i32,
        params.genesis_wal_usd
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing = load(tx).await?.map(|n| n.network_id).unwrap_or_default();
        return Err(GenesisError::AlreadyDone(existing));
    }
    sqlx::query!(
        r#"INSERT INTO epochs (epoch, started_at, ends_at)
           VALUES (0, now(), now() + make_interval(secs => $1))"#,
        params.epoch_duration_secs as f64
    )
    .execute(&mut *tx)
    .await?;
    let mint = NewEntry {
        kind: crate::ledger::kind::EntryKind::GenesisMint,
        actor: None,
        memo: Some("genesis mint of the total supply"),
        legs: vec![
            Leg::debit(
                Account::System(SystemAccount::Issuance),
                params.total_supply,
            ),
            Leg::credit(Account::User(params.treasury), params.total_supply),
        ],
    };
    journal::post(tx, &mint).await?;
    let info = load(tx)
        .await?
        .ok_or_else(|| Error::internal("network row vanished"))?;
    Ok(info)
}

/// The network fixed at genesis, or `None` before genesis.
pub async fn load(conn: &mut PgConnection) -> Result<Option<NetworkInfo>, Error> {
    let row = sqlx::query!(
        r#"SELECT network_id, treasury_address, total_supply, n_shards, genesis_wal_usd, created_at
           FROM network"#
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| NetworkInfo {
        network_id: r.network_id,
        treasury_address: r.treasury_address,
        total_supply: Wal::from_decimal_unchecked(r.total_supply),
        n_shards: r.n_shards as u32,
        genesis_wal_usd: r.genesis_wal_usd.normalize(),
        genesis_at: r.created_at,
    }))
}
