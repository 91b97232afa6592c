//! `[sip]`: where the gateway listens and the limits that keep any peer from making
//! it hold unbounded memory or sockets.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;

use super::problems::{duration_in, int_in, Problems};
use super::problems::span::S;

/// `[sip]` as written.
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
    pub trunks: Option<S<Vec<S<String>>>>,
    pub trusted_proxies: Option<S<Vec<S<String>>>>,
}

/// SIP transport limits: bounded so that no peer can make the gateway hold unbounded
/// memory or sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// UDP sockets to bind; may be empty when TCP is not.
    pub listen_udp: Vec<SocketAddr>,
    /// TCP listeners to bind; may be empty when UDP is not.
    pub listen_tcp: Vec<SocketAddr>,
    /// Larger messages are refused (UDP) or close the connection (TCP), 4 KiB..1 MiB.
    pub max_message_bytes: usize,
    /// A TCP connection with no traffic this long is closed.
    pub tcp_idle_timeout: Duration,
    /// How long a TCP peer may take to send one whole message (slowloris guard).
    pub tcp_message_timeout: Duration,
    /// Further connections from one address are refused past this many.
    pub max_tcp_connections_per_ip: usize,
    /// Sent verbatim in `User-Agent`/`Server` headers; printable, at most 128 chars.
    pub user_agent: String,
    /// Addresses of carrier trunks: under a flood each is a source of its own for the
    /// fair sharing of capacity ([`crate::sip::source`]); anyone else counts by network.
    pub trunks: Vec<IpAddr>,
    /// Addresses of our own SIP proxies (Kamailio, deploy/kamailio): a request from one
    /// of them was relayed, and its caller's address is the one the proxy wrote in the
    /// Via below its own ([`crate::sip::source::origin`]), for fairness, the
    /// registrar's lockout, logs and records; a REGISTER's Path is kept. The same Via
    /// from anywhere else is not believed.
    pub trusted_proxies: Vec<IpAddr>,
}

pub(crate) const MIN_MESSAGE_BYTES: i64 = 4096;
pub(crate) const MAX_MESSAGE_BYTES: i64 = 1024 * 1024;
/// Long enough for any slow link, short enough that a stuck peer cannot pin sockets.
const TIMEOUT_RANGE: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(3600);

pub(crate) fn default_sip_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}

pub(crate) fn default_sip() -> SipConfig {
    SipConfig {
        listen_udp: vec![default_sip_addr()],
        listen_tcp: vec![default_sip_addr()],
        max_message_bytes: 65536,
        tcp_idle_timeout: Duration::from_secs(20),
        tcp_message_timeout: Duration::from_secs(20),
        max_tcp_connections_per_ip: 64,
        user_agent: "cc112".to_string(),
        trunks: Vec::new(),
        trusted_proxies: Vec::new(),
    }
}

/// Validates `[sip]`; a key not written (or unusable) keeps its default.
pub(crate) fn sip(raw: Option<S<RawSip>>, p: &mut Problems<'_>) -> SipConfig {
    let d = default_sip();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let raw = raw.into_inner();
    let listen_udp = listeners(raw.listen_udp.as_ref(), "sip.listen_udp", &d.listen_udp, p);
    let listen_tcp = listeners(raw.listen_tcp.as_ref(), "sip.listen_tcp", &d.listen_tcp, p);
    if listen_udp.is_empty() && listen_tcp.is_empty() {
        p.at(
            "sip",
            span,
            "no SIP listener: listen_udp and listen_tcp are both empty, so no call could \
             reach the gateway; expected at least one address like 127.0.0.1:5060",
        );
    }
    let max_message_bytes = int_in(
        raw.max_message_bytes.as_ref(),
        "sip.max_message_bytes",
        MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES,
        "a size in bytes between 4096 and 1048576 (1 MiB)",
        p,
    )
    .map_or(d.max_message_bytes, |v| v as usize);
    let tcp_idle_timeout = duration(
        raw.tcp_idle_timeout.as_ref(),
        "sip.tcp_idle_timeout",
        d.tcp_idle_timeout,
        p,
    );
    let tcp_message_timeout = duration(
        raw.tcp_message_timeout.as_ref(),
        "sip.tcp_message_timeout",
        d.tcp_message_timeout,
        p,
    );
    let max_tcp_connections_per_ip = int_in(
        raw.max_tcp_connections_per_ip.as_ref(),
        "sip.max_tcp_connections_per_ip",
        1..=65535,
        "a count between 1 and 65535",
        p,
    )
    .map_or(d.max_tcp_connections_per_ip, |v| v as usize);
    let user_agent = match &raw.user_agent {
        None => d.user_agent,
        Some(ua) => match user_agent_problem(ua.get_ref()) {
            None => ua.get_ref().clone(),
            Some(msg) => {
                p.at("sip.user_agent", ua.span(), msg);
                d.user_agent
            }
        },
    };
    let trunks = addresses(raw.trunks.as_ref(), "sip.trunks", "a carrier trunk", p);
    let trusted_proxies = addresses(raw.trusted_proxies.as_ref(), "sip.trusted_proxies", "our SIP proxy", p);
    SipConfig {
        listen_udp,
        listen_tcp,
        max_message_bytes,
        tcp_idle_timeout,
        tcp_message_timeout,
        max_tcp_connections_per_ip,
        user_agent,
        trunks,
        trusted_proxies,
    }
}

