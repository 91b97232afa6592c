//! From the raw file to the typed plan, collecting every problem before failing.
//!
//! Each section validator always returns a usable value (falling back to the default
//! for a bad key) so that validation can go on and the administrator sees every
//! mistake in one run instead of fixing them one restart at a time. Cross-key checks
//! are skipped when one side is already wrong, so one typo yields one error.

use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use super::raw::{RawConfig, RawEmergency, RawEmergencyNumber, RawMedia, RawSip, S};
use super::routing::RoutingPlan;
use super::span::line_of;
use super::validate_routing;
use super::{ConfigError, EmergencyConfig, EmergencyNumber, MediaConfig, SipConfig};
use crate::media::Codec;

/// Where validation problems are gathered, with the source text to turn spans into
/// line numbers.
pub(crate) struct Problems<'a> {
    text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Problems {
            text,
            errors: Vec::new(),
        }
    }

    pub(crate) fn at(
        &mut self,
        path: impl Into<String>,
        span: Range<usize>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            path: path.into(),
            line: Some(line_of(self.text, span.start)),
            message: message.into(),
        });
    }

    /// For cross-key problems whose table may be absent from the file altogether.
    pub(crate) fn maybe_at(
        &mut self,
        path: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            path: path.into(),
            line: span.map(|s| line_of(self.text, s.start)),
            message: message.into(),
        });
    }
}

/// The validated sections, in the order `Config` holds them.
pub(crate) struct Plan {
    pub sip: SipConfig,
    pub emergency: EmergencyConfig,
    pub media: MediaConfig,
    pub routing: RoutingPlan,
    pub store: super::store::StoreConfig,
    pub overload: super::overload::OverloadConfig,
    pub acd: super::AcdConfig,
    pub registrar: super::RegistrarConfig,
    pub operators: Vec<super::Operator>,
}

pub(crate) fn plan(raw: RawConfig, p: &mut Problems<'_>) -> Plan {
    let sip = sip(raw.sip, p);
    let emergency = emergency(raw.emergency, p);
    // Direct numbers are checked against the emergency numbers only when those are
    // themselves valid, so one typo does not produce a second, derived error.
    let emergency_ok = !p.errors.iter().any(|e| e.path.starts_with("emergency"));
    let media = media(raw.media, p);
    let routing = validate_routing::routing(
        validate_routing::RawRoutingTables {
            routing: raw.routing,
            ivr: raw.ivr,
            queues: raw.queues,
        },
        emergency_ok.then_some(&emergency),
        p,
    );
    let store = super::store::store(raw.store, routing.utc_offset, p);
    // Departments are checked only against queues that validated, so a typo in
    // [[queues]] is reported once, not again for every operator of that queue.
    let queues_ok = !p
        .errors
        .iter()
        .any(|e| e.path.starts_with("queues") || e.path.starts_with("routing"));
    let overload = super::overload::overload(raw.overload, p);
    let acd = super::operators::acd(raw.acd, p);
    let registrar = super::operators::registrar(raw.registrar, p);
    let operators = super::operators::operators(raw.operators, &routing, queues_ok, p);
    Plan {
        sip,
        emergency,
        media,
        routing,
        store,
        overload,
        acd,
        registrar,
        operators,
    }
}

// ---------------------------------------------------------------------------- [sip]

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
    }
}

