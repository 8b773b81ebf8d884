//! A fault-injecting TCP relay, because this machine's kernel has no `netem` qdisc:
//! per-direction delay (base ± jitter, per chunk, order kept), a per-connection drop
//! probability (a dropped connection is reset mid-stream after a few bytes), a
//! bandwidth cap per direction shared by all of the proxy's connections (one link), and
//! a switch that cuts the link off (existing connections stop forwarding, new ones are
//! reset at once).
//!
//! Each proxy runs on its own thread and current-thread runtime, so that it can listen
//! in one network namespace and connect in another: the thread enters the listening
//! namespace, binds, then enters the upstream one before any connection is made (a
//! socket stays in the namespace it was created in).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Bytes read at once; delay and bandwidth are applied to each such chunk.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction: enough that the delay does not throttle a transfer
/// (1 MiB per 50 ms), few enough that a stalled peer pushes back on the sender.
const IN_FLIGHT: usize = 64;
/// A dropped connection is cut after a uniformly drawn number of bytes up to this.
const CUT_WITHIN: u64 = 64 * 1024;

/// What the link does to the traffic.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Added to each chunk, in each direction.
    pub delay: Duration,
    /// The delay is drawn uniformly from `delay ± jitter`.
    pub jitter: Duration,
    /// The chance that a connection is reset mid-stream.
    pub drop_probability: f64,
    /// Bytes per second in each direction, over all connections; None: unlimited.
    pub bytes_per_sec: Option<u64>,
}

impl Faults {
    /// A clean link (a plain relay).
    pub fn none() -> Faults {
        Faults {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            drop_probability: 0.0,
            bytes_per_sec: None,
        }
    }

    /// The multi-host test's wide-area link: 50 ms ± 10 ms each way, 1% of connections
    /// dropped, 8 MiB/s each way.
    pub fn wan() -> Faults {
        Faults {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            drop_probability: 0.01,
            bytes_per_sec: Some(8 << 20),
        }
    }

    fn draw_delay(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.delay;
        }
        let low = self.delay.saturating_sub(self.jitter);
        let high = self.delay + self.jitter;
        rand::thread_rng().gen_range(low..=high)
    }
}

/// Where the proxy listens and where it forwards to, each in a network namespace
/// (a path such as /run/netns/NAME) or in the test's own.
#[derive(Clone, Debug)]
pub struct Route {
    pub listen: SocketAddr,
    pub listen_netns: Option<PathBuf>,
    pub upstream: SocketAddr,
    pub upstream_netns: Option<PathBuf>,
}

impl Route {
    /// Both ends in the test's own namespace.
    pub fn local(listen: SocketAddr, upstream: SocketAddr) -> Route {
        Route {
            listen,
            listen_netns: None,
            upstream,
            upstream_netns: None,
        }
    }
}

/// What every connection of one proxy shares.
struct Link {
    faults: Faults,
    upstream: SocketAddr,
    /// True while the link is cut off.
    cut: watch::Receiver<bool>,
    /// Per direction (0: to upstream, 1: back): when the link is next free to send.
    free_at: [Mutex<Instant>; 2],
    /// The drop probability now (f64 bits): a test may change it while connections run.
    drop_probability: AtomicU64,
    /// Bumped to reset every open connection at once (a link flap).
    flaps: watch::Sender<u64>,
    connections: AtomicU64,
    dropped: AtomicU64,
}

