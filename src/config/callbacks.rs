//! `[callbacks]`: the callback worklist (issue 16). Every call abandoned in the IVR or
//! the queue becomes an item an operator calls back (`cc112 callbacks`); an item not
//! handled within `keep` expires (the count is logged), so the list stays the shift's.

use std::time::Duration;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{duration_in, Problems};

/// `[callbacks]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCallbacks {
    pub keep: Option<S<toml::Value>>,
}

/// The validated `[callbacks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbacksConfig {
    /// An open item expires this long after its call ended; a caller who calls again
    /// while an item is open is flagged `callback` and served first.
    pub keep: Duration,
}

pub(crate) fn default_callbacks() -> CallbacksConfig {
    CallbacksConfig { keep: Duration::from_secs(24 * 3600) }
}

pub(crate) fn callbacks(raw: Option<S<RawCallbacks>>, p: &mut Problems<'_>) -> CallbacksConfig {
    let d = default_callbacks();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let keep = duration_in(raw.keep.as_ref(), "callbacks.keep", d.keep, Duration::from_secs(600)..=Duration::from_secs(7 * 24 * 3600), "between 10m and 7d", p);
    CallbacksConfig { keep }
}
