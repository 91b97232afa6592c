//! Gateway configuration: one TOML file, parsed into `Raw*` structs that reject
//! unknown keys, then validated into the typed [`Config`] plan.
//!
//! An emergency gateway that starts with a half-understood config is worse than one
//! that refuses to start, so every problem is collected (with its TOML path and line)
//! and reported in one go; a reload applies whole or not at all. Every key is
//! optional: the defaults are exactly what the shipped `config/cc112.toml` shows.
//!
//! One pattern, in layers (each file uses only the ones above it in this list):
//! - `problems` (with its child `problems/span.rs`): the leaf. The [`ConfigError`] list
//!   and the typed readers (`int_in`, `duration_in`, id checks) every table validates
//!   with; byte offsets to lines and TOML paths.
//! - `ids`: [`QueueId`], [`MenuId`] (languages and prompt ids are media's).
//! - One file per table, each with its raw struct, typed struct, default and
//!   validator: `sip`, `emergency`, `media`, `time_rule` (a queue's opening hours),
//!   `queues`, `routing` (fallback queue, UTC offset, direct numbers), `menus`, `ivr`,
//!   `store`, `node`, `overload`, `shutdown`, `http` (the HTTP server and its tokens), `operators`
//!   (`[acd]`, `[registrar]`, `[[operators]]`).
//!   Validators keep where each value was written (`QueueAt`, `MenuAt`, ...) for the
//!   checks between tables.
//! - `routing_plan`: the typed [`RoutingPlan`] calls hold in an `Arc`, assembled from
//!   the routing tables; `defaults`: the built-in Surabaya plan.
//! - `cross_refs`: checks between tables (menus naming queues, overflow chains,
//!   submenu cycles, prompts of every language).
//! - `plan`: the aggregate raw table and [`Config`]; `load`: text to `Config` with
//!   [`ConfigErrors`]; `summary`: what `check-config` prints.

mod cross_refs;
mod defaults;
mod emergency;
mod http;
mod ids;
mod ivr;
mod load;
mod media;
mod menus;
mod node;
mod operators;
mod overload;
mod plan;
mod problems;
mod queues;
mod routing;
mod routing_plan;
mod callbacks;
mod nuisance;
mod shutdown;
mod sip;
mod store;
mod summary;
mod time_rule;

pub use crate::clock::{LocalTime, UtcOffset, Weekday};
pub use crate::media::prompts::{Lang, PromptId};
pub use emergency::{EmergencyConfig, EmergencyNumber};
pub use http::{new_token, token_sha256, HttpConfig, HttpToken, Role};
pub use ids::{MenuId, QueueId};
pub use ivr::{Language, PROMPT_INVALID_CHOICE, PROMPT_NO_CHOICE, PROMPT_SILENT, SYSTEM_PROMPTS};
pub use load::{ConfigErrors, DEFAULT_TOML, EMBEDDED_ORIGIN};
pub use media::MediaConfig;
pub use menus::{Menu, MenuAction, MenuOption};
pub use node::{valid_name as valid_node_name, NodeConfig, NODE_NAME_MAX};
pub use operators::{operator_hash, AcdConfig, Operator, OperatorId, RegistrarConfig};
pub use overload::OverloadConfig;
pub use shutdown::ShutdownConfig;
pub use callbacks::{CallbackTrunk, CallbacksConfig};
pub use nuisance::NuisanceRule;
pub use plan::Config;
pub use problems::ConfigError;
pub use queues::Queue;
pub use routing::DirectNumber;
pub use routing_plan::{Resolved, RoutingPlan};
pub use sip::SipConfig;
pub use store::StoreConfig;
pub use time_rule::{Days, TimeRule};

#[cfg(test)]
mod tests;
