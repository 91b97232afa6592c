//! `[routing.nuisance]`: the repeat-silent-caller rule (issue 16), off by default.
//!
//! When on, a caller whose number made at least `silent_calls` silent calls (routed
//! `silent`: no word, no key) within `within` joins the queue one class lower than they
//! would (`normal` → `low`): never below the silent class, never refused, never blocked,
//! and a caller who pressed 5 5 or calls back keeps the high class. The risk is written
//! in the README: the one real emergency from such a number waits behind the others.

use std::time::Duration;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{duration_in, int_in, Problems};

/// `[routing.nuisance]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNuisance {
    pub enabled: Option<S<bool>>,
    pub silent_calls: Option<S<i64>>,
    pub within: Option<S<toml::Value>>,
}

/// The validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NuisanceRule {
    /// Off unless written `enabled = true`.
    pub enabled: bool,
    /// Silent calls of a number, within `within`, that lower its next calls' class.
    pub silent_calls: usize,
    /// How far back silent calls count (at most the 7 days the caller book keeps).
    pub within: Duration,
}

impl Default for NuisanceRule {
    fn default() -> NuisanceRule {
        NuisanceRule { enabled: false, silent_calls: 3, within: Duration::from_secs(24 * 3600) }
    }
}

pub(crate) fn nuisance(raw: Option<S<RawNuisance>>, p: &mut Problems<'_>) -> NuisanceRule {
    let d = NuisanceRule::default();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let silent_calls = int_in(raw.silent_calls.as_ref(), "routing.nuisance.silent_calls", 2..=100, "2 to 100", p).map_or(d.silent_calls, |n| n as usize);
    let within = duration_in(raw.within.as_ref(), "routing.nuisance.within", d.within, Duration::from_secs(3600)..=Duration::from_secs(7 * 24 * 3600), "between 1h and 7d", p);
    NuisanceRule { enabled: raw.enabled.map_or(d.enabled, S::into_inner), silent_calls, within }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    #[test]
    fn the_nuisance_rule_is_off_by_default_and_read_from_routing() {
        let d = Config::embedded_default().unwrap();
        assert!(!d.routing.nuisance.enabled);
        let c = Config::from_toml("[routing.nuisance]\nenabled = true\nsilent_calls = 4\nwithin = \"12h\"\n", "test").unwrap();
        assert_eq!((c.routing.nuisance.enabled, c.routing.nuisance.silent_calls, c.routing.nuisance.within), (true, 4, Duration::from_secs(12 * 3600)));
        let bad = Config::from_toml("[routing.nuisance]\nsilent_calls = 1\nwithin = \"30d\"\n", "test").unwrap_err().to_string();
        assert!(bad.contains("routing.nuisance.silent_calls") && bad.contains("routing.nuisance.within"), "{bad}");
    }
}
