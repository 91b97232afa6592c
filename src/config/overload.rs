//! `[overload]`: when a new emergency call is refused with 503 rather than accepted
//! into a gateway that can no longer serve it.
//!
//! Refusing an emergency call is the last resort, so the limits are about the gateway's
//! own health, never about policy: a 503 with Retry-After makes the carrier send the
//! call to another center at once, while an INVITE accepted by a gateway that is
//! seconds behind rings into silence, times out, and is retransmitted into the backlog.

use std::time::Duration;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{duration_in, int_in, Problems};

/// `[overload]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverload {
    pub max_calls: Option<S<i64>>,
    pub max_call_rate: Option<S<i64>>,
    pub max_delay: Option<S<toml::Value>>,
    pub retry_after: Option<S<toml::Value>>,
}

/// The validated `[overload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverloadConfig {
    /// Calls in progress (IVR, queues, bridged) beyond which new INVITEs get 503.
    pub max_calls: usize,
    /// New calls per second beyond which INVITEs get 503 (0: no limit). Set from a
    /// measurement of the machine (`bench/run w1`): the delay guard protects a
    /// gateway without it, but only once it is already behind.
    pub max_call_rate: u32,
    /// When, for a whole second, the quickest INVITE waited longer than this between
    /// its arrival and the engine, or the quickest new call's media started later (the
    /// media threads run their calls' timers that late), the gateway is behind: stale INVITEs get 503 and new calls are admitted at
    /// an adaptive rate (`engine::admission`).
    pub max_delay: Duration,
    /// Sent as `Retry-After` (whole seconds) with those 503s.
    pub retry_after: Duration,
}

pub(crate) fn default_overload() -> OverloadConfig {
    OverloadConfig {
        max_calls: 10_000,
        max_call_rate: 0,
        max_delay: Duration::from_millis(200),
        retry_after: Duration::from_secs(10),
    }
}

pub(crate) fn overload(raw: Option<S<RawOverload>>, p: &mut Problems<'_>) -> OverloadConfig {
    let d = default_overload();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let max_calls = int_in(raw.max_calls.as_ref(), "overload.max_calls", 1..=1_000_000, "a number of calls from 1 to 1000000", p)
        .map_or(d.max_calls, |v| v as usize);
    let max_call_rate = int_in(raw.max_call_rate.as_ref(), "overload.max_call_rate", 0..=100_000, "new calls per second from 1 to 100000, or 0 for no limit", p)
        .map_or(d.max_call_rate, |v| v as u32);
    // Below T1 (500 ms): an INVITE that waits longer is already being retransmitted.
    let max_delay = duration_in(
        raw.max_delay.as_ref(),
        "overload.max_delay",
        d.max_delay,
        Duration::from_millis(10)..=Duration::from_secs(10),
        "between 10ms and 10s",
        p,
    );
    let retry_after = duration_in(
        raw.retry_after.as_ref(),
        "overload.retry_after",
        d.retry_after,
        Duration::from_secs(1)..=Duration::from_secs(3600),
        "between 1s and 1h",
        p,
    );
    OverloadConfig { max_calls, max_call_rate, max_delay, retry_after }
}
