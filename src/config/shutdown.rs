//! `[shutdown]`: how long calls in progress may go on once the gateway is asked to stop.
//!
//! A 112 gateway is stopped for upgrades and host maintenance; an emergency call is not
//! cut for that. On `SIGTERM`, `SIGINT` or `cc112 drain` the gateway drains: new calls
//! get 503 (the carrier tries another center at once) while the calls in progress go on
//! until they end or the grace runs out; then every leg gets a BYE and every record is
//! closed (`engine::drain`).

use std::time::Duration;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{duration_in, Problems};

/// `[shutdown]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShutdown {
    pub grace: Option<S<toml::Value>>,
}

/// The validated `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// How long calls in progress may go on after a stop is asked for (a second
    /// `SIGTERM` or `SIGINT` cuts what is left to 10 s); then the gateway hangs up.
    pub grace: Duration,
}

pub(crate) fn default_shutdown() -> ShutdownConfig {
    ShutdownConfig { grace: Duration::from_secs(15 * 60) }
}

pub(crate) fn shutdown(raw: Option<S<RawShutdown>>, p: &mut Problems<'_>) -> ShutdownConfig {
    let d = default_shutdown();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let grace = duration_in(raw.grace.as_ref(), "shutdown.grace", d.grace, Duration::ZERO..=Duration::from_secs(24 * 3600), "between 0s and 24h", p);
    ShutdownConfig { grace }
}
