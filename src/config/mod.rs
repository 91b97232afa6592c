//! Gateway configuration: one TOML file, parsed into `Raw*` structs that reject
//! unknown keys, then validated into the typed [`Config`] plan.
//!
//! An emergency gateway that starts with a half-understood config is worse than one
//! that refuses to start, so every problem is collected (with its TOML path and line)
//! and reported in one go; a reload applies whole or not at all. Every key is
//! optional: the defaults are exactly what the shipped `config/cc112.toml` shows.
//!
//! - `raw`: the file as written (serde, `deny_unknown_fields`, spans kept).
//! - `validate`: raw to typed plan, one function per table.
//! - `span`: byte offsets to lines and TOML paths for the error messages.
//! - `routing`, `time_rule`: the typed routing plan (IVR menus, queues, opening
//!   hours) that calls hold in an `Arc`; `validate_routing` builds it.

mod operators;
mod overload;
mod raw;
mod routing;
mod span;
mod store;
mod time_rule;
mod validate;
mod validate_routing;

pub use operators::{operator_hash, AcdConfig, Operator, OperatorId, RegistrarConfig};
pub use routing::{
    DirectNumber, Lang, Language, Menu, MenuAction, MenuId, MenuOption, PromptId, Queue, QueueId,
    Resolved, RoutingPlan, PROMPT_INVALID_CHOICE, PROMPT_NO_CHOICE, SYSTEM_PROMPTS,
};
pub use overload::OverloadConfig;
pub use store::StoreConfig;
pub use time_rule::{Days, LocalTime, TimeRule, UtcOffset, Weekday};

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::media::Codec;

/// The shipped configuration, compiled in so the binary runs (and `--print-default`
/// style tooling works) without any file on disk.
pub const DEFAULT_TOML: &str = include_str!("../../config/cc112.toml");

/// Origin used in messages about [`DEFAULT_TOML`].
pub const EMBEDDED_ORIGIN: &str = "config/cc112.toml (embedded)";

/// The validated configuration plan. Calls in progress keep the `Config` they started
/// with, so it is a plain value that can be cloned and compared across reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub sip: SipConfig,
    pub emergency: EmergencyConfig,
    pub media: MediaConfig,
    /// IVR, direct numbers and queues. In an `Arc` because each call keeps the plan
    /// it started with while a reload installs a new one for later calls.
    pub routing: Arc<RoutingPlan>,
    /// Call records: database file and shifts.
    pub store: StoreConfig,
    /// When new calls get 503 + Retry-After instead of a gateway that cannot serve them.
    pub overload: OverloadConfig,
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

/// SIP transport limits: bounded so that no peer can make the gateway hold unbounded
/// memory or sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    pub listen_udp: Vec<SocketAddr>,
    pub listen_tcp: Vec<SocketAddr>,
    pub max_message_bytes: usize,
    pub tcp_idle_timeout: Duration,
    /// How long a TCP peer may take to send one whole message (slowloris guard).
    pub tcp_message_timeout: Duration,
    pub max_tcp_connections_per_ip: usize,
    pub user_agent: String,
}

/// What makes an INVITE an emergency call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyConfig {
    /// Matched exactly against the dialled user part.
    pub numbers: Vec<EmergencyNumber>,
    /// Lowercase; sub-services (`urn:service:sos.fire`) are matched by the engine.
    pub service_urns: Vec<String>,
}

/// A dialled number and the name call records show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyNumber {
    /// Digits only, 2 to 6 of them.
    pub number: String,
    pub label: String,
}

