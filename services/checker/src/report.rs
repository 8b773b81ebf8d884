//! Reports results to `POST /v1/audits` in batches, durably and at most once.
//!
//! Each result is appended to `unsent.jsonl` in the state directory as soon as it is
//! known (a line written before the process dies survives it). What came in 500 ms
//! is cut into batches (at most 200 results and about 200 kB each), each written to
//! `batch-<idempotency key>.json` (write, fsync, rename) before it is sent; the
//! results are then taken out of `unsent.jsonl` (rewritten the same way). A batch file
//! is removed once the ledger has answered for good. After a crash the checker resends
//! every batch file with its own key (the ledger replays, never counts twice) and
//! batches the unsent results that no batch file holds. So a result is lost only if
//! the process dies between the node's answer and the append.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use wal::client::{ClientError, LedgerClient};
use wal::wire::{AuditResult, Outcome};

const BATCH_RESULTS: usize = 200;
/// Under the ledger's default body limit (256 KiB): a `fail` carries its chunk as
/// evidence (about 8.6 KB), so a batch is cut by size as well as by count.
const BATCH_BYTES: usize = 200_000;
const BATCH_WAIT: Duration = Duration::from_millis(500);

/// One result for one epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reported {
    pub epoch: i64,
    pub result: AuditResult,
}

#[derive(Serialize, Deserialize)]
struct BatchFile {
    key: String,
    epoch: i64,
    results: Vec<AuditResult>,
}

#[derive(Clone)]
pub struct Reporter {
    spool: Arc<Spool>,
    sender: mpsc::UnboundedSender<Reported>,
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Reporter {
    /// Records a result durably (it survives a crash of the checker) and queues it.
    pub async fn send(&self, reported: Reported) {
        let (spool, line) = (self.spool.clone(), reported.clone());
        match blocking(move || spool.append(&line)).await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "cannot write the spool"),
        }
        let _ = self.sender.send(reported);
    }

    /// Seals what is queued into batch files and delivers what the ledger takes, once;
    /// then the reporter stops. What is not delivered stays spooled for the next run.
    pub async fn flush(&self) {
        let (done, answer) = oneshot::channel();
        if self.flush.send(done).is_ok() {
            let _ = answer.await;
        }
    }
}

/// Runs file I/O (with its fsyncs) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    let dir = path.parent().ok_or_else(|| {
        std::io::Error::other(format!("{} is not in a directory", path.display()))
    })?;
    std::fs::File::open(dir)?.sync_all()
}

struct Spool {
    dir: PathBuf,
    /// Held while `unsent.jsonl` is appended to or rewritten.
    unsent_lock: std::sync::Mutex<()>,
}

impl Spool {
    fn unsent(&self) -> PathBuf {
        self.dir.join("unsent.jsonl")
    }

