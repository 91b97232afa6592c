//! What the engine publishes for readers that must never touch its state (the HTTP
//! server, the wallboard): a plain value, copied out of the engine's parts between two
//! inputs. The runtime publishes one every few hundred milliseconds; readers keep an
//! `Arc` of the last one.

use std::time::Instant;

use super::{Engine, Stats};
use crate::call::acd::AcdSnapshot;

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
        }
    }
}