fn sip(raw: Option<S<RawSip>>, p: &mut Problems<'_>) -> SipConfig {
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
    SipConfig {
        listen_udp,
        listen_tcp,
        max_message_bytes,
        tcp_idle_timeout,
        tcp_message_timeout,
        max_tcp_connections_per_ip,
        user_agent,
    }
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

fn listeners(
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

pub(crate) fn int_in(
    raw: Option<&S<i64>>,
    path: &str,
    range: RangeInclusive<i64>,
    expected: &str,
    p: &mut Problems<'_>,
) -> Option<i64> {
    let raw = raw?;
    let v = *raw.get_ref();
    if range.contains(&v) {
        Some(v)
    } else {
        p.at(
            path,
            raw.span(),
            format!("{v} is out of range; expected {expected}"),
        );
        None
    }
}

fn duration(
    raw: Option<&S<toml::Value>>,
    path: &str,
    default: Duration,
    p: &mut Problems<'_>,
) -> Duration {
    duration_in(raw, path, default, TIMEOUT_RANGE, "between 1s and 1h", p)
}

/// A duration key with its own bounds; `range_text` says them in the admin's words.
pub(crate) fn duration_in(
    raw: Option<&S<toml::Value>>,
    path: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
    range_text: &str,
    p: &mut Problems<'_>,
) -> Duration {
    let Some(raw) = raw else { return default };
    let parsed = match raw.get_ref() {
        toml::Value::String(s) => parse_duration(s),
        toml::Value::Integer(n) => Err(format!(
            "{n} has no unit; expected a duration string like \"{n}s\" or \"500ms\""
        )),
        other => Err(format!(
            "found a {}; expected a duration string like \"20s\", \"500ms\" or \"2m\"",
            other.type_str()
        )),
    };
    match parsed {
        Ok(d) if range.contains(&d) => d,
        Ok(d) => {
            p.at(
                path,
                raw.span(),
                format!("{d:?} is out of range; expected {range_text}"),
            );
            default
        }
        Err(msg) => {
            p.at(path, raw.span(), msg);
            default
        }
    }
}

/// Durations are written with a unit because a bare number invites the classic
/// seconds-versus-milliseconds mistake.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let bad = || {
        format!("{s:?} is not a duration; expected a whole number with a unit: \"500ms\", \"20s\", \"2m\" or \"1h\"")
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    };
    Ok(d)
}

// ---------------------------------------------------------------------- [emergency]

/// The numbers every deployment starts with: the European 112 and the legacy
/// national numbers callers still dial from habit.
pub(crate) const DEFAULT_NUMBERS: &[(&str, &str)] = &[
    ("112", "general emergency"),
    ("110", "police"),
    ("113", "fire"),
    ("115", "search and rescue"),
    ("118", "ambulance"),
    ("119", "ambulance"),
];
pub(crate) const DEFAULT_SERVICE_URN: &str = "urn:service:sos";
const URN_PREFIX: &str = "urn:service:";

pub(crate) fn default_emergency() -> EmergencyConfig {
    EmergencyConfig {
        numbers: DEFAULT_NUMBERS
            .iter()
            .map(|(n, l)| EmergencyNumber {
                number: (*n).to_string(),
                label: (*l).to_string(),
            })
            .collect(),
        service_urns: vec![DEFAULT_SERVICE_URN.to_string()],
    }
}

fn emergency(raw: Option<S<RawEmergency>>, p: &mut Problems<'_>) -> EmergencyConfig {
    let d = default_emergency();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let raw = raw.into_inner();
    let numbers = match &raw.numbers {
        None => d.numbers,
        Some(list) => {
            let mut out: Vec<(usize, EmergencyNumber)> = Vec::new();
            for (i, entry) in list.get_ref().iter().enumerate() {
                let here = format!("emergency.numbers[{i}]");
                if let Some(n) = emergency_number(entry, &here, p) {
                    if let Some((j, _)) = out.iter().find(|(_, seen)| seen.number == n.number) {
                        let at = entry
                            .get_ref()
                            .number
                            .as_ref()
                            .map_or(entry.span(), |v| v.span());
                        p.at(
                            format!("{here}.number"),
                            at,
                            format!(
                                "{} is listed twice (also at emergency.numbers[{j}]); \
                                 expected each number once",
                                n.number
                            ),
                        );
                    } else {
                        out.push((i, n));
                    }
                }
            }
            out.into_iter().map(|(_, n)| n).collect()
        }
    };
    let service_urns = match &raw.service_urns {
        None => d.service_urns,
        Some(list) => {
            let mut out: Vec<(usize, String)> = Vec::new();
            for (i, urn) in list.get_ref().iter().enumerate() {
                let here = format!("emergency.service_urns[{i}]");
                match normalize_urn(urn.get_ref()) {
                    Err(msg) => p.at(here, urn.span(), msg),
                    Ok(u) => {
                        if let Some((j, _)) = out.iter().find(|(_, seen)| *seen == u) {
                            p.at(
                                here,
                                urn.span(),
                                format!(
                                    "{u} is listed twice (also at emergency.service_urns[{j}], \
                                     URNs compare case-insensitively); expected each URN once"
                                ),
                            );
                        } else {
                            out.push((i, u));
                        }
                    }
                }
            }
            out.into_iter().map(|(_, u)| u).collect()
        }
    };
    let any_written_bad = p.errors.iter().any(|e| e.path.starts_with("emergency."));
    if numbers.is_empty() && service_urns.is_empty() && !any_written_bad {
        p.at(
            "emergency",
            span,
            "no emergency identity: numbers and service_urns are both empty, so no call \
             would be recognised as an emergency; expected at least one, e.g. 112",
        );
    }
    EmergencyConfig {
        numbers,
        service_urns,
    }
}

