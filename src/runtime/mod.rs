//! The tokio shell: the only place with sockets, tasks and the clock.
//!
//! One engine task owns the [`Engine`] and all signalling state; UDP and TCP tasks only
//! cut bytes into messages and forward them. The engine task and the SIP UDP readers run
//! on a thread of their own (`cc112-engine`, a current-thread runtime), the TCP tasks on
//! the shared workers, and the calls' RTP/RTCP in media shards (`cc112-media-N`, one
//! thread per core, each an event loop over many calls): signalling never waits behind
//! thousands of calls' RTP. Channels into the engine are bounded; between the engine and
//! a media shard, the queues (commands one way, events waiting for room the other) hold
//! a handful of entries per call, so their calls bound them. Shutdown: new INVITEs get
//! 503, live calls get a grace period, then everything stops.

pub mod control;
mod media;
mod media_shard;
mod memory;
pub mod prompts;
mod record;
mod tcp;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::media::prompts::PromptStore;
use crate::call::CallId;
use crate::engine::{CallEventKind, Engine, MediaInput, Output};
use crate::sip::{Peer, Transport};

/// Capacity of the channel into the engine task. UDP readers wait when it is full (the
/// kernel buffer then absorbs bursts, and SIP retransmits what it drops).
const ENGINE_QUEUE: usize = 16_384;

/// New INVITEs over UDP wait in their own queue (see `EngineTask::run`); past this many
/// the engine is seconds behind and further ones are dropped at the socket (the caller
/// retransmits, and the overload limits answer 503 once the engine gets to it).
const INVITE_QUEUE: usize = 8_192;

/// How long a call's answer may wait for its first record to reach the disk. Commits
/// take well under a millisecond on a healthy disk; on a stalled one the caller is
/// answered anyway (logged) and the record follows when the disk recovers.
const COMMIT_WAIT: Duration = Duration::from_millis(250);

/// How often the record store's health is looked at (and complained about).
const HEALTH_EVERY: Duration = Duration::from_secs(5);

/// How long the record writer gets to flush at shutdown.
const STORE_FLUSH: Duration = Duration::from_secs(5);

/// Receive buffer asked for each SIP UDP socket. The default (about 200 KB, a few
/// hundred datagrams) overflows in tens of milliseconds at thousands of messages a
/// second whenever the reader is not scheduled; SIP servers ask for megabytes. The
/// kernel caps it at `net.core.rmem_max`.
const SIP_UDP_RCVBUF: usize = 4 << 20;