/// A running proxy; dropping it stops it and closes all of its connections.
pub struct FaultProxy {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
    link: Arc<Link>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter_netns(path: &Path) -> std::io::Result<()> {
    let file = File::open(path)?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// Binds the listener in the listening namespace and leaves the thread in the
/// upstream one (or back in its own), where the upstream connections will be made.
fn bind(route: &Route) -> std::io::Result<std::net::TcpListener> {
    let home = File::open("/proc/thread-self/ns/net")?;
    if let Some(ns) = &route.listen_netns {
        enter_netns(ns)?;
    }
    let listener = std::net::TcpListener::bind(route.listen);
    match &route.upstream_netns {
        Some(ns) => enter_netns(ns)?,
        None if route.listen_netns.is_some() => {
            nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET)?;
        }
        None => {}
    }
    let listener = listener?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl FaultProxy {
    /// A proxy on loopback port 0 to `upstream`, both in the test's namespace.
    pub fn local(upstream: SocketAddr, faults: Faults) -> FaultProxy {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        FaultProxy::start(Route::local(listen, upstream), faults).expect("a loopback proxy")
    }

    /// Starts a proxy on its own thread; returns once it listens.
    pub fn start(route: Route, faults: Faults) -> std::io::Result<FaultProxy> {
        let (cut_tx, cut_rx) = watch::channel(false);
        let link = Arc::new(Link {
            faults: faults.clone(),
            upstream: route.upstream,
            cut: cut_rx,
            free_at: [Mutex::new(Instant::now()), Mutex::new(Instant::now())],
            drop_probability: AtomicU64::new(faults.drop_probability.to_bits()),
            flaps: watch::Sender::new(0),
            connections: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let served = link.clone();
        let thread = std::thread::spawn(move || {
            let started = bind(&route).and_then(|listener| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                // Registered with the runtime's reactor, so made inside it.
                let listener = runtime.block_on(async { TcpListener::from_std(listener) })?;
                Ok((listener, runtime))
            });
            let (listener, runtime) = match started {
                Ok(started) => started,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(listener.local_addr());
            runtime.block_on(async move {
                tokio::select! {
                    () = accept_loop(listener, served) => {}
                    _ = shutdown_rx => {}
                }
            });
            // The runtime drops here with every connection task, closing their sockets.
        });
        let addr = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the proxy thread ended"))??;
        Ok(FaultProxy {
            addr,
            cut: cut_tx,
            link,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the link off (true) or restores it (false).
    pub fn cut_off(&self, cut: bool) {
        self.cut.send_replace(cut);
    }

    /// Sets the chance that a new connection is reset mid-stream.
    pub fn set_drop_probability(&self, probability: f64) {
        self.link
            .drop_probability
            .store(probability.to_bits(), Ordering::Relaxed);
    }

    /// Resets every connection open now (new ones are not affected): what keeps
    /// long-lived connections from escaping a changed drop probability.
    pub fn flap(&self) {
        self.link.flaps.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.link.connections.load(Ordering::Relaxed)
    }

    /// Connections cut mid-stream so far (by the drop probability).
    pub fn dropped(&self) -> u64 {
        self.link.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, link: Arc<Link>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or the like: try again rather than end the proxy.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *link.cut.borrow() {
            // Cut off: the connection is reset at once, as a host that is gone would.
            reset_on_close(&inbound);
            continue;
        }
        link.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(relay(inbound, link.clone()));
    }
}

/// Makes closing `stream` send a reset (SO_LINGER 0) instead of a clean end of stream.
#[allow(deprecated)]
fn reset_on_close(stream: &TcpStream) {
    // Deprecated because a non-zero linger blocks the thread on drop; a zero one
    // discards unsent data and returns at once, which is what a cut is.
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Why a direction stopped forwarding before its end of stream.
enum Stop {
    Io,
    Dropped,
}

/// Relays one connection both ways until both directions end; a drop resets both.
async fn relay(mut inbound: TcpStream, link: Arc<Link>) {
    let Ok(mut outbound) = TcpStream::connect(link.upstream).await else {
        // Upstream down: the client sees its connection closed, as through a NAT.
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let probability = f64::from_bits(link.drop_probability.load(Ordering::Relaxed));
    let budget = rand::thread_rng()
        .gen_bool(probability.clamp(0.0, 1.0))
        .then(|| rand::thread_rng().gen_range(1..=CUT_WITHIN));
    // Bytes both directions may still forward before the cut (u64::MAX: no cut).
    let left = AtomicU64::new(budget.unwrap_or(u64::MAX));
    let mut flaps = link.flaps.subscribe();
    let ended = {
        let (in_read, in_write) = inbound.split();
        let (out_read, out_write) = outbound.split();
        let up = pipe(in_read, out_write, &link, 0, &left);
        let down = pipe(out_read, in_write, &link, 1, &left);
        tokio::select! {
            ended = async { tokio::try_join!(up, down) } => ended.map(|_| ()),
            _ = flaps.changed() => Err(Stop::Dropped),
        }
    };
    if let Err(Stop::Dropped) = ended {
        link.dropped.fetch_add(1, Ordering::Relaxed);
        // A reset rather than a clean close: the peers must not mistake a cut stream
        // for a complete one.
        reset_on_close(&inbound);
        reset_on_close(&outbound);
    }
}

/// One direction: a reader stamps each chunk with its due time (never before the
/// previous chunk's, so order is kept), a writer sends it then, at the link's rate.
async fn pipe<R, W>(
    mut from: R,
    mut to: W,
    link: &Link,
    direction: usize,
    left: &AtomicU64,
) -> Result<(), Stop>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        let mut last_due = Instant::now();
        loop {
            let mut chunk = vec![0u8; CHUNK];
            let n = from.read(&mut chunk).await.map_err(|_| Stop::Io)?;
            if n == 0 {
                return Ok::<(), Stop>(());
            }
            chunk.truncate(n);
            last_due = last_due.max(Instant::now() + link.faults.draw_delay());
            if tx.send((last_due, chunk)).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            send(&mut to, &chunk, link, direction, left).await?;
        }
        // The sender's end of stream, passed on (an HTTP peer may half-close).
        let _ = to.shutdown().await;
        Ok::<(), Stop>(())
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// Writes one chunk once the link is up and has room for it; cuts it short if the
/// connection's drop budget runs out within it.
async fn send<W: tokio::io::AsyncWrite + Unpin>(
    to: &mut W,
    chunk: &[u8],
    link: &Link,
    direction: usize,
    left: &AtomicU64,
) -> Result<(), Stop> {
    let mut cut = link.cut.clone();
    // Black-holed while cut off: the bytes wait, as on a link that is down.
    let _ = cut.wait_for(|cut| !cut).await;
    if let Some(rate) = link.faults.bytes_per_sec {
        let done = {
            let mut free_at = link.free_at[direction]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let start = (*free_at).max(Instant::now());
            *free_at = start + Duration::from_secs_f64(chunk.len() as f64 / rate as f64);
            *free_at
        };
        tokio::time::sleep_until(done).await;
    }
    let len = chunk.len() as u64;
    let before = left
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
            Some(l.saturating_sub(len))
        })
        .unwrap_or(0);
    if before < len {
        let part = usize::try_from(before).unwrap_or(0);
        let _ = to.write_all(&chunk[..part]).await;
        let _ = to.flush().await;
        return Err(Stop::Dropped);
    }
    to.write_all(chunk).await.map_err(|_| Stop::Io)
}
