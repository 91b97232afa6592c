//! The whole file: the aggregate raw table, the typed [`Config`], and the order in
//! which the tables are validated into it.
//!
//! Tables are validated one by one (each in its own file) and then against each other
//! (`cross_refs.rs`). A check that depends on another table runs only when that table
//! is itself valid, so one typo yields one error.

use std::sync::Arc;

use serde::Deserialize;

use super::cross_refs;
use super::defaults::default_routing;
use super::emergency::{emergency, EmergencyConfig, RawEmergency};
use super::http::{http, HttpConfig, RawHttp};
use super::ivr::{ivr, RawIvr};
use super::media::{media, MediaConfig, RawMedia};
use super::operators::{
    acd, operators, registrar, AcdConfig, Operator, RawAcd, RawOperator, RawRegistrar,
    RegistrarConfig,
};
use super::node::{node, NodeConfig, RawNode};
use super::overload::{overload, OverloadConfig, RawOverload};
use super::problems::Problems;
use super::queues::{queues, RawQueue};
use super::routing::{routing_table, RawRouting, RoutingTable};
use super::routing_plan::RoutingPlan;
use super::shutdown::{shutdown, RawShutdown, ShutdownConfig};
use super::callbacks::{callbacks, CallbacksConfig, RawCallbacks};
use super::sip::{sip, RawSip, SipConfig};
use super::problems::span::S;
use super::store::{store, RawStore, StoreConfig};

/// The file as written: every table rejects unknown keys, every key is optional and
/// every value keeps its byte span.
///
/// Types in the `Raw*` tables are deliberately loose (`i64` for counts and ports,
/// strings for addresses, `toml::Value` where admins often pick the wrong TOML type)
/// so that the deserializer accepts as much as it can and validation can report every
/// problem at once, each with a message that names the expected form. A typo'd key,
/// on the other hand, must fail loudly: a silently ignored `listen_upd` would leave an
/// emergency gateway listening somewhere the operator did not intend.
///
/// To add a table: a file with its `Raw*` struct (`deny_unknown_fields`), its typed
/// struct, default and validator; an `Option` field here; a field in [`Config`]; and a
/// call in [`validate`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub sip: Option<S<RawSip>>,
    pub emergency: Option<S<RawEmergency>>,
    pub media: Option<S<RawMedia>>,
    pub routing: Option<S<RawRouting>>,
    pub ivr: Option<S<RawIvr>>,
    pub queues: Option<S<Vec<S<RawQueue>>>>,
    pub store: Option<S<RawStore>>,
    pub node: Option<S<RawNode>>,
    pub overload: Option<S<RawOverload>>,
    pub http: Option<S<RawHttp>>,
    pub shutdown: Option<S<RawShutdown>>,
    pub callbacks: Option<S<RawCallbacks>>,
    pub acd: Option<S<RawAcd>>,
    pub registrar: Option<S<RawRegistrar>>,
    pub operators: Option<S<Vec<S<RawOperator>>>>,
}

/// The validated configuration plan. Calls in progress keep the `Config` they started
/// with, so it is a plain value that can be cloned and compared across reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listeners and transport limits.
    pub sip: SipConfig,
    /// What makes an INVITE an emergency call.
    pub emergency: EmergencyConfig,
    /// RTP address, ports and codecs.
    pub media: MediaConfig,
    /// IVR, direct numbers and queues. In an `Arc` because each call keeps the plan
    /// it started with while a reload installs a new one for later calls.
    pub routing: Arc<RoutingPlan>,
    /// Call records: database file and shifts.
    pub store: StoreConfig,
    /// `[node]`: this gateway's name in the central view.
    pub node: NodeConfig,
    /// When new calls get 503 + Retry-After instead of a gateway that cannot serve them.
    pub overload: OverloadConfig,
    /// The HTTP server: where it listens, the API's tokens.
    pub http: HttpConfig,
    /// The drain on stop: how long calls in progress may go on.
    pub shutdown: ShutdownConfig,
    /// `[callbacks]`: the callback worklist.
    pub callbacks: CallbacksConfig,
    /// Queue timing (wrap-up, ring timeout, overflow, hold announcements).
    pub acd: AcdConfig,
    /// Digest realm, nonce lifetime, registration expiry, brute-force limit.
    pub registrar: RegistrarConfig,
    /// Operator accounts; empty in the shipped config (no default credentials).
    pub operators: Vec<Operator>,
    /// Content hash of the source text (first 12 hex chars of its SHA-256), so logs,
    /// call records and the admin API can tell which config a call ran under.
    pub version: String,
}