/// RTP endpoint settings offered in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    pub address: IpAddr,
    /// Even: RTP on even ports, RTCP on the odd port above.
    pub port_min: u16,
    pub port_max: u16,
    /// In order of preference, non-empty, no duplicates.
    pub codecs: Vec<Codec>,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// TOML path such as `sip.listen_udp[1]`; empty when the problem is the file
    /// itself (unreadable, or a syntax error outside any table).
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "{line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one config file, so the administrator fixes them all in
/// one edit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file name used in messages.
    pub origin: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One line per error, `{origin}:{line}: {path}: {message}`, the shape compilers
    /// use so editors can jump to the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:", self.origin)?;
            if let Some(line) = e.line {
                write!(f, "{line}:")?;
            }
            if !e.path.is_empty() {
                write!(f, " {}:", e.path)?;
            }
            write!(f, " {}", e.message)?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    fn single(origin: &str, path: String, line: Option<usize>, message: String) -> Self {
        ConfigErrors {
            origin: origin.to_string(),
            errors: vec![ConfigError {
                path,
                line,
                message,
            }],
        }
    }
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        // Syntax first: without a document tree there is no path to report, only
        // the nearest table header and key.
        let doc = toml::de::DeTable::parse(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            ConfigErrors::single(
                origin,
                at.map(|o| span::path_near(text, o)).unwrap_or_default(),
                at.map(|o| span::line_of(text, o)),
                format!("TOML syntax error: {}", one_line(e.message())),
            )
        })?;
        let raw = raw::RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(|e| deserialize_error(text, origin, &doc, &e))?;
        let mut problems = validate::Problems::new(text);
        let plan = validate::plan(raw, &mut problems);
        if !problems.errors.is_empty() {
            return Err(ConfigErrors {
                origin: origin.to_string(),
                errors: problems.errors,
            });
        }
        Ok(Config {
            sip: plan.sip,
            emergency: plan.emergency,
            media: plan.media,
            routing: Arc::new(plan.routing),
            store: plan.store,
            overload: plan.overload,
            acd: plan.acd,
            registrar: plan.registrar,
            operators: plan.operators,
            version: version_of(text),
        })
    }

    /// Reads and validates a config file; an unreadable file is reported like any
    /// other config problem so `main` has one error path.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(&origin, String::new(), None, format!("cannot read: {e}"))
        })?;
        Config::from_toml(&text, &origin)
    }

    /// The shipped default. It is covered by tests, so failure here means a broken
    /// build, but callers still get an error rather than a panic.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        Config::from_toml(DEFAULT_TOML, EMBEDDED_ORIGIN)
    }

    /// A few lines for the startup log and `--check` output.
    pub fn summary(&self) -> String {
        let list = |v: &[SocketAddr]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let numbers = self
            .emergency
            .numbers
            .iter()
            .map(|n| format!("{} ({})", n.number, n.label))
            .collect::<Vec<_>>()
            .join(", ");
        let codecs = self
            .media
            .codecs
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "config version {}\n\
             sip: udp {}; tcp {}; max message {} bytes\n\
             emergency numbers: {}\n\
             emergency URNs: {}\n\
             media: {} ports {}-{}; codecs {}\n\
             {}\n\
             {}",
            self.version,
            list(&self.sip.listen_udp),
            list(&self.sip.listen_tcp),
            self.sip.max_message_bytes,
            if numbers.is_empty() {
                "none".into()
            } else {
                numbers
            },
            if self.emergency.service_urns.is_empty() {
                "none".to_string()
            } else {
                self.emergency.service_urns.join(", ")
            },
            self.media.address,
            self.media.port_min,
            self.media.port_max,
            codecs,
            routing_summary(&self.routing),
            operators_summary(self),
        ) + &format!(
            "\nrecords: {}; shifts {}\noverload: 503 (Retry-After {}s) past {} calls{}, or while behind by over {:?} (INVITEs waiting, or media late)",
            self.store.path.display(),
            self.store.shifts.iter().map(|(n, s, e)| format!("{n} {s}-{e}")).collect::<Vec<_>>().join(", "),
            self.overload.retry_after.as_secs(),
            self.overload.max_calls,
            match self.overload.max_call_rate {
                0 => String::new(),
                r => format!(" or {r} new calls/s"),
            },
            self.overload.max_delay,
        )
    }
}

