//! Reports results to `POST /v1/audits` in batches, durably and at most once.
//!
//! Each result is appended to `unsent.jsonl` in the state directory as soon as it is
//! known (a line written before the process dies survives it). A batch (at most 200 results, or whatever came in 500 ms) is written to
//! `batch-<idempotency key>.json` (write, fsync, rename) before it is sent, and
//! `unsent.jsonl` is then emptied; the file is removed once the ledger has answered for
//! good. After a crash the checker resends every batch file with its own key (the
//! ledger replays, never counts twice) and batches the unsent results whose
//! challenges no batch file holds. So a result is lost only if the process dies
//! between the node's answer and the append.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use wal::audits::record::AuditResult;
use wal::client::{ClientError, LedgerClient};

const BATCH_RESULTS: usize = 200;
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
}

impl Reporter {
    /// Records a result durably (it survives a crash of the checker) and queues it.
    pub fn send(&self, reported: Reported) {
        if let Err(e) = self.spool.append(&reported) {
            tracing::error!(error = %e, "cannot write the spool");
        }
        let _ = self.sender.send(reported);
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(path.parent().expect("in the state dir"))?.sync_all()
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

    fn append(&self, reported: &Reported) -> std::io::Result<()> {
        let _guard = self.unsent_lock.lock().expect("not poisoned");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.unsent())?;
        let mut line = serde_json::to_vec(reported).expect("serialises");
        line.push(b'\n');
        file.write_all(&line)
    }

    /// Turns results into batch files (one per epoch), then takes them out of
    /// `unsent.jsonl`.
    fn seal(&self, results: Vec<Reported>) -> std::io::Result<Vec<PathBuf>> {
        let _guard = self.unsent_lock.lock().expect("not poisoned");
        let mut epochs: Vec<i64> = results.iter().map(|r| r.epoch).collect();
        epochs.sort_unstable();
        epochs.dedup();
        let mut paths = Vec::new();
        for epoch in epochs {
            let batch = BatchFile {
                key: uuid::Uuid::new_v4().to_string(),
                epoch,
                results: results
                    .iter()
                    .filter(|r| r.epoch == epoch)
                    .map(|r| r.result.clone())
                    .collect(),
            };
            let path = self.dir.join(format!("batch-{}.json", batch.key));
            write_durably(&path, &serde_json::to_vec(&batch).expect("serialises"))?;
            paths.push(path);
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
        std::fs::write(self.unsent(), rest)?;
        Ok(paths)
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

/// Sends one batch file; true once the ledger has answered for good (recorded, or
/// refused for a reason a resend cannot change), false to try again later.
async fn send(ledger: &LedgerClient, path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return true;
    };
    let Ok(batch) = serde_json::from_slice::<BatchFile>(&bytes) else {
        tracing::error!(path = %path.display(), "unreadable batch file dropped");
        let _ = std::fs::remove_file(path);
        return true;
    };
    let body = serde_json::json!({"epoch": batch.epoch, "results": batch.results});
    let answer: Result<Value, ClientError> = ledger.post("/v1/audits", &body, &batch.key).await;
    let done = match &answer {
        Ok(recorded) => {
            tracing::debug!(%recorded, "batch recorded");
            true
        }
        Err(ClientError::Problem(p)) if p.status < 500 => {
            tracing::warn!(epoch = batch.epoch, code = %p.code, detail = %p.detail, "batch refused");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "batch not delivered; will resend");
            false
        }
    };
    if done {
        let _ = std::fs::remove_file(path);
    }
    done
}

/// Starts the reporter: first delivers what an earlier run left (before it returns,
/// so the counts the checker then reads from the ledger include them), then batches
/// new results as they come.
pub async fn start(state_dir: &Path, ledger: Arc<LedgerClient>) -> std::io::Result<Reporter> {
    std::fs::create_dir_all(state_dir)?;
    let (sender, mut receiver) = mpsc::unbounded_channel::<Reported>();
    let spool = Arc::new(Spool {
        dir: state_dir.to_owned(),
        unsent_lock: std::sync::Mutex::new(()),
    });
    let leftover = spool.recover_unsent()?;
    spool.seal(leftover)?;
    for path in spool.batch_files()? {
        while !send(&ledger, &path).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let reporter = Reporter {
        spool: spool.clone(),
        sender,
    };
    tokio::spawn(async move {
        loop {
            for path in spool.batch_files().unwrap_or_default() {
                if !send(&ledger, &path).await {
                    break;
                }
            }
            let mut batch = Vec::new();
            let first = match tokio::time::timeout(BATCH_WAIT, receiver.recv()).await {
                Ok(Some(first)) => first,
                Ok(None) => return,
                Err(_) => continue,
            };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + BATCH_WAIT;
            while batch.len() < BATCH_RESULTS {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(next)) => batch.push(next),
                    _ => break,
                }
            }
            if let Err(e) = spool.seal(batch) {
                tracing::error!(error = %e, "cannot write a batch file");
            }
        }
    });
    Ok(reporter)
}
