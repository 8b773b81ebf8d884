//! Genesis as one transaction: the ledger's mint (network, epoch 0, the supply to the
//! treasury), then the first storage prices. The orchestration lives here so that the
//! ledger layer knows no feature above it.

use sqlx::PgPool;

use crate::ledger::genesis::{mint, GenesisError, GenesisParams, NetworkInfo};

/// Runs genesis once per database; a second run is refused with `AlreadyDone`.
pub async fn run(pool: &PgPool, params: &GenesisParams) -> Result<NetworkInfo, GenesisError> {
    let mut tx = pool.begin().await?;
    let network = mint(&mut tx, params).await?;
    crate::pricing::store::set_genesis(&mut tx, params.genesis_wal_usd).await?;
    tx.commit().await?;
    Ok(network)
}