/// The routing part of [`Config::summary`]: what a caller can reach and how, so an
/// admin running `check-config` sees the menu as the caller will hear it.
fn routing_summary(r: &RoutingPlan) -> String {
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let languages = join(r.languages.iter().map(|l| l.code.to_string()).collect());
    let menus = r
        .menus
        .values()
        .map(|m| {
            let options = join(
                m.options
                    .iter()
                    .map(|o| format!("{} {}", o.digit, o.action))
                    .collect(),
            );
            let root = if m.id == r.root_menu { " (root)" } else { "" };
            format!("menu {}{root}: {options}", m.id)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let direct = join(
        r.direct
            .iter()
            .map(|d| format!("{} -> {}", d.number, d.queue))
            .collect(),
    );
    let queues = join(
        r.queues
            .iter()
            .map(|q| match &q.open {
                None => q.id.to_string(),
                Some(rules) => format!(
                    "{} (open {}; else {})",
                    q.id,
                    rules
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    q.overflow.as_ref().unwrap_or(&r.fallback_queue)
                ),
            })
            .collect(),
    );
    format!(
        "ivr: languages {languages}; key timeout {:?}, {} repeat(s), {} retr(ies), then {}; \
         silent callers reach it within {:?}; barge-in {}\n\
         {menus}\n\
         direct numbers: {direct}\n\
         queues (UTC{}): {queues}",
        r.first_digit_timeout,
        r.no_input_repeats,
        r.retries,
        r.fallback_queue,
        r.no_input_limit,
        if r.barge_in { "on" } else { "off" },
        r.utc_offset,
    )
}

/// The ACD/registrar part of [`Config::summary`]: who can log in and where calls wait.
fn operators_summary(c: &Config) -> String {
    let ops = if c.operators.is_empty() {
        "none (no operator can register)".to_string()
    } else {
        c.operators
            .iter()
            .map(|o| {
                format!(
                    "{} ({})",
                    o.id,
                    o.departments
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("/")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "acd: wrap-up {:?}, ring {:?}, overflow after {:?}, stay-on-line every {:?}\n\
         registrar: realm {:?}, nonce ttl {:?}, expires {:?}..{:?} (default {:?}), \
         {} failures per {:?}\n\
         operators: {ops}",
        c.acd.wrap_up,
        c.acd.ring_timeout,
        c.acd.overflow_after,
        c.acd.stay_on_line_every,
        c.registrar.realm,
        c.registrar.nonce_ttl,
        c.registrar.min_expires,
        c.registrar.max_expires,
        c.registrar.default_expires,
        c.registrar.failed_attempts,
        c.registrar.failed_window,
    )
}

fn version_of(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(12);
    hex
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', "; ")
}

/// Rephrases serde's programmer vocabulary ("field", "i64", "sequence") into the
/// words of a TOML file, and attaches the path found from the error span.
fn deserialize_error(
    text: &str,
    origin: &str,
    doc: &toml::Spanned<toml::de::DeTable<'_>>,
    e: &toml::de::Error,
) -> ConfigErrors {
    let (path, line) = match e.span() {
        Some(s) => (
            span::render_path(&span::path_at(doc, &s)),
            Some(span::line_of(text, s.start)),
        ),
        None => (String::new(), None),
    };
    let mut message = one_line(e.message());
    for (from, to) in [
        ("unknown field", "unknown key"),
        ("missing field", "missing key"),
        ("expected i64", "expected an integer"),
        ("expected a sequence", "expected an array"),
        ("a sequence", "an array"),
        ("expected a string", "expected a string in quotes"),
        ("invalid type: map", "invalid type: table"),
    ] {
        message = message.replace(from, to);
    }
    // toml widens integers that overflow i64 to i128 before serde rejects them.
    if let Some(n) = message
        .strip_prefix("invalid type: integer `")
        .and_then(|rest| rest.split_once("` as i128"))
        .map(|(n, _)| n.to_string())
    {
        message = format!("{n} is too large; expected a number in range for this key");
    }
    if message.contains("expected struct") {
        if let Some(i) = message.find("expected struct") {
            message.truncate(i);
            message.push_str("expected a table");
        }
    }
    ConfigErrors::single(origin, path, line, message)
}

#[cfg(test)]
mod tests;
