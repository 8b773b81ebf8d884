//! The services' front door as an attacker and a broken client meet it, over raw TCP
//! against the real binaries: hyper's own refusals (a head that does not parse, too
//! many or too large headers, a long target), axum's plain-text rejections and empty
//! 404s all come in the service's envelope with the body's status equal to the HTTP
//! status; requests past the in-flight cap and a body that stops arriving are refused;
//! 10,000 slow connections are capped and cut, and the memory they took comes back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{start_gateway, start_node_with_env, start_with_env, Process};
use common::{database_url_of, new_key};
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `http://127.0.0.1:PORT` → `127.0.0.1:PORT`.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Sends `request` as is and reads the answer until the server closes or the body is
/// complete (up to 20 s).
async fn exchange(host: &str, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(host).await.unwrap();
    // The server may answer and close before it has read all of a refused request.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut chunk = [0u8; 8192];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "no complete answer within 20 s: {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
        if answer_complete(&bytes) {
            break;
        }
    }
    parse_answer(&bytes)
}

fn split_head(bytes: &[u8]) -> Option<(String, &[u8])> {
    let at = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&bytes[..at]).to_ascii_lowercase(),
        &bytes[at + 4..],
    ))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
}

fn answer_complete(bytes: &[u8]) -> bool {
    split_head(bytes).is_some_and(|(head, body)| {
        content_length(&head).is_some_and(|length| body.len() >= length)
    })
}

fn parse_answer(bytes: &[u8]) -> Answer {
    let (head, body) = split_head(bytes)
        .unwrap_or_else(|| panic!("an HTTP answer: {:?}", String::from_utf8_lossy(bytes)));
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "a JSON body ({e}) in {head}\n{:?}",
            String::from_utf8_lossy(body)
        )
    });
    Answer { status, head, body }
}

#[derive(Clone, Copy, PartialEq)]
enum Envelope {
    /// RFC 9457 problem details (the ledger, the storage node).
    Problem,
    /// Walrus's `{"error": {...}}` (the gateway).
    Walrus,
}

/// The answer is a refusal with `status` in the service's envelope.
fn assert_refusal(answer: &Answer, status: u16, envelope: Envelope, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    match envelope {
        Envelope::Problem => {
            assert!(
                answer
                    .head
                    .contains("content-type: application/problem+json"),
                "{what}: {}",
                answer.head
            );
            assert_eq!(answer.body["status"], status, "{what}: {}", answer.body);
            assert!(answer.body["code"].as_str().is_some_and(|c| !c.is_empty()));
            let detail = answer.body["detail"].as_str().unwrap_or("");
            assert!(!detail.is_empty(), "{what}: {}", answer.body);
        }
        Envelope::Walrus => {
            assert!(answer.head.contains("content-type: application/json"));
            assert_eq!(
                answer.body["error"]["code"], status,
                "{what}: {}",
                answer.body
            );
            let message = answer.body["error"]["message"].as_str().unwrap_or("");
            assert!(!message.is_empty(), "{what}: {}", answer.body);
        }
    }
}

