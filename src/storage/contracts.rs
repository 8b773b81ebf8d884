//! Storage contracts (ECONOMICS.md, "Storage contracts"): buy, extend, certify, delete,
//! and their views. Every request here holds the shared epoch lock: it reads the
//! epoch's prices and credits or debits epoch slots, which an epoch change pays out.
//! Purchases by different users touch only their own balance row, their own contract
//! rows and random stripes of the slots, so they never queue on one row.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::encoding::{faulty_shards, BlobMetadata};
use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::journal::{self, Leg, NewEntry};
use crate::money::split::split_evenly;
use crate::money::Wal;
use crate::params::Params;
use crate::pricing::rules::cost;
use crate::pricing::store::{prices, quote};
use crate::wire::confirmation;
use crate::wire::StoredBlob;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    pub metadata: BlobMetadata,
    /// Epochs to cover, the current one included (1..=epochs_ahead_max).
    pub epochs: u32,
    /// The most the buyer pays; above it the purchase is refused (409).
    pub max_total: Wal,
    /// Whether the owner may delete it early for a refund (default false).
    pub deletable: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Epochs to add after the current end.
    pub epochs: u32,
    pub max_total: Wal,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRequest {
    pub node_id: String,
    /// 128 hex digits: the node's ed25519 signature (storage::confirmation).
    pub signature: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    pub confirmations: Vec<ConfirmationRequest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Active,
    Expired,
    Deleted,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contract {
    pub id: String,
    pub owner: String,
    pub blob_id: String,
    pub size: i64,
    pub encoded_size: i64,
    pub storage_units: i64,
    pub start_epoch: i64,
    /// The first epoch no longer covered.
    pub end_epoch: i64,
    pub deletable: bool,
    pub paid: Wal,
    pub status: ContractStatus,
    pub certified: bool,
    pub certified_epoch: Option<i64>,
    pub certified_shards: Option<i32>,
    pub deleted_epoch: Option<i64>,
    pub refunded: Option<Wal>,
    pub metadata: BlobMetadata,
    pub created_at: DateTime<Utc>,
}

struct ContractRow {
    id: i64,
    owner: String,
    blob_id: String,
    metadata: serde_json::Value,
    size: i64,
    encoded_size: i64,
    storage_units: i64,
    start_epoch: i64,
    end_epoch: i64,
    deletable: bool,
    paid: Decimal,
    certified_epoch: Option<i64>,
    certified_shards: Option<i32>,
    deleted_epoch: Option<i64>,
    refunded: Option<Decimal>,
    created_at: DateTime<Utc>,
}

impl ContractRow {
    fn view(self, epoch: i64) -> Result<Contract, Error> {
        let status = if self.deleted_epoch.is_some() {
            ContractStatus::Deleted
        } else if self.end_epoch <= epoch {
            ContractStatus::Expired
        } else {
            ContractStatus::Active
        };
        Ok(Contract {
            id: self.id.to_string(),
            owner: self.owner,
            blob_id: self.blob_id,
            size: self.size,
            encoded_size: self.encoded_size,
            storage_units: self.storage_units,
            start_epoch: self.start_epoch,
            end_epoch: self.end_epoch,
            deletable: self.deletable,
            paid: Wal::from_decimal_unchecked(self.paid),
            status,
            certified: self.certified_epoch.is_some(),
            certified_epoch: self.certified_epoch,
            certified_shards: self.certified_shards,
            deleted_epoch: self.deleted_epoch,
            refunded: self.refunded.map(Wal::from_decimal_unchecked),
            metadata: serde_json::from_value(self.metadata).map_err(Error::internal)?,
            created_at: self.created_at,
        })
    }
}

fn parse_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0)
}

fn check_max_total(max_total: Wal, total_supply: Wal) -> Result<(), Error> {
    if max_total.is_negative() || max_total > total_supply {
        return Err(Error::InvalidArgument(format!(
            "max_total must be between 0 and the total supply of {total_supply} WAL"
        )));
    }
    Ok(())
}

