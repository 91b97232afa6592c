//! The central record view: each node ships its records from its SQLite journal to one
//! PostgreSQL database (`[store] central`), and `cc112 calls` / `cc112 report` can read
//! that view instead of one node's file (`--central`).
//!
//! Contract, and why:
//! - **Never in a call's way.** The shipper is a thread of its own (`cc112-central`,
//!   its own current-thread runtime) that reads the journal through a read-only
//!   connection, as the CLI does: the writer, the engine and the media never wait for
//!   it, and PostgreSQL being slow or down delays only the central view.
//! - **Idempotent and resumable.** Rows are keyed (`calls.id`, `call_events(call_id,
//!   seq)`, `operator_events(node, operator_id, seq)`, `refusals(node, local_rowid)`);
//!   the cursor (the last local rowid shipped of each table) lives in PostgreSQL's
//!   `nodes` row and moves in the same transaction as the rows, so after a restart of
//!   either side shipping resumes exactly at the last commit, and a batch shipped twice
//!   changes nothing. A call's row is sent again whenever it changes (`local.rs`).
//! - **Outages logged once.** Reconnection backs off from 250 ms to 2 s; the start and
//!   the end of an outage are one log line each.
//! - **Takeover.** Every node writes a heartbeat; a node that sees a peer silent for
//!   [`TAKEOVER_AFTER`] closes the peer's open calls in the central view as
//!   `interrupted` (`ship.rs`). The silent node's own rows, shipped when it is back
//!   (its start-up recovery closes those calls locally), replace that close.
//!
//! Files: `error.rs` ([`CentralError`], the time bound of every wait), `tables.rs` (the shipped columns, both directions), `pg_schema.rs` (the DDL),
//! `local.rs` (reading the journal past the cursor), `ship.rs` (one connection's
//! rounds), `mirror.rs` (the CLI's reader: the central rows of a range loaded into an
//! in-memory SQLite with the local schema, so the same queries print the same output).

mod error;
mod local;
mod mirror;
mod pg_schema;
mod ship;
mod tables;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::str::FromStr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use error::CentralError;
pub use mirror::{reader, Scope};
pub use pg_schema::DDL;
pub use ship::TAKEOVER_AFTER;

use error::{within, CONNECT_TIMEOUT};
use crate::http::CentralGauges;
use local::{Cursor, Local, Watch};
use ship::Session;

/// The first pause between reconnection attempts, doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest pause between reconnection attempts (the view catches up within
/// seconds of PostgreSQL's return).
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// The pause between rounds when the journal had nothing more.
const TICK: Duration = Duration::from_millis(200);

/// The running shipper.
pub struct Shipper {
    stop: CancellationToken,
    gauges: Arc<CentralGauges>,
    thread: Option<JoinHandle<()>>,
}

/// What the shipper needs: where from, where to, under which name.
#[derive(Debug, Clone)]
pub struct ShipperConfig {
    /// `[store] central`.
    pub url: String,
    /// The node's name (`[node] name`, or the host name).
    pub node: String,
    /// The node's SQLite journal.
    pub db: PathBuf,
}

impl Shipper {
    /// Starts the shipper's thread. Fails only if the URL is unusable or the thread
    /// cannot be started; PostgreSQL being down is not a failure (it ships later).
    pub fn start(cfg: ShipperConfig) -> Result<Shipper, CentralError> {
        let mut pg = tokio_postgres::Config::from_str(&cfg.url)?;
        pg.connect_timeout(CONNECT_TIMEOUT).keepalives_idle(Duration::from_secs(10)).application_name("cc112-central");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let gauges = Arc::new(CentralGauges::default());
        let g = gauges.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("cc112-central".into()).spawn(move || rt.block_on(run(pg, cfg, token, g)))?;
        Ok(Shipper { stop, gauges, thread: Some(thread) })
    }

    /// Its state for `/metrics` (rows behind, reachable).
    pub fn gauges(&self) -> Arc<CentralGauges> {
        self.gauges.clone()
    }

    /// Stops after a last attempt to ship what is left, bounded by [`FINAL_FLUSH`];
    /// waits for the thread (that bound keeps it short). Blocking: call it off the
    /// async workers.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                error!("central view: the shipper's thread panicked");
            }
        }
    }
}

/// The final flush's bound at stop.
pub const FINAL_FLUSH: Duration = Duration::from_secs(3);

/// The shipper's state across connections.
struct Run {
    pg: tokio_postgres::Config,
    cfg: ShipperConfig,
    stop: CancellationToken,
    gauges: Arc<CentralGauges>,
    /// `host:port/db`, for logs.
    target: String,
    watch: Watch,
    /// Since when, and why, PostgreSQL is out of reach.
    down: Option<(Instant, String)>,
    /// The cursor as last committed (for the rows-behind gauge while down).
    cursor: Option<Cursor>,
}

