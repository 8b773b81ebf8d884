//! A cache of decoded stripes for small reads (`Range` requests and quilt patches):
//! a read of a few KiB costs a whole stripe from the nodes (k pieces), so the stripes
//! read are kept, least recently used first out, within `WAL_GATEWAY_CACHE_BYTES`.
//! Blobs are immutable and every cached byte was verified when read; whether a blob
//! may still be served is asked of the ledger on every request, before the cache.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use wal::client::download::{read_range, ReadFrom};
use wal::encoding::{BlobMetadata, Consistency};

use crate::streaming::endpoints;
use crate::walrus::WalrusError;
use crate::Gateway;

/// A stripe of a blob: (blob id, stripe index).
type Key = (String, u64);

/// The stripes kept, and the order they were last used in.
#[derive(Default)]
struct Kept {
    stripes: HashMap<Key, Arc<Vec<u8>>>,
    order: VecDeque<Key>,
    bytes: u64,
}

/// Decoded stripes by blob and index, bounded in bytes.
pub struct StripeCache {
    bytes_max: u64,
    kept: Mutex<Kept>,
}

impl StripeCache {
    /// A cache of at most `bytes_max` bytes (0: nothing is kept).
    pub fn new(bytes_max: u64) -> StripeCache {
        StripeCache {
            bytes_max,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The stripe, if kept (it becomes the most recently used).
    pub fn get(&self, blob_id: &str, stripe: u64) -> Option<Arc<Vec<u8>>> {
        let mut kept = self.kept.lock().ok()?;
        let key = (blob_id.to_owned(), stripe);
        let found = kept.stripes.get(&key).cloned()?;
        kept.order.retain(|k| k != &key);
        kept.order.push_back(key);
        Some(found)
    }

    /// Keeps a stripe, dropping the least recently used ones beyond the bound.
    pub fn put(&self, blob_id: &str, stripe: u64, bytes: Arc<Vec<u8>>) {
        let size = bytes.len() as u64;
        if size > self.bytes_max {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        let key = (blob_id.to_owned(), stripe);
        if let Some(old) = kept.stripes.insert(key.clone(), bytes) {
            kept.bytes -= old.len() as u64;
            kept.order.retain(|k| k != &key);
        }
        kept.bytes += size;
        kept.order.push_back(key);
        while kept.bytes > self.bytes_max {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(gone) = kept.stripes.remove(&oldest) {
                kept.bytes -= gone.len() as u64;
            }
        }
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> u64 {
        self.kept.lock().map(|k| k.bytes).unwrap_or(0)
    }
}

/// The longest range answered from cached stripes; longer ones are streamed.
pub(crate) const CACHED_RANGE_BYTES_MAX: u64 = 16 << 20;

/// Bytes `range` of a blob through the stripe cache: each stripe that holds part of it
/// is taken from the cache, or read whole (that stripe only) and kept.
pub(crate) async fn read_cached(
    gateway: &Gateway,
    metadata: &BlobMetadata,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, WalrusError> {
    let layout = metadata.validate().map_err(|e| {
        WalrusError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BAD_METADATA",
            e.to_string(),
        )
    })?;
    let per_stripe = layout.stripe_data_len().max(1);
    let blob_id = metadata.blob_id();
    let mut holders = None; // asked of the ledger once, on the first miss
    let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    for stripe in range.start / per_stripe..range.end.div_ceil(per_stripe) {
        let bytes = match gateway.cache.get(&blob_id, stripe) {
            Some(bytes) => bytes,
            None => {
                if holders.is_none() {
                    holders = Some(endpoints(gateway).await?);
                }
                let endpoints = holders.as_ref().ok_or_else(|| {
                    WalrusError::with_status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL",
                        "no holders",
                    )
                })?;
                let span = layout.stripe_range(stripe);
                let bytes = Arc::new(read_stripe(gateway, metadata, span, endpoints).await?);
                gateway.cache.put(&blob_id, stripe, bytes.clone());
                bytes
            }
        };
        let start = stripe * per_stripe;
        let from = usize::try_from(range.start.max(start) - start).unwrap_or(0);
        let to = usize::try_from(range.end.min(start + bytes.len() as u64) - start).unwrap_or(0);
        out.extend_from_slice(&bytes[from.min(to)..to]);
    }
    let served = &gateway.metrics.bytes_served;
    served.fetch_add(out.len() as u64, Ordering::Relaxed);
    Ok(out)
}

/// A stripe's blob bytes (`span`), read from its holders into memory.
async fn read_stripe(
    gateway: &Gateway,
    metadata: &BlobMetadata,
    span: std::ops::Range<u64>,
    endpoints: &HashMap<u32, String>,
) -> Result<Vec<u8>, WalrusError> {
    let from = ReadFrom {
        http: &gateway.nodes,
        endpoints,
        stall: gateway.config.stall,
        consistency: Consistency::Default,
    };
    let (_, bytes) = read_range(from, metadata, span, Vec::new())
        .await
        .map_err(|e| {
            WalrusError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "BLOB_NOT_RETRIEVABLE",
                format!("the blob cannot be read from the storage nodes now: {e}"),
            )
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_least_recently_used_stripe_goes_first() {
        let cache = StripeCache::new(30);
        cache.put("a", 0, Arc::new(vec![0; 10]));
        cache.put("a", 1, Arc::new(vec![1; 10]));
        cache.put("b", 0, Arc::new(vec![2; 10]));
        assert!(cache.get("a", 0).is_some()); // a/0 is now the most recent
        cache.put("b", 1, Arc::new(vec![3; 10]));
        assert!(
            cache.get("a", 1).is_none(),
            "a/1 was the least recently used"
        );
        assert!(cache.get("a", 0).is_some() && cache.get("b", 1).is_some());
        cache.put("c", 0, Arc::new(vec![4; 31]));
        assert!(cache.get("c", 0).is_none(), "larger than the whole cache");
        assert!(StripeCache::new(0).get("a", 0).is_none());
    }

    proptest! {
        /// Whatever is put, the cache never holds more than its bound.
        #[test]
        fn it_stays_within_its_bound(puts in prop::collection::vec((0u8..4, 0u64..4, 0usize..50), 0..40), max in 0u64..100) {
            let cache = StripeCache::new(max);
            for (blob, stripe, len) in puts {
                cache.put(&blob.to_string(), stripe, Arc::new(vec![0; len]));
                prop_assert!(cache.bytes() <= max);
            }
        }
    }
}
