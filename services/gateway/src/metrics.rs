//! `/metrics` in Prometheus's text format: requests by route and status, bytes stored
//! and served, and the time uploads and reads took.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::Gateway;

/// The gateway's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Blob bytes received by `PUT /v1/blobs`.
    pub bytes_stored: AtomicU64,
    /// Blob bytes sent by reads.
    pub bytes_served: AtomicU64,
    /// Microseconds spent in uploads and in reads, and their counts.
    pub upload_micros: AtomicU64,
    pub uploads: AtomicU64,
    pub read_micros: AtomicU64,
    pub reads: AtomicU64,
}

/// Counts every request by route template, method and status.
pub async fn track(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let metrics = &gateway.metrics;
    match route.as_str() {
        "/v1/blobs" | "/v1/quilts" => {
            metrics.upload_micros.fetch_add(micros, Ordering::Relaxed);
            metrics.uploads.fetch_add(1, Ordering::Relaxed);
        }
        "/v1/blobs/{blob_id}"
        | "/v1/blobs/by-object-id/{object_id}"
        | "/v1/blobs/by-quilt-patch-id/{patch_id}"
        | "/v1/blobs/by-quilt-id/{quilt_id}/{identifier}" => {
            metrics.read_micros.fetch_add(micros, Ordering::Relaxed);
            metrics.reads.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    if let Ok(mut requests) = metrics.requests.lock() {
        *requests
            .entry((route, method, response.status().as_u16()))
            .or_default() += 1;
    }
    response
}

pub async fn render(State(gateway): State<Arc<Gateway>>) -> String {
    let m = &gateway.metrics;
    let mut out = String::new();
    out.push_str("# TYPE wal_gateway_requests_total counter\n");
    if let Ok(requests) = m.requests.lock() {
        for ((route, method, status), count) in requests.iter() {
            out.push_str(&format!(
                "wal_gateway_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}\n"
            ));
        }
    }
    let seconds = |micros: &AtomicU64| micros.load(Ordering::Relaxed) as f64 / 1e6;
    for (name, value) in [
        (
            "wal_gateway_bytes_stored_total",
            m.bytes_stored.load(Ordering::Relaxed).to_string(),
        ),
        (
            "wal_gateway_bytes_served_total",
            m.bytes_served.load(Ordering::Relaxed).to_string(),
        ),
        (
            "wal_gateway_upload_seconds_sum",
            seconds(&m.upload_micros).to_string(),
        ),
        (
            "wal_gateway_upload_seconds_count",
            m.uploads.load(Ordering::Relaxed).to_string(),
        ),
        (
            "wal_gateway_read_seconds_sum",
            seconds(&m.read_micros).to_string(),
        ),
        (
            "wal_gateway_read_seconds_count",
            m.reads.load(Ordering::Relaxed).to_string(),
        ),
    ] {
        out.push_str(&format!("# TYPE {name} counter\n{name} {value}\n"));
    }
    out
}
