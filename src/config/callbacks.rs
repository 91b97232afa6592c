//! `[callbacks]`: the callback worklist (issue 16). Every call abandoned in the IVR or
//! the queue becomes an item an operator calls back (`cc112 callbacks`); an item not
//! handled within `keep` expires (the count is logged), so the list stays the shift's.
//!
//! `trunk` is where a click-to-call-back goes (`cc112 callbacks call`): a SIP URI
//! template whose `{number}` is replaced by the item's number (digits and a leading
//! `+` only: that number came from the network). The engine resolves no names, so the
//! INVITE goes to `trunk_proxy` when set, else to the template's host, which must then
//! be an IP address (with its port, 5060 if none).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{duration_in, Problems};

/// `[callbacks]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCallbacks {
    pub keep: Option<S<toml::Value>>,
    pub trunk: Option<S<String>>,
    pub trunk_proxy: Option<S<String>>,
    pub ring_timeout: Option<S<toml::Value>>,
}

/// Where a call back goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTrunk {
    /// The SIP URI template, with one `{number}` in its user part.
    pub template: String,
    /// Where the INVITE is sent (UDP).
    pub next_hop: SocketAddr,
}

/// The validated `[callbacks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbacksConfig {
    /// An open item expires this long after its call ended; a caller who calls again
    /// while an item is open is flagged `callback` and served first.
    pub keep: Duration,
    /// Where `cc112 callbacks call` dials the caller; `None`: click-to-call-back is off.
    pub trunk: Option<CallbackTrunk>,
    /// How long the called-back number may ring (the operator's phone rings for
    /// `[acd] ring_timeout`).
    pub ring_timeout: Duration,
}

pub(crate) fn default_callbacks() -> CallbacksConfig {
    CallbacksConfig { keep: Duration::from_secs(24 * 3600), trunk: None, ring_timeout: Duration::from_secs(30) }
}

pub(crate) fn callbacks(raw: Option<S<RawCallbacks>>, p: &mut Problems<'_>) -> CallbacksConfig {
    let d = default_callbacks();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let keep = duration_in(raw.keep.as_ref(), "callbacks.keep", d.keep, Duration::from_secs(600)..=Duration::from_secs(7 * 24 * 3600), "between 10m and 7d", p);
    let ring_timeout = duration_in(raw.ring_timeout.as_ref(), "callbacks.ring_timeout", d.ring_timeout, Duration::from_secs(5)..=Duration::from_secs(120), "between 5s and 2m", p);
    let proxy = raw.trunk_proxy.as_ref().and_then(|s| match parse_hop(s.get_ref()) {
        Some(a) => Some(a),
        None => {
            p.at("callbacks.trunk_proxy", s.span(), format!("{:?} is not an address; expected IP:port, e.g. \"203.0.113.5:5060\"", s.get_ref()));
            None
        }
    });
    let trunk = raw.trunk.as_ref().and_then(|s| match trunk(s.get_ref(), proxy) {
        Ok(t) => Some(t),
        Err(msg) => {
            p.at("callbacks.trunk", s.span(), msg);
            None
        }
    });
    CallbacksConfig { keep, trunk, ring_timeout }
}

/// `IP:port`, or an IP alone (port 5060); `[v6]:port` too.
fn parse_hop(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 5060)))
}

fn trunk(template: &str, proxy: Option<SocketAddr>) -> Result<CallbackTrunk, String> {
    let bad = |why: &str| Err(format!("{template:?} {why}; expected a SIP URI template like \"sip:{{number}}@203.0.113.5:5060;user=phone\""));
    if !template.starts_with("sip:") {
        return bad("is not a sip: URI");
    }
    if template.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"')) {
        return bad("has a space, a control character or <>\"");
    }
    let Some((user, rest)) = template["sip:".len()..].split_once('@') else { return bad("has no @host") };
    if user.matches("{number}").count() != 1 || rest.contains('{') || rest.contains('}') {
        return bad("needs exactly one {number}, in its user part");
    }
    let host = rest.split(';').next().unwrap_or_default();
    match proxy.or_else(|| parse_hop(host)) {
        Some(next_hop) => Ok(CallbackTrunk { template: template.to_string(), next_hop }),
        None => bad("names a host by name: set callbacks.trunk_proxy (IP:port) to say where to send it"),
    }
}

impl CallbackTrunk {
    /// The Request-URI for `number`, or `None` when the number is not digits with an
    /// optional leading `+` (at most 20 characters): nothing else may reach a URI.
    pub fn uri_for(&self, number: &str) -> Option<String> {
        let digits = number.strip_prefix('+').unwrap_or(number);
        let ok = !digits.is_empty() && number.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit());
        ok.then(|| self.template.replace("{number}", number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trunk_template_takes_only_a_validated_number_and_needs_an_address() {
        let t = trunk("sip:{number}@127.0.0.1:5090;user=phone", None).unwrap();
        assert_eq!(t.next_hop, "127.0.0.1:5090".parse().unwrap());
        assert_eq!(t.uri_for("+62812").as_deref(), Some("sip:+62812@127.0.0.1:5090;user=phone"));
        for hostile in ["0812>;x", "0812@evil", "", "+", "08 12", "0812\r\nX: y", "++62", &"1".repeat(21)] {
            assert_eq!(t.uri_for(hostile), None, "{hostile:?}");
        }
        assert!(trunk("sip:{number}@carrier.example;user=phone", None).is_err(), "a name without a proxy");
        let proxy = "203.0.113.5:5060".parse().ok();
        assert_eq!(trunk("sip:{number}@carrier.example;user=phone", proxy).unwrap().next_hop, "203.0.113.5:5060".parse().unwrap());
        assert_eq!(trunk("sip:0812@10.0.0.1", None).map(|_| ()).map_err(|e| e.contains("exactly one")), Err(true));
        assert!(trunk("tel:{number}", None).is_err());
        assert!(trunk("sip:{number}@10.0.0.1;x=\"y\"", None).is_err());
        assert_eq!(trunk("sip:{number}@10.0.0.1", None).unwrap().next_hop.port(), 5060);
    }
}
