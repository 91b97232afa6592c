//! [`Gateway`]: a running gateway, started by binding every listener and starting the
//! tasks (the engine's thread, TCP, the control socket, the watchdog), drained on a stop
//! and then shut down. It owns the record writer (flushed last at shutdown), the
//! node's [`Vitals`] and the one handle from outside into the engine task (reloads,
//! stops).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::control::Node;
use super::engine_task::{self, Start};
use super::error::RuntimeError;
use super::input::EngineInput;
use super::queues::Queues;
use super::stop::{stop, Again};
use super::tcp::{self, TcpWriters};
use super::vitals::{Pace, Vitals};
use super::watchdog::{self, Watchdog};
use super::{central, control, prompts, udp};
use crate::config::{Config, HttpToken};
use crate::http;
use crate::media::prompts::PromptStore;
use crate::store::{Writer, WriterOptions};

/// How long the record writer gets to flush at shutdown.
const STORE_FLUSH: Duration = Duration::from_secs(5);

/// Set to `1` (tests only), it lets the control socket take test faults such as
/// blocking the engine thread. Off in production: nothing sets it.
pub const TEST_FAULTS_ENV: &str = "CC112_TEST_FAULTS";

/// A running gateway.
pub struct Gateway {
    /// The SIP UDP addresses listened on (with the ports the system chose for port 0).
    pub udp_addrs: Vec<SocketAddr>,
    /// The SIP TCP addresses listened on.
    pub tcp_addrs: Vec<SocketAddr>,
    /// The HTTP addresses listened on (none when `http.listen` is empty).
    pub http_addrs: Vec<SocketAddr>,
    /// The API's tokens, replaced on reload.
    http_tokens: watch::Sender<Arc<Vec<HttpToken>>>,
    /// The configuration the HTTP side reads (names, shifts), replaced on reload.
    http_config: watch::Sender<Arc<Config>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    input: mpsc::Sender<EngineInput>,
    store: Option<Writer>,
    /// The shipper to the central view (`[store] central`), stopped after the writer.
    central: Option<central::Shipper>,
    vitals: Arc<Vitals>,
    /// Cancelled when the engine's thread has ended (its drain over, or a fault).
    engine_done: CancellationToken,
}

impl Gateway {
    /// Bind every listener and start the tasks. Fails only if a listener cannot be bound
    /// or a thread cannot be started. `config_path` locates the prompts (`<its
    /// directory>/prompts`); without it the built-in recordings are used.
    pub async fn start(config: Config, config_path: Option<&std::path::Path>) -> Result<Gateway, RuntimeError> {
        let prompts = prompts::load(&config, prompts::prompts_dir(config_path).as_deref());
        let store = open_store(&config);
        let central = store.as_ref().and_then(|_| start_central(&config));
        let config = Arc::new(config);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let engine_done = CancellationToken::new();
        let queues = Queues::new(&config.sip.trunks);
        let tx = queues.tx.clone();
        let writers: TcpWriters = Arc::new(Mutex::new(HashMap::new()));
        let watchdog_interval = watchdog::supervisor_interval();
        let vitals = Arc::new(Vitals::new(Pace::for_watchdog(watchdog_interval)));
        let faults = std::env::var(TEST_FAULTS_ENV).is_ok_and(|v| v == "1");
        if faults {
            warn!("{TEST_FAULTS_ENV}=1: test faults can be set off through the control socket; never in production");
        }

        let udp = config.sip.listen_udp.iter().map(|addr| udp::bind(*addr)).collect::<Result<Vec<_>, _>>()?;
        let udp_addrs = udp.iter().map(|(local, _)| *local).collect();
        let mut tcp_addrs = Vec::new();
        for addr in &config.sip.listen_tcp {
            let (listener, local) = tcp::bind(*addr).await?;
            tcp_addrs.push(local);
            let limits = tcp::Limits::from(&config.sip);
            tracker.spawn(tcp::accept(listener, local, limits, tx.clone(), writers.clone(), shutdown.clone(), tracker.clone()));
        }
        let http_bound = http::bind(&config.http.listen).map_err(|(addr, source)| RuntimeError::HttpBind { addr, source })?;
        let http_addrs = http_bound.addrs();
        let (live_tx, live) = watch::channel(None);
        let (http_tokens, tokens) = watch::channel(Arc::new(config.http.tokens.clone()));
        let (http_config, http_config_rx) = watch::channel(config.clone());
        let events = if http_addrs.is_empty() {
            None
        } else {
            let (publisher, events, published) = http::Publisher::new();
            let commands = forward_commands(tx.clone(), &tracker);
            let records = store.as_ref().map(|_| config.store.path.clone());
            let central = central.as_ref().map(central::Shipper::gauges);
            http::serve(http_bound, http::Shared { live, tokens, events, published, commands, records, config: http_config_rx, central }, &tracker).map_err(RuntimeError::HttpThread)?;
            Some(publisher)
        };
        #[cfg(unix)]
        tracker.spawn(control::serve(control::socket_path(&config.store.path), tx.clone(), shutdown.clone(), Node { vitals: vitals.clone(), faults }));
        let dog = Watchdog { vitals: vitals.clone(), store: store.as_ref().map(Writer::handle), engine: tx.clone(), pings: watchdog_interval.is_some() };
        tracker.spawn(dog.run(shutdown.clone()));
        info!(udp = ?udp_addrs, tcp = ?tcp_addrs, version = %config.version, "SIP listening");

        engine_task::spawn(Start {
            config,
            store: store.as_ref().map(Writer::handle),
            prompts,
            queues,
            udp,
            tcp: writers,
            live: live_tx,
            events,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            vitals: vitals.clone(),
            done: engine_done.clone(),
        })?;
        Ok(Gateway { udp_addrs, tcp_addrs, http_addrs, http_tokens, http_config, shutdown, tracker, input: tx, store, central, vitals, engine_done })
    }

