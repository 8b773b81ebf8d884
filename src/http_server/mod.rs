//! The HTTP/1.1 server every service runs (the ledger, the storage node, the gateway).
//! `axum::serve` has no header-read timeout and no connection cap, so 10,000 clients
//! that trickle one header line every few seconds kept 10,000 connections and half a
//! gigabyte; this server bounds each connection in time and their number, caps the
//! requests being handled, and answers every refusal (hyper's own included) in the
//! service's error envelope.

mod guard;
mod io;
mod limits;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

pub use guard::code_of_status;
pub use limits::Limits;

/// A refusal's body in the service's envelope: RFC 9457 problem details for the ledger
/// and the storage node, Walrus's error envelope for the gateway.
pub struct Refusal {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// Renders a refusal from its status, API code and a detail a person can act on.
pub type Render = fn(StatusCode, &'static str, String) -> Refusal;

/// The ledger's and the storage node's envelope: `wal::wire::Problem`.
pub fn problem_json(status: StatusCode, code: &'static str, detail: String) -> Refusal {
    let problem = crate::wire::Problem::new(status, code, detail);
    Refusal {
        content_type: "application/problem+json",
        body: serde_json::to_vec(&problem).unwrap_or_default(),
    }
}

/// Refused connections being answered at once; past this many they are closed
/// without an answer, so a flood of connections costs no more than this.
const REFUSING_MAX: usize = 64;

/// How long a refused connection is given to take its 503 before it is closed.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then
/// stops accepting and lets the open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    render: Render,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = guard::guarded(router, &limits, render);
    let connections = Arc::new(Semaphore::new(limits.connections_max));
    let refusing = Arc::new(Semaphore::new(REFUSING_MAX));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await?;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let connection = Connection {
                    limits: limits.clone(),
                    render,
                    permit,
                };
                tokio::spawn(connection.run(stream, router.clone(), stopped.clone()));
            }
            Err(_) => refuse(stream, &refusing, &limits, render),
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back means drained.
    let all = u32::try_from(limits.connections_max).unwrap_or(u32::MAX);
    let _ = connections.acquire_many(all).await;
    Ok(())
}

/// Out of file descriptors (or another resource) is passing: wait a moment rather
/// than spin; anything else stops the server.
async fn accept_failed(e: std::io::Error) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let transient = matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) || matches!(e.raw_os_error(), Some(code) if code == 23 || code == 24 || code == 105 || code == 12);
    if !transient {
        return Err(e);
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// Answers a connection over the cap with a 503 and closes it.
fn refuse(mut stream: TcpStream, refusing: &Arc<Semaphore>, limits: &Limits, render: Render) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return; // dropped: closed unanswered
    };
    let detail = format!(
        "this server already has {} connections open (its limit); retry in a moment",
        limits.connections_max
    );
    let bytes = io::raw_response(StatusCode::SERVICE_UNAVAILABLE, render, detail);
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(&bytes).await?;
            stream.shutdown().await
        })
        .await;
    });
}

/// One accepted connection and what bounds it.
struct Connection {
    limits: Limits,
    render: Render,
    permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Serves requests until the client closes, a limit cuts it, or the server stops.
    async fn run(self, stream: TcpStream, router: Router, mut stopped: watch::Receiver<bool>) {
        let _permit = self.permit;
        let _ = stream.set_nodelay(true);
        let (stream, writes) = io::Watched::new(stream, self.render);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_headers(self.limits.headers_max)
            .max_header_size(self.limits.header_bytes_max)
            .max_buf_size(self.limits.read_buffer_bytes())
            .keep_alive(true);
        let service = TowerToHyperService::new(router);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = writes.stalled_for(self.limits.idle_timeout) => {
                    tracing::debug!("closing a connection whose client stopped reading");
                    return;
                }
                changed = stopped.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}
