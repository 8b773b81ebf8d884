//! The connection's socket as hyper sees it: it notices a client that stopped reading,
//! and it gives hyper's own refusals (a head that does not parse, 414, 431) the
//! service's error body, which hyper writes empty and offers no hook for.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{guard, Render};

/// A socket whose writes are watched.
pub struct Watched {
    stream: TcpStream,
    render: Render,
    writes: Writes,
    /// The service's version of a refusal hyper wrote, and how much of it is sent.
    replacement: Option<(Vec<u8>, usize)>,
}

/// When the connection's writes last made progress, and whether one is waiting.
#[derive(Clone)]
pub struct Writes {
    since: Instant,
    progress_ms: Arc<AtomicU64>,
    blocked: Arc<AtomicBool>,
}

impl Writes {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn progressed(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        self.blocked.store(false, Ordering::Relaxed);
    }

    fn block(&self) {
        if !self.blocked.swap(true, Ordering::Relaxed) {
            self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Resolves once a write has waited `limit` for the client to read.
    pub async fn stalled_for(&self, limit: Duration) {
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        loop {
            let waited_ms = self
                .now_ms()
                .saturating_sub(self.progress_ms.load(Ordering::Relaxed));
            if self.blocked.load(Ordering::Relaxed) && waited_ms >= limit_ms {
                return;
            }
            // Checked again after at most `limit`: a stall is noticed within 2 × limit.
            tokio::time::sleep(limit.saturating_sub(Duration::from_millis(waited_ms))).await;
        }
    }
}

impl Watched {
    /// The socket, and the handle that tells when its writes stall.
    pub fn new(stream: TcpStream, render: Render) -> (Watched, Writes) {
        let writes = Writes {
            since: Instant::now(),
            progress_ms: Arc::new(AtomicU64::new(0)),
            blocked: Arc::new(AtomicBool::new(false)),
        };
        let watched = Watched {
            stream,
            render,
            writes: writes.clone(),
            replacement: None,
        };
        (watched, writes)
    }

    /// Sends the rest of the replacement; `Ready` once all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacement {
            if *sent == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }

    fn track<T>(&self, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match &poll {
            Poll::Pending => self.writes.block(),
            Poll::Ready(_) => self.writes.progressed(),
        }
        poll
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() {
            if let Some(status) = hypers_own_refusal(buf) {
                let bytes = raw_response(status, this.render, guard::detail_of_status(status));
                this.replacement = Some((bytes, 0));
            } else {
                let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
                return this.track(poll);
            }
        }
        // hyper is told its empty refusal went out once the service's version has.
        let poll = this.poll_replacement(cx).map_ok(|()| buf.len());
        this.track(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let refusal = bufs.len() == 1 && hypers_own_refusal(&bufs[0]).is_some();
        if refusal || self.replacement.is_some() {
            let first = bufs.first().map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        let this = &mut *self;
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.track(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The status of a response hyper made itself for a request it could not parse: a
/// whole head on its own, a 4xx, no `Content-Type` and an empty body. Every response of
/// the services has a `Content-Type` (the error guard gives one to every error), so
/// this matches nothing they write; a body chunk could only match if it were itself
/// such a head, and then the connection it would end is the one that sent it.
fn hypers_own_refusal(buf: &[u8]) -> Option<StatusCode> {
    let head = buf.strip_prefix(b"HTTP/1.1 4")?;
    if !head.ends_with(b"\r\n\r\n") || head.len() > 512 {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    if text.contains("content-type:") || !text.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let digits = text.get(..2)?;
    StatusCode::from_bytes(format!("4{digits}").as_bytes()).ok()
}

/// A whole HTTP/1.1 response that closes the connection: the service's refusal.
pub fn raw_response(status: StatusCode, render: Render, detail: String) -> Vec<u8> {
    let refusal = render(status, guard::code_of_status(status), detail);
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        refusal.content_type,
        refusal.body.len()
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        bytes.push_str("retry-after: 1\r\n");
    }
    bytes.push_str("\r\n");
    let mut bytes = bytes.into_bytes();
    bytes.extend_from_slice(&refusal.body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_refusals_are_recognised_and_service_responses_are_not() {
        let own = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n";
        assert_eq!(
            hypers_own_refusal(own),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let bad = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(hypers_own_refusal(bad), Some(StatusCode::BAD_REQUEST));
        let service = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hypers_own_refusal(service), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hypers_own_refusal(ok), None);
        let with_body = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(hypers_own_refusal(with_body), None);
    }
}
