//! A relay between the ledger and PostgreSQL (without TLS) that reads the client's
//! protocol messages and, once armed, cuts the connection of the next batched commit:
//! either before the COMMIT reaches the server (which then rolls back) or after the
//! server has answered it (committed, but the answer never arrives). A batch's
//! transaction is one that ran the write statement (the prepared statement whose text
//! selects `pg_current_xact_id()`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the armed cut falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The COMMIT is never sent on.
    BeforeCommit,
    /// The COMMIT is sent on; the server's answer is dropped with the connection.
    AfterCommit,
}

#[derive(Default)]
struct Shared {
    /// 0: not armed; 1: `BeforeCommit`; 2: `AfterCommit`.
    armed: AtomicU8,
    cuts: AtomicU64,
}

pub struct CommitCut {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl CommitCut {
    /// A relay on a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CommitCut {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let relay_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = relay_shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, &shared).await;
                    }
                });
            }
        });
        CommitCut { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The next batched commit is cut as `cut` says.
    pub fn arm(&self, cut: Cut) {
        let code = match cut {
            Cut::BeforeCommit => 1,
            Cut::AfterCommit => 2,
        };
        self.shared.armed.store(code, Ordering::SeqCst);
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

/// What the client's messages have said so far on one connection.
#[derive(Default)]
struct Reader {
    pending: Vec<u8>,
    started: bool,
    /// Prepared statements by name: whether it is a batch's write statement.
    statements: HashMap<Vec<u8>, bool>,
    in_batch: bool,
}

impl Reader {
    /// Takes in `bytes`; true when they complete a COMMIT of a batch's transaction.
    fn commits_a_batch(&mut self, bytes: &[u8]) -> bool {
        self.pending.extend_from_slice(bytes);
        let mut commit = false;
        loop {
            let header = if self.started { 5 } else { 4 };
            if self.pending.len() < header {
                return commit;
            }
            let at = header - 4;
            let len = u32::from_be_bytes(self.pending[at..at + 4].try_into().unwrap()) as usize;
            if self.pending.len() < at + len {
                return commit;
            }
            let message: Vec<u8> = self.pending.drain(..at + len).collect();
            if !self.started {
                self.started = true;
                continue;
            }
            commit |= self.read(message[0], &message[5..]);
        }
    }

    fn read(&mut self, kind: u8, body: &[u8]) -> bool {
        let mut strings = body.split(|&b| b == 0);
        match kind {
            b'P' => {
                let name = strings.next().unwrap_or_default().to_vec();
                let query = String::from_utf8_lossy(strings.next().unwrap_or_default());
                self.statements
                    .insert(name, query.contains("pg_current_xact_id()"));
            }
            b'B' => {
                let _portal = strings.next();
                let statement = strings.next().unwrap_or_default();
                if self.statements.get(statement).copied().unwrap_or(false) {
                    self.in_batch = true;
                }
            }
            b'Q' => {
                let query = String::from_utf8_lossy(strings.next().unwrap_or_default());
                let ends = query.starts_with("COMMIT") || query.starts_with("ROLLBACK");
                let batch_commit = query.starts_with("COMMIT") && self.in_batch;
                if ends {
                    self.in_batch = false;
                }
                return batch_commit;
            }
            _ => {}
        }
        false
    }
}

async fn relay(mut client: TcpStream, mut server: TcpStream, shared: &Shared) {
    let mut reader = Reader::default();
    let (mut from_client, mut from_server) = (vec![0u8; 16384], vec![0u8; 16384]);
    let mut cut_at_answer = false;
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let Ok(n) = read else { return };
                if n == 0 {
                    return;
                }
                let chunk = &from_client[..n];
                if reader.commits_a_batch(chunk) {
                    match shared.armed.swap(0, Ordering::SeqCst) {
                        1 => {
                            shared.cuts.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        2 => cut_at_answer = true,
                        _ => {}
                    }
                }
                if server.write_all(chunk).await.is_err() {
                    return;
                }
            }
            read = server.read(&mut from_server) => {
                let Ok(n) = read else { return };
                if n == 0 {
                    return;
                }
                if cut_at_answer {
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if client.write_all(&from_server[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
