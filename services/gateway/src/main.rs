//! `wal-gateway`: a Walrus-compatible publisher and aggregator over plain HTTP, so web
//! apps and existing Walrus HTTP clients store and read blobs without keys of their own
//! (API.md, "Gateway"). It uses the same encoding, upload and read code as walctl
//! (`wal::client`): one data path.
//!
//! Configuration (environment): `WAL_GATEWAY_KEY_FILE` (the publisher's funded key;
//! unset, the gateway only reads), `WAL_GATEWAY_LISTEN_ADDR` (127.0.0.1:31415; `:0`
//! picks a port and it prints `listening on http://ADDR`), `WAL_LEDGER_URL`,
//! `WAL_GATEWAY_BLOB_BYTES_MAX` (1 GiB), `WAL_GATEWAY_EPOCHS_MAX` (53),
//! `WAL_GATEWAY_UPLOADS_MAX` (4), `WAL_GATEWAY_TIMEOUT_SECS` (30),
//! `WAL_GATEWAY_SPOOL_DIR` (the temporary directory), `WAL_GATEWAY_CACHE_BYTES` (256
//! MiB of decoded stripes kept for small reads); JWT auth of uploads with
//! `WAL_GATEWAY_JWT_SECRET` (HS256) or `WAL_GATEWAY_JWT_PUBLIC_KEY_FILE` with
//! `WAL_GATEWAY_JWT_ALGORITHM` (ES256, EdDSA), `WAL_GATEWAY_JWT_EXPIRING_SECS`,
//! `WAL_GATEWAY_JWT_VERIFY_UPLOAD`. It stops on SIGTERM or Ctrl-C.

mod aggregator;
mod auth;
mod cache;
mod config;
mod metrics;
mod publisher;
mod query;
mod quilts;
mod range;
mod streaming;
mod walrus;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, put};
use axum::Router;
use wal::client::LedgerClient;

use crate::config::Config;
use crate::walrus::WalrusError;

/// What every handler shares.
pub struct Gateway {
    /// Public reads of the ledger.
    pub ledger: LedgerClient,
    /// The publisher's signing client; `None`: the gateway only reads.
    pub publisher: Option<LedgerClient>,
    /// The client for storage nodes (connect and read timeouts: `config.stall`).
    pub nodes: reqwest::Client,
    /// The configuration it started with.
    pub config: Config,
    /// Uploads in flight, at most `config.uploads_max`.
    pub uploads: tokio::sync::Semaphore,
    /// What `/metrics` shows.
    pub metrics: metrics::Metrics,
    /// The JWT check of uploads, when configured.
    pub auth: Option<auth::Auth>,
    /// Decoded stripes kept for small reads.
    pub cache: cache::StripeCache,
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("the publisher key: {0}")]
    Key(#[from] wal::client::keyfile::KeyFileError),
    #[error("the spool directory {0}: {1}")]
    Spool(String, std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    wal::service::main("wal-gateway", run()).await
}

async fn run() -> Result<(), StartError> {
    let config = Config::from_env()?;
    let publisher = match &config.key_file {
        Some(path) => Some(LedgerClient::new(
            &config.ledger_url,
            Some(wal::client::keyfile::read(path)?),
            config.stall,
        )),
        None => None,
    };
    std::fs::create_dir_all(&config.spool_dir)
        .map_err(|e| StartError::Spool(config.spool_dir.display().to_string(), e))?;
    let nodes = wal::client::store::node_http(config.stall)
        .map_err(|e| StartError::Serve(std::io::Error::other(e.to_string())))?;
    let gateway = Arc::new(Gateway {
        ledger: LedgerClient::new(&config.ledger_url, None, config.stall),
        publisher,
        nodes,
        uploads: tokio::sync::Semaphore::new(config.uploads_max),
        metrics: metrics::Metrics::default(),
        auth: auth::Auth::from_env()?,
        cache: cache::StripeCache::new(config.cache_bytes),
        config,
    });
    let stop = wal::service::stop_signal().map_err(StartError::Serve)?;
    let listener = tokio::net::TcpListener::bind(gateway.config.listen)
        .await
        .map_err(StartError::Serve)?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, publisher = gateway.publisher.is_some(), "gateway serving");
    let limits = gateway.config.http_limits.clone();
    wal::http_server::serve(
        listener,
        router(gateway),
        limits,
        walrus::server_refusal,
        stop,
    )
    .await
    .map_err(StartError::Serve)?;
    Ok(())
}

/// Walrus's routes (publisher and aggregator) and ours (`/health`, `/metrics`).
fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/blobs", put(publisher::put_blob))
        .route(
            "/v1/blobs/{blob_id}",
            get(aggregator::get_blob).head(aggregator::head_blob),
        )
        .route(
            "/v1/blobs/{blob_id}/byte-range",
            get(aggregator::get_byte_range),
        )
        .route(
            "/v1/blobs/by-object-id/{object_id}",
            get(aggregator::get_by_object_id).head(aggregator::head_by_object_id),
        )
        .route("/v1/quilts", put(quilts::put_quilt))
        .route("/v1/quilts/{quilt_id}/patches", get(quilts::patches))
        .route(
            "/v1/blobs/by-quilt-patch-id/{patch_id}",
            get(quilts::by_patch_id),
        )
        .route(
            "/v1/blobs/by-quilt-id/{quilt_id}/{identifier}",
            get(quilts::by_quilt_id),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The publisher streams bodies itself, under its own limit.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(gateway)
}

async fn not_found(uri: Uri) -> WalrusError {
    WalrusError::not_found("NOT_FOUND", format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> WalrusError {
    WalrusError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
