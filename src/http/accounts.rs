//! `GET /v1/accounts/{address}` and its journal lines.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, ApiQuery, PathParam};
use super::paging::Paging;
use super::{doc, AppState};
use crate::error::Error;
use crate::ledger::entries::{self, EntriesPage};
use crate::ledger::journal;
use crate::money::Wal;
use crate::wire::ids::EntryId;
use crate::wire::Address;

/// An account's balance, as `GET /v1/accounts/{address}` returns it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// The account's key: the address in lowercase hex, or a system account's `sys:` name.
    pub address: String,
    /// "user" for an address, "system" for a `sys:` account.
    pub kind: &'static str,
    /// WAL the account holds now (the sum of its stripes); "0" for an account never seen.
    pub balance: Wal,
}

/// An account as a path names it: a user address (normalised to lowercase) or a
/// system account's `sys:` name.
pub struct AccountKey {
    key: String,
    kind: &'static str,
}

impl PathParam for AccountKey {
    fn from_path(text: &str) -> Result<AccountKey, Error> {
        if let Some(name) = text.strip_prefix("sys:") {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'_'
                });
            if valid {
                let key = text.to_owned();
                return Ok(AccountKey {
                    key,
                    kind: "system",
                });
            }
        }
        let address: Address = text
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("{e}")))?;
        let key = address.to_string();
        Ok(AccountKey { key, kind: "user" })
    }
}

/// An account's balance; an address never seen has balance "0".
#[utoipa::path(get, path = "/v1/accounts/{address}",
    params(("address" = String, Path, description = "0x + 64 hex digits, or a sys: account",
            pattern = "^(0x[0-9a-fA-F]{64}|sys:[a-z0-9:_]{1,64})$")),
    responses((status = 200, body = AccountView), doc::BadRequest, doc::Unavailable))]
pub async fn account(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<AccountKey>,
) -> Result<Json<AccountView>, Error> {
    let mut conn = state.pool.acquire().await?;
    let balance = journal::balance_of_key(&mut conn, &account.key).await?;
    Ok(Json(AccountView {
        address: account.key,
        kind: account.kind,
        balance,
    }))
}

/// Query parameters of `GET /v1/accounts/{address}/entries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: the entry id the page continues below.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub cursor: Option<EntryId>,
}

/// The account's journal lines, newest first, in cursor pages.
#[utoipa::path(get, path = "/v1/accounts/{address}/entries",
    params(("address" = String, Path, description = "0x + 64 hex digits, or a sys: account",
            pattern = "^(0x[0-9a-fA-F]{64}|sys:[a-z0-9:_]{1,64})$"), EntriesQuery),
    responses((status = 200, body = EntriesPage), doc::BadRequest, doc::Unavailable))]
pub async fn entries(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<AccountKey>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<EntriesPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    // Entries run newest first: a page continues below its cursor.
    let before = paging.after.map_or(i64::MAX, EntryId::get);
    let mut conn = state.pool.acquire().await?;
    let rows = entries::page(&mut conn, &account.key, before, paging.fetch_limit()).await?;
    let (entries, next_cursor) = paging.page(rows, |e| e.entry_id.clone());
    Ok(Json(EntriesPage {
        address: account.key,
        entries,
        next_cursor,
    }))
}