    /// The lock on `unsent.jsonl`; poisoned only if a holder panicked mid-write.
    fn lock_unsent(&self) -> std::io::Result<std::sync::MutexGuard<'_, ()>> {
        self.unsent_lock
            .lock()
            .map_err(|_| std::io::Error::other("the unsent.jsonl lock is poisoned"))
    }

    fn append(&self, reported: &Reported) -> std::io::Result<()> {
        let _guard = self.lock_unsent()?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.unsent())?;
        let mut line = serde_json::to_vec(reported)?;
        line.push(b'\n');
        file.write_all(&line)
    }

    /// Turns results into batch files (per epoch, at most `BATCH_RESULTS` results and
    /// about `BATCH_BYTES`), then takes them out of `unsent.jsonl`.
    fn seal(&self, results: Vec<Reported>) -> std::io::Result<()> {
        let _guard = self.lock_unsent()?;
        let mut epochs: Vec<i64> = results.iter().map(|r| r.epoch).collect();
        epochs.sort_unstable();
        epochs.dedup();
        for epoch in epochs {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for r in results.iter().filter(|r| r.epoch == epoch) {
                let size = serde_json::to_vec(&r.result).map_or(0, |v| v.len());
                if !batch.is_empty() && (batch.len() == BATCH_RESULTS || bytes + size > BATCH_BYTES)
                {
                    self.write_batch(epoch, std::mem::take(&mut batch))?;
                    bytes = 0;
                }
                batch.push(r.result.clone());
                bytes += size;
            }
            self.write_batch(epoch, batch)?;
        }
        let sealed: HashSet<&str> = results
            .iter()
            .map(|r| r.result.challenge_id.as_str())
            .collect();
        let text = std::fs::read_to_string(self.unsent()).unwrap_or_default();
        let mut rest = String::new();
        for line in text.lines() {
            let keep = serde_json::from_str::<Reported>(line)
                .is_ok_and(|r| !sealed.contains(r.result.challenge_id.as_str()));
            if keep {
                rest.push_str(line);
                rest.push('\n');
            }
        }
        write_durably(&self.unsent(), rest.as_bytes())
    }

    /// Writes one batch file with a fresh idempotency key (nothing if empty).
    fn write_batch(&self, epoch: i64, results: Vec<AuditResult>) -> std::io::Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let batch = BatchFile {
            key: uuid::Uuid::new_v4().to_string(),
            epoch,
            results,
        };
        let path = self.dir.join(format!("batch-{}.json", batch.key));
        write_durably(&path, &serde_json::to_vec(&batch)?)
    }

    fn batch_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("batch-") && n.ends_with(".json"))
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// After a crash: results appended but in no batch file yet.
    fn recover_unsent(&self) -> std::io::Result<Vec<Reported>> {
        let mut in_batches = HashSet::new();
        for path in self.batch_files()? {
            if let Ok(batch) = serde_json::from_slice::<BatchFile>(&std::fs::read(&path)?) {
                in_batches.extend(batch.results.into_iter().map(|r| r.challenge_id));
            }
        }
        let text = std::fs::read_to_string(self.unsent()).unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str::<Reported>(line).ok())
            .filter(|r| !in_batches.contains(&r.result.challenge_id))
            .collect())
    }
}

/// A refusal of the batch's content (400, 404, 413, 422), which a resend of the same
/// batch cannot change; a proxy's plain-text 413 counts too.
fn refused_for_content(e: &ClientError) -> bool {
    match e {
        ClientError::Problem(p) => matches!(p.status, 400 | 404 | 413 | 422),
        ClientError::Decode { status, .. } => *status == 413,
        _ => false,
    }
}