/// What hyper refuses before any handler runs, and what axum answers outside them:
/// (what, the raw request, the status).
fn front_door_refusals() -> Vec<(&'static str, Vec<u8>, u16)> {
    let many_headers: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let big = "v".repeat(20_000);
    let long = "a".repeat(10_000);
    vec![
        ("150 headers", format!("GET /health HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").into_bytes(), 431),
        ("a 20 KB header", format!("GET /health HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n").into_bytes(), 431),
        ("a 10 KB target", format!("GET /{long} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(), 414),
        ("Content-Length: abc", b"POST /v1/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n".to_vec(), 400),
        ("two Content-Lengths", b"POST /v1/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}".to_vec(), 400),
        ("no request line", b"NOT-HTTP\r\n\r\n".to_vec(), 400),
        ("an unknown route", b"GET /no/such/route HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), 404),
    ]
}

async fn assert_front_door_refusals(host: &str, envelope: Envelope) {
    for (what, request, status) in front_door_refusals() {
        assert_refusal(&exchange(host, &request).await, status, envelope, what);
    }
}

fn write_key(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("node.key");
    wal::client::keyfile::write_new(&path, &new_key()).unwrap();
    path
}

#[sqlx::test]
async fn every_service_refuses_in_its_envelope(db: PgPool) {
    let ledger = start_with_env(&database_url_of(&db), &new_key(), &[]);
    let dir = tempdir();
    let node = start_node_with_env(&ledger.url, &write_key(&dir), &dir.join("data"), &[]);
    let gateway = start_gateway(&ledger.url, None, &[]);
    assert_front_door_refusals(&host_of(&ledger.url), Envelope::Problem).await;
    assert_front_door_refusals(&host_of(&node.url), Envelope::Problem).await;
    assert_front_door_refusals(&host_of(&gateway.url), Envelope::Walrus).await;

    // The storage node's extractors answered these in plain text.
    let node_host = host_of(&node.url);
    let blob = "a".repeat(43);
    let request = format!("GET /v1/blobs/{blob}/slivers/not-a-number HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = exchange(&node_host, request.as_bytes()).await;
    assert_refusal(
        &answer,
        400,
        Envelope::Problem,
        "a shard that is not a number",
    );
    let request = b"POST /v1/challenges HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
    let answer = exchange(&node_host, request).await;
    assert!(
        answer.status == 400 || answer.status == 422,
        "{}",
        answer.body
    );
    assert_refusal(
        &answer,
        answer.status,
        Envelope::Problem,
        "a challenge of the wrong shape",
    );
    let request = b"DELETE /v1/challenges HTTP/1.1\r\nhost: x\r\n\r\n";
    assert_refusal(
        &exchange(&node_host, request).await,
        405,
        Envelope::Problem,
        "DELETE",
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wal-connections-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A request whose body stops arriving holds a handler until the idle timeout; while
/// it does, the in-flight cap of 1 refuses the next request with 503 and Retry-After.
#[sqlx::test]
async fn a_stalled_body_is_cut_and_the_in_flight_cap_refuses(db: PgPool) {
    let env = [
        ("WAL_HTTP_REQUESTS_MAX", "1".to_owned()),
        ("WAL_HTTP_IDLE_TIMEOUT_SECS", "2".to_owned()),
    ];
    let ledger = start_with_env(&database_url_of(&db), &new_key(), &env);
    let host = host_of(&ledger.url);
    let mut stalled = TcpStream::connect(&host).await.unwrap();
    stalled
        .write_all(b"POST /v1/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"to\":")
        .await
        .unwrap();
    let started = Instant::now();
    let refused = common::eventually(10, "a 503 over the in-flight cap", || async {
        let answer = exchange(&host, b"GET /v1/network HTTP/1.1\r\nhost: x\r\n\r\n").await;
        (answer.status == 503).then_some(answer)
    })
    .await;
    assert_refusal(&refused, 503, Envelope::Problem, "over the in-flight cap");
    assert!(refused.head.contains("retry-after:"), "{}", refused.head);

    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !answer_complete(&bytes) {
            let mut chunk = [0u8; 4096];
            let n = stalled.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed without an answer");
            bytes.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the stalled request is answered");
    let answer = parse_answer(&bytes);
    assert_refusal(&answer, 400, Envelope::Problem, "a body that stopped");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("stopped arriving"), "{detail}");

    let answer = exchange(&host, b"GET /v1/network HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(
        answer.status, 200,
        "the cap frees with the handler: {}",
        answer.body
    );
}

/// The resident memory of a process, from /proc, in MiB.
fn rss_mib(process: &Process) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Opens `count` connections that each send a partial head and then one header line
/// a second, as a slow-loris client does; returns how many the server answered 503
/// and how many it closed, once every one of them has ended.
async fn slow_clients(host: &str, count: usize, limit: Duration) -> (usize, usize) {
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..count {
        let host = host.to_owned();
        clients.spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&host).await else {
                return (false, true); // refused at connect: the backlog was full
            };
            let _ = stream
                .write_all(b"GET /v1/network HTTP/1.1\r\nhost: x\r\n")
                .await;
            let mut first = [0u8; 12];
            for line in 0.. {
                let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut first));
                match read.await {
                    Ok(Ok(0)) | Ok(Err(_)) => return (false, true),
                    Ok(Ok(_)) => return (first.starts_with(b"HTTP/1.1 503"), true),
                    Err(_) => {
                        let header = format!("x-slow-{i}-{line}: 1\r\n");
                        if stream.write_all(header.as_bytes()).await.is_err() {
                            return (false, true);
                        }
                    }
                }
            }
            unreachable!()
        });
    }
    let mut refused = 0;
    let mut closed = 0;
    let results = tokio::time::timeout(limit, async {
        while let Some(result) = clients.join_next().await {
            let (was_refused, was_closed) = result.unwrap();
            refused += usize::from(was_refused);
            closed += usize::from(was_closed);
        }
    });
    results
        .await
        .unwrap_or_else(|_| panic!("every slow connection ends within {limit:?}"));
    (refused, closed)
}

/// 10,000 slow-loris connections, twice: the ledger keeps at most its cap of them,
/// answers the rest 503, cuts each kept one at the header timeout, and its memory
/// stays bounded during a round and comes back after it.
#[sqlx::test]
async fn ten_thousand_slow_connections_are_capped_cut_and_forgotten(db: PgPool) {
    let env = [("WAL_HTTP_HEADER_TIMEOUT_SECS", "3".to_owned())];
    let ledger = start_with_env(&database_url_of(&db), &new_key(), &env);
    let host = host_of(&ledger.url);
    // Warm the ledger up (pool, first requests) before its baseline is read.
    for _ in 0..20 {
        exchange(
            &host,
            b"GET /v1/network HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
    }
    let baseline = rss_mib(&ledger);
    let mut after_rounds = Vec::new();
    for round in 0..2 {
        let peak = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
        let sampler = {
            let peak = peak.clone();
            let pid = ledger.child.id();
            tokio::spawn(async move {
                loop {
                    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                        let kib: f64 = status
                            .lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                            .unwrap_or(0.0);
                        let mut peak = peak.lock().unwrap();
                        *peak = peak.max(kib / 1024.0);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let (refused, closed) = slow_clients(&host, 10_000, Duration::from_secs(120)).await;
        sampler.abort();
        assert_eq!(closed, 10_000, "every connection ended");
        assert!(refused > 0, "connections over the cap are answered 503");
        let answer = exchange(&host, b"GET /v1/network HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert_eq!(answer.status, 200, "the ledger serves after the round");
        let after = rss_mib(&ledger);
        let peak = *peak.lock().unwrap();
        eprintln!(
            "round {round}: baseline {baseline:.1} MiB, peak {peak:.1} MiB, after {after:.1} MiB, \
             {refused} of 10000 answered 503"
        );
        // The cap (1024 connections) × a connection's buffers and state.
        assert!(
            peak - baseline < 96.0,
            "peak {peak:.1} MiB over a baseline of {baseline:.1}"
        );
        after_rounds.push(after);
    }
    // The allocator keeps some of what it freed (8.7 MiB once); `axum::serve` kept
    // 60 MB more after each round.
    assert!(
        after_rounds[1] - after_rounds[0] < 16.0,
        "a second round keeps no more: {after_rounds:?}"
    );
    assert!(
        after_rounds[1] - baseline < 32.0,
        "memory comes back after the connections close: {after_rounds:?} over {baseline:.1} MiB"
    );
}
