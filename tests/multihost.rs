//! The checker end to end over a (simulated) wide-area network: the ledger, 7
//! `wal-storage-node`s, the checker and the client (walctl) each in their own network
//! namespace, joined by veth pairs to one bridge in a "switch" namespace, with private
//! addresses (10.77.0.0/24) that exist only inside the namespaces. The kernel here has
//! no `netem`, so every node's link runs through the test's own fault proxy
//! (tests/common/faultproxy.rs: 50 ms ± 10 ms each way, 1% of connections reset
//! mid-stream, 8 MiB/s each way): the proxy listens on the node's address and forwards
//! to the node on its namespace's loopback, and that address is the endpoint the node
//! registers, so every connection to a node crosses it.
//!
//! - A 20 MiB file is stored and read back byte for byte through the faults.
//! - Two epochs of audits slash nobody: every challenge of every honest node passes.
//! - A storm epoch (every link resets half of its connections mid-stream) slashes
//!   nobody either: answers cut short are asked again (before the checker's fix they
//!   counted as missing slivers, and an honest node was slashed).
//! - One node's link is cut off (its proxy stops forwarding): it is slashed and jailed
//!   at the epoch's change, and nobody else; its shard moves and the checker repairs it
//!   on the new holder (the blob is fully redundant again); the blob still reads back.
//!
//! Without namespaces (not root, `ip netns add` refused) the network test says why and
//! passes; the proxy's own tests below run everywhere, on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::faultproxy::{FaultProxy, Faults, Route};
use common::process::{self, in_netns, spawn_announcing, spawn_listening, Process};
use common::storage::{file_hash, random_file};
use common::{address, amount, eventually, new_key, wal};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::{keyfile, LedgerClient};
use wal::money::Wal;

const NODES: usize = 7;
/// Challenges per node and epoch: enough that a cut-off node fails far below the jail
/// threshold, few enough for epochs of seconds.
const TARGET: u64 = 25;
/// The node whose link is cut off.
const CUT: usize = 4;

// ---------------------------------------------------------------------------------
// Namespaces

/// The namespaces of one run, all named `wmh<pid>-...` (the test process's pid, so
/// parallel runs do not clash and leftovers of dead runs can be recognised), deleted
/// on drop, even when the test panics. Deleting the switch namespace deletes every
/// veth pair with it; nothing is made in the test's own namespace.
struct Netns {
    names: Vec<String>,
}

/// One host: its namespace and its address on the bridge.
#[derive(Clone)]
struct Host {
    netns: String,
    ip: Ipv4Addr,
}

impl Host {
    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }

    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }
}