/// Binds a SIP UDP socket, non-blocking, with a large receive buffer (best effort).
fn bind_sip_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(e) = sock.set_recv_buffer_size(SIP_UDP_RCVBUF) {
        warn!(%addr, error = %e, "SIP UDP receive buffer left at the system default");
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// How long calls in progress are given to end after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("cannot bind SIP {transport} on {addr}: {source}")]
    Bind { transport: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the engine thread: {0}")]
    EngineThread(std::io::Error),
    #[error("cannot start the media threads: {0}")]
    MediaThreads(std::io::Error),
}

/// What the shell tells the engine task.
#[derive(Debug)]
pub(crate) enum EngineInput {
    /// `received`: when the bytes were read from the socket (the overload limits
    /// measure how long they waited for the engine).
    Sip { peer: Peer, bytes: Bytes, received: Instant },
    /// `media_delay`: how long the opening of the call's media waited for a worker, plus
    /// how late its media shard runs its calls' timers: it tells the overload limits
    /// whether the media keeps up.
    MediaOpened { call: CallId, port: u16, ok: bool, media_delay: Duration },
    Media { call: CallId, input: MediaInput },
    Reload(Arc<Config>, Arc<PromptStore>),
    Command(crate::engine::control::Command, tokio::sync::oneshot::Sender<crate::engine::control::Reply>),
}

/// Writers of open TCP connections, by connection id, shared by the TCP tasks (which
/// add and remove them) and the engine task (which sends on them).
pub(crate) type TcpWriters = Arc<Mutex<HashMap<u64, mpsc::Sender<Bytes>>>>;

/// A running gateway.
pub struct Gateway {
    pub udp_addrs: Vec<SocketAddr>,
    pub tcp_addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    input: mpsc::Sender<EngineInput>,
    store: Option<crate::store::Writer>,
}

impl Gateway {
    /// Bind every listener and start the tasks. Fails only if a listener cannot be bound.
    /// `config_path` locates the prompts (`<its directory>/prompts`); without it the
    /// built-in recordings are used.
    pub async fn start(config: Config, config_path: Option<&std::path::Path>) -> Result<Gateway, RuntimeError> {
        let prompts = prompts::load(&config, prompts::prompts_dir(config_path).as_deref());
        let store = open_store(&config);
        let config = Arc::new(config);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (tx, rx) = mpsc::channel(ENGINE_QUEUE);
        let (invites_tx, invites) = mpsc::channel(INVITE_QUEUE);
        let writers: TcpWriters = Arc::new(Mutex::new(HashMap::new()));

        // Bound here, with std, so a failure is reported to the caller; registered with
        // the engine thread's runtime below, where their readers run.
        let mut udp_std = Vec::new();
        let mut udp_addrs = Vec::new();
        for addr in &config.sip.listen_udp {
            let bind_err = |source| RuntimeError::Bind { transport: "UDP", addr: *addr, source };
            let sock = bind_sip_udp(*addr).map_err(bind_err)?;
            let local = sock.local_addr().map_err(bind_err)?;
            udp_std.push((local, sock));
            udp_addrs.push(local);
        }
        let mut tcp_addrs = Vec::new();
        for addr in &config.sip.listen_tcp {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RuntimeError::Bind { transport: "TCP", addr: *addr, source })?;
            let local = listener.local_addr().map_err(|source| RuntimeError::Bind { transport: "TCP", addr: *addr, source })?;
            tcp_addrs.push(local);
            let limits = tcp::Limits::from(&config.sip);
            tracker.spawn(tcp::accept(listener, local, limits, tx.clone(), writers.clone(), shutdown.clone(), tracker.clone()));
        }
        #[cfg(unix)]
        tracker.spawn(control::serve(control::socket_path(&config.store.path), tx.clone(), shutdown.clone()));
        info!(udp = ?udp_addrs, tcp = ?tcp_addrs, version = %config.version, "SIP listening");

        let mut engine = Engine::new(config.clone(), rand::random());
        engine.set_wall_clock(Instant::now(), std::time::SystemTime::now());
        let recorder = record::Recorder::new(store.as_ref().map(crate::store::Writer::handle));
        let media_runtime = tokio::runtime::Handle::current();
        let shards = media_shard::MediaShards::start(&tx).map_err(RuntimeError::MediaThreads)?;
        let (task_tracker, task_shutdown, task_tx) = (tracker.clone(), shutdown.clone(), tx.clone());
        // Signalling (the UDP readers and the engine) has a thread of its own, with its
        // own reactor and timers. On the shared workers it was a few tasks among
        // thousands of media tasks: each time their budget ran out they waited behind
        // every call's RTP, the SIP socket's buffer overflowed, ACKs and BYEs were lost,
        // calls did not end and their prompts kept playing, and the gateway spiralled
        // (measured in the overload benchmark: 9,000 calls in progress at 2,100 calls/s
        // of 1 s each). A thread gets its share of the CPU from the kernel however many
        // media tasks are ready.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("cc112-engine".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        error!(error = %e, "the engine's runtime could not start");
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut udp = HashMap::new();
                    for (local, sock) in udp_std {
                        match UdpSocket::from_std(sock) {
                            Ok(sock) => {
                                let sock = Arc::new(sock);
                                udp.insert(local, sock.clone());
                                task_tracker.spawn(udp::receive(sock, local, task_tx.clone(), invites_tx.clone(), task_shutdown.clone()));
                            }
                            Err(e) => error!(%local, error = %e, "SIP UDP socket could not be registered"),
                        }
                    }
                    drop(invites_tx);
                    let task = EngineTask {
                        engine,
                        rx,
                        invites,
                        tx: task_tx,
                        udp,
                        tcp: writers,
                        media: HashMap::new(),
                        shards,
                        prompts,
                        recorder,
                        commits: HashMap::new(),
                        trimmer: memory::Trimmer::default(),
                        shutdown: task_shutdown,
                        tracker: task_tracker,
                        media_runtime,
                    };
                    task.run().await;
                });
                let _ = done_tx.send(());
            })
            .map_err(RuntimeError::EngineThread)?;
        tracker.spawn(async move {
            let _ = done_rx.await;
        });
        Ok(Gateway { udp_addrs, tcp_addrs, shutdown, tracker, input: tx, store })
    }

    /// Apply a new configuration (and its prompts) to new calls. Listeners are not
    /// rebound: a change of listen addresses needs a restart (it is logged).
    pub async fn reload(&self, config: Config, prompts: Arc<PromptStore>) {
        let _ = self.input.send(EngineInput::Reload(Arc::new(config), prompts)).await;
    }

    /// Ask for a graceful stop and wait for every task; the record writer flushes last.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        if let Some(w) = self.store {
            let report = tokio::task::spawn_blocking(move || w.shutdown(STORE_FLUSH)).await;
            match report {
                Ok(r) if r.unwritten == 0 => info!("call records flushed"),
                Ok(r) => error!(unwritten = r.unwritten, health = ?r.health, "call records left unwritten at shutdown"),
                Err(e) => error!(error = %e, "record writer did not stop cleanly"),
            }
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// How often the config file is looked at for changes.
const CONFIG_POLL: Duration = Duration::from_millis(500);

