//! Transfers between user accounts: one journal entry of kind "transfer".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::account::{Account, Address};
use super::batch::{BatchEntry, Batched, Posted, Write};
use super::journal::{self, Leg, NewEntry, PostedEntry};
use super::kind::EntryKind;
use crate::error::Error;
use crate::money::Wal;

/// The longest memo a transfer may carry, in characters; a longer one is 400 INVALID_ARGUMENT.
pub const MEMO_LEN_MAX: usize = 256;

/// The body of `POST /v1/transfers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The recipient's address.
    pub to: String,
    /// WAL to send, a decimal string with at most 9 fractional digits.
    pub amount: Wal,
    /// Free text kept with the entry, at most 256 characters.
    pub memo: Option<String>,
}

/// A transfer as the API returns it. Its `id` is the journal entry's id.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transfer {
    /// The journal entry's id (`GET /v1/transfers/{id}`).
    pub id: String,
    /// The paying account (the signer, or the faucet).
    pub from: Address,
    /// The receiving account.
    pub to: Address,
    /// WAL moved, positive.
    pub amount: Wal,
    /// Free text kept with the entry, at most 256 characters.
    pub memo: Option<String>,
    /// The epoch in which the transfer was made.
    pub epoch: i64,
    /// When the transfer was posted.
    pub created_at: DateTime<Utc>,
}

/// Checks a transfer request against the rules that need no database.
pub fn validate(
    from: Address,
    request: &TransferRequest,
    total_supply: Wal,
) -> Result<(Address, Wal), Error> {
    let to = Address::parse_spendable(&request.to)
        .map_err(|e| Error::InvalidArgument(format!("to: {e}")))?;
    if to == from {
        return Err(Error::InvalidArgument(
            "to: a transfer to the sending account itself moves nothing".into(),
        ));
    }
    if !request.amount.is_positive() {
        return Err(Error::InvalidArgument("amount must be positive".into()));
    }
    if request.amount > total_supply {
        return Err(Error::InvalidArgument(format!(
            "amount {} exceeds the total supply of {total_supply} WAL",
            request.amount
        )));
    }
    if request
        .memo
        .as_ref()
        .is_some_and(|m| m.chars().count() > MEMO_LEN_MAX)
    {
        return Err(Error::InvalidArgument(format!(
            "memo is longer than {MEMO_LEN_MAX} characters"
        )));
    }
    Ok((to, request.amount))
}

/// A validated transfer request, committed in a batch (`TransferBatch`).
#[derive(Clone, Debug)]
pub struct Payment {
    /// The signer, who pays.
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// WAL moved, positive.
    pub amount: Wal,
    /// Free text kept with the entry.
    pub memo: Option<String>,
}

/// Transfers commit in batches: one journal entry each and no other row.
pub struct TransferBatch;

impl Batched for TransferBatch {
    type Request = Payment;
    type Context = ();
    type Plan = ();

    async fn begin(_conn: &mut PgConnection, _requests: usize) -> Result<(), Error> {
        Ok(())
    }

    fn plan(_context: &(), payment: &Payment) -> Result<(BatchEntry, ()), Error> {
        let entry = BatchEntry {
            kind: EntryKind::Transfer,
            actor: Some(payment.from),
            memo: payment.memo.clone(),
            legs: vec![
                Leg::debit(Account::User(payment.from), payment.amount),
                Leg::credit(Account::User(payment.to), payment.amount),
            ],
        };
        Ok((entry, ()))
    }

    fn finish(
        _context: &(),
        posted: &[Posted<'_, TransferBatch>],
        _write: &mut Write<'_>,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let body = |p: &Posted<'_, TransferBatch>| {
            let Payment {
                from,
                to,
                amount,
                memo,
            } = p.request.clone();
            serde_json::to_vec(&Transfer::posted(&p.entry, from, to, amount, memo))
                .map_err(Error::internal)
        };
        posted.iter().map(body).collect()
    }
}

impl Transfer {
    /// The transfer as posted in `posted`.
    pub fn posted(
        posted: &PostedEntry,
        from: Address,
        to: Address,
        amount: Wal,
        memo: Option<String>,
    ) -> Transfer {
        Transfer {
            id: posted.id.to_string(),
            from,
            to,
            amount,
            memo,
            epoch: posted.epoch,
            created_at: posted.created_at,
        }
    }
}

/// A payment between two user accounts, as one journal entry.
pub struct Movement<'a> {
    /// The user account debited.
    pub from: Address,
    /// The user account credited.
    pub to: Address,
    /// WAL to move, positive; the debit fails with `InsufficientFunds` if `from` lacks it.
    pub amount: Wal,
    /// Free text kept with the entry.
    pub memo: Option<&'a str>,
    /// The entry's kind: a transfer or a faucet drip.
    pub kind: EntryKind,
    /// Whose signed request caused it (the payer, or the faucet's requester).
    pub actor: Address,
}

/// Moves `amount` from `from` to `to` in the caller's transaction.
pub async fn execute(conn: &mut PgConnection, movement: &Movement<'_>) -> Result<Transfer, Error> {
    let Movement {
        from,
        to,
        amount,
        memo,
        kind,
        actor,
    } = *movement;
    let entry = NewEntry {
        kind,
        actor: Some(actor),
        memo,
        legs: vec![
            Leg::debit(Account::User(from), amount),
            Leg::credit(Account::User(to), amount),
        ],
    };
    let posted = journal::post(conn, &entry).await?;
    Ok(Transfer::posted(
        &posted,
        from,
        to,
        amount,
        memo.map(str::to_owned),
    ))
}

/// Entry kinds that `GET /v1/transfers/{id}` shows: payments between two users.
const PAYMENT_KINDS: [EntryKind; 2] = [EntryKind::Transfer, EntryKind::Faucet];

/// A transfer (or faucet drip) by id, read back from its journal entry.
pub async fn find(
    conn: &mut PgConnection,
    id: crate::wire::ids::TransferId,
) -> Result<Option<Transfer>, Error> {
    let entry_id = id.get();
    let row = sqlx::query!(
        r#"SELECT e.epoch, e.memo, e.created_at,
                  (SELECT account FROM journal_lines WHERE entry_id = e.id AND amount < 0) AS "from!",
                  (SELECT account FROM journal_lines WHERE entry_id = e.id AND amount > 0) AS "to!",
                  (SELECT amount FROM journal_lines WHERE entry_id = e.id AND amount > 0) AS "amount!"
           FROM journal_entries e WHERE e.id = $1 AND e.kind = ANY($2)"#,
        entry_id,
        &PAYMENT_KINDS.map(|k| k.as_str().to_owned())[..]
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let parse = |text: &str| -> Result<Address, Error> { text.parse().map_err(Error::internal) };
    Ok(Some(Transfer {
        id: entry_id.to_string(),
        from: parse(&row.from)?,
        to: parse(&row.to)?,
        amount: Wal::from_decimal_unchecked(row.amount),
        memo: row.memo,
        epoch: row.epoch,
        created_at: row.created_at,
    }))
}
