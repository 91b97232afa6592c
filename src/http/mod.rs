//! The HTTP server (issue 15): `/healthz`, Prometheus `/metrics` and the API, on axum,
//! on a thread of its own at a lower priority (see `serve.rs`), never on the signalling
//! thread or the shared tokio workers that open calls.
//!
//! It never touches the engine: the engine task publishes a [`Live`] snapshot (counts
//! copied out of the engine and the record store) every [`PUBLISH_EVERY`] on a
//! `tokio::sync::watch`, and every handler reads the last one. A slow client, a flood of
//! requests or a scrape of `/metrics` costs the calls nothing but CPU on other threads.
//! It serves until the engine task has ended (its publisher gone), so through a
//! shutdown's drain `/healthz` answers `503 stopping`.
//!
//! What each file owns:
//! - `serve.rs`: binding the listeners and the accept loop, with its limits
//!   (connections, header and request timeouts, connection lifetime).
//! - `auth.rs`: `Authorization: Bearer` tokens, compared by SHA-256 in constant time,
//!   and the roles.
//! - `routes.rs`: the router: `/healthz`, `/metrics`, `/api/v1/status`.
//! - `metrics.rs`: the Prometheus text exposition of a [`Live`] snapshot.
//! - `gauges.rs`: [`CentralGauges`], the central view's shipper's state for `/metrics`.
//! - `events.rs`: the live event stream ([`Publisher`], fed by the engine task).
//! - `api/`: the JSON API under `/api/v1` (calls, report, queues, operators and their
//!   control) and its OpenAPI description.
//! - `sse.rs`: `/api/v1/events`, that stream as server-sent events.
//! - `wallboard/`: the wallboard page at `/`, its script and style, its state
//!   (`/api/v1/wallboard`), the login form and cookie (`cookie.rs`).
//! - `conn.rs`: what a handler knows of its connection (peer, streaming).

mod api;
mod auth;
mod conn;
mod cookie;
mod events;
mod gauges;
mod metrics;
pub use gauges::CentralGauges;
mod routes;
mod serve;
mod sse;
mod wallboard;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::{Config, HttpToken};
use crate::engine::control::{Command, Reply};
use crate::engine::{Engine, Snapshot};
use crate::store::Health;

pub use events::{LiveEvent, Publisher};
pub use serve::{bind, serve, Bound};

/// How often the engine task publishes a [`Live`] snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// What the HTTP side knows of the running gateway: the last published snapshot.
#[derive(Debug, Clone)]
pub struct Live {
    /// The engine's counts.
    pub engine: Snapshot,
    /// The record store's health, when it could be opened.
    pub records: Option<Health>,
    /// How long building the previous snapshot took on the signalling thread.
    pub build_time: Duration,
    /// The configuration new calls start with (shared, not copied; follows reloads):
    /// operator names and departments, shifts and local time for the API.
    pub config: Arc<Config>,
    /// RTP packet counts of the media shards (the runtime adds them after `build`).
    pub rtp: crate::media::totals::RtpTotals,
}

impl Live {
    /// Copies the counts out of the engine and the record store (on the signalling
    /// thread, between two inputs); `build_time` is the last build's cost, reported.
    pub fn build(engine: &Engine, records: Option<Health>, build_time: Duration) -> Live {
        Live { engine: engine.snapshot(Instant::now()), records, build_time, config: engine.config().clone(), rtp: Default::default() }
    }
}

/// What the handlers share: the snapshots and the tokens (both follow the gateway:
/// a reload replaces the tokens).
#[derive(Clone)]
pub struct Shared {
    /// The last published snapshot; `None` before the first.
    pub live: tokio::sync::watch::Receiver<Option<Arc<Live>>>,
    /// The tokens the API accepts.
    pub tokens: tokio::sync::watch::Receiver<Arc<Vec<HttpToken>>>,
    /// The live event stream: each SSE client subscribes.
    pub events: broadcast::Sender<Arc<LiveEvent>>,
    /// The count of events published (coalesced streams read it, see `sse.rs`).
    pub published: events::Published,
    /// Supervisor commands for the engine (the control socket's entry point).
    pub commands: mpsc::Sender<Commanded>,
    /// The record database, opened read-only per request (as the CLI does); `None`
    /// when the gateway keeps no records.
    pub records: Option<PathBuf>,
    /// The configuration new calls start with (replaced on reload): the wallboard's
    /// department and operator names, the shifts and the local time.
    pub config: tokio::sync::watch::Receiver<Arc<Config>>,
    /// The shipper to the central view, when `[store] central` is set (`/metrics`).
    pub central: Option<Arc<gauges::CentralGauges>>,
}

/// A supervisor command from the API, and where the engine's reply goes.
#[derive(Debug)]
pub struct Commanded {
    /// The command.
    pub command: Command,
    /// The engine's answer.
    pub reply: oneshot::Sender<Reply>,
}
