//! The extractors every handler uses, each rejecting with our problem+json `Error`:
//! `ApiPath` (one path parameter, parsed by its type's rule) and `ApiQuery` (query
//! parameters; unknown ones are refused). Signed bodies come through
//! [`crate::auth::SignedJson`].

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::wire::ids::{BlobId, ContractId, IdError, NodeId, ProposalId, StakeId, TransferId};

/// A value that can stand in a path segment, and what its refusal is.
pub trait PathParam: Sized {
    /// Parses one path segment; the error is the API's refusal (404 for text that cannot be
    /// a row id, 400 for other malformed values).
    fn from_path(text: &str) -> Result<Self, Error>;
}

/// A row id in a path names a row: text that cannot be such an id names none, so it is
/// a 404 like an id that is free (the detail says what ids look like).
macro_rules! row_path_params {
    ($($name:ty),*) => {$(
        impl PathParam for $name {
            fn from_path(text: &str) -> Result<Self, Error> {
                text.parse().map_err(|e: IdError| {
                    Error::NotFound(format!(
                        "no {} with id {:?} (a {} is {})",
                        <$name>::WHAT, e.text, e.what, e.expected
                    ))
                })
            }
        }
    )*};
}

row_path_params!(NodeId, StakeId, ContractId, TransferId, ProposalId);

impl PathParam for BlobId {
    fn from_path(text: &str) -> Result<Self, Error> {
        text.parse()
            .map_err(|e: IdError| Error::InvalidArgument(format!("blob_id: {e}")))
    }
}

/// An epoch number: 0 (genesis), 1, ... The one rule for every epoch a request names,
/// in a path (`/v1/epochs/{epoch}`), a query (`?epoch=`) or a JSON body: a negative
/// number is a 400 wherever it comes.
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(try_from = "i64")]
pub struct EpochNumber(pub i64);

impl TryFrom<i64> for EpochNumber {
    type Error = String;

    fn try_from(epoch: i64) -> Result<EpochNumber, String> {
        if epoch < 0 {
            return Err(format!("epoch {epoch} is not an epoch number (0, 1, ...)"));
        }
        Ok(EpochNumber(epoch))
    }
}

impl PathParam for EpochNumber {
    fn from_path(text: &str) -> Result<Self, Error> {
        text.parse::<i64>()
            .map_err(|_| format!("epoch {text:?} is not an epoch number (0, 1, ...)"))
            .and_then(EpochNumber::try_from)
            .map_err(Error::InvalidArgument)
    }
}

/// Any text (accounts parse theirs themselves: an address or a `sys:` name).
impl PathParam for String {
    fn from_path(text: &str) -> Result<Self, Error> {
        Ok(text.to_owned())
    }
}

/// A NUL (raw or `%00`) in the URL is a 400: no text column can hold it.
fn refuse_nul(text: &str, part: &str) -> Result<(), Error> {
    if crate::wire::text::url_has_nul(text) {
        return Err(Error::InvalidArgument(format!(
            "the {part} holds a NUL character (%00), which no parameter accepts; remove it"
        )));
    }
    Ok(())
}

/// The one path parameter of a route, parsed by `T`'s rule.
pub struct ApiPath<T>(pub T);

impl<T: PathParam, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        refuse_nul(parts.uri.path(), "path")?;
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::InvalidArgument(format!("invalid path: {}", e.body_text())))?;
        T::from_path(&text).map(ApiPath)
    }
}

/// Query parameters; a malformed or unknown one is a 400 that names it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        refuse_nul(parts.uri.query().unwrap_or_default(), "query")?;
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| ApiQuery(query))
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "{}; the parameters are listed in /openapi.json",
                    e.body_text()
                ))
            })
    }
}