/// Validates every table of `raw` into a [`Config`] named `version`; the problems
/// found are in `p` (the result is then only good for more checks).
pub(crate) fn validate(raw: RawConfig, version: String, p: &mut Problems<'_>) -> Config {
    let sip = sip(raw.sip, p);
    let emergency = emergency(raw.emergency, p);
    // Direct numbers are checked against the emergency numbers only when those are
    // themselves valid, so one typo does not produce a second, derived error.
    let emergency_ok = !p.any_under("emergency");
    let media = media(raw.media, p);
    let routing = routing_plan(
        RawRoutingTables {
            routing: raw.routing,
            ivr: raw.ivr,
            queues: raw.queues,
        },
        emergency_ok.then_some(&emergency),
        p,
    );
    let store = store(raw.store, routing.utc_offset, p);
    let node = node(raw.node, p);
    // Departments are checked only against queues that validated, so a typo in
    // [[queues]] is reported once, not again for every operator of that queue.
    let queues_ok = !p.any_under("queues") && !p.any_under("routing");
    let overload = overload(raw.overload, p);
    let http = http(raw.http, p);
    let shutdown = shutdown(raw.shutdown, p);
    let callbacks = callbacks(raw.callbacks, p);
    let acd = acd(raw.acd, p);
    let registrar = registrar(raw.registrar, p);
    let operators = operators(raw.operators, &routing, queues_ok, p);
    Config {
        sip,
        emergency,
        media,
        routing: Arc::new(routing),
        store,
        node,
        overload,
        http,
        shutdown,
        callbacks,
        acd,
        registrar,
        operators,
        version,
    }
}

/// The routing-related tables of the file, as written.
struct RawRoutingTables {
    routing: Option<S<RawRouting>>,
    ivr: Option<S<RawIvr>>,
    queues: Option<S<Vec<S<RawQueue>>>>,
}

/// `[routing]`, `[ivr]` and `[[queues]]` into one [`RoutingPlan`], each table against
/// the built-in plan's defaults, then checked against each other.
fn routing_plan(
    mut raw: RawRoutingTables,
    emergency: Option<&EmergencyConfig>,
    p: &mut Problems<'_>,
) -> RoutingPlan {
    let first = p.errors.len();
    let d = default_routing();

    let queues = queues(raw.queues, &d.queues, p);
    let nuisance = super::nuisance::nuisance(raw.routing.as_mut().and_then(|r| r.get_mut().nuisance.take()), p);
    let (fallback, utc_offset, mut direct, silent) = routing_table(raw.routing, &d.routing_table(), p);
    // The default direct numbers are the legacy national numbers; a deployment that
    // does not answer one of them simply has no direct route for it. Numbers the
    // admin wrote are checked strictly instead (check_direct).
    if let Some(e) = emergency {
        direct.retain(|(n, _, origin)| {
            origin.is_some() || e.numbers.iter().any(|x| x.number == n.number)
        });
    }
    let ivr = ivr(raw.ivr, &d.ivr(), p);

    let mut plan = RoutingPlan::from_parts(
        ivr.ivr(),
        RoutingTable {
            fallback_queue: fallback.0.clone(),
            silent_queue: silent.as_ref().map(|s| s.0.clone()),
            utc_offset,
            direct: direct.iter().map(|(n, _, _)| n.clone()).collect(),
        },
        queues.iter().map(|q| q.queue.clone()).collect(),
    );

    plan.nuisance = nuisance;
    cross_refs::check_queues(&queues, &fallback, p);
    cross_refs::check_silent_queue(&queues, silent.as_ref(), p);
    cross_refs::check_direct(&direct, &queues, emergency, p);
    cross_refs::check_menus(&ivr, &queues, p);
    cross_refs::check_prompts(&ivr, &plan, p);

    // Cross-checks run after the per-table ones; sorting by line puts each error
    // next to its neighbours in the file, which is how an admin reads the list.
    if let Some(mine) = p.errors.get_mut(first..) {
        mine.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    }
    plan
}
