//! Storage purchases committed in batches (`ledger::batch::Batched`): the handler checks
//! everything that needs no database (the metadata, whose blob id it derives once, the
//! attributes, `max_total`'s bounds) in the request's own task; the batch then takes the
//! shared epoch lock and reads the parameters and the epoch's prices once for all its
//! purchases (and takes a contract id for each), quotes each by the pure rule, and
//! writes all their contracts and slot shares in the statement that writes their
//! journal entries.

use std::collections::BTreeMap;

use sqlx::types::Json;
use sqlx::PgConnection;

use super::purchase::{check_max_total, slot_legs};
use super::{BuyRequest, Contract, ContractStatus};
use crate::encoding::{BlobMetadata, Layout};
use crate::error::Error;
use crate::ledger::account::{Account, Address};
use crate::ledger::batch::{BatchEntry, Batched, Posted, Write};
use crate::ledger::epochs::{lock_shared, EpochLock};
use crate::ledger::journal::Leg;
use crate::ledger::kind::EntryKind;
use crate::money::split::split_evenly;
use crate::money::Wal;
use crate::params::Params;
use crate::pricing::store::{prices, quote_at, EpochPrices, Quote};

/// A purchase its handler checked: what `POST /v1/storage/contracts` asks, with the
/// blob's layout and id derived once.
pub struct Purchase {
    payer: Address,
    owner: Address,
    layout: Layout,
    blob_id: String,
    metadata: BlobMetadata,
    epochs: u32,
    max_total: Wal,
    deletable: bool,
    attributes: BTreeMap<String, String>,
}

impl Purchase {
    /// Checks a purchase by `payer` against the rules that need no database.
    pub fn check(
        payer: Address,
        request: &BuyRequest,
        n_shards: u32,
        total_supply: Wal,
    ) -> Result<Purchase, Error> {
        let layout = layout_of(&request.metadata, n_shards)?;
        check_max_total(request.max_total, total_supply)?;
        let attributes = request.attributes.clone().unwrap_or_default();
        super::check_attributes(&attributes)?;
        Ok(Purchase {
            payer,
            owner: request.owner.unwrap_or(payer),
            layout,
            blob_id: request.metadata.blob_id(),
            metadata: request.metadata.clone(),
            epochs: request.epochs,
            max_total: request.max_total,
            deletable: request.deletable.unwrap_or(false),
            attributes,
        })
    }
}

/// The blob's layout, if its metadata is consistent and made for this network.
fn layout_of(metadata: &BlobMetadata, n_shards: u32) -> Result<Layout, Error> {
    let layout = metadata
        .validate()
        .map_err(|e| Error::InvalidArgument(format!("metadata: {e}")))?;
    if layout.n_shards != n_shards {
        return Err(Error::InvalidArgument(format!(
            "metadata: n_shards is {}, but this network has {n_shards} shards",
            layout.n_shards
        )));
    }
    Ok(layout)
}

/// Purchases commit in batches, under the shared epoch lock.
pub struct PurchaseBatch;

/// What a batch of purchases reads once.
pub struct PurchaseContext {
    lock: EpochLock,
    params: Params,
    prices: Option<EpochPrices>,
    /// One contract id for each request of the batch, taken ahead (refused ones leave gaps).
    contract_ids: Vec<i64>,
}

/// A purchase's quote and what each covered slot receives.
pub struct PurchasePlan {
    quote: Quote,
    slots: Vec<Wal>,
}

impl Batched for PurchaseBatch {
    type Request = Purchase;
    type Context = PurchaseContext;
    type Plan = PurchasePlan;

