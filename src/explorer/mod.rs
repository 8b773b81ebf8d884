//! The explorer: HTML pages served by the ledger at `/`, drawn on the server from the
//! same handlers the JSON API answers with (so a page can never show other numbers than
//! the API), with SVG charts and one small script (the epoch countdown). Every asset is
//! the ledger's own, so it works with no internet; a strict Content-Security-Policy
//! keeps it so. Each number shown names its source (`data-src` = the API URL,
//! `data-key` = the field), which the browser test checks against the API.

mod chart;
mod layout;
mod pages;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;

use crate::error::Error;
use crate::http::AppState;

/// The explorer's routes (merged into the ledger's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::network::page))
        .route("/prices", get(pages::prices::page))
        .route("/nodes/{id}", get(pages::node::page))
        .route("/blobs/{blob_id}", get(pages::blob::page))
        .route("/governance", get(pages::governance::page))
        .route("/proposals/{id}", get(pages::governance::proposal))
        .route("/accounts/{address}", get(pages::account::page))
        .route("/search", get(pages::search::page))
        .route("/explorer/explorer.css", get(stylesheet))
        .route("/explorer/explorer.js", get(script))
        .route("/favicon.ico", get(icon))
        .route("/explorer/favicon.svg", get(icon))
}

/// The pages' policy: nothing but the ledger's own stylesheet, script and inline SVG.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// An HTML response with the explorer's security headers.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page, or the API's refusal drawn as a page (same status, code and detail).
pub struct Page(Result<Markup, Error>);

impl From<Result<Markup, Error>> for Page {
    fn from(result: Result<Markup, Error>) -> Page {
        Page(result)
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(markup) => html(StatusCode::OK, markup),
            Err(error) => {
                let problem = error.to_problem();
                let status = error.status();
                html(status, layout::error_page(&problem))
            }
        }
    }
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/explorer.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/explorer.js"),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", include_str!("assets/favicon.svg"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}
