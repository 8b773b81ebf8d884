//! The devnet faucet: pays a fixed drip from a configured account, at most once per
//! interval per recipient, whoever asks (any signer, or a faucet front end holding the
//! faucet key). Off unless `WAL_FAUCET_ADDRESS` is set. The entry's actor is the
//! requester, so the journal says who asked.

use sqlx::PgConnection;

use super::account::Address;
use super::transfer::{self, Movement, Transfer};
use crate::error::Error;
use crate::money::Wal;

/// How the devnet faucet pays, from the config.
pub struct FaucetSettings {
    /// The account the drips are paid from (`WAL_FAUCET_ADDRESS`).
    pub faucet: Address,
    /// WAL paid per drip (`WAL_FAUCET_DRIP_WAL`, default 100).
    pub drip: Wal,
    /// Seconds a recipient waits between drips (`WAL_FAUCET_INTERVAL_SECS`, default 60).
    pub interval_secs: u64,
}

/// Claims the rate-limit slot of `who`, or says when it frees up.
async fn claim_slot(
    conn: &mut PgConnection,
    who: &Address,
    interval_secs: u64,
) -> Result<(), Error> {
    let claimed = sqlx::query!(
        r#"INSERT INTO faucet_drips (who, last_drip_at) VALUES ($1, now())
           ON CONFLICT (who) DO UPDATE SET last_drip_at = now()
           WHERE faucet_drips.last_drip_at <= now() - make_interval(secs => $2)"#,
        who.to_string(),
        interval_secs as f64
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Err(Error::Conflict(format!(
            "the faucet served {who} less than {interval_secs}s ago; try again later"
        )));
    }
    Ok(())
}

/// Sends the drip to `to`, requested by `requester`.
pub async fn drip(
    conn: &mut PgConnection,
    settings: &FaucetSettings,
    requester: Address,
    to: Address,
) -> Result<Transfer, Error> {
    if to == settings.faucet {
        return Err(Error::InvalidArgument(
            "to: the faucet cannot pay itself".into(),
        ));
    }
    // One rate-limit row per request: concurrent drips never wait on each other in
    // opposite orders.
    claim_slot(conn, &to, settings.interval_secs).await?;
    let movement = Movement {
        from: settings.faucet,
        to,
        amount: settings.drip,
        memo: Some("faucet"),
        kind: super::kind::EntryKind::Faucet,
        actor: requester,
    };
    transfer::execute(conn, &movement)
        .await
        .map_err(|e| match e {
            Error::InsufficientFunds(_) => Error::Unavailable(
                "the faucet is empty; ask the network's operators to refill it".into(),
            ),
            other => other,
        })
}
