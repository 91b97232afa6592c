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
//! To add a table: add a `Raw*` struct with `deny_unknown_fields`, add it as an
//! `Option` field of [`RawConfig`], and add one function in `validate.rs` (or
//! `validate_routing.rs` for the routing tables).
//!
//! Two tables are keyed by names the administrator chooses (`[ivr.prompts.<lang>]`
//! maps prompt ids to files, `[ivr.menus.<id>]` holds menus), so they are maps, not
//! structs: a stray key there is not "unknown" to serde but is still refused by
//! validation (an unused prompt id, a menu that is not a table).

use std::collections::BTreeMap;

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
    pub routing: Option<S<RawRouting>>,
    pub ivr: Option<S<RawIvr>>,
    pub queues: Option<S<Vec<S<RawQueue>>>>,
    pub store: Option<S<super::store::RawStore>>,
    pub overload: Option<S<super::overload::RawOverload>>,
    pub acd: Option<S<super::operators::RawAcd>>,
    pub registrar: Option<S<super::operators::RawRegistrar>>,
    pub operators: Option<S<Vec<S<super::operators::RawOperator>>>>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub fallback_queue: Option<S<String>>,
    pub utc_offset: Option<S<String>>,
    pub direct: Option<S<Vec<S<RawDirect>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirect {
    /// Any value, for the same integer-hint reason as [`RawEmergencyNumber::number`].
    pub number: Option<S<toml::Value>>,
    pub queue: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIvr {
    pub languages: Option<S<Vec<S<String>>>>,
    pub greeting: Option<S<String>>,
    pub menu: Option<S<String>>,
    pub first_digit_timeout: Option<S<toml::Value>>,
    pub no_input_repeats: Option<S<i64>>,
    pub retries: Option<S<i64>>,
    pub no_input_limit: Option<S<toml::Value>>,
    pub max_time: Option<S<toml::Value>>,
    pub prompt_timeout: Option<S<toml::Value>>,
    pub barge_in: Option<S<bool>>,
    /// Language → prompt id → WAV file name.
    pub prompts: Option<S<RawPromptTables>>,
    /// Menu id → menu.
    pub menus: Option<S<BTreeMap<String, S<RawMenu>>>>,
}

/// Language → prompt id → WAV file name, as written.
pub(crate) type RawPromptTables = BTreeMap<String, S<BTreeMap<String, S<String>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMenu {
    pub prompt: Option<S<String>>,
    pub options: Option<S<Vec<S<RawOption>>>>,
}

/// One key of a menu; exactly one of the action keys must be given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOption {
    /// Any value: `digit = 1` (an integer) gets a hint instead of a type error.
    pub digit: Option<S<toml::Value>>,
    pub queue: Option<S<String>>,
    pub menu: Option<S<String>>,
    pub language: Option<S<String>>,
    pub repeat: Option<S<bool>>,
    pub back: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub id: Option<S<String>>,
    pub name: Option<S<String>>,
    pub overflow: Option<S<String>>,
    pub open: Option<S<Vec<S<RawTimeRule>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeRule {
    pub days: Option<S<Vec<S<String>>>>,
    /// A string `"07:00"` or a TOML local time `07:00:00`.
    pub from: Option<S<toml::Value>>,
    pub until: Option<S<toml::Value>>,
}