fn emergency_number(
    entry: &S<RawEmergencyNumber>,
    here: &str,
    p: &mut Problems<'_>,
) -> Option<EmergencyNumber> {
    let raw = entry.get_ref();
    let number = match &raw.number {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key `number`; expected number = \"112\" and label = \"...\"",
            );
            None
        }
        Some(v) => match number_problem(v.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                p.at(format!("{here}.number"), v.span(), msg);
                None
            }
        },
    };
    let label = match &raw.label {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key `label`; expected a name for call records like label = \"police\"",
            );
            None
        }
        Some(l) => match label_problem(l.get_ref()) {
            None => Some(l.get_ref().trim().to_string()),
            Some(msg) => {
                p.at(format!("{here}.label"), l.span(), msg);
                None
            }
        },
    };
    Some(EmergencyNumber {
        number: number?,
        label: label?,
    })
}

/// Numbers are strings because leading zeros matter in dial strings and an integer
/// would silently drop them.
pub(crate) fn number_problem(v: &toml::Value) -> Result<String, String> {
    let s = match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(n) => {
            return Err(format!(
                "{n} is a TOML integer; expected the number as a string: \"{n}\""
            ))
        }
        other => {
            return Err(format!(
                "found a {}; expected a string of 2 to 6 digits like \"112\"",
                other.type_str()
            ))
        }
    };
    if !s.chars().all(|c| c.is_ascii_digit()) || s.is_empty() {
        Err(format!(
            "{s:?} is not a dialable number; expected digits only (2 to 6), like \"112\""
        ))
    } else if !(2..=6).contains(&s.len()) {
        Err(format!(
            "{s:?} has {} digits; expected 2 to 6 digits, like \"112\"",
            s.len()
        ))
    } else {
        Ok(s.clone())
    }
}

pub(crate) fn label_problem(l: &str) -> Option<String> {
    if l.trim().is_empty() {
        Some("label is empty; expected a name for call records like \"police\"".into())
    } else if l.chars().any(char::is_control) {
        Some(format!(
            "{l:?} contains control characters; expected plain text like \"police\""
        ))
    } else if l.chars().count() > 64 {
        Some(format!(
            "label is {} characters long; expected at most 64",
            l.chars().count()
        ))
    } else {
        None
    }
}

/// URNs are stored lowercase because RFC 5031 service URNs compare
/// case-insensitively and the engine matches them byte for byte.
pub(crate) fn normalize_urn(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    let Some(service) = lower.strip_prefix(URN_PREFIX) else {
        return Err(format!(
            "{s:?} is not a service URN; expected one starting with urn:service:, like urn:service:sos"
        ));
    };
    let ok = !service.is_empty()
        && service.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(format!(
            "{s:?} has an invalid service name; expected dot-separated letters, digits and \
             dashes after urn:service:, like urn:service:sos or urn:service:sos.fire"
        ))
    }
}

// -------------------------------------------------------------------------- [media]

pub(crate) fn default_media() -> MediaConfig {
    MediaConfig {
        address: IpAddr::from([127, 0, 0, 1]),
        port_min: 10000,
        port_max: 19999,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
    }
}