/// Run the gateway until SIGINT/SIGTERM. The `config_path` file (if any) is reloaded on
/// SIGHUP and when its content changes.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), RuntimeError> {
    let gw = Gateway::start(config.clone(), config_path.as_deref()).await?;
    let mut current = config;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        let mut watch = FileWatch::new(config_path.as_deref());
        let mut poll = tokio::time::interval(CONFIG_POLL);
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break,
                _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {
                    reload_from(&gw, &mut current, config_path.as_deref()).await;
                    watch.settle(config_path.as_deref());
                }
                _ = poll.tick(), if config_path.is_some() => {
                    if watch.changed(config_path.as_deref()) {
                        info!("config file changed");
                        reload_from(&gw, &mut current, config_path.as_deref()).await;
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("shutdown requested: new calls get 503, calls in progress have {}s", SHUTDOWN_GRACE.as_secs());
    gw.shutdown().await;
    info!("stopped");
    Ok(())
}

/// Notices when the config file's content changes, debounced: editors save by writing
/// a new file and renaming it, sometimes in several steps, so a change counts once two
/// consecutive looks ([`CONFIG_POLL`] apart) read the same new content. Content, not
/// modification time, is compared, so a rename or a touch without a change does nothing.
struct FileWatch {
    applied: Option<u64>,
    pending: Option<u64>,
}

impl FileWatch {
    fn new(path: Option<&std::path::Path>) -> FileWatch {
        FileWatch { applied: path.and_then(content_hash), pending: None }
    }

    fn changed(&mut self, path: Option<&std::path::Path>) -> bool {
        let now = path.and_then(content_hash);
        if now == self.applied {
            self.pending = None;
            return false;
        }
        if now.is_some() && now == self.pending {
            self.applied = now;
            self.pending = None;
            return true;
        }
        self.pending = now;
        false
    }

    /// After a SIGHUP reload: what is on disk now has been looked at.
    fn settle(&mut self, path: Option<&std::path::Path>) {
        self.applied = path.and_then(content_hash);
        self.pending = None;
    }
}

fn content_hash(path: &std::path::Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// All or nothing: a file with errors is refused and the running plan stays.
async fn reload_from(gw: &Gateway, current: &mut Config, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        warn!("SIGHUP ignored: running on the embedded default config (start with --config FILE to reload)");
        return;
    };
    match Config::load(path) {
        Ok(new) => {
            if new.version == current.version {
                info!(version = %new.version, "config unchanged");
                return;
            }
            if new.sip.listen_udp != current.sip.listen_udp || new.sip.listen_tcp != current.sip.listen_tcp {
                warn!("listen addresses changed: they take effect after a restart");
            }
            let store = prompts::load(&new, prompts::prompts_dir(Some(path)).as_deref());
            info!(old = %current.version, new = %new.version, "config reloaded; new calls use it");
            *current = new.clone();
            gw.reload(new, store).await;
        }
        Err(errors) => {
            for e in &errors.errors {
                error!(file = %errors.origin, path = %e.path, line = ?e.line, "{}", e.message);
            }
            error!(count = errors.errors.len(), version = %current.version, "config refused; the running config stays");
        }
    }
}

struct EngineTask {
    engine: Engine,
    rx: mpsc::Receiver<EngineInput>,
    /// New INVITEs received over UDP, served when `rx` is empty.
    invites: mpsc::Receiver<EngineInput>,
    tx: mpsc::Sender<EngineInput>,
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    tcp: TcpWriters,
    /// Each open call's media shard.
    media: HashMap<CallId, usize>,
    shards: media_shard::MediaShards,
    /// Prompts for calls that start from now on (a call's media keeps the store it got).
    prompts: Arc<PromptStore>,
    recorder: record::Recorder,
    /// Commits of calls' first records, handed to the openings of their media.
    commits: HashMap<CallId, record::CommitWait>,
    trimmer: memory::Trimmer,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The shared runtime, where calls' media is opened (the engine's thread runs only
    /// the engine and the SIP UDP readers).
    media_runtime: tokio::runtime::Handle,
}

impl EngineTask {
    async fn run(mut self) {
        let mut grace_end: Option<tokio::time::Instant> = None;
        let mut health = tokio::time::interval(HEALTH_EVERY);
        loop {
            let deadline = self.engine.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                input = self.rx.recv() => {
                    let Some(input) = input else { break };
                    self.handle(input);
                }
                // New INVITEs only when nothing else waits: ACKs, BYEs, responses and
                // media events of the calls in progress go first, so a surge of new
                // calls cannot starve the calls already answered (their ACKs stuck behind
                // INVITEs would make them fail and keep their media running).
                Some(input) = self.invites.recv(), if self.rx.is_empty() => self.handle(input),
                _ = sleep_until(deadline) => self.engine.handle_timeout(Instant::now()),
                _ = self.shutdown.cancelled(), if grace_end.is_none() => {
                    self.engine.begin_shutdown();
                    grace_end = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                }
                _ = sleep_until(grace_end), if grace_end.is_some() => break,
                _ = health.tick() => {
                    let live = self.engine.live_state();
                    let rss = memory::rss();
                    let st = self.engine.stats();
                    // Its own target, so a benchmark can read it without the per-call lines.
                    debug!(
                        target: "cc112::load",
                        calls = self.engine.active_calls(),
                        live,
                        queued = self.rx.len(),
                        invites_queued = self.invites.len(),
                        media_tasks = self.media.len(),
                        messages = st.messages,
                        calls_started = st.calls_started,
                        refused_overload = st.refused_overload,
                        rss,
                        "load"
                    );
                    if self.trimmer.observe(Instant::now(), live, rss) {
                        self.engine.compact();
                        tokio::task::spawn_blocking(move || {
                            let t = Instant::now();
                            memory::trim();
                            debug!(target: "cc112::load", live, rss_before = rss, rss_after = memory::rss(), took_ms = t.elapsed().as_millis() as u64, "memory out of proportion to the live state: tables compacted, heap trimmed");
                        });
                    }
                    if let Some(h) = self.recorder.store().map(crate::store::StoreHandle::health) {
                        if !h.is_ok() {
                            warn!(queue = h.queue_depth, last_error = ?h.last_error, failing_since = ?h.failing_since, "call records are waiting for the disk");
                        }
                    }
                }
            }
            self.dispatch().await;
            if grace_end.is_some() && self.engine.active_calls() == 0 {
                break;
            }
        }
        // Dropping the shards (with this task) closes every call's media.
        self.media.clear();
        info!(calls = self.engine.active_calls(), stats = ?self.engine.stats(), "engine stopped");
    }

    fn handle(&mut self, input: EngineInput) {
        let now = Instant::now();
        match input {
            EngineInput::Sip { peer, bytes, received } => self.engine.handle_sip_received(now, received, peer, &bytes),
            EngineInput::MediaOpened { call, port, ok, media_delay } => {
                self.engine.observe_media_delay(now, media_delay);
                self.engine.handle_media_opened(now, call, port, ok)
            }
            EngineInput::Media { call, input } => self.engine.handle_media(now, call, input),
            EngineInput::Command(cmd, reply) => {
                let _ = reply.send(self.engine.handle_command(now, cmd));
            }
            EngineInput::Reload(cfg, prompts) => {
                self.engine.set_config(cfg);
                self.prompts = prompts;
            }
        }
    }

    async fn dispatch(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Send { peer, bytes } => self.send(peer, bytes).await,
                Output::OpenMedia { call, port } => {
                    let Some((i, shard)) = self.shards.pick() else {
                        // No media thread runs: the port is reported unusable, and the
                        // engine answers the call 503 once its tries are spent.
                        self.engine.handle_media_opened(Instant::now(), call, port, false);
                        continue;
                    };
                    self.media.insert(call, i);
                    let addr = self.engine.config().media.address;
                    let commit = self.commits.remove(&call);
                    let opening = media::Opening { commit, spawned: Instant::now() };
                    self.tracker.spawn_on(
                        media::open(call, SocketAddr::new(addr, port), self.tx.clone(), shard, self.prompts.clone(), opening, self.shutdown.clone()),
                        &self.media_runtime,
                    );
                }
                Output::CloseMedia { call, .. } => {
                    if let Some(i) = self.media.remove(&call) {
                        self.shards.send(i, media_shard::ShardInput::Close { call });
                    }
                }
                Output::Media { call, cmd } => {
                    if let Some(&i) = self.media.get(&call) {
                        self.shards.send(i, media_shard::ShardInput::Command { call, cmd });
                    }
                }
                Output::Operator { operator, kind, detail } => {
                    info!(event = "operator", %operator, kind = ?kind, detail = detail.as_deref().unwrap_or(""), "operator");
                    self.recorder.on_operator(&operator, kind, detail.as_deref());
                }
                Output::Event(ev) => {
                    log_event(&ev);
                    if let Some(wait) = self.recorder.on_event(&ev) {
                        self.commits.insert(ev.call, wait);
                    }
                    // A call refused before it was answered never opens media.
                    if matches!(ev.kind, CallEventKind::Ended { .. }) {
                        self.commits.remove(&ev.call);
                    }
                }
            }
        }
    }

    async fn send(&self, peer: Peer, bytes: Bytes) {
        match peer.transport {
            Transport::Udp => {
                let Some(sock) = self.udp.get(&peer.local).or_else(|| self.udp.values().next()) else { return };
                if let Err(e) = sock.send_to(&bytes, peer.remote).await {
                    debug!(remote = %peer.remote, error = %e, "UDP send failed");
                }
            }
            Transport::Tcp => {
                let writer = peer.conn.and_then(|c| self.tcp.lock().ok().and_then(|m| m.get(&c).cloned()));
                match writer {
                    // The engine never waits on a slow TCP peer: a full queue drops the
                    // message (the connection is then closed by its own timeouts).
                    Some(w) => {
                        if w.try_send(bytes).is_err() {
                            debug!(remote = %peer.remote, "TCP write queue full or closed; message dropped");
                        }
                    }
                    None => debug!(remote = %peer.remote, "TCP connection gone; message dropped"),
                }
            }
        }
    }
}

