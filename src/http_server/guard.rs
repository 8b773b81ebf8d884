//! What wraps every request: the cap on requests being handled, the limit on a body
//! that stops arriving, and one envelope for every error, whichever layer made it
//! (axum's extractors answer in plain text, its fallback with an empty 404).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Semaphore;

use super::{Limits, Render};

struct Guard {
    in_flight: Semaphore,
    in_flight_max: usize,
    idle_timeout: Duration,
    render: Render,
}

/// `router` behind the guard.
pub(super) fn guarded(router: Router, limits: &Limits, render: Render) -> Router {
    let guard = Arc::new(Guard {
        in_flight: Semaphore::new(limits.requests_in_flight_max),
        in_flight_max: limits.requests_in_flight_max,
        idle_timeout: limits.idle_timeout,
        render,
    });
    router.layer(axum::middleware::from_fn_with_state(guard, guard_request))
}

/// The longest request target (path and query) served; longer is 414. Every route's
/// path and query fit well within it; the head as a whole is bounded by
/// `Limits::header_bytes_max`.
pub const URI_BYTES_MAX: usize = 8 * 1024;

async fn guard_request(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let target_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target_bytes > URI_BYTES_MAX {
        let detail = format!(
            "the request target is {target_bytes} bytes, over the limit of {URI_BYTES_MAX}"
        );
        return refusal(guard.render, StatusCode::URI_TOO_LONG, detail);
    }
    // Held while the handler runs, not while a response body streams out.
    let Ok(_permit) = guard.in_flight.try_acquire() else {
        let detail = format!(
            "this server is handling {} requests, its limit; retry in a moment",
            guard.in_flight_max
        );
        return refusal(guard.render, StatusCode::SERVICE_UNAVAILABLE, detail);
    };
    let idle_timeout = guard.idle_timeout;
    let request = request.map(|body| Body::new(IdleBody::new(body, idle_timeout)));
    let response = next.run(request).await;
    enveloped(response, guard.render).await
}

/// The response in the service's envelope if it is an error in plain text or none.
async fn enveloped(response: Response, render: Render) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(status.is_client_error() || status.is_server_error())
        || !(content_type.is_empty() || content_type.starts_with("text/plain"))
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // axum's rejections are a sentence; anything longer is not one to show.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let detail = if text.is_empty() || status.is_server_error() {
        detail_of_status(status)
    } else {
        text
    };
    let mut enveloped = refusal(render, status, detail);
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    enveloped.headers_mut().extend(parts.headers);
    enveloped
}

/// A refusal as a response, with `Retry-After` on a 503.
fn refusal(render: Render, status: StatusCode, detail: String) -> Response {
    let refusal = render(status, code_of_status(status), detail);
    let mut response = (status, refusal.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(refusal.content_type),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The API's code (API.md's list) for an error status made outside a handler.
pub fn code_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        429 | 503 => "UNAVAILABLE",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

/// A detail for an error that came without one.
pub(super) fn detail_of_status(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "the request could not be parsed: its request line, a header or its Content-Length is malformed",
        404 => "nothing is served at this path",
        405 => "this path does not take this method",
        413 => "the request body is larger than this endpoint accepts",
        414 => "the request target (path and query) is too long",
        431 => "the request's headers are too large or too many",
        500..=599 => "the server failed to answer this request; retry, and report it if it persists",
        _ => status.canonical_reason().unwrap_or("the request was refused"),
    }
    .to_owned()
}

/// A request body that fails once the client has sent nothing for `idle` while the
/// handler waits for it: a client that stops mid-body must not hold a handler and its
/// permit forever. The clock runs only while the handler waits, not while it works.
struct IdleBody {
    inner: Body,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    waiting: bool,
}

impl IdleBody {
    fn new(inner: Body, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            waiting: false,
        }
    }
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame);
        }
        if !this.waiting {
            this.waiting = true;
            let deadline = tokio::time::Instant::now() + this.idle;
            this.deadline.as_mut().reset(deadline);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(format!(
                "the request body stopped arriving for {} s",
                this.idle.as_secs()
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