/// At most this many trunks: each is a row of the fair-sharing tables.
pub(crate) const MAX_TRUNKS: usize = 1024;

/// `sip.trunks`, `sip.trusted_proxies`: IP addresses (no port: a trunk or a proxy may
/// send from several), each once; `who` says what sends from them, for the messages.
fn addresses(raw: Option<&S<Vec<S<String>>>>, key: &str, who: &str, p: &mut Problems<'_>) -> Vec<IpAddr> {
    let Some(raw) = raw else { return Vec::new() };
    if raw.get_ref().len() > MAX_TRUNKS {
        p.at(key, raw.span(), format!("{} addresses listed; expected at most {MAX_TRUNKS}", raw.get_ref().len()));
        return Vec::new();
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        let here = format!("{key}[{i}]");
        match item.get_ref().trim().parse::<IpAddr>() {
            Ok(ip) if out.contains(&ip) => p.at(here, item.span(), format!("{ip} is listed twice; expected each address once")),
            Ok(ip) if ip.is_unspecified() => {
                p.at(here, item.span(), format!("{ip} is the wildcard address; expected the address {who} sends from"))
            }
            Ok(ip) => out.push(ip),
            Err(_) => p.at(
                here,
                item.span(),
                format!("{:?} is not an IP address; expected the address {who} sends from, like \"203.0.113.7\" (no port)", item.get_ref()),
            ),
        }
    }
    out
}

/// The value goes verbatim into a SIP header, so anything that could break the
/// header (CR/LF injection) or bloat every message is refused.
fn user_agent_problem(ua: &str) -> Option<String> {
    if ua.trim().is_empty() {
        Some("user_agent is empty; expected a short product name like \"cc112\"".into())
    } else if ua.chars().any(char::is_control) {
        Some(format!(
            "{ua:?} contains control characters, which would break the SIP header; \
             expected printable text like \"cc112\""
        ))
    } else if ua.chars().count() > 128 {
        Some(format!(
            "user_agent is {} characters long; expected at most 128",
            ua.chars().count()
        ))
    } else {
        None
    }
}

/// A list of `"IP:port"` listeners at `path` (repeats and wildcard overlaps refused).
pub(crate) fn listeners(
    raw: Option<&S<Vec<S<String>>>>,
    path: &str,
    default: &[SocketAddr],
    p: &mut Problems<'_>,
) -> Vec<SocketAddr> {
    let Some(raw) = raw else {
        return default.to_vec();
    };
    let mut out: Vec<(usize, SocketAddr)> = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        let here = format!("{path}[{i}]");
        let addr = match parse_socket_addr(item.get_ref()) {
            Ok(addr) => addr,
            Err(msg) => {
                p.at(here, item.span(), msg);
                continue;
            }
        };
        // Port 0 asks the OS for a fresh port on each bind, so repeats cannot clash.
        let clash = (addr.port() != 0)
            .then(|| out.iter().find(|(_, seen)| binds_overlap(*seen, addr)))
            .flatten();
        match clash {
            Some((j, seen)) if *seen == addr => p.at(
                here,
                item.span(),
                format!(
                    "{addr} is listed twice (also at {path}[{j}]); expected each \
                     listener once, a socket can be bound only once"
                ),
            ),
            Some((j, seen)) => p.at(
                here,
                item.span(),
                format!(
                    "{addr} overlaps {seen} (at {path}[{j}]): a wildcard address already \
                     binds port {} on every interface; expected either the wildcard or \
                     specific addresses",
                    addr.port()
                ),
            ),
            None => out.push((i, addr)),
        }
    }
    out.into_iter().map(|(_, a)| a).collect()
}

/// Two listeners cannot both bind when they are equal, or when one is the wildcard
/// of the same family on the same port.
fn binds_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a == b {
        return true;
    }
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip().is_unspecified() != b.ip().is_unspecified())
}

pub(crate) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.trim().parse::<SocketAddr>() {
        return Ok(addr);
    }
    let hint = if s.matches(':').count() > 1 && !s.starts_with('[') {
        " (IPv6 addresses need brackets and a port: [::1]:5060)"
    } else if s.parse::<IpAddr>().is_ok() {
        " (the port is missing)"
    } else if s
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.chars().any(|c| c.is_ascii_alphabetic()))
    {
        " (host names are not resolved at startup; write the IP address)"
    } else {
        ""
    };
    Err(format!(
        "{s:?} is not an IP address:port like 127.0.0.1:5060 or [::1]:5060{hint}"
    ))
}

fn duration(
    raw: Option<&S<toml::Value>>,
    path: &str,
    default: Duration,
    p: &mut Problems<'_>,
) -> Duration {
    duration_in(raw, path, default, TIMEOUT_RANGE, "between 1s and 1h", p)
}
