//! Subsidies (`POST /v1/subsidies`, like Walrus's add_subsidy): anyone spreads WAL over
//! the reward slots of the current epoch and the next `epochs - 1`, evenly, the
//! remainder FROST into the first slot.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::money::split::split_evenly;
use crate::money::Wal;

/// The body of `POST /v1/subsidies`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubsidyRequest {
    /// WAL to add, positive and at most the total supply; split evenly over the slots.
    pub amount: Wal,
    /// Slots to spread over: the current epoch's and the next `epochs - 1`
    /// (1..=`epochs_ahead_max`).
    pub epochs: u32,
}

/// What one epoch's reward slot received from a subsidy.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotAmount {
    /// The epoch whose reward slot was credited.
    pub epoch: i64,
    /// WAL credited to that slot (the first slot also takes the split's remainder).
    pub amount: Wal,
}

/// A subsidy as `POST /v1/subsidies` returns it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subsidy {
    /// The journal entry's id.
    pub id: String,
    /// The signer's address, debited with `amount`.
    pub from: String,
    /// WAL taken from the signer: the sum of the slots' amounts.
    pub amount: Wal,
    /// What each slot received, from the current epoch's on.
    pub slots: Vec<SlotAmount>,
}

/// Checks the request against the rules that need no database.
pub fn validate(
    request: &SubsidyRequest,
    epochs_ahead_max: u32,
    total_supply: Wal,
) -> Result<(), Error> {
    if !request.amount.is_positive() {
        return Err(Error::InvalidArgument("amount must be positive".into()));
    }
    if request.amount > total_supply {
        return Err(Error::InvalidArgument(format!(
            "amount {} exceeds the total supply of {total_supply} WAL",
            request.amount
        )));
    }
    if !(1..=epochs_ahead_max).contains(&request.epochs) {
        return Err(Error::InvalidArgument(format!(
            "epochs must be 1..={epochs_ahead_max} (the current epoch counts), not {}",
            request.epochs
        )));
    }
    Ok(())
}

/// Moves the subsidy from `from` into the slots, starting with the locked (current)
/// epoch.
pub async fn add(
    conn: &mut PgConnection,
    lock: &crate::ledger::epochs::EpochLock,
    from: Address,
    request: &SubsidyRequest,
) -> Result<Subsidy, Error> {
    let epoch = lock.epoch();
    let slots: Vec<SlotAmount> = split_evenly(request.amount, request.epochs)
        .into_iter()
        .zip(epoch..)
        .map(|(amount, epoch)| SlotAmount { epoch, amount })
        .collect();
    let mut legs = vec![Leg::debit(Account::User(from), request.amount)];
    legs.extend(
        slots
            .iter()
            .map(|s| Leg::credit(Account::System(SystemAccount::Slot(s.epoch)), s.amount)),
    );
    let memo = format!(
        "subsidy for epochs {epoch}..={}",
        epoch + request.epochs as i64 - 1
    );
    let posted = journal::post(
        conn,
        &NewEntry {
            kind: crate::ledger::kind::EntryKind::Subsidy,
            actor: Some(from),
            memo: Some(&memo),
            legs,
        },
    )
    .await?;
    Ok(Subsidy {
        id: posted.id.to_string(),
        from: from.to_string(),
        amount: request.amount,
        slots,
    })
}
