//! The signalling thread and its engine task, the one owner of the [`Engine`].
//!
//! [`spawn`] starts a thread of its own (`cc112-engine`, a current-thread runtime) that
//! runs the SIP UDP readers and the engine task. The task feeds the engine what the
//! queues bring ([`EngineInput`]) and the clock, and carries out what the engine asks
//! for ([`Output`]): sends on the UDP sockets and TCP connections, opens calls' media
//! (on the shared runtime) and passes media commands to the shards, writes call and
//! operator events to the log and the record store. Every few seconds it logs the load,
//! trims memory after a surge, and complains about a stalled record store.
//!
//! Why a thread: on the shared workers, signalling was a few tasks among thousands of
//! media tasks; each time their budget ran out they waited behind every call's RTP, the
//! SIP socket's buffer overflowed, ACKs and BYEs were lost, calls did not end and their
//! prompts kept playing, and the gateway spiralled (measured in the overload benchmark:
//! 9,000 calls in progress at 2,100 calls/s of 1 s each). A thread gets its share of
//! the CPU from the kernel however many media tasks are ready.
//!
//! Stopping is the engine's drain (`engine::drain`): a [`EngineInput::Stop`] begins it
//! (new calls get 503, calls in progress go on, the grace's end hangs them up) and the
//! task ends once the engine says it is over; dropping it closes every call's media.
//! The shutdown token stops the task at once (after the drain, or when the gateway is
//! dropped without one). At every turn the task leaves a beat in the [`Vitals`], and
//! at least every [`Pace::beat`](super::vitals::Pace) when idle, so the watchdog can
//! tell a stalled engine thread from a quiet one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::call_log::log_event;
use super::error::RuntimeError;
use super::queues::FairQueue;
use super::input::EngineInput;
use super::queues::Queues;
use super::media_open::{self, Opening};
use super::media_shard::{MediaShards, ShardInput};
use super::memory;
use super::record::{CommitWait, Recorder, Started, RECORD_WAIT};
use super::tcp::TcpWriters;
use super::udp;
use crate::call::CallId;
use crate::config::Config;
use crate::http::{Live, Publisher, PUBLISH_EVERY};
use super::vitals::Vitals;
use crate::engine::{CallEvent, CallEventKind, DrainReport, DrainStep, Engine, Output};
use crate::media::prompts::PromptStore;
use crate::sip::{Peer, Transport};
use crate::store::StoreHandle;

/// The longest the test-only stall fault may block the engine thread.
const MAX_FAULT_STALL: Duration = Duration::from_secs(60);

/// How often the load is logged and the record store's health looked at (and
/// complained about).
const HEALTH_EVERY: Duration = Duration::from_secs(5);

/// What the engine task is given by `Gateway::start`; the rest of its state it makes.
pub(super) struct Start {
    /// The configuration the engine starts on.
    pub(super) config: Arc<Config>,
    /// The record store, if it could be opened.
    pub(super) store: Option<StoreHandle>,
    /// Prompts for the calls to come.
    pub(super) prompts: Arc<PromptStore>,
    pub(super) queues: Queues,
    /// The SIP UDP sockets, bound, with their addresses; their readers run on the
    /// engine's thread.
    pub(super) udp: Vec<(SocketAddr, std::net::UdpSocket)>,
    pub(super) tcp: TcpWriters,
    /// Where the snapshots for the HTTP server are published.
    pub(super) live: watch::Sender<Option<Arc<Live>>>,
    /// The live event stream's publisher, when HTTP is on.
    pub(super) events: Option<Publisher>,
    pub(super) shutdown: CancellationToken,
    pub(super) tracker: TaskTracker,
    pub(super) vitals: Arc<Vitals>,
    /// Cancelled when the engine's thread ends, however it ends.
    pub(super) done: CancellationToken,
}

/// The nonce secret the nodes share: the SHA-256 of the file's bytes (at least 32:
/// `head -c 32 /dev/urandom`), so any file of enough randomness will do.
fn nonce_secret(path: &std::path::Path) -> Result<[u8; 32], RuntimeError> {
    use sha2::{Digest as _, Sha256};
    let err = |why: String| RuntimeError::NonceSecret { path: path.to_path_buf(), why };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if bytes.len() < 32 {
        return Err(err(format!("{} bytes; expected at least 32 random bytes (head -c 32 /dev/urandom)", bytes.len())));
    }
    Ok(Sha256::digest(&bytes).into())
}

