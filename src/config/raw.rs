//! The file as written: every table rejects unknown keys, every key is optional and
//! every value keeps its byte span.
//!
//! Types here are deliberately loose (`i64` for counts and ports, strings for
//! addresses, `toml::Value` where admins often pick the wrong TOML type) so that the
//! deserializer accepts as much as it can and `validate` can report every problem at
//! once, each with a message that names the expected form. A typo'd key, on the other
//! hand, must fail loudly: a silently ignored `listen_upd` would leave an emergency
//! gateway listening somewhere the operator did not intend.
//!
//! To add a table (issue 3: `[ivr]`, `[[queues]]`, ...): add a `Raw*` struct with
//! `deny_unknown_fields`, add it as an `Option` field of [`RawConfig`], and add one
//! function in `validate.rs`.

use serde::Deserialize;
use toml::Spanned;

/// A value with where it was written, so validation errors carry a line number.
pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub sip: Option<S<RawSip>>,
    pub emergency: Option<S<RawEmergency>>,
    pub media: Option<S<RawMedia>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSip {
    pub listen_udp: Option<S<Vec<S<String>>>>,
    pub listen_tcp: Option<S<Vec<S<String>>>>,
    pub max_message_bytes: Option<S<i64>>,
    /// A duration string such as `"20s"`; a bare integer is reported with a hint.
    pub tcp_idle_timeout: Option<S<toml::Value>>,
    pub tcp_message_timeout: Option<S<toml::Value>>,
    pub max_tcp_connections_per_ip: Option<S<i64>>,
    pub user_agent: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmergency {
    pub numbers: Option<S<Vec<S<RawEmergencyNumber>>>>,
    pub service_urns: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmergencyNumber {
    /// Kept as any value: `number = 112` (an integer) is the most likely mistake and
    /// deserves a precise hint rather than a type error that stops all validation.
    pub number: Option<S<toml::Value>>,
    pub label: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    pub address: Option<S<String>>,
    pub port_min: Option<S<i64>>,
    pub port_max: Option<S<i64>>,
    pub codecs: Option<S<Vec<S<String>>>>,
}