    /// The listeners are open and the store checked: tell a supervisor (`READY=1`).
    pub fn notify_ready(&self) {
        watchdog::ready(&self.vitals);
    }

    /// A stop signal: the first begins the drain, the next hurries it (at most
    /// [`crate::engine::HURRY`] left).
    pub async fn stop(&self, why: &str) {
        stop(&self.vitals, &self.input, why, Again::Hurries).await;
    }

    /// Resolves when the engine's thread has ended: its drain is over (or it failed).
    pub async fn engine_stopped(&self) {
        self.engine_done.cancelled().await;
    }

    /// Whether a drain was asked for (the engine's end was expected).
    pub fn draining(&self) -> bool {
        self.vitals.is_draining()
    }

    /// Apply a new configuration (and its prompts) to new calls. Listeners are not
    /// rebound: a change of listen addresses needs a restart (it is logged).
    pub async fn reload(&self, config: Config, prompts: Arc<PromptStore>) {
        // A token taken out of the file stops working now.
        self.http_tokens.send_replace(Arc::new(config.http.tokens.clone()));
        let config = Arc::new(config);
        self.http_config.send_replace(config.clone());
        let _ = self.input.send(EngineInput::Reload(config, prompts)).await;
    }

    /// Stop every task and wait for them (after the drain: the engine has closed every
    /// call; without one, calls still up are closed as `interrupted` at the next
    /// start); the record writer flushes last.
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
        // After the writer: its last records are in the journal, to ship now.
        if let Some(c) = self.central {
            let _ = tokio::task::spawn_blocking(move || c.stop()).await;
        }
    }

    /// The token that stops the gateway when cancelled (as [`shutdown`](Self::shutdown)
    /// does, without waiting).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Open the record store. If it cannot be opened the gateway still answers calls (the
/// log keeps their story) and says so loudly: records matter, answering matters more.
/// The API's supervisor commands, handed to the engine as the control socket's are
/// (in order with everything else the engine handles).
fn forward_commands(engine: mpsc::Sender<EngineInput>, tracker: &TaskTracker) -> mpsc::Sender<http::Commanded> {
    let (tx, mut rx) = mpsc::channel::<http::Commanded>(COMMANDS_WAITING);
    tracker.spawn(async move {
        while let Some(c) = rx.recv().await {
            if engine.send(EngineInput::Command(c.command, c.reply)).await.is_err() {
                break;
            }
        }
    });
    tx
}

/// API commands waiting for the engine at most (more wait in their HTTP handlers).
const COMMANDS_WAITING: usize = 64;

/// Starts the shipper to the central view when `[store] central` is set. A failure is
/// logged, never fatal: the node's own journal is the record.
fn start_central(config: &Config) -> Option<central::Shipper> {
    let url = config.store.central.clone()?;
    let node = config.node.name_or(central::host_name().as_deref());
    match central::Shipper::start(central::ShipperConfig { url, node, db: config.store.path.clone() }) {
        Ok(s) => Some(s),
        Err(e) => {
            error!(error = %e, "CENTRAL VIEW DISABLED: the shipper could not start; records stay in this node's journal");
            None
        }
    }
}

fn open_store(config: &Config) -> Option<Writer> {
    let options = WriterOptions { capacity: config.store.queue_capacity, ..Default::default() };
    match Writer::open(&config.store.path, options) {
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