/// Starts the media shards and the signalling thread; the engine task is tracked by
/// `start.tracker` until it ends.
pub(super) fn spawn(start: Start) -> Result<(), RuntimeError> {
    let Start { config, store, prompts, queues, udp, tcp, live, events, shutdown, tracker, vitals, done } = start;
    let Queues { tx, rx, invites } = queues;
    let secret = config.registrar.nonce_secret_file.as_deref().map(nonce_secret).transpose()?;
    let mut engine = Engine::with_entropy(config);
    if let Some(secret) = secret {
        engine.set_nonce_secret(secret);
    }
    engine.set_wall_clock(Instant::now(), std::time::SystemTime::now());
    if store.is_some() {
        let path = engine.config().store.path.clone();
        super::record::load_callers(&mut engine, &path);
        super::record::restore_registrations(&mut engine, &path);
    }
    // With a store, a call's 200 OK waits for its first record (see `media_open`).
    engine.set_record_wait(store.as_ref().map(|_| RECORD_WAIT));
    let recorder = Recorder::new(store);
    let media_runtime = tokio::runtime::Handle::current();
    let shards = MediaShards::start(&tx).map_err(RuntimeError::MediaThreads)?;
    let mut task = EngineTask {
        engine,
        rx,
        invites: invites.clone(),
        tx,
        udp: HashMap::new(),
        tcp,
        media: HashMap::new(),
        shards,
        prompts,
        recorder,
        commits: HashMap::new(),
        trimmer: memory::Trimmer::default(),
        live,
        events,
        build_time: Duration::ZERO,
        shutdown,
        tracker: tracker.clone(),
        media_runtime,
        vitals,
    };
    let (done_tx, done_rx) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("cc112-engine".into())
        .spawn(move || {
            // Even a panic tells the gateway the engine is gone.
            let _done = done.drop_guard();
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    error!(error = %e, "the engine's runtime could not start");
                    return;
                }
            };
            rt.block_on(async move {
                task.listen_udp(udp, invites);
                task.run().await;
            });
            let _ = done_tx.send(());
        })
        .map_err(RuntimeError::EngineThread)?;
    tracker.spawn(async move {
        let _ = done_rx.await;
    });
    Ok(())
}

/// The engine and everything that carries out its outputs.
struct EngineTask {
    engine: Engine,
    rx: mpsc::Receiver<EngineInput>,
    /// New INVITEs received over UDP, served in turn between sources when `rx` is empty.
    invites: Arc<FairQueue>,
    tx: mpsc::Sender<EngineInput>,
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    tcp: TcpWriters,
    /// Each open call's media shard.
    media: HashMap<CallId, usize>,
    shards: MediaShards,
    /// Prompts for calls that start from now on (a call's media keeps the store it got).
    prompts: Arc<PromptStore>,
    recorder: Recorder,
    /// Commits of calls' first records, handed to the openings of their media, which
    /// report them to the engine.
    commits: HashMap<CallId, CommitWait>,
    trimmer: memory::Trimmer,
    /// The snapshots for the HTTP server, and what building the last one took.
    live: watch::Sender<Option<Arc<Live>>>,
    build_time: Duration,
    /// The live event stream (`/api/v1/events`), when HTTP is on.
    events: Option<Publisher>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The shared runtime, where calls' media is opened (the engine's thread runs only
    /// the engine and the SIP UDP readers).
    media_runtime: tokio::runtime::Handle,
    vitals: Arc<Vitals>,
}

impl EngineTask {
    /// Registers the SIP UDP sockets with this thread's reactor and starts their
    /// readers; new INVITEs go to `invites`, the rest to the main queue.
    fn listen_udp(&mut self, sockets: Vec<(SocketAddr, std::net::UdpSocket)>, invites: Arc<FairQueue>) {
        for (local, sock) in sockets {
            match UdpSocket::from_std(sock) {
                Ok(sock) => {
                    let sock = Arc::new(sock);
                    self.udp.insert(local, sock.clone());
                    self.tracker.spawn(udp::receive(sock, local, self.tx.clone(), invites.clone(), self.shutdown.clone()));
                }
                Err(e) => error!(%local, error = %e, "SIP UDP socket could not be registered"),
            }
        }
    }

