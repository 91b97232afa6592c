//! `[node]`: this gateway's name among the nodes of one center.
//!
//! Each node keeps its own SQLite journal; with `[store] central` it also ships its
//! records to one PostgreSQL view, where every row carries the node's name, and where a
//! node that takes over closes the calls of a silent peer by that name. A name is
//! therefore a key, printed in logs and reports: short, printable, no spaces, so it is
//! safe in a log line, a SQL parameter and a terminal alike.

use serde::Deserialize;

use super::problems::span::S;
use super::problems::Problems;

/// The longest node name accepted.
pub const NODE_NAME_MAX: usize = 32;

/// `[node]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub name: Option<S<String>>,
}

/// The validated `[node]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeConfig {
    /// The name written; `None`: the host name at start (see [`NodeConfig::name_or`]).
    pub name: Option<String>,
}

impl NodeConfig {
    /// The name: the configured one, else `host` when it is a valid name, else `cc112`.
    /// The shell passes the host name (reading it is IO, not the config's business).
    pub fn name_or(&self, host: Option<&str>) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match host.map(str::trim) {
            Some(h) if valid_name(h) => h.to_string(),
            _ => "cc112".to_string(),
        }
    }
}

/// Whether `s` is a node name: 1 to [`NODE_NAME_MAX`] ASCII letters, digits, `.`, `-`, `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= NODE_NAME_MAX && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

pub(crate) fn node(raw: Option<S<RawNode>>, p: &mut Problems<'_>) -> NodeConfig {
    let Some(raw) = raw else { return NodeConfig::default() };
    let Some(name) = raw.into_inner().name else { return NodeConfig::default() };
    let span = name.span();
    let v = name.into_inner();
    if valid_name(&v) {
        NodeConfig { name: Some(v) }
    } else {
        p.at("node.name", span, format!("expected a short name such as \"node-a\": 1 to {NODE_NAME_MAX} letters, digits, '.', '-' or '_'"));
        NodeConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain_and_default_to_the_host() {
        assert!(valid_name("node-a.surabaya_1"));
        for bad in ["", "a b", "naïve", "x\n", &"n".repeat(33)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let d = NodeConfig::default();
        assert_eq!(d.name_or(Some("host-1\n")), "host-1");
        assert_eq!(d.name_or(Some("bad host")), "cc112");
        assert_eq!(d.name_or(None), "cc112");
        assert_eq!(NodeConfig { name: Some("a".into()) }.name_or(Some("h")), "a");
    }
}