/// Connect, ship, reconnect with backoff; until stopped.
async fn run(pg: tokio_postgres::Config, cfg: ShipperConfig, stop: CancellationToken, gauges: Arc<CentralGauges>) {
    let target = describe(&pg);
    info!(node = %cfg.node, central = %target, "central view: shipping records");
    let mut r = Run { pg, cfg, stop, gauges, target, watch: Watch::default(), down: None, cursor: None };
    let mut backoff = BACKOFF_MIN;
    loop {
        match r.connected().await {
            Ok(()) => return,
            Err(e) => {
                r.gauges.up.store(false, Relaxed);
                if r.down.is_none() {
                    warn!(central = %r.target, error = %e, "CENTRAL VIEW UNREACHABLE: records stay in the local journal and are shipped when it is back");
                    r.down = Some((Instant::now(), e.to_string()));
                    backoff = BACKOFF_MIN;
                } else {
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                if let (Some(c), Ok(local)) = (r.cursor, Local::open(&r.cfg.db)) {
                    measure(&r.gauges, &local, c);
                }
            }
        }
        if r.stop.is_cancelled() {
            warn!("central view: stopped while unreachable; the next start ships what is left");
            return;
        }
        tokio::select! {
            () = r.stop.cancelled() => {}
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

impl Run {
    /// One connection: Ok when stopped, Err when it failed.
    async fn connected(&mut self) -> Result<(), CentralError> {
        let (mut client, connection) = within(CONNECT_TIMEOUT, self.pg.connect(tokio_postgres::NoTls)).await??;
        let conn_task = tokio::spawn(connection);
        let result = self.session(&mut client).await;
        conn_task.abort();
        result
    }

    async fn session(&mut self, client: &mut tokio_postgres::Client) -> Result<(), CentralError> {
        let local = Local::open(&self.cfg.db)?;
        let cursor = within(ship::ROUND_TIMEOUT, ship::open(client, &self.cfg.node)).await??;
        let cursor = ship::check_cursor(cursor, &local)?;
        // The view may hold an older state of the calls running here (or a
        // takeover's close of them): send them all once.
        self.watch.force(local.open_calls()?);
        let now = Instant::now();
        let mut s = Session { client, node: &self.cfg.node, local: &local, watch: &mut self.watch, cursor, connected: now, last_beat: now, last_takeover: now };
        let rows = within(Duration::from_secs(60), s.ship_all()).await??;
        let cursor = s.cursor;
        self.cursor = Some(cursor);
        self.gauges.up.store(true, Relaxed);
        if let Some((since, _)) = self.down.take() {
            info!(central = %self.target, down_s = since.elapsed().as_secs_f64(), rows, catch_up_s = now.elapsed().as_secs_f64(), "central view reachable again; caught up");
        }
        loop {
            measure(&self.gauges, &local, s.cursor);
            self.cursor = Some(s.cursor);
            tokio::select! {
                () = self.stop.cancelled() => {
                    match within(FINAL_FLUSH, s.ship_all()).await {
                        Ok(Ok(n)) => info!(rows = n, "central view: last records shipped"),
                        Ok(Err(e)) => warn!(error = %e, "central view: last shipment failed; the next start ships it"),
                        Err(e) => warn!(error = %e, "central view: last shipment timed out; the next start ships it"),
                    }
                    return Ok(());
                }
                () = tokio::time::sleep(TICK) => {}
            }
            within(ship::ROUND_TIMEOUT, async {
                s.ship_all().await?;
                s.beat().await?;
                s.take_over().await
            })
            .await??;
        }
    }
}

/// The rows-behind gauge: how far `cursor` is behind the journal's end.
fn measure(gauges: &CentralGauges, local: &Local, cursor: Cursor) {
    if let Ok(top) = local.tops() {
        let behind = (top.calls - cursor.calls).max(0) + (top.call_events - cursor.call_events).max(0) + (top.operator_events - cursor.operator_events).max(0) + (top.refusals - cursor.refusals).max(0);
        gauges.rows_behind.store(behind, Relaxed);
    }
}

/// `host:port/db` of the URL, for logs (never the password).
fn describe(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    crate::sink::printable(&format!("{host}:{port}/{}", pg.get_dbname().unwrap_or(""))).to_string()
}

/// The host's name (the default node name), when the system says.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()).or_else(|| std::env::var("HOSTNAME").ok())
}