    async fn begin(conn: &mut PgConnection, requests: usize) -> Result<PurchaseContext, Error> {
        let lock = lock_shared(conn).await?;
        // Read under the lock (a statement of its own: its snapshot follows the lock).
        let (Json(rows), contract_ids): (Json<Vec<(String, String)>>, Vec<i64>) = sqlx::query_as(
            "SELECT (SELECT coalesce(json_agg(json_build_array(name, value)), '[]') FROM params),
                        ARRAY(SELECT nextval(pg_get_serial_sequence('contracts', 'id'))
                              FROM generate_series(1, $1))",
        )
        .bind(i32::try_from(requests).map_err(Error::internal)?)
        .fetch_one(&mut *conn)
        .await?;
        let params = Params::from_rows(&rows)?;
        let prices = prices(conn, lock.epoch()).await?;
        Ok(PurchaseContext {
            lock,
            params,
            prices,
            contract_ids,
        })
    }

    fn plan(
        context: &PurchaseContext,
        purchase: &Purchase,
    ) -> Result<(BatchEntry, PurchasePlan), Error> {
        let epoch = context.lock.epoch();
        let (layout, epochs) = (&purchase.layout, purchase.epochs);
        let quote = quote_at(
            layout.size,
            layout.encoding,
            epochs,
            layout.n_shards,
            epoch,
            context.prices.as_ref(),
            &context.params,
        )?;
        if quote.total > purchase.max_total {
            return Err(Error::PriceAboveLimit(format!(
                "storing {} bytes for {epochs} epochs costs {} WAL, above max_total {} WAL",
                layout.size, quote.total, purchase.max_total
            )));
        }
        // The storage part evenly over the covered slots (remainder into the first), the
        // write part into this epoch's slot.
        let mut slots = split_evenly(quote.storage_cost, epochs);
        slots[0] = slots[0]
            .checked_add(quote.write_cost)
            .ok_or_else(|| Error::internal("slot overflow"))?;
        let mut legs = vec![Leg::debit(Account::User(purchase.payer), quote.total)];
        legs.extend(slot_legs(epoch, &slots));
        let entry = BatchEntry {
            kind: EntryKind::StoragePurchase,
            actor: Some(purchase.payer),
            memo: Some(format!(
                "storage of blob {} for epochs {epoch}..{}",
                purchase.blob_id,
                epoch + i64::from(epochs)
            )),
            legs,
        };
        Ok((entry, PurchasePlan { quote, slots }))
    }

