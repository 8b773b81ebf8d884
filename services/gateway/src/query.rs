//! The query of an upload (`PUT /v1/blobs`, `PUT /v1/quilts`): Walrus's parameters,
//! checked; unknown ones are refused.

use std::collections::HashMap;

use wal::wire::Address;

use crate::walrus::WalrusError;

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

/// Walrus's query parameters: `epochs` (default 1), `deletable` (the default since
/// Walrus 1.33) or `permanent`, `force`, `send_object_to`. Unknown ones are refused.
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
            other => {
                return Err(WalrusError::invalid(
                    "INVALID_QUERY",
                    format!(
                        "unknown query parameter {other:?}; PUT /v1/blobs takes epochs, deletable, \
                         permanent, force and send_object_to"
                    ),
                ))
            }
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
        for bad in [
            ("epochs", "0"),
            ("epochs", "54"),
            ("epochs", "x"),
            ("force", "yes"),
            ("send_object_to", "0x12"),
            ("shards", "1"),
        ] {
            let error = store_query(&query(&[bad]), 53).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }
}