/// Open the record store. If it cannot be opened the gateway still answers calls (the
/// log keeps their story) and says so loudly: records matter, answering matters more.
fn open_store(config: &Config) -> Option<crate::store::Writer> {
    let options = crate::store::WriterOptions { capacity: config.store.queue_capacity, ..Default::default() };
    match crate::store::Writer::open(&config.store.path, options) {
        Ok(w) => {
            let interrupted = &w.recovery().interrupted;
            if !interrupted.is_empty() {
                warn!(count = interrupted.len(), calls = ?interrupted, "calls open at the last stop closed as interrupted");
            }
            info!(path = %config.store.path.display(), "call records in SQLite (WAL, synchronous=FULL)");
            Some(w)
        }
        Err(e) => {
            error!(path = %config.store.path.display(), error = %e, "CALL RECORDS DISABLED: the database cannot be opened; calls are still answered");
            None
        }
    }
}

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The call's story in the log, one line per event, with the call id on every line.
fn log_event(ev: &crate::engine::CallEvent) {
    let span = tracing::info_span!("call", call = %ev.call, sip_call_id = %ev.sip_call_id);
    let _g = span.enter();
    match &ev.kind {
        CallEventKind::Started { record, caller, caller_name, dialed, identity, remote, transport, config_version } => info!(
            event = "started",
            record = %record,
            caller = %caller,
            caller_name = caller_name.as_deref().unwrap_or(""),
            dialed = %dialed,
            identity = %identity,
            remote = %remote,
            transport = transport.as_str(),
            config_version = %config_version,
            "call started"
        ),
        CallEventKind::Answered { codec, telephone_event, rtp_port, remote_rtp } => info!(
            event = "answered",
            codec = %codec,
            telephone_event = ?telephone_event,
            rtp_port,
            remote_rtp = ?remote_rtp,
            "call answered"
        ),
        CallEventKind::Confirmed => info!(event = "confirmed", "ACK received"),
        CallEventKind::Digit { key, source } => info!(event = "digit", key = %key, source = source.as_str(), "digit"),
        CallEventKind::Prompt { prompt } => info!(event = "prompt", lang = %prompt.lang, prompt = %prompt.id, "prompt"),
        CallEventKind::Routed { routing } => info!(
            event = "routed",
            queue = %routing.queue,
            requested = %routing.requested,
            overflowed = routing.overflowed(),
            reason = %serde_json::to_string(&routing.reason).unwrap_or_default(),
            "routed to queue"
        ),
        CallEventKind::IvrPath { path } => {
            info!(event = "ivr_path", path = %serde_json::to_string(path).unwrap_or_default(), "IVR path")
        }
        CallEventKind::RtpTimeout => warn!(event = "rtp_timeout", "no RTP from the caller"),
        CallEventKind::Queued { queue, position } => info!(event = "queued", %queue, position, "queued"),
        CallEventKind::Overflowed { to } => info!(event = "overflowed", %to, "overflow: more operators may answer"),
        CallEventKind::Offered { operator } => info!(event = "offered", %operator, "offered to an operator"),
        CallEventKind::OperatorRinging { operator } => info!(event = "operator_ringing", %operator, "operator's phone rings"),
        CallEventKind::OperatorAnswered { operator } => info!(event = "operator_answered", %operator, "operator answered; bridged"),
        CallEventKind::OperatorNoAnswer { operator } => info!(event = "operator_no_answer", %operator, "operator did not answer"),
        CallEventKind::Ended { reason } => info!(event = "ended", reason = reason.as_str(), "call ended"),
    }
}