/// The hosts of the network, by role.
struct Hosts {
    ledger: Host,
    checker: Host,
    client: Host,
    nodes: Vec<Host>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Deletes the namespaces of this run's pid (an earlier, aborted test binary with the
/// same pid) and of runs whose process is gone, killing what still runs in them (a
/// SIGKILLed test leaves its children); those of live runs stay.
fn remove_leftovers() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let me = std::process::id();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix("wmh")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("multihost: removing {name}, left by an aborted run");
            kill_all_in(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// SIGKILLs every process in the namespace `name`.
fn kill_all_in(name: &str) {
    let Ok(output) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Netns {
    /// The switch and every host; Err names why namespaces cannot be made here.
    fn create() -> Result<(Netns, Hosts), String> {
        remove_leftovers();
        let prefix = format!("wmh{}", std::process::id());
        let switch = format!("{prefix}-sw");
        // The one step that may legitimately fail (not root, no namespaces): the
        // caller skips then. Everything after it must work.
        ip(&["netns", "add", &switch])?;
        let mut netns = Netns {
            names: vec![switch.clone()],
        };
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]).unwrap();
        ip(&["-n", &switch, "link", "set", "br0", "up"]).unwrap();
        let host = |name: &str, last: u8| Host {
            netns: format!("{prefix}-{name}"),
            ip: Ipv4Addr::new(10, 77, 0, last),
        };
        let hosts = Hosts {
            ledger: host("ledger", 2),
            checker: host("checker", 3),
            client: host("client", 4),
            nodes: (0..NODES)
                .map(|i| host(&format!("n{i}"), 10 + i as u8))
                .collect(),
        };
        let all = [&hosts.ledger, &hosts.checker, &hosts.client]
            .into_iter()
            .chain(&hosts.nodes);
        for (port, host) in all.enumerate() {
            netns.add_host(&switch, &format!("p{port}"), host);
        }
        Ok((netns, hosts))
    }

    /// A host's namespace with loopback up and a veth into the bridge.
    fn add_host(&mut self, switch: &str, port: &str, host: &Host) {
        let ns = host.netns.as_str();
        ip(&["netns", "add", ns]).unwrap();
        self.names.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
        ip(&[
            "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])
        .unwrap();
        ip(&["-n", switch, "link", "set", port, "master", "br0", "up"]).unwrap();
        let cidr = format!("{}/24", host.ip);
        ip(&["-n", ns, "addr", "add", &cidr, "dev", "eth0"]).unwrap();
        ip(&["-n", ns, "link", "set", "eth0", "up"]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("multihost: cleanup: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The network

/// Everything that runs; fields drop in order (checker, nodes, ledger, relays), so no
/// process outlives the namespaces, which the caller drops last.
struct Net {
    checker: Option<Process>,
    /// Each node's fault proxy, by node index.
    proxies: Vec<FaultProxy>,
    nodes: Vec<Process>,
    /// Held for their guards: the ledger process, its way to PostgreSQL and the
    /// test's way to it.
    _ledger: Process,
    _relays: Vec<FaultProxy>,
    /// The ledger as the hosts see it (http://10.77.0.2:PORT).
    ledger_url: String,
    /// The ledger through the test's relay (loopback of the test's namespace).
    api: String,
    hosts: Hosts,
    dir: PathBuf,
    treasury: SigningKey,
    treasury_key: PathBuf,
    admin: SigningKey,
    auditor_key: PathBuf,
    node_ids: Vec<String>,
}

impl Drop for Net {
    fn drop(&mut self) {
        // The processes that write into the directory first.
        self.checker = None;
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A relay in the ledger's namespace on its loopback to PostgreSQL in the test's own
/// namespace, so the ledger reaches the database with no address outside namespaces.
fn database_relay(db: &PgPool, ledger: &Host) -> (FaultProxy, String) {
    let options = db.connect_options();
    let postgres = (options.get_host(), options.get_port())
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let route = Route {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        listen_netns: Some(ledger.path()),
        upstream: postgres,
        upstream_netns: None,
    };
    let relay = FaultProxy::start(route, Faults::none()).unwrap();
    let url = format!(
        "postgres://{}@127.0.0.1:{}/{}",
        options.get_username(),
        relay.addr.port(),
        options.get_database().unwrap()
    );
    (relay, url)
}

/// `wal-ledger serve` in its namespace, on its bridge address; epochs end when the
/// test says (admin advance), as in checker_e2e.
fn start_ledger(hosts: &Hosts, database_url: &str, keys: [&SigningKey; 3]) -> Process {
    let [treasury, admin, auditor] = keys;
    let mut command = process::ledger_command(database_url, treasury);
    command
        .env("WAL_LISTEN_ADDR", hosts.ledger.addr(0).to_string())
        .env("WAL_N_SHARDS", NODES.to_string())
        .env("WAL_ADMIN_ADDRESS", address(admin).to_string())
        .env("WAL_AUDITOR_ADDRESS", address(auditor).to_string())
        .env("WAL_EPOCH_DURATION_SECS", "8")
        .env("WAL_EPOCH_CLOCK", "false")
        .env("WAL_DATABASE_CONNECTIONS_MAX", "8")
        .arg("serve");
    spawn_listening(in_netns(&hosts.ledger.netns, &command), "wal-ledger")
}

/// A node in its namespace on loopback, behind a fault proxy on its bridge address.
fn start_node(net: &Net, i: usize) -> (Process, FaultProxy) {
    let key_file = net.dir.join(format!("node{i}.key"));
    let command = process::node_command(
        &net.ledger_url,
        &key_file,
        &net.dir.join(format!("node{i}")),
    );
    let host = &net.hosts.nodes[i];
    let node = spawn_listening(in_netns(&host.netns, &command), "wal-storage-node");
    let port: u16 = node.url.rsplit(':').next().unwrap().parse().unwrap();
    let route = Route {
        listen: host.addr(0),
        listen_netns: Some(host.path()),
        upstream: SocketAddr::from(([127, 0, 0, 1], port)),
        upstream_netns: Some(host.path()),
    };
    (node, FaultProxy::start(route, Faults::wan()).unwrap())
}

async fn network(db: PgPool, hosts: Hosts) -> Net {
    let dir = std::env::temp_dir().join(format!("wal-multihost-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (treasury, admin, auditor) = (new_key(), new_key(), new_key());
    let (db_relay, database_url) = database_relay(&db, &hosts.ledger);
    let ledger = start_ledger(&hosts, &database_url, [&treasury, &admin, &auditor]);
    let ledger_addr: SocketAddr = ledger.url.trim_start_matches("http://").parse().unwrap();
    // The test's own requests go from the client's namespace across the bridge.
    let route = Route {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        listen_netns: None,
        upstream: ledger_addr,
        upstream_netns: Some(hosts.client.path()),
    };
    let api_relay = FaultProxy::start(route, Faults::none()).unwrap();
    sqlx::query("UPDATE params SET value = $1 WHERE name = 'audit_challenges_per_epoch'")
        .bind(TARGET.to_string())
        .execute(&db)
        .await
        .unwrap();
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &treasury).unwrap();
    let auditor_key = dir.join("auditor.key");
    keyfile::write_new(&auditor_key, &auditor).unwrap();
    let mut net = Net {
        checker: None,
        proxies: Vec::new(),
        nodes: Vec::new(),
        ledger_url: ledger.url.clone(),
        _ledger: ledger,
        api: api_relay.url(),
        _relays: vec![db_relay, api_relay],
        hosts,
        dir,
        treasury,
        treasury_key,
        admin,
        auditor_key,
        node_ids: Vec::new(),
    };
    eventually(30, "the ledger answers across the bridge", || async {
        net.public().get::<Value>("/v1/network").await.ok()
    })
    .await;
    for i in 0..NODES {
        net.add_node(i).await;
    }
    net.advance(0).await;
    net
}

impl Net {
    fn client(&self, key: &SigningKey) -> LedgerClient {
        LedgerClient::new(&self.api, Some(key.clone()), Duration::from_secs(30))
    }

    fn public(&self) -> LedgerClient {
        LedgerClient::new(&self.api, None, Duration::from_secs(30))
    }

    /// Starts node `i`, registers it with its proxy's address and stakes 100 WAL on it.
    async fn add_node(&mut self, i: usize) {
        let protocol = new_key();
        keyfile::write_new(&self.dir.join(format!("node{i}.key")), &protocol).unwrap();
        let (node, proxy) = start_node(self, i);
        let registration = json!({
            "name": format!("node-{i}"), "endpoint": proxy.url(),
            "protocol_public_key": hex::encode(protocol.verifying_key().to_bytes()),
            "commission_rate": "0.1", "storage_price_vote": "0.0001", "write_price_vote": "0.00001",
        });
        let treasury = self.client(&self.treasury);
        let registered: Value = treasury
            .post("/v1/nodes", &registration, &format!("n{i}"))
            .await
            .unwrap();
        let id = registered["id"].as_str().unwrap().to_owned();
        let stake = json!({"node_id": id, "amount": "100"});
        let _: Value = treasury
            .post("/v1/stakes", &stake, &format!("s{i}"))
            .await
            .unwrap();
        self.nodes.push(node);
        self.proxies.push(proxy);
        self.node_ids.push(id);
    }

    async fn advance(&self, epoch: i64) {
        let _: Value = self
            .client(&self.admin)
            .post(
                "/v1/admin/epochs/advance",
                &json!({"epoch": epoch}),
                &format!("advance-{epoch}"),
            )
            .await
            .unwrap();
    }

    fn start_checker(&mut self) {
        let command = process::checker_command(
            &self.ledger_url,
            &self.auditor_key,
            &self.dir.join("checker"),
        );
        self.checker = Some(spawn_announcing(
            in_netns(&self.hosts.checker.netns, &command),
            "checking the ledger at ",
            "wal-checker",
        ));
    }

    /// `walctl --json ARGS` as the treasury, in the client's namespace (up to 240 s).
    async fn walctl(&self, args: &[&str]) -> Value {
        let mut command = Command::new(env!("CARGO_BIN_EXE_walctl"));
        command
            .args(["--url", &self.ledger_url, "--key"])
            .arg(&self.treasury_key)
            .args(args)
            .arg("--json")
            .env_remove("WAL_LEDGER_URL")
            .env_remove("WAL_KEY_FILE");
        let mut command =
            tokio::process::Command::from(in_netns(&self.hosts.client.netns, &command));
        command.kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(240), command.output())
            .await
            .unwrap_or_else(|_| panic!("walctl {args:?} finishes within 240 s"))
            .unwrap();
        assert!(
            output.status.success(),
            "walctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        process::json_of(&output)
    }

    async fn node(&self, i: usize) -> Value {
        self.public()
            .get(&format!("/v1/nodes/{}", self.node_ids[i]))
            .await
            .unwrap()
    }

    /// Waits until every committee member has `TARGET` results recorded this epoch.
    async fn audited(&self, members: usize, seconds: u64) {
        eventually(seconds, "every node audited", || async {
            let audits: Value = self.public().get("/v1/audits").await.ok()?;
            let nodes = audits["nodes"].as_array()?;
            let done = nodes
                .iter()
                .filter(|n| n["challenges"].as_u64() >= Some(TARGET));
            (nodes.len() == members && done.count() == members).then_some(())
        })
        .await;
    }

    /// Ends `epoch` once every member is audited; its change as the ledger reports it.
    async fn end_epoch(&self, epoch: i64, members: usize) -> Value {
        self.audited(members, 180).await;
        self.advance(epoch).await;
        self.public()
            .get(&format!("/v1/epochs/{epoch}"))
            .await
            .unwrap()
    }

    /// Connections and drops per node link, for the log.
    fn link_stats(&self) -> String {
        let stats: Vec<String> = self
            .proxies
            .iter()
            .map(|p| format!("{}/{}", p.dropped(), p.connections()))
            .collect();
        format!("dropped/connections per node link: {}", stats.join(" "))
    }
}

// ---------------------------------------------------------------------------------
// The test

/// Stores a 20 MiB file and reads it back through the faults; (blob id, its hash).
async fn store_and_read(net: &Net) -> (String, [u8; 32]) {
    let file = net.dir.join("blob.bin");
    let hash = random_file(&file, 20 << 20, 77);
    let started = Instant::now();
    let stored = net
        .walctl(&["store", file.to_str().unwrap(), "--epochs", "5"])
        .await;
    assert_eq!(stored["certified"], true, "{stored}");
    let blob_id = stored["blob_id"].as_str().unwrap().to_owned();
    eprintln!("multihost: 20 MiB stored in {:?}", started.elapsed());
    read_back(net, &blob_id, &hash, "first").await;
    (blob_id, hash)
}

async fn read_back(net: &Net, blob_id: &str, hash: &[u8; 32], name: &str) {
    let copy = net.dir.join(format!("copy-{name}.bin"));
    let started = Instant::now();
    net.walctl(&["read", blob_id, "-o", copy.to_str().unwrap()])
        .await;
    assert_eq!(&file_hash(&copy), hash, "the {name} read, byte for byte");
    eprintln!("multihost: {name} read in {:?}", started.elapsed());
    std::fs::remove_file(copy).unwrap();
}

/// An epoch in which every link resets half of its connections mid-stream (1% is
/// rare enough that a run may see no reset at all, and the checker keeps its
/// connections open): open connections are reset at its start, and answers cut short
/// are asked again, so nobody is slashed. A challenge whose three attempts are all cut
/// counts against its node (about one in a thousand here), far above the threshold.
async fn storm(net: &Net, epoch: i64) {
    let dropped = |net: &Net| net.proxies.iter().map(FaultProxy::dropped).sum::<u64>();
    let before = dropped(net);
    for proxy in &net.proxies {
        proxy.set_drop_probability(0.5);
        proxy.flap();
    }
    let ended = net.end_epoch(epoch, NODES).await;
    let resets = dropped(net) - before;
    let passed: Vec<String> = ended["committee"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}/{}", m["passed"], m["challenges"]))
        .collect();
    eprintln!(
        "multihost: storm epoch {epoch}: {resets} connections reset, passed {}; {}",
        passed.join(" "),
        net.link_stats()
    );
    assert!(resets > 0, "the storm reset connections");
    assert_eq!(amount(&ended["change"]["slashed"]), Wal::ZERO, "{ended}");
    for member in ended["committee"].as_array().unwrap() {
        let (passed, challenges) = (member["passed"].as_u64(), member["challenges"].as_u64());
        assert!(
            passed >= challenges.map(|c| c - 1),
            "epoch {epoch}: {member}"
        );
    }
    for proxy in &net.proxies {
        proxy.set_drop_probability(Faults::wan().drop_probability);
    }
}

/// Every member of the ended epoch passed every challenge and nobody was slashed.
fn assert_honest(ended: &Value, epoch: i64) {
    assert_eq!(amount(&ended["change"]["slashed"]), Wal::ZERO, "{ended}");
    for member in ended["committee"].as_array().unwrap() {
        assert_eq!(
            member["passed"], member["challenges"],
            "epoch {epoch}: {member}"
        );
    }
}

/// Only the cut-off node is slashed (5% of its pool: its 100 WAL and the rewards of
/// the two honest epochs) and jailed, and it left the committee.
async fn assert_only_cut_node_punished(net: &Net, ended: &Value, epoch: i64) {
    let slashed = amount(&ended["change"]["slashed"]);
    assert!(
        Wal::from_wal(5) <= slashed && slashed < wal("5.01"),
        "{ended}"
    );
    for i in 0..NODES {
        let node = net.node(i).await;
        let slashes = node["audits"]["slashes"].as_array().unwrap();
        if i == CUT {
            assert_eq!(slashes.len(), 1, "{node}");
            assert_eq!(slashes[0]["epoch"], epoch, "{node}");
            assert!(slashes[0]["jailed_until_epoch"].is_number(), "{node}");
            let stake = amount(&node["stake"]);
            assert!(Wal::from_wal(95) <= stake && stake < wal("95.1"), "{node}");
        } else {
            assert!(slashes.is_empty(), "node {i}: {node}");
            assert_eq!(node["jailed_until_epoch"], Value::Null, "node {i}: {node}");
        }
    }
    for member in ended["committee"].as_array().unwrap() {
        if member["node_id"] != net.node_ids[CUT].as_str() {
            assert_eq!(member["passed"], member["challenges"], "{member}");
        }
    }
    let committee: Value = net.public().get("/v1/committee").await.unwrap();
    let members = committee["members"].as_array().unwrap();
    assert_eq!(members.len(), NODES - 1, "{committee}");
    assert!(members
        .iter()
        .all(|m| m["node_id"] != net.node_ids[CUT].as_str()));
}

#[sqlx::test]
async fn across_namespaces_with_wan_faults_only_the_cut_off_node_is_slashed(db: PgPool) {
    let started = Instant::now();
    let (_netns, hosts) = match Netns::create() {
        Ok(made) => made,
        Err(reason) => {
            eprintln!("multihost: SKIPPED, network namespaces cannot be made here: {reason}");
            return;
        }
    };
    let mut net = network(db, hosts).await;
    eprintln!("multihost: network up in {:?}", started.elapsed());
    let (blob_id, hash) = store_and_read(&net).await;

    net.start_checker();
    for epoch in 1..=2 {
        let ended = net.end_epoch(epoch, NODES).await;
        assert_honest(&ended, epoch);
    }
    eprintln!("multihost: two honest epochs by {:?}", started.elapsed());
    storm(&net, 3).await;

    net.proxies[CUT].cut_off(true);
    let ended = net.end_epoch(4, NODES).await;
    assert_only_cut_node_punished(&net, &ended, 4).await;
    // The checker puts the cut-off node's shard on its new holder.
    eventually(240, "the blob fully redundant again", || async {
        let health = net.walctl(&["blob", "health", &blob_id]).await;
        (health["fully_redundant"] == true).then_some(())
    })
    .await;
    read_back(&net, &blob_id, &hash, "last").await;
    eprintln!("multihost: {}", net.link_stats());
    eprintln!("multihost: done in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------
// The fault proxy on loopback (everywhere)

mod proxy {
    use super::*;
    use rand::RngCore;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A loopback server that echoes every connection.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    /// Sends `bytes` through the proxy to the echo server while reading the echo back;
    /// what came back (short if the connection was cut).
    async fn round_trip(proxy: &FaultProxy, bytes: &[u8]) -> Vec<u8> {
        let stream = TcpStream::connect(proxy.addr).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let sent = bytes.to_vec();
        let writer = tokio::spawn(async move {
            let _ = w.write_all(&sent).await;
            let _ = w.shutdown().await;
        });
        let mut back = Vec::new();
        let read = r.read_to_end(&mut back);
        let _ = tokio::time::timeout(Duration::from_secs(60), read).await;
        writer.abort();
        back
    }

    fn random(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        rand::thread_rng().fill_bytes(&mut bytes);
        bytes
    }

    #[tokio::test]
    async fn bytes_arrive_intact_and_in_order_under_jitter() {
        // Jitter as large as the delay: chunks would overtake each other if order
        // were not kept.
        let faults = Faults {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
            ..Faults::none()
        };
        let proxy = FaultProxy::local(echo().await, faults);
        let bytes = random(3 << 20);
        assert!(
            round_trip(&proxy, &bytes).await == bytes,
            "3 MiB echoed intact"
        );
        assert_eq!(proxy.dropped(), 0);
    }

    #[tokio::test]
    async fn delay_is_added_each_way_within_bounds() {
        let faults = Faults {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            ..Faults::none()
        };
        let proxy = FaultProxy::local(echo().await, faults);
        let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
        let mut rtts = Vec::new();
        for i in 0..10u8 {
            let sent = Instant::now();
            stream.write_all(&[i]).await.unwrap();
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(back[0], i);
            rtts.push(sent.elapsed());
        }
        rtts.sort();
        // At least 40 ms each way, always; the upper bound only catches a delay that
        // is not bounded at all (a busy machine may add a lot).
        assert!(rtts[0] >= Duration::from_millis(80), "{rtts:?}");
        assert!(rtts[5] < Duration::from_secs(2), "{rtts:?}");
    }

    #[tokio::test]
    async fn bandwidth_is_capped_each_way() {
        const RATE: u64 = 2 << 20;
        let faults = Faults {
            bytes_per_sec: Some(RATE),
            ..Faults::none()
        };
        let proxy = FaultProxy::local(echo().await, faults);
        let bytes = random(3 << 20);
        let started = Instant::now();
        assert!(round_trip(&proxy, &bytes).await == bytes);
        let took = started.elapsed();
        // 3 MiB at 2 MiB/s each way: the echo's direction cannot finish before 1.5 s.
        let least = Duration::from_secs_f64(bytes.len() as f64 / RATE as f64 * 0.8);
        assert!(took >= least, "{took:?} for 3 MiB at 2 MiB/s");
        assert!(took < Duration::from_secs(60), "{took:?}");
    }

    #[tokio::test]
    async fn every_connection_is_cut_mid_stream_at_a_drop_rate_of_one() {
        let faults = Faults {
            drop_probability: 1.0,
            ..Faults::none()
        };
        let proxy = FaultProxy::local(echo().await, faults);
        let bytes = random(1 << 20);
        for _ in 0..10 {
            let back = round_trip(&proxy, &bytes).await;
            assert!(
                back.len() < bytes.len(),
                "cut: {} bytes came back",
                back.len()
            );
            assert!(
                bytes.starts_with(&back),
                "what came back is the stream's start"
            );
        }
        assert_eq!(proxy.dropped(), 10);
    }

    #[tokio::test]
    async fn a_cut_off_link_forwards_nothing_until_restored() {
        let proxy = FaultProxy::local(echo().await, Faults::none());
        let mut before = TcpStream::connect(proxy.addr).await.unwrap();
        let mut back = [0u8; 4];
        before.write_all(b"ping").await.unwrap();
        before.read_exact(&mut back).await.unwrap();

        proxy.cut_off(true);
        // An existing connection is black-holed: nothing comes back.
        before.write_all(b"lost").await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(700), before.read(&mut back)).await;
        assert!(read.is_err(), "nothing forwarded while cut off: {read:?}");
        // A new one is reset at once, without an answer (the reset may even beat the
        // end of the handshake to the connecting side).
        if let Ok(mut new) = TcpStream::connect(proxy.addr).await {
            let _ = new.write_all(b"ping").await;
            let read = tokio::time::timeout(Duration::from_secs(10), new.read(&mut back)).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "refused: {read:?}");
        }

        proxy.cut_off(false);
        let healed = round_trip(&proxy, b"after").await;
        assert_eq!(healed, b"after");
    }
}