/// Credits `amounts[i]` to the slot of epoch `first + i`, and records them.
fn slot_legs(first: i64, amounts: &[Wal]) -> Vec<Leg> {
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

/// Buys storage for a blob in the current epoch (`epoch`, under the epoch lock).
pub async fn buy(
    conn: &mut PgConnection,
    owner: Address,
    request: &BuyRequest,
    n_shards: u32,
    total_supply: Wal,
    epoch: i64,
    params: &Params,
) -> Result<Contract, Error> {
    let layout = request
        .metadata
        .validate()
        .map_err(|e| Error::InvalidArgument(format!("metadata: {e}")))?;
    if layout.n_shards != n_shards {
        return Err(Error::InvalidArgument(format!(
            "metadata: n_shards is {}, but this network has {n_shards} shards",
            layout.n_shards
        )));
    }
    check_max_total(request.max_total, total_supply)?;
    let quote = quote(conn, layout.size, request.epochs, n_shards, epoch, params).await?;
    if quote.total > request.max_total {
        return Err(Error::PriceAboveLimit(format!(
            "storing {} bytes for {} epochs costs {} WAL, above max_total {} WAL",
            layout.size, request.epochs, quote.total, request.max_total
        )));
    }
    // The storage part evenly over the covered slots (remainder into the first), the
    // write part into this epoch's slot.
    let mut slots = split_evenly(quote.storage_cost, request.epochs);
    slots[0] = slots[0]
        .checked_add(quote.write_cost)
        .ok_or_else(|| Error::internal("slot overflow"))?;
    let blob_id = request.metadata.blob_id();
    let memo = format!(
        "storage of blob {blob_id} for epochs {epoch}..{}",
        epoch + i64::from(request.epochs)
    );
    let mut legs = vec![Leg::debit(Account::User(owner), quote.total)];
    legs.extend(slot_legs(epoch, &slots));
    journal::post(
        conn,
        &NewEntry {
            kind: crate::ledger::kind::EntryKind::StoragePurchase,
            actor: Some(owner),
            memo: Some(&memo),
            legs,
        },
    )
    .await?;
    let metadata = serde_json::to_value(&request.metadata).map_err(Error::internal)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO contracts (owner, blob_id, metadata, size, encoded_size, storage_units,
                                  start_epoch, end_epoch, deletable, paid)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
        owner.to_string(),
        blob_id,
        metadata,
        layout.size as i64,
        layout.encoded_size() as i64,
        quote.storage_units as i64,
        epoch,
        epoch + i64::from(request.epochs),
        request.deletable.unwrap_or(false),
        quote.total.as_decimal()
    )
    .fetch_one(&mut *conn)
    .await?;
    record_slots(conn, id, epoch, &slots).await?;
    find(conn, &id.to_string(), epoch)
        .await?
        .ok_or_else(|| Error::internal("the new contract vanished"))
}

