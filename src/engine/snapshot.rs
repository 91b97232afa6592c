//! What the engine publishes for readers that must never touch its state (the HTTP
//! server, the wallboard): a plain value, copied out of the engine's parts between two
//! inputs. The runtime publishes one every few hundred milliseconds; readers keep an
//! `Arc` of the last one.

use std::time::{Duration, Instant};

use super::call::CallState;
use super::{Engine, Stats};
use crate::call::acd::AcdSnapshot;
use crate::call::ivr::Routing;
use crate::config::Lang;
use crate::call::CallId;

/// A snapshot lists at most this many calls in progress (the counts stay whole).
pub const MAX_LISTED_CALLS: usize = 5_000;

/// The engine's state as counts, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The version (content hash) of the config new calls start with.
    pub config_version: String,
    /// Calls in progress (IVR, queues, with an operator).
    pub calls_in_progress: usize,
    /// Whether the gateway is stopping (new calls refused).
    pub draining: bool,
    /// The engine's counters since start.
    pub stats: Stats,
    /// Every queue (callers waiting, the oldest wait) and operator (state).
    pub acd: AcdSnapshot,
    /// The calls in progress, at most [`MAX_LISTED_CALLS`], in no particular order.
    pub calls: Vec<LiveCall>,
}

/// One call in progress, as the API and the wallboard show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    /// The engine's id (as a queue's callers name it).
    pub id: CallId,
    /// The call record's id.
    pub record: String,
    /// The caller's SIP Call-ID, as sent (unsafe: escape it for its sink).
    pub sip_call_id: String,
    /// The caller's number, as sent (unsafe: escape it for its sink).
    pub caller: String,
    /// The caller's display name, as sent (unsafe: escape it for its sink).
    pub caller_name: Option<String>,
    /// How long since the INVITE was accepted.
    pub age: Duration,
    /// `opening`, `answered` (no ACK yet), `up`, `ending`.
    pub state: &'static str,
    /// Where the IVR sent it, once it has.
    pub routing: Option<Routing>,
    /// The language the caller hears.
    pub language: Option<Lang>,
    /// The operator bridged to the caller.
    pub operator: Option<String>,
    /// The flags the operator is shown (`callback`, `silent_55`, `silent`), comma-separated.
    pub flags: Option<String>,
}

impl Engine {
    /// The engine's state as counts at `now` (see [`Snapshot`]).
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            config_version: self.config.version.clone(),
            calls_in_progress: self.active_calls(),
            draining: self.drain.refuses_calls(),
            stats: self.stats.clone(),
            acd: self.ops.acd_snapshot(now),
            calls: self.calls.iter().take(MAX_LISTED_CALLS).map(|c| live_call(c, now)).collect(),
        }
    }
}

fn live_call(c: &super::call::Call, now: Instant) -> LiveCall {
    LiveCall {
        id: c.id,
        record: c.record.clone(),
        sip_call_id: c.sip_call_id.clone(),
        caller: c.caller.clone(),
        caller_name: c.caller_name.clone(),
        age: now.saturating_duration_since(c.started),
        state: match c.state {
            CallState::Opening { .. } => "opening",
            CallState::Answered => "answered",
            CallState::Confirmed => "up",
            CallState::Ending => "ending",
        },
        routing: c.routing.clone(),
        language: c.language.clone(),
        operator: c.operator.as_ref().map(|o| o.operator.to_string()),
        flags: super::operator_side::flags(c),
    }
}