/// A `fail` turned into `missing` (no evidence), for a single refused result.
fn without_evidence(result: &AuditResult) -> Option<AuditResult> {
    (result.outcome == Outcome::Fail).then(|| AuditResult {
        outcome: Outcome::Missing,
        evidence: None,
        ..result.clone()
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Recorded, or refused for good (its epoch has closed): the file is removed.
    Done,
    /// Not delivered (the ledger unreachable, overloaded, or refusing the signature or
    /// the role for now): kept and sent again later.
    Retry,
}

/// Sends one batch file. A batch refused for its content (one result the ledger will
/// not take, such as a blob deleted since it was challenged, or a body too large) is
/// split in two, each half a new batch file with its own key, so one bad result costs
/// only itself; a single bad result is dropped and logged.
async fn send(spool: &Arc<Spool>, ledger: &LedgerClient, path: &Path) -> Delivery {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return Delivery::Done;
    };
    let Ok(batch) = serde_json::from_slice::<BatchFile>(&bytes) else {
        tracing::error!(path = %path.display(), "unreadable batch file dropped");
        let _ = tokio::fs::remove_file(path).await;
        return Delivery::Done;
    };
    let body = serde_json::json!({"epoch": batch.epoch, "results": batch.results});
    let answer: Result<Value, ClientError> = ledger.post("/v1/audits", &body, &batch.key).await;
    match &answer {
        Ok(recorded) => tracing::debug!(%recorded, "batch recorded"),
        Err(ClientError::Problem(p)) if p.status == 409 => {
            tracing::warn!(epoch = batch.epoch, detail = %p.detail, "batch refused for good")
        }
        Err(e) if refused_for_content(e) => {
            if resend_parts(spool, batch, e).await.is_err() {
                return Delivery::Retry;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "batch not delivered; will resend");
            return Delivery::Retry;
        }
    }
    let _ = tokio::fs::remove_file(path).await;
    Delivery::Done
}

/// A batch refused for its content: its halves become new batch files, or a single
/// `fail` whose evidence was refused is reported as `missing`; any other single
/// result is dropped.
async fn resend_parts(spool: &Arc<Spool>, batch: BatchFile, e: &ClientError) -> Result<(), ()> {
    let epoch = batch.epoch;
    let parts = if let [only] = &batch.results[..] {
        if let Some(missing) = without_evidence(only) {
            // Evidence the ledger would not take (say the node changed its key since
            // it answered): the node still gave no valid answer.
            tracing::warn!(error = %e, "evidence refused; reported as missing");
            vec![vec![missing]]
        } else {
            tracing::error!(epoch, error = %e, "result refused; dropped");
            return Ok(());
        }
    } else {
        let mut first = batch.results;
        let second = first.split_off(first.len() / 2);
        vec![first, second]
    };
    let spool = spool.clone();
    let written = blocking(move || {
        parts
            .into_iter()
            .try_for_each(|part| spool.write_batch(epoch, part))
    })
    .await;
    written.map_err(|e| tracing::error!(error = %e, "cannot write a refused batch's parts"))
}

/// Every batch file, sent in order; false if one is not delivered (the rest wait).
async fn deliver(spool: &Arc<Spool>, ledger: &LedgerClient) -> bool {
    let listing = spool.clone();
    for path in blocking(move || listing.batch_files())
        .await
        .unwrap_or_default()
    {
        if send(spool, ledger, &path).await == Delivery::Retry {
            return false;
        }
    }
    true
}

/// Seals results into batch files (fsyncs: off the async workers).
async fn seal(spool: &Arc<Spool>, results: Vec<Reported>) {
    if results.is_empty() {
        return;
    }
    let sealing = spool.clone();
    if let Err(e) = blocking(move || sealing.seal(results)).await {
        tracing::error!(error = %e, "cannot write a batch file");
    }
}

/// Starts the reporter: first delivers what an earlier run left (before it returns,
/// so the counts the checker then reads from the ledger include them), then batches
/// new results as they come.
pub async fn start(state_dir: &Path, ledger: Arc<LedgerClient>) -> std::io::Result<Reporter> {
    let spool = Arc::new(Spool {
        dir: state_dir.to_owned(),
        unsent_lock: std::sync::Mutex::new(()),
    });
    let recovering = spool.clone();
    blocking(move || {
        std::fs::create_dir_all(&recovering.dir)?;
        let leftover = recovering.recover_unsent()?;
        recovering.seal(leftover)
    })
    .await?;
    while !deliver(&spool, &ledger).await {
        tracing::warn!("the ledger does not take the spooled results yet; waiting");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (sender, receiver) = mpsc::unbounded_channel::<Reported>();
    let (flush, flushes) = mpsc::unbounded_channel();
    let reporter = Reporter {
        spool: spool.clone(),
        sender,
        flush,
    };
    tokio::spawn(batch_loop(spool, ledger, receiver, flushes));
    Ok(reporter)
}

/// Delivers batch files, then gathers what comes in `BATCH_WAIT` (at most
/// `BATCH_RESULTS`) into new ones; on a flush, seals everything queued, delivers once
/// and stops.
async fn batch_loop(
    spool: Arc<Spool>,
    ledger: Arc<LedgerClient>,
    mut receiver: mpsc::UnboundedReceiver<Reported>,
    mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    loop {
        deliver(&spool, &ledger).await;
        let first = tokio::select! {
            next = tokio::time::timeout(BATCH_WAIT, receiver.recv()) => match next {
                Ok(Some(first)) => first,
                Ok(None) => return,
                Err(_) => continue,
            },
            Some(done) = flushes.recv() => {
                let mut queued = Vec::new();
                while let Ok(next) = receiver.try_recv() {
                    queued.push(next);
                }
                seal(&spool, queued).await;
                if !deliver(&spool, &ledger).await {
                    tracing::warn!("results left in the spool for the next run");
                }
                let _ = done.send(());
                return;
            }
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_RESULTS {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(next)) => batch.push(next),
                _ => break,
            }
        }
        seal(&spool, batch).await;
    }
}
