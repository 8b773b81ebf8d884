//! Query strings: every route's parameters, each named at most once ([`Params`]), and
//! the query of an upload (`PUT /v1/blobs`, `PUT /v1/quilts`): Walrus's parameters,
//! checked; unknown ones are refused.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use wal::wire::Address;

use crate::walrus::WalrusError;

/// A request's query parameters by name. A malformed query string or a parameter given
/// twice (`?epochs=1&epochs=50`: which one would count?) is refused in Walrus's
/// envelope, as Walrus's own strict query parsing refuses it.
pub(crate) struct Params(pub(crate) HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = WalrusError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, WalrusError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| WalrusError::invalid("INVALID_QUERY", format!("the query string: {e}")))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if params.contains_key(&name) {
                return Err(WalrusError::invalid(
                    "INVALID_QUERY",
                    format!("query parameter {name:?} is given more than once"),
                ));
            }
            params.insert(name, value);
        }
        Ok(Params(params))
    }
}

/// What a `PUT /v1/blobs` asks, checked.
#[derive(Debug)]
pub(crate) struct StoreQuery {
    /// Epochs to store for (default 1).
    pub(crate) epochs: u32,
    /// Deletable (the default) or permanent.
    pub(crate) deletable: bool,
    /// Buy even if the blob is certified long enough already.
    pub(crate) force: bool,
    /// `send_object_to`: the contract's owner, if not the publisher.
    pub(crate) owner: Option<Address>,
}

fn flag(name: &str, value: &str) -> Result<bool, WalrusError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(WalrusError::invalid(
            "INVALID_QUERY",
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

/// A Walrus parameter with the one value that means what we do anyway, or refused.
fn accepted_only(name: &str, value: &str) -> Result<(), WalrusError> {
    let (accepted, why): (&[&str], &str) = match name {
        "encoding_type" => (&["RS2"], "RS2 is the one encoding (Reed-Solomon)"),
        "quilt_version" => (&["v1", "V1", "1"], "v1 is the one quilt layout"),
        "share" => (&["false"], "shared blob objects are not supported here"),
        other => {
            return Err(WalrusError::invalid(
                "INVALID_QUERY",
                format!(
                    "unknown query parameter {other:?}; uploads take epochs, deletable, \
                     permanent, force, send_object_to, encoding_type, quilt_version, \
                     reuse_resources and share"
                ),
            ))
        }
    };
    if accepted.contains(&value) {
        return Ok(());
    }
    Err(WalrusError::invalid(
        "INVALID_QUERY",
        format!("{name}={value:?} is not accepted: {why}"),
    ))
}

/// Walrus's query parameters: `epochs` (default 1), `deletable` (the default since
/// Walrus 1.33) or `permanent`, `force`, `send_object_to`, and the ones whose only
/// accepted values change nothing here: `encoding_type=RS2` (Walrus's one encoding; the
/// Reed-Solomon field is chosen by the shard count, as for walctl), `quilt_version=v1`
/// (our one quilt layout), `reuse_resources` (a paid, uncertified contract is always
/// reused, so a retry never pays twice) and `share=false` (shared blob objects do not
/// exist here). Unknown parameters and other values are refused.
pub(crate) fn store_query(
    query: &HashMap<String, String>,
    epochs_max: u32,
) -> Result<StoreQuery, WalrusError> {
    let (mut epochs, mut deletable, mut permanent, mut force, mut owner) =
        (1, None, None, false, None);
    for (name, value) in query {
        match name.as_str() {
            "epochs" => {
                epochs = value
                    .parse::<u32>()
                    .ok()
                    .filter(|e| (1..=epochs_max).contains(e))
                    .ok_or_else(|| {
                        WalrusError::invalid(
                            "INVALID_EPOCHS",
                            format!(
                                "epochs must be a whole number 1..={epochs_max}, not {value:?}"
                            ),
                        )
                    })?
            }
            "deletable" => deletable = Some(flag(name, value)?),
            "permanent" => permanent = Some(flag(name, value)?),
            "force" => force = flag(name, value)?,
            "send_object_to" => {
                owner = Some(value.parse::<Address>().map_err(|e| {
                    WalrusError::invalid("INVALID_ADDRESS", format!("send_object_to: {e}"))
                })?)
            }
            "reuse_resources" => {
                flag(name, value)?;
            }
            other => accepted_only(other, value)?,
        }
    }
    if deletable == Some(true) && permanent == Some(true) {
        return Err(WalrusError::invalid(
            "DELETABLE_AND_PERMANENT",
            "a blob cannot be both deletable and permanent: pass one of them",
        ));
    }
    Ok(StoreQuery {
        epochs,
        deletable: !permanent.unwrap_or(false) && deletable.unwrap_or(true),
        force,
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn walrus_query_parameters() {
        let q = store_query(&query(&[]), 53).unwrap();
        assert_eq!((q.epochs, q.deletable, q.force), (1, true, false));
        let q = store_query(&query(&[("epochs", "5"), ("permanent", "true")]), 53).unwrap();
        assert_eq!((q.epochs, q.deletable), (5, false));
        assert!(store_query(&query(&[("deletable", "true"), ("permanent", "true")]), 53).is_err());
        let walrus_defaults = [
            ("encoding_type", "RS2"),
            ("quilt_version", "V1"),
            ("reuse_resources", "false"),
            ("share", "false"),
        ];
        let q = store_query(&query(&walrus_defaults), 53).unwrap();
        assert_eq!((q.epochs, q.deletable, q.force), (1, true, false));
        for bad in [
            ("epochs", "0"),
            ("epochs", "54"),
            ("epochs", "x"),
            ("force", "yes"),
            ("send_object_to", "0x12"),
            ("shards", "1"),
            ("encoding_type", "RedStuff"),
            ("quilt_version", "v2"),
            ("share", "true"),
            ("reuse_resources", "maybe"),
        ] {
            let error = store_query(&query(&[bad]), 53).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }
}
