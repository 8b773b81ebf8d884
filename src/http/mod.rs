//! The HTTP API: axum routers, one file per resource, kept thin. `router(state)` is
//! apart from serving so tests can mount it on port 0.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod audits;
pub mod contracts;
pub mod doc;
pub mod epochs;
pub mod explore;
pub mod extract;
pub mod faucet;
pub mod meta;
pub mod nodes;
pub mod paging;
pub mod pricing;
pub mod proposals;
pub mod stakes;
pub mod subsidies;
pub mod transfers;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::batch::Batcher;
use crate::auth::extract::AuthSettings;
use crate::config::Config;
use crate::error::Error;
use crate::ledger::genesis::NetworkInfo;
use crate::ledger::transfer::TransferBatch;
use crate::storage::contracts::PurchaseBatch;
use doc::Security as SecurityScheme;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The PostgreSQL connection pool every handler takes its connection or transaction from.
    pub pool: PgPool,
    /// The configuration read at start-up (role addresses, limits, epoch duration, ...).
    pub config: Arc<Config>,
    /// What genesis fixed: network id, total supply, number of shards.
    pub network: Arc<NetworkInfo>,
    /// What the signed-request extractor checks against: network id, clock window, body limit.
    pub auth: AuthSettings,
    /// The Prometheus recorder's handle, rendered by `GET /metrics`.
    pub metrics: PrometheusHandle,
    /// The last audit's start and report: `GET /v1/audit` callers share runs.
    pub audit_cache: audit::Cache,
    /// The queue of batched transfers and its committers.
    pub transfers: Arc<Batcher<TransferBatch>>,
    /// The queue of batched storage purchases and its committers.
    pub purchases: Arc<Batcher<PurchaseBatch>>,
}

impl AppState {
    /// The state of a ledger on `pool` with `config` and the network genesis fixed; takes the
    /// auth settings from the config and installs the Prometheus recorder on first use.
    pub fn new(pool: PgPool, config: Config, network: NetworkInfo) -> AppState {
        let auth = AuthSettings {
            network_id: network.network_id.as_str().into(),
            signature_window_secs: config.signature_window_secs,
            body_limit_bytes: config.body_limit_bytes,
        };
        let batch = crate::auth::batch::BatchSettings {
            requests_max: config.batch_requests_max,
            committers: config.batch_committers,
        };
        AppState {
            transfers: Arc::new(Batcher::new(pool.clone(), batch)),
            purchases: Arc::new(Batcher::new(pool.clone(), batch)),
            pool,
            config: Arc::new(config),
            network: Arc::new(network),
            auth,
            metrics: prometheus(),
            audit_cache: audit::Cache::default(),
        }
    }
}

impl FromRef<AppState> for AuthSettings {
    fn from_ref(state: &AppState) -> AuthSettings {
        state.auth.clone()
    }
}

/// The process-wide Prometheus recorder (installed once; tests build many apps).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            #[expect(
                clippy::expect_used,
                reason = "set_buckets_for_metric fails only on an empty slice; the buckets are a non-empty literal"
            )]
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &buckets,
                )
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "WAL ledger",
        description = "The WAL token ledger: signed transfers (RFC 9421, ed25519), a double-entry journal and its audit."
    ),
    components(schemas(crate::wire::Problem)),
    modifiers(&SecurityScheme)
)]
struct ApiDoc;

/// The application's router, with `/openapi.json` generated from the handlers.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The API's router with `pages` beside it (the explorer, which the layer above adds:
/// it reads through these handlers, so this module cannot name it).
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let (api_router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(meta::ready))
        .routes(routes!(meta::network))
        .routes(routes!(accounts::account))
        .routes(routes!(accounts::entries))
        .routes(routes!(transfers::create_transfer))
        .routes(routes!(transfers::transfer))
        .routes(routes!(audit::audit))
        .routes(routes!(audits::report, audits::tallies))
        .routes(routes!(faucet::faucet))
        .routes(routes!(epochs::current))
        .routes(routes!(epochs::by_number))
        .routes(routes!(nodes::register, nodes::list))
        .routes(routes!(nodes::node, nodes::update))
        .routes(routes!(nodes::claim))
        .routes(routes!(epochs::committee))
        .routes(routes!(meta::params))
        .routes(routes!(stakes::create, stakes::list))
        .routes(routes!(stakes::stake))
        .routes(routes!(stakes::withdraw))
        .routes(routes!(subsidies::create))
        .routes(routes!(admin::advance_epoch))
        .routes(routes!(pricing::quote))
        .routes(routes!(pricing::observe))
        .routes(routes!(contracts::buy, contracts::list))
        .routes(routes!(
            contracts::contract,
            contracts::delete,
            contracts::patch
        ))
        .routes(routes!(contracts::extend))
        .routes(routes!(contracts::certify))
        .routes(routes!(contracts::blob_status))
        .routes(routes!(contracts::blob))
        .routes(routes!(contracts::stored))
        .routes(routes!(proposals::create, proposals::list))
        .routes(routes!(proposals::proposal))
        .routes(routes!(proposals::vote, proposals::votes))
        .routes(routes!(explore::stats))
        .routes(routes!(explore::prices))
        .routes(routes!(explore::node_history))
        .routes(routes!(explore::blob_health))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    api_router
        .merge(pages)
        .route("/metrics", axum::routing::get(meta::metrics))
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .route_layer(middleware::from_fn(track_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            Error::internal("handler panicked").into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Request counts and latencies by route template, method and status.
async fn track_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn not_found(method: Method, uri: Uri) -> Error {
    Error::NotFound(format!("no endpoint {method} {}", uri.path()))
}

/// 405, the body's `status` 405 too (the code stays `INVALID_ARGUMENT`, API.md's list
/// having no other for a wrong method).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let mut problem = Error::InvalidArgument(format!(
        "{} does not accept {method}; see /openapi.json",
        uri.path()
    ))
    .to_problem();
    problem.status = StatusCode::METHOD_NOT_ALLOWED.as_u16();
    crate::error::problem_response(&problem)
}

/// The body of requests that take no arguments: `{}` (or empty); any field is a 400.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}