/// Locks a contract for a change by its owner: 404, 403, or the row.
async fn owned_for_update(
    conn: &mut PgConnection,
    signer: Address,
    id: &str,
) -> Result<ContractRow, Error> {
    let not_found = || Error::NotFound(format!("no storage contract with id {id:?}"));
    let contract_id = parse_id(id).ok_or_else(not_found)?;
    let row = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at
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

fn refuse_if_over(row: &ContractRow, id: &str, epoch: i64, action: &str) -> Result<(), Error> {
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
    signer: Address,
    id: &str,
    request: &ExtendRequest,
    total_supply: Wal,
    epoch: i64,
    params: &Params,
) -> Result<Contract, Error> {
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
    signer: Address,
    id: &str,
    epoch: i64,
) -> Result<Contract, Error> {
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

/// Records the nodes' confirmations; the contract is certified once they cover at
/// least 2f+1 shards of the current committee. Anyone may submit them: each is checked
/// against the node's protocol key.
pub async fn certify(
    conn: &mut PgConnection,
    id: &str,
    request: &CertifyRequest,
    n_shards: u32,
    epoch: i64,
) -> Result<Contract, Error> {
    let not_found = || Error::NotFound(format!("no storage contract with id {id:?}"));
    let contract_id = parse_id(id).ok_or_else(not_found)?;
    let row = sqlx::query!(
        "SELECT blob_id, end_epoch, deleted_epoch, certified_epoch FROM contracts WHERE id = $1 FOR UPDATE",
        contract_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    if row.deleted_epoch.is_some() || row.end_epoch <= epoch {
        return Err(Error::Conflict(format!(
            "storage contract {id} is deleted or expired; it cannot be certified"
        )));
    }
    if row.certified_epoch.is_some() {
        return find(conn, id, epoch).await?.ok_or_else(not_found);
    }
    if request.confirmations.is_empty() || request.confirmations.len() > n_shards as usize {
        return Err(Error::InvalidArgument(format!(
            "confirmations: give 1..={n_shards} node confirmations"
        )));
    }
    let blob =
        confirmation::blob_id_bytes(&row.blob_id).ok_or_else(|| Error::internal("bad blob id"))?;
    let mut covered: u32 = 0;
    let mut seen = std::collections::HashSet::new();
    let (mut ids, mut shard_lists, mut signatures) = (Vec::new(), Vec::new(), Vec::new());
    for c in &request.confirmations {
        let node_id = parse_id(&c.node_id).ok_or_else(|| {
            Error::InvalidArgument(format!("node_id {:?} is not a node id", c.node_id))
        })?;
        if !seen.insert(node_id) {
            return Err(Error::InvalidArgument(format!(
                "node {node_id} confirms twice"
            )));
        }
        let member = sqlx::query!(
            r#"SELECT c.shards, n.protocol_public_key FROM committee_members c
               JOIN nodes n ON n.id = c.node_id WHERE c.epoch = $1 AND c.node_id = $2"#,
            epoch,
            node_id
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "node {node_id} is not in the committee of epoch {epoch}"
            ))
        })?;
        let shards: Vec<u32> = member.shards.iter().map(|&s| s as u32).collect();
        let mut key = [0u8; 32];
        hex::decode_to_slice(&member.protocol_public_key, &mut key).map_err(Error::internal)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(Error::internal)?;
        if !confirmation::verify(&key, &c.signature, &blob, epoch, node_id, &shards) {
            return Err(Error::InvalidArgument(format!(
                "the confirmation of node {node_id} does not verify: it must sign blob {}, epoch {epoch} and its shards with its protocol key",
                row.blob_id
            )));
        }
        covered += shards.len() as u32;
        ids.push(node_id);
        shard_lists.push(format!(
            "{{{}}}",
            member
                .shards
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        signatures.push(c.signature.clone());
    }
    let needed = 2 * faulty_shards(n_shards) + 1;
    if covered < needed {
        return Err(Error::InvalidArgument(format!(
            "the confirmations cover {covered} shards; certification needs 2f+1 = {needed}"
        )));
    }
    sqlx::query!(
        r#"INSERT INTO contract_confirmations (contract_id, node_id, epoch, shards, signature)
           SELECT $1, u.node_id, $2, u.shards::integer[], u.signature
           FROM unnest($3::bigint[], $4::text[], $5::text[]) AS u(node_id, shards, signature)"#,
        contract_id,
        epoch,
        &ids,
        &shard_lists,
        &signatures
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE contracts SET certified_epoch = $2, certified_shards = $3 WHERE id = $1",
        contract_id,
        epoch,
        covered as i32
    )
    .execute(&mut *conn)
    .await?;
    find(conn, id, epoch).await?.ok_or_else(not_found)
}

pub async fn find(
    conn: &mut PgConnection,
    id: &str,
    epoch: i64,
) -> Result<Option<Contract>, Error> {
    let Some(id) = parse_id(id) else {
        return Ok(None);
    };
    let row = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at
           FROM contracts WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.view(epoch)).transpose()
}

/// Contracts by id, of one owner and/or one blob, after the id `after`.
pub async fn page(
    conn: &mut PgConnection,
    owner: Option<Address>,
    blob_id: Option<&str>,
    after: i64,
    limit: i64,
    epoch: i64,
) -> Result<Vec<Contract>, Error> {
    let rows = sqlx::query_as!(
        ContractRow,
        r#"SELECT id, owner, blob_id, metadata, size, encoded_size, storage_units, start_epoch,
                  end_epoch, deletable, paid, certified_epoch, certified_shards, deleted_epoch,
                  refunded, created_at
           FROM contracts
           WHERE ($1::text IS NULL OR owner = $1) AND ($2::text IS NULL OR blob_id = $2) AND id > $3
           ORDER BY id LIMIT $4"#,
        owner.map(|o| o.to_string()),
        blob_id,
        after,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|r| r.view(epoch)).collect()
}

/// Where each shard of the current committee is served: shard -> node endpoint.
pub async fn shard_endpoints(
    conn: &mut PgConnection,
    epoch: i64,
) -> Result<std::collections::HashMap<u32, String>, Error> {
    let rows = sqlx::query!(
        r#"SELECT c.shards, n.endpoint FROM committee_members c JOIN nodes n ON n.id = c.node_id
           WHERE c.epoch = $1"#,
        epoch
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .flat_map(|r| {
            let endpoint = r.endpoint;
            r.shards
                .into_iter()
                .map(move |shard| (shard as u32, endpoint.clone()))
        })
        .collect())
}

/// A blob's storage as of `epoch`: its metadata and its active contracts, however many
/// contracts it ever had.
pub struct BlobSummary {
    pub metadata: BlobMetadata,
    pub certified: bool,
    pub end_epoch: Option<i64>,
    /// The first 100 active contracts.
    pub active: Vec<i64>,
}

pub async fn blob_summary(
    conn: &mut PgConnection,
    blob_id: &str,
    epoch: i64,
) -> Result<Option<BlobSummary>, Error> {
    let row = sqlx::query!(
        r#"SELECT
             (SELECT metadata FROM contracts WHERE blob_id = $1 ORDER BY id LIMIT 1) AS metadata,
             (SELECT max(end_epoch) FROM contracts
              WHERE blob_id = $1 AND deleted_epoch IS NULL AND end_epoch > $2) AS end_epoch,
             (SELECT coalesce(bool_or(certified_epoch IS NOT NULL), false) FROM contracts
              WHERE blob_id = $1 AND deleted_epoch IS NULL AND end_epoch > $2) AS "certified!",
             (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM
                (SELECT id FROM contracts WHERE blob_id = $1 AND deleted_epoch IS NULL
                   AND end_epoch > $2 ORDER BY id LIMIT 100) a) AS "active!""#,
        blob_id,
        epoch
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(metadata) = row.metadata else {
        return Ok(None);
    };
    Ok(Some(BlobSummary {
        metadata: serde_json::from_value(metadata).map_err(Error::internal)?,
        certified: row.certified,
        end_epoch: row.end_epoch,
        active: row.active,
    }))
}

/// Blobs with a certified contract covering `epoch`, in blob id order after `after`.
pub async fn stored_blobs(
    conn: &mut PgConnection,
    epoch: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<StoredBlob>, Error> {
    let rows = sqlx::query!(
        r#"SELECT blob_id, (array_agg(metadata ORDER BY id))[1] AS "metadata!",
                  max(end_epoch) AS "end_epoch!"
           FROM contracts
           WHERE blob_id > $2 AND certified_epoch IS NOT NULL AND deleted_epoch IS NULL
             AND end_epoch > $1
           GROUP BY blob_id ORDER BY blob_id LIMIT $3"#,
        epoch,
        after,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredBlob {
                blob_id: r.blob_id,
                metadata: serde_json::from_value(r.metadata).map_err(Error::internal)?,
                end_epoch: r.end_epoch,
            })
        })
        .collect()
}