fn media(raw: Option<S<RawMedia>>, p: &mut Problems<'_>) -> MediaConfig {
    let d = default_media();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let raw = raw.into_inner();
    let address = match &raw.address {
        None => d.address,
        Some(a) => match media_address(a.get_ref()) {
            Ok(ip) => ip,
            Err(msg) => {
                p.at("media.address", a.span(), msg);
                d.address
            }
        },
    };
    // RTP takes the even port and RTCP the odd one above it (RFC 3550 §11).
    let port_min = match &raw.port_min {
        None => Some(d.port_min),
        Some(v) => {
            let n = *v.get_ref();
            if !(1024..=65534).contains(&n) {
                p.at(
                    "media.port_min",
                    v.span(),
                    format!("{n} is out of range; expected an even port between 1024 and 65534"),
                );
                None
            } else if n % 2 != 0 {
                p.at(
                    "media.port_min",
                    v.span(),
                    format!(
                        "{n} is odd; expected an even port (RTP uses even ports, RTCP the \
                         odd one above), like {}",
                        n - 1
                    ),
                );
                None
            } else {
                Some(n as u16)
            }
        }
    };
    let port_max = match &raw.port_max {
        None => Some(d.port_max),
        Some(v) => {
            let n = *v.get_ref();
            if !(1025..=65535).contains(&n) {
                p.at(
                    "media.port_max",
                    v.span(),
                    format!("{n} is out of range; expected a port between 1025 and 65535"),
                );
                None
            } else {
                Some(n as u16)
            }
        }
    };
    if let (Some(lo), Some(hi)) = (port_min, port_max) {
        if hi <= lo {
            // Blame the key the admin wrote; if both were written, the upper bound.
            let (path, at) = match (&raw.port_max, &raw.port_min) {
                (Some(v), _) => ("media.port_max", Some(v.span())),
                (None, Some(v)) => ("media.port_min", Some(v.span())),
                (None, None) => ("media", Some(span.clone())),
            };
            p.maybe_at(
                path,
                at,
                format!(
                    "port range {lo}..={hi} is empty; expected port_max greater than \
                     port_min (each call needs an RTP and an RTCP port)"
                ),
            );
        }
    }
    let codecs = match &raw.codecs {
        None => d.codecs.clone(),
        Some(list) => {
            let mut out: Vec<(usize, Codec)> = Vec::new();
            let mut bad = false;
            for (i, name) in list.get_ref().iter().enumerate() {
                let here = format!("media.codecs[{i}]");
                match Codec::from_name(name.get_ref().trim()) {
                    None => {
                        bad = true;
                        p.at(
                            here,
                            name.span(),
                            format!(
                                "{:?} is not a supported codec; expected \"PCMU\" or \"PCMA\"",
                                name.get_ref()
                            ),
                        );
                    }
                    Some(c) => {
                        if let Some((j, _)) = out.iter().find(|(_, seen)| *seen == c) {
                            bad = true;
                            p.at(
                                here,
                                name.span(),
                                format!(
                                    "{c} is listed twice (also at media.codecs[{j}]); \
                                     expected each codec once, in order of preference"
                                ),
                            );
                        } else {
                            out.push((i, c));
                        }
                    }
                }
            }
            if list.get_ref().is_empty() && !bad {
                p.at(
                    "media.codecs",
                    list.span(),
                    "no codec: a call with no common codec cannot be answered; expected \
                     at least one of \"PCMU\", \"PCMA\"",
                );
            }
            out.into_iter().map(|(_, c)| c).collect()
        }
    };
    MediaConfig {
        address,
        port_min: port_min.unwrap_or(d.port_min),
        port_max: port_max.unwrap_or(d.port_max),
        codecs,
    }
}

/// The address goes into the SDP `c=` line, so the caller must be able to send RTP to
/// it: a wildcard means "hold" in SDP and multicast is not a unicast call leg.
fn media_address(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s.trim().parse().map_err(|_| {
        let hint = if s.parse::<SocketAddr>().is_ok() {
            " (without a port: ports come from port_min..port_max)"
        } else {
            ""
        };
        format!("{s:?} is not an IP address; expected one like 127.0.0.1 or ::1{hint}")
    })?;
    if ip.is_unspecified() {
        Err(format!(
            "{ip} is a wildcard; expected the address callers can reach, because it is \
             sent in SDP and 0.0.0.0 there means \"on hold\""
        ))
    } else if ip.is_multicast() {
        Err(format!(
            "{ip} is a multicast address; expected a unicast address callers can reach"
        ))
    } else {
        Ok(ip)
    }
}