    async fn run(mut self) {
        let mut health = tokio::time::interval(HEALTH_EVERY);
        // Callback items past [callbacks] keep expire once a minute.
        let mut expire = tokio::time::interval(Duration::from_secs(60));
        let mut publish = tokio::time::interval(PUBLISH_EVERY);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beat = tokio::time::interval(self.vitals.pace().beat);
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
                // Among new INVITEs, one source after another (a flood from one network
                // does not delay the callers of another).
                input = self.invites.next(), if self.rx.is_empty() => {
                    self.handle(input);
                    // The SIP readers share this thread: under a flood of INVITEs they
                    // must keep reading (a BYE or an ACK waits in the socket behind the
                    // flood's datagrams), so each new INVITE gives them a turn.
                    tokio::task::yield_now().await;
                }
                _ = sleep_until(deadline) => self.engine.handle_timeout(Instant::now()),
                _ = self.shutdown.cancelled() => break,
                _ = health.tick() => self.check_health(),
                _ = expire.tick() => self.recorder.expire_callbacks(self.engine.config().callbacks.keep),
                _ = publish.tick(), if !self.live.is_closed() => self.publish(),
                _ = beat.tick() => {}
            }
            self.dispatch().await;
            self.vitals.beat(Instant::now(), self.engine.active_calls());
            if self.engine.drained() {
                info!(event = "drain", step = "over", "drain over: no call left");
                break;
            }
        }
        // Dropping the shards (with this task) closes every call's media.
        self.media.clear();
        info!(calls = self.engine.active_calls(), stats = ?self.engine.stats(), "engine stopped");
    }

    /// A drain's report: logged (each minute with the calls in progress), and what is
    /// left of the grace kept for `cc112 health`.
    fn on_drain(&self, r: DrainReport) {
        self.vitals.set_grace_left(Instant::now(), r.left);
        let (calls, left_s, minute) = (r.calls, r.left.as_secs(), r.minute);
        match r.step {
            DrainStep::Started => {
                info!(event = "drain", step = "started", calls, left_s, "drain started: new calls and OPTIONS get 503; {calls} calls in progress may go on for {left_s} s")
            }
            DrainStep::Minute => info!(event = "drain", step = "minute", minute, calls, left_s, "drain, minute {minute}: {calls} calls in progress, {left_s} s of grace left"),
            DrainStep::Hurried => warn!(event = "drain", step = "hurried", calls, left_s, "second stop: {calls} calls in progress get {left_s} s more"),
            DrainStep::GraceOver => warn!(event = "drain", step = "grace_over", minute, calls, "grace over: hanging up the {calls} calls still in progress"),
        }
    }

    /// Logs the load, trims memory when it has grown out of proportion to the live
    /// state, and complains when call records wait for the disk.
    fn check_health(&mut self) {
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
        if let Some(h) = self.recorder.store().map(StoreHandle::health) {
            if h.full {
                error!(queue = h.queue_depth, capacity = h.capacity, refused_calls = h.refused_calls, dropped_events = h.dropped_events, last_error = ?h.last_error, failing_since = ?h.failing_since, "record store full: new calls answered 503 until the disk takes records again");
            } else if !h.is_ok() {
                warn!(queue = h.queue_depth, capacity = h.capacity, dropped_events = h.dropped_events, last_error = ?h.last_error, failing_since = ?h.failing_since, "call records are waiting for the disk");
            }
        }
    }

    /// Publishes a snapshot for the HTTP server (which never reads the engine itself).
    fn publish(&mut self) {
        let t = Instant::now();
        let mut live = Live::build(&self.engine, self.recorder.store().map(StoreHandle::health), self.build_time);
        live.rtp = self.shards.rtp_totals();
        self.live.send_replace(Some(Arc::new(live)));
        self.build_time = t.elapsed();
    }

    fn handle(&mut self, input: EngineInput) {
        let now = Instant::now();
        match input {
            EngineInput::Sip { peer, bytes, received } => self.engine.handle_sip_received(now, received, peer, &bytes),
            EngineInput::MediaOpened { call, port, ok, media_delay } => {
                self.engine.observe_media_delay(now, media_delay);
                self.engine.handle_media_opened(now, call, port, ok)
            }
            EngineInput::RecordCommitted { call, ok } => self.engine.handle_record_committed(now, call, ok),
            EngineInput::Media { call, input } => self.engine.handle_media(now, call, input),
            EngineInput::Command(cmd, reply) => {
                let _ = reply.send(self.engine.handle_command(now, cmd));
            }
            EngineInput::Stop => self.engine.stop(now),
            EngineInput::Unhealthy(why) => self.engine.set_unhealthy(why),
            EngineInput::Stall(d) => {
                warn!(ms = d.as_millis() as u64, "test fault: the engine thread blocks");
                std::thread::sleep(d.min(MAX_FAULT_STALL));
            }
            EngineInput::Reload(cfg, prompts) => {
                self.invites.set_trunks(&cfg.sip.trunks);
                self.engine.set_config(cfg);
                self.prompts = prompts;
            }
        }
    }

    /// Carries out everything the engine has to say.
    async fn dispatch(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Send { peer, bytes } => self.send(peer, bytes).await,
                Output::OpenMedia { call, port } => self.open_media(call, port),
                Output::CloseMedia { call, .. } => {
                    if let Some(i) = self.media.remove(&call) {
                        self.shards.send(i, ShardInput::Close { call });
                    }
                }
                Output::Media { call, cmd } => {
                    if let Some(&i) = self.media.get(&call) {
                        self.shards.send(i, ShardInput::Command { call, cmd });
                    }
                }
                Output::Operator { operator, kind, detail } => {
                    info!(event = "operator", %operator, kind = ?kind, detail = detail.as_deref().unwrap_or(""), "operator");
                    self.recorder.on_operator(&operator, kind, detail.as_deref());
                    if let Some(p) = &mut self.events {
                        p.operator_event(&operator, kind, detail.as_deref());
                    }
                }
                Output::Registration(change) => self.recorder.on_registration(change),
                Output::Event(ev) => self.on_event(&ev),
                Output::Drain(r) => self.on_drain(r),
                Output::Refused(summary) => {
                    let callers = summary.callers.join(",");
                    warn!(event = "refused", source = %summary.source, reason = summary.reason, count = summary.count, %callers, "new calls refused with 503");
                    self.recorder.on_refused(summary);
                }
            }
        }
    }

    /// Spawns the opening of a call's media on the shared runtime, in the next shard,
    /// with the commit of the call's first record for it to report.
    fn open_media(&mut self, call: CallId, port: u16) {
        let Some((i, shard)) = self.shards.pick() else {
            // No media thread runs: the port is reported unusable, and the engine
            // answers the call 503 once its tries are spent.
            self.engine.handle_media_opened(Instant::now(), call, port, false);
            return;
        };
        self.media.insert(call, i);
        let addr = self.engine.config().media.address;
        let commit = self.commits.remove(&call);
        let opening = Opening { commit, spawned: Instant::now() };
        self.tracker.spawn_on(
            media_open::open(call, SocketAddr::new(addr, port), self.tx.clone(), shard, self.prompts.clone(), opening, self.shutdown.clone()),
            &self.media_runtime,
        );
    }

    /// A call event: logged, recorded, and a new call's commit kept for its media's
    /// opening (the engine emits the start before it asks for the media), or the call
    /// refused when its record has no room.
    fn on_event(&mut self, ev: &CallEvent) {
        log_event(ev);
        if let Some(p) = &mut self.events {
            p.call_event(ev);
        }
        match self.recorder.on_event(ev) {
            Some(Started::Queued(wait)) => {
                self.commits.insert(ev.call, wait);
            }
            // No room for its record: the engine refuses the call (503) at once.
            Some(Started::Refused) => self.engine.handle_record_refused(Instant::now(), ev.call),
            None => {}
        }
        // A call refused before it was answered never opens media.
        if matches!(ev.kind, CallEventKind::Ended { .. }) {
            self.commits.remove(&ev.call);
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

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