    fn finish(
        context: &PurchaseContext,
        posted: &[Posted<'_, PurchaseBatch>],
        write: &mut Write<'_>,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let contracts = contracts(context, posted)?;
        push_contracts(write, posted, &context.contract_ids, &contracts)?;
        contracts
            .iter()
            .map(|c| serde_json::to_vec(c).map_err(Error::internal))
            .collect()
    }
}

/// The posted purchases' contracts, each with one of the ids the batch took.
fn contracts(
    context: &PurchaseContext,
    posted: &[Posted<'_, PurchaseBatch>],
) -> Result<Vec<Contract>, Error> {
    if posted.len() > context.contract_ids.len() {
        return Err(Error::internal("more purchases than contract ids"));
    }
    let epoch = context.lock.epoch();
    Ok(posted
        .iter()
        .zip(&context.contract_ids)
        .map(|(p, &id)| contract(p, id, epoch))
        .collect())
}

/// The new contract as the API shows it (what reading it back would give).
fn contract(posted: &Posted<'_, PurchaseBatch>, id: i64, epoch: i64) -> Contract {
    let (purchase, quote) = (posted.request, &posted.plan.quote);
    Contract {
        id: id.to_string(),
        owner: purchase.owner.to_string(),
        blob_id: purchase.blob_id.clone(),
        size: purchase.layout.size as i64,
        encoded_size: purchase.layout.encoded_size() as i64,
        storage_units: quote.storage_units as i64,
        start_epoch: epoch,
        end_epoch: epoch + i64::from(purchase.epochs),
        deletable: purchase.deletable,
        paid: quote.total,
        status: ContractStatus::Active,
        certified: false,
        certified_epoch: None,
        certified_shards: None,
        deleted_epoch: None,
        refunded: None,
        metadata: purchase.metadata.clone(),
        created_at: posted.entry.created_at,
        attributes: purchase.attributes.clone(),
        payer: (purchase.owner != purchase.payer).then(|| purchase.payer.to_string()),
    }
}

/// The contracts and each one's share of every slot it paid, as CTEs of the batch's
/// write statement.
fn push_contracts(
    write: &mut Write<'_>,
    posted: &[Posted<'_, PurchaseBatch>],
    ids: &[i64],
    contracts: &[Contract],
) -> Result<(), Error> {
    let slots = slot_columns(posted, ids, contracts);
    let column = |f: fn(&Contract) -> i64| contracts.iter().map(f).collect::<Vec<i64>>();
    let texts_of = |f: fn(&Contract) -> String| contracts.iter().map(f).collect::<Vec<_>>();
    write
        .cte("contracts_new")
        .push("INSERT INTO contracts (id, owner, blob_id, metadata, size, encoded_size,")
        .push(" storage_units, start_epoch, end_epoch, deletable, paid, attributes, payer)")
        .push(" OVERRIDING SYSTEM VALUE SELECT u.id, u.owner, u.blob_id, u.metadata::jsonb,")
        .push(" u.size, u.encoded_size, u.storage_units, u.start_epoch, u.end_epoch,")
        .push(" u.deletable, u.paid, u.attributes::jsonb, u.payer FROM unnest(")
        .push_bind(ids[..contracts.len()].to_vec())
        .push("::bigint[], ")
        .push_bind(texts_of(|c| c.owner.clone()))
        .push("::text[], ")
        .push_bind(texts_of(|c| c.blob_id.clone()))
        .push("::text[], ")
        .push_bind(texts(contracts.iter().map(|c| &c.metadata))?)
        .push("::text[], ")
        .push_bind(column(|c| c.size))
        .push("::bigint[], ")
        .push_bind(column(|c| c.encoded_size))
        .push("::bigint[], ")
        .push_bind(column(|c| c.storage_units))
        .push("::bigint[], ")
        .push_bind(column(|c| c.start_epoch))
        .push("::bigint[], ")
        .push_bind(column(|c| c.end_epoch))
        .push("::bigint[], ")
        .push_bind(contracts.iter().map(|c| c.deletable).collect::<Vec<_>>())
        .push("::bool[], ")
        .push_bind(
            contracts
                .iter()
                .map(|c| c.paid.as_decimal())
                .collect::<Vec<_>>(),
        )
        .push("::numeric[], ")
        .push_bind(texts(contracts.iter().map(|c| &c.attributes))?)
        .push("::text[], ")
        .push_bind(
            contracts
                .iter()
                .map(|c| c.payer.clone())
                .collect::<Vec<_>>(),
        )
        .push("::text[]) AS u(id, owner, blob_id, metadata, size, encoded_size,")
        .push(" storage_units, start_epoch, end_epoch, deletable, paid, attributes, payer))");
    write
        .cte("slots_new")
        .push("INSERT INTO contract_slots (contract_id, epoch, amount) SELECT * FROM unnest(")
        .push_bind(slots.0)
        .push("::bigint[], ")
        .push_bind(slots.1)
        .push("::bigint[], ")
        .push_bind(slots.2)
        .push("::numeric[]))");
    Ok(())
}

type SlotColumns = (Vec<i64>, Vec<i64>, Vec<rust_decimal::Decimal>);

/// Each posted contract's slot shares as columns: contract id, epoch, amount.
fn slot_columns(
    posted: &[Posted<'_, PurchaseBatch>],
    ids: &[i64],
    contracts: &[Contract],
) -> SlotColumns {
    let mut slots: SlotColumns = Default::default();
    for ((p, c), &id) in posted.iter().zip(contracts).zip(ids) {
        for (i, amount) in p.plan.slots.iter().enumerate() {
            slots.0.push(id);
            slots.1.push(c.start_epoch + i as i64);
            slots.2.push(amount.as_decimal());
        }
    }
    slots
}

/// Each value as JSON text.
fn texts<'a, T: serde::Serialize + 'a>(
    values: impl Iterator<Item = &'a T>,
) -> Result<Vec<String>, Error> {
    values
        .map(|v| serde_json::to_string(v).map_err(Error::internal))
        .collect()
}
