//! `GET /v1/accounts/{address}` and its journal lines.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;

use super::{doc, path_param, AppState, PageQuery};
use crate::error::Error;
use crate::ledger::entries::{self, EntriesPage};
use crate::ledger::journal;
use crate::money::Wal;
use crate::wire::Address;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub address: String,
    /// "user" for an address, "system" for a `sys:` account.
    pub kind: &'static str,
    pub balance: Wal,
}

/// A user address (normalised to lowercase) or a system account's `sys:` name.
fn account_key(text: &str) -> Result<(String, &'static str), Error> {
    if let Some(name) = text.strip_prefix("sys:") {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'_');
        if valid {
            return Ok((text.to_owned(), "system"));
        }
    }
    let address: Address = text
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("{e}")))?;
    Ok((address.to_string(), "user"))
}

/// An account's balance; an address never seen has balance "0".
#[utoipa::path(get, path = "/v1/accounts/{address}",
    params(("address" = String, Path, description = "0x + 64 hex digits, or a sys: account",
            pattern = "^(0x[0-9a-fA-F]{64}|sys:[a-z0-9:_]{1,64})$")),
    responses((status = 200, body = AccountView), doc::BadRequest, doc::Unavailable))]
pub async fn account(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<AccountView>, Error> {
    let address = path_param(path)?;
    let (key, kind) = account_key(&address)?;
    let mut conn = state.pool.acquire().await?;
    let balance = journal::balance_of_key(&mut conn, &key).await?;
    Ok(Json(AccountView {
        address: key,
        kind,
        balance,
    }))
}

/// The account's journal lines, newest first, in cursor pages.
#[utoipa::path(get, path = "/v1/accounts/{address}/entries",
    params(("address" = String, Path, description = "0x + 64 hex digits, or a sys: account",
            pattern = "^(0x[0-9a-fA-F]{64}|sys:[a-z0-9:_]{1,64})$"), PageQuery),
    responses((status = 200, body = EntriesPage), doc::BadRequest, doc::Unavailable))]
pub async fn entries(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EntriesPage>, Error> {
    let address = path_param(path)?;
    let Query(query) = query.map_err(|e| Error::InvalidArgument(e.body_text()))?;
    let (key, _) = account_key(&address)?;
    let limit = entries::page_limit(query.limit)?;
    // Entries run newest first: a page continues below its cursor.
    let before = match query.cursor.as_deref() {
        None => i64::MAX,
        cursor => super::cursor_after(cursor)?,
    };
    let mut conn = state.pool.acquire().await?;
    Ok(Json(entries::page(&mut conn, &key, before, limit).await?))
}
