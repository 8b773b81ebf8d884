//! A storage network of real node processes on the in-process ledger: `nodes` nodes
//! staked equally over `n_shards` shards, in epoch 1, with a funded treasury key file
//! for walctl; and walctl run with its peak memory measured.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;

use super::process::{start_node, Process};
use super::{address, new_key, TestLedger};

pub struct StorageNet {
    pub ledger: TestLedger,
    pub dir: PathBuf,
    pub treasury_key: PathBuf,
    /// `None` once a test took a node down.
    pub nodes: Vec<Option<Process>>,
    pub node_ids: Vec<String>,
}

impl StorageNet {
    pub async fn start(db: PgPool, nodes: usize, n_shards: u32) -> StorageNet {
        let admin = new_key();
        let admin_address = address(&admin);
        let ledger = TestLedger::start_with(db, move |config| {
            config.n_shards = n_shards;
            config.admin_address = Some(admin_address);
        })
        .await;
        let dir = std::env::temp_dir().join(format!("wal-net-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let treasury_key = dir.join("treasury.key");
        keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();
        let treasury = ledger.client(&ledger.treasury);
        let mut net = StorageNet {
            ledger,
            dir,
            treasury_key,
            nodes: Vec::new(),
            node_ids: Vec::new(),
        };
        for i in 0..nodes {
            let protocol = new_key();
            let key_file = net.dir.join(format!("node{i}.key"));
            keyfile::write_new(&key_file, &protocol).unwrap();
            let process = start_node(
                &net.ledger.url,
                &key_file,
                &net.dir.join(format!("node{i}")),
            );
            let registration = json!({
                "name": format!("node-{i}"), "endpoint": process.url,
                "protocol_public_key": hex::encode(protocol.verifying_key().to_bytes()),
                "commission_rate": "0.1", "storage_price_vote": "0.0001", "write_price_vote": "0.00001",
            });
            let node: Value = treasury
                .post("/v1/nodes", &registration, &format!("n{i}"))
                .await
                .unwrap();
            let stake = json!({"node_id": node["id"], "amount": "100"});
            let _: Value = treasury
                .post("/v1/stakes", &stake, &format!("s{i}"))
                .await
                .unwrap();
            net.nodes.push(Some(process));
            net.node_ids.push(node["id"].as_str().unwrap().to_owned());
        }
        let _: Value = net
            .ledger
            .client(&admin)
            .post("/v1/admin/epochs/advance", &json!({}), "advance")
            .await
            .unwrap();
        net
    }

    /// The OS process id of node `i`.
    pub fn pid(&self, i: usize) -> nix::unistd::Pid {
        let process = self.nodes[i].as_ref().expect("the node runs");
        nix::unistd::Pid::from_raw(i32::try_from(process.child.id()).unwrap())
    }

    /// Runs `walctl --json ARGS` as the treasury (up to `limit`), with its peak RSS.
    pub async fn walctl(&self, args: &[&str], limit: Duration) -> Measured {
        let mut command = Command::new(env!("CARGO_BIN_EXE_walctl"));
        command
            .args(["--url", &self.ledger.url, "--key"])
            .arg(&self.treasury_key)
            .arg("--json")
            .args(args)
            .env_remove("WAL_LEDGER_URL")
            .env_remove("WAL_KEY_FILE");
        run_measured(command, limit).await
    }
}

impl Drop for StorageNet {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished process: its output and its peak resident memory.
pub struct Measured {
    pub output: Output,
    pub peak_rss_bytes: u64,
    pub took: Duration,
}

/// Runs `command` to its end (killed after `limit`), measuring its peak resident set
/// with wait4's rusage, which the kernel keeps per child (exact, not sampled).
pub async fn run_measured(mut command: Command, limit: Duration) -> Measured {
    let started = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("walctl runs");
    let pid = i32::try_from(child.id()).unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let (stdout, stderr) = (read_all(Box::new(stdout)), read_all(Box::new(stderr)));
    let killer = tokio::spawn(async move {
        tokio::time::sleep(limit).await;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let (status, peak_kib) = tokio::task::spawn_blocking(move || {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet reaped; both pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(reaped, pid, "wait4 reaps walctl");
        (status, usage.ru_maxrss)
    })
    .await
    .unwrap();
    killer.abort();
    std::mem::forget(child); // reaped above
    use std::os::unix::process::ExitStatusExt;
    Measured {
        output: Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        peak_rss_bytes: u64::try_from(peak_kib).unwrap() * 1024,
        took: started.elapsed(),
    }
}

/// Writes `len` pseudo-random bytes (seeded) to `path`, a megabyte at a time, and
/// returns their SHA-256.
pub fn random_file(path: &Path, len: u64, seed: u64) -> [u8; 32] {
    use rand::{RngCore, SeedableRng};
    use sha2::Digest;
    use std::io::Write;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hash = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let take = usize::try_from(left.min(buffer.len() as u64)).unwrap();
        rng.fill_bytes(&mut buffer[..take]);
        file.write_all(&buffer[..take]).unwrap();
        hash.update(&buffer[..take]);
        left -= take as u64;
    }
    file.flush().unwrap();
    hash.finalize().into()
}

/// The SHA-256 of a file, read a megabyte at a time.
pub fn file_hash(path: &Path) -> [u8; 32] {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut hash = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        hash.update(&buffer[..read]);
    }
    hash.finalize().into()
}
