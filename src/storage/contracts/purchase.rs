//! Paying for storage: buy, extend and delete (with its refund). Each moves WAL between
//! the owner and the reward slots of the covered epochs in one journal entry.

use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::row::ContractRow;
use super::{find, Contract, ExtendRequest};
use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::epochs::EpochLock;
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::money::split::split_evenly;
use crate::money::Wal;
use crate::params::Params;
use crate::pricing::rules::cost;
use crate::pricing::store::prices;
use crate::wire::ids::ContractId;

pub(super) fn check_max_total(max_total: Wal, total_supply: Wal) -> Result<(), Error> {
    if max_total.is_negative() || max_total > total_supply {
        return Err(Error::InvalidArgument(format!(
            "max_total must be between 0 and the total supply of {total_supply} WAL"
        )));
    }
    Ok(())
}

/// Credits `amounts[i]` to the slot of epoch `first + i`, and records them.
pub(super) fn slot_legs(first: i64, amounts: &[Wal]) -> Vec<Leg> {
    amounts
        .iter()
        .enumerate()
        .map(|(i, &amount)| {
            Leg::credit(
                Account::System(SystemAccount::Slot(first + i as i64)),
                amount,
            )
        })
        .collect()
}

async fn record_slots(
    conn: &mut PgConnection,
    contract: i64,
    first: i64,
    amounts: &[Wal],
) -> Result<(), Error> {
    let epochs: Vec<i64> = (0..amounts.len() as i64).map(|i| first + i).collect();
    let values: Vec<Decimal> = amounts.iter().map(|a| a.as_decimal()).collect();
    sqlx::query!(
        r#"INSERT INTO contract_slots (contract_id, epoch, amount)
           SELECT $1, u.epoch, u.amount FROM unnest($2::bigint[], $3::numeric[]) AS u(epoch, amount)
           ON CONFLICT (contract_id, epoch) DO UPDATE SET amount = contract_slots.amount + EXCLUDED.amount"#,
        contract,
        &epochs,
        &values
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks a contract for a change by its owner: 404, 403, or the row.
async fn owned_for_update(
    conn: &mut PgConnection,
    signer: Address,
    id: ContractId,
) -> Result<ContractRow, Error> {
    let not_found = || Error::NotFound(format!("no storage contract with id {id}"));
    let contract_id = id.get();
    let row = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at, attributes, payer
           FROM contracts WHERE id = $1 FOR UPDATE"#,
        contract_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    if row.owner != signer.to_string() {
        return Err(Error::Forbidden(format!(
            "storage contract {id} belongs to {}; only its owner may change it",
            row.owner
        )));
    }
    Ok(row)
}

fn refuse_if_over(
    row: &ContractRow,
    id: ContractId,
    epoch: i64,
    action: &str,
) -> Result<(), Error> {
    if let Some(deleted) = row.deleted_epoch {
        return Err(Error::Conflict(format!(
            "storage contract {id} was deleted in epoch {deleted}; it cannot be {action}"
        )));
    }
    if row.end_epoch <= epoch {
        return Err(Error::Conflict(format!(
            "storage contract {id} expired at the end of epoch {}; it cannot be {action}",
            row.end_epoch - 1
        )));
    }
    Ok(())
}

/// Adds `epochs` after the contract's end at the current epoch's storage price.
pub async fn extend(
    conn: &mut PgConnection,
    lock: &EpochLock,
    signer: Address,
    id: ContractId,
    request: &ExtendRequest,
    total_supply: Wal,
    params: &Params,
) -> Result<Contract, Error> {
    let epoch = lock.epoch();
    check_max_total(request.max_total, total_supply)?;
    let row = owned_for_update(conn, signer, id).await?;
    refuse_if_over(&row, id, epoch, "extended")?;
    let new_end = row.end_epoch + i64::from(request.epochs);
    if request.epochs == 0 || new_end - epoch > i64::from(params.epochs_ahead_max) {
        return Err(Error::InvalidArgument(format!(
            "epochs must be at least 1 and the contract may end at most {} epochs ahead (by epoch {}); it now ends at {}",
            params.epochs_ahead_max,
            epoch + i64::from(params.epochs_ahead_max),
            row.end_epoch
        )));
    }
    let price = prices(conn, epoch)
        .await?
        .and_then(|p| p.storage_price)
        .ok_or_else(|| Error::Unavailable(format!("epoch {epoch} has no storage price")))?;
    let (total, _) = cost(row.storage_units as u64, request.epochs, price, Wal::ZERO)
        .ok_or_else(|| Error::InvalidArgument("the cost overflows".into()))?;
    if total > request.max_total {
        return Err(Error::PriceAboveLimit(format!(
            "extending by {} epochs costs {total} WAL, above max_total {} WAL",
            request.epochs, request.max_total
        )));
    }
    let slots = split_evenly(total, request.epochs);
    let memo = format!("extension of storage contract {id} to epoch {new_end}");
    let mut legs = vec![Leg::debit(Account::User(signer), total)];
    legs.extend(slot_legs(row.end_epoch, &slots));
    journal::post(
        conn,
        &NewEntry {
            kind: crate::ledger::kind::EntryKind::StorageExtension,
            actor: Some(signer),
            memo: Some(&memo),
            legs,
        },
    )
    .await?;
    record_slots(conn, row.id, row.end_epoch, &slots).await?;
    sqlx::query!(
        "UPDATE contracts SET end_epoch = $2, paid = paid + $3 WHERE id = $1",
        row.id,
        new_end,
        total.as_decimal()
    )
    .execute(&mut *conn)
    .await?;
    find(conn, id, epoch)
        .await?
        .ok_or_else(|| Error::internal("the contract vanished"))
}

/// Deletes a deletable contract; the slots of whole epochs after the current one are
/// refunded to the owner.
pub async fn delete(
    conn: &mut PgConnection,
    lock: &EpochLock,
    signer: Address,
    id: ContractId,
) -> Result<Contract, Error> {
    let epoch = lock.epoch();
    let row = owned_for_update(conn, signer, id).await?;
    if !row.deletable {
        return Err(Error::Conflict(format!(
            "storage contract {id} is permanent (bought with deletable: false); it cannot be deleted"
        )));
    }
    refuse_if_over(&row, id, epoch, "deleted")?;
    let future = sqlx::query!(
        r#"SELECT epoch, amount FROM contract_slots
           WHERE contract_id = $1 AND epoch > $2 AND amount > 0 ORDER BY epoch"#,
        row.id,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    let refund = Wal::checked_sum(future.iter().map(|s| Wal::from_decimal_unchecked(s.amount)))
        .ok_or_else(|| Error::internal("refund overflow"))?;
    if refund.is_positive() {
        let mut legs: Vec<Leg> = future
            .iter()
            .map(|s| {
                Leg::debit(
                    Account::System(SystemAccount::Slot(s.epoch)),
                    Wal::from_decimal_unchecked(s.amount),
                )
            })
            .collect();
        legs.push(Leg::credit(Account::User(signer), refund));
        let memo = format!("refund of deleted storage contract {id}");
        journal::post(
            conn,
            &NewEntry {
                kind: crate::ledger::kind::EntryKind::StorageRefund,
                actor: Some(signer),
                memo: Some(&memo),
                legs,
            },
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE contracts SET deleted_epoch = $2, refunded = $3 WHERE id = $1",
        row.id,
        epoch,
        refund.as_decimal()
    )
    .execute(&mut *conn)
    .await?;
    find(conn, id, epoch)
        .await?
        .ok_or_else(|| Error::internal("the contract vanished"))
}

/// `PATCH /v1/storage/contracts/{id}` by its owner: each attribute named is set to its
/// value, or removed when the value is null (RFC 7396 merge); the result is checked
/// whole (`check_attributes`), so a refused patch changes nothing.
pub async fn patch_attributes(
    conn: &mut PgConnection,
    signer: Address,
    id: ContractId,
    patch: &std::collections::BTreeMap<String, Option<String>>,
    epoch: i64,
) -> Result<Contract, Error> {
    let row = owned_for_update(conn, signer, id).await?;
    let mut attributes: std::collections::BTreeMap<String, String> =
        serde_json::from_value(row.attributes).map_err(Error::internal)?;
    for (name, value) in patch {
        match value {
            Some(value) => attributes.insert(name.clone(), value.clone()),
            None => attributes.remove(name),
        };
    }
    super::check_attributes(&attributes)?;
    sqlx::query!(
        "UPDATE contracts SET attributes = $2 WHERE id = $1",
        row.id,
        serde_json::to_value(&attributes).map_err(Error::internal)?
    )
    .execute(&mut *conn)
    .await?;
    find(conn, id, epoch)
        .await?
        .ok_or_else(|| Error::internal("the contract vanished"))
}
