//! URIs as they appear in SIP (RFC 3261 §19.1, RFC 3966 `tel:`, RFC 5031 `urn:service:`).
//!
//! A URI keeps the exact text it was received with: the serializer writes that text back,
//! so `%61` stays `%61` (a proxy that re-escapes `%` breaks digest auth and dialog
//! matching). The typed view beside it is what routing reads: the user part unescaped,
//! the host as a name or an IP address, the port, the parameters.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Why a URI was refused. Each becomes the reason of a 400 (or 416 for the scheme).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UriError {
    /// No text at all.
    #[error("URI is empty")]
    Empty,
    /// No `:` after a scheme.
    #[error("URI has no scheme")]
    NoScheme,
    /// The scheme (given) is not `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`
    /// (RFC 3986 §3.1).
    #[error("URI scheme {0:?} is not a valid token")]
    BadScheme(String),
    /// A space, tab, CR, LF or other control character inside the URI.
    #[error("URI contains whitespace or a control character")]
    Whitespace,
    /// A `sip:`/`sips:` URI with an empty host.
    #[error("SIP URI has no host")]
    NoHost,
    /// The host (given) is neither a host name nor an IPv4 or bracketed IPv6 address.
    #[error("SIP URI host {0:?} is not a host name or IP address")]
    BadHost(String),
    /// The port (given) is not a decimal number that fits 16 bits.
    #[error("SIP URI port {0:?} is not a number from 0 to 65535")]
    BadPort(String),
    /// An empty `;` parameter or one without a name; also a Request-URI carrying
    /// `?headers` (RFC 4475 §3.1.2.11).
    #[error("URI parameter is empty or malformed")]
    BadParam,
    /// The number (given) has characters RFC 3966 does not allow.
    #[error("tel URI number {0:?} is not a telephone number")]
    BadTelNumber(String),
    /// The URN (given) lacks its namespace id or its specific string (RFC 8141 §2).
    #[error("urn URI {0:?} lacks a namespace or a specific string")]
    BadUrn(String),
}

/// A URI: the text as received plus its typed reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    raw: String,
    kind: UriKind,
}

/// The typed reading of a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriKind {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// `urn:`, e.g. `urn:service:sos` (RFC 5031).
    Urn(UrnUri),
    /// Any other scheme (`http:`, `soap.beep:`...), kept raw: a request aimed at one gets 416.
    Other {
        /// The scheme, lower-cased.
        scheme: String,
    },
}

/// `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` (TLS all the way, RFC 3261 §19.1).
    pub secure: bool,
    /// User part as received (still escaped); see [`SipUri::user_unescaped`].
    pub user: Option<String>,
    /// The host.
    pub host: Host,
    /// The port; `None` when absent (the transport's default).
    pub port: Option<u16>,
    /// URI parameters (`transport`, `user=phone`, `lr`...), in order.
    pub params: Vec<Param>,
    /// Escaped headers after `?`, kept as text and never applied.
    pub headers: Option<String>,
}

/// `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number as written: `+` and digits for a global number, separators kept.
    pub number: String,
    /// Parameters (`phone-context`, `ext`...), in order.
    pub params: Vec<Param>,
}

/// `urn:` URI (RFC 8141); for `urn:service:sos.fire`, `nid` is `service`, `nss` `sos.fire`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrnUri {
    /// Namespace identifier, as received.
    pub nid: String,
    /// Namespace-specific string, as received.
    pub nss: String,
}

/// Host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name, as received (not resolved).
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address, written in brackets on the wire.
    V6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `;name=value` or `;name` parameter, text as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name; compare it without case ([`find_param`]).
    pub name: String,
    /// The value; `None` for a flag parameter such as `;lr`.
    pub value: Option<String>,
}

/// Find a parameter by name, case-insensitively (parameter names are case-insensitive).
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Uri {
    /// Parse a URI from its text; `text` must already be trimmed of surrounding LWS.
    pub fn parse(text: &str) -> Result<Uri, UriError> {
        if text.is_empty() {
            return Err(UriError::Empty);
        }
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UriError::Whitespace);
        }
        let (scheme, rest) = text.split_once(':').ok_or(UriError::NoScheme)?;
        if !is_scheme(scheme) {
            return Err(UriError::BadScheme(scheme.to_string()));
        }
        let kind = if scheme.eq_ignore_ascii_case("sip") {
            UriKind::Sip(parse_sip(rest, false)?)
        } else if scheme.eq_ignore_ascii_case("sips") {
            UriKind::Sip(parse_sip(rest, true)?)
        } else if scheme.eq_ignore_ascii_case("tel") {
            UriKind::Tel(parse_tel(rest)?)
        } else if scheme.eq_ignore_ascii_case("urn") {
            UriKind::Urn(parse_urn(rest)?)
        } else {
            UriKind::Other { scheme: scheme.to_ascii_lowercase() }
        };
        Ok(Uri { raw: text.to_string(), kind })
    }

    /// The text exactly as received.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The typed reading.
    pub fn kind(&self) -> &UriKind {
        &self.kind
    }

    /// The SIP view, for `sip:` and `sips:` URIs.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match &self.kind {
            UriKind::Sip(s) => Some(s),
            _ => None,
        }
    }

    /// Lower-case scheme name.
    pub fn scheme(&self) -> &str {
        match &self.kind {
            UriKind::Sip(s) if s.secure => "sips",
            UriKind::Sip(_) => "sip",
            UriKind::Tel(_) => "tel",
            UriKind::Urn(_) => "urn",
            UriKind::Other { scheme } => scheme,
        }
    }

    /// The dialed identity a routing decision reads: the unescaped user of a SIP URI,
    /// the number of a tel URI, the whole `urn:nid:nss` of a URN (lower-cased).
    pub fn dialed(&self) -> Option<String> {
        match &self.kind {
            UriKind::Sip(s) => s.user_unescaped(),
            UriKind::Tel(t) => Some(t.number.clone()),
            UriKind::Urn(u) => Some(format!("urn:{}:{}", u.nid, u.nss).to_ascii_lowercase()),
            UriKind::Other { .. } => None,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl SipUri {
    /// The user part with `%HH` escapes decoded; `None` if absent. Invalid escapes are kept
    /// literally (RFC 4475 §3.1.1.5: a `%` that is not an escape is just a character).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// The first URI parameter `name`, any case.
    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }
}

/// Decode `%HH` escapes; a NUL decodes to U+0000 and is kept (never truncates).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'%' {
            let hi = b.get(i + 1).and_then(|x| hex_val(*x));
            let lo = b.get(i + 2).and_then(|x| hex_val(*x));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_scheme(s: &str) -> bool {
    let mut it = s.bytes();
    matches!(it.next(), Some(c) if c.is_ascii_alphabetic())
        && it.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn parse_sip(rest: &str, secure: bool) -> Result<SipUri, UriError> {
    // userinfo cannot hold an unescaped '@' (RFC 3261 §25.1), so the first '@' ends it;
    // the user part may legally contain '?', ';' and ',' (RFC 4475 §3.1.1.2).
    let (user, after) = match rest.find('@') {
        Some(at) => (Some(rest.get(..at).unwrap_or_default()), rest.get(at + 1..).unwrap_or_default()),
        None => (None, rest),
    };
    let user = match user {
        Some("") => return Err(UriError::NoHost),
        // "user:password": keep it all as the user as received; we never use passwords in URIs.
        Some(u) => Some(u.to_string()),
        None => None,
    };
    let (hostport_params, headers) = match after.split_once('?') {
        Some((a, h)) => (a, Some(h.to_string())),
        None => (after, None),
    };
    let (hostport, params) = match hostport_params.split_once(';') {
        Some((hp, p)) => (hp, parse_uri_params(p)?),
        None => (hostport_params, Vec::new()),
    };
    let (host, port) = parse_hostport(hostport)?;
    Ok(SipUri { secure, user, host, port, params, headers })
}

/// `host[:port]` with IPv6 references in brackets (RFC 5118).
pub fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    if s.is_empty() {
        return Err(UriError::NoHost);
    }
    if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(|| UriError::BadHost(s.to_string()))?;
        let addr = inner.get(..close).unwrap_or_default();
        let host = Host::V6(parse_v6(addr).ok_or_else(|| UriError::BadHost(s.to_string()))?);
        let tail = inner.get(close + 1..).unwrap_or_default();
        let port = match tail {
            "" => None,
            t => Some(parse_port(t.strip_prefix(':').ok_or_else(|| UriError::BadPort(t.to_string()))?)?),
        };
        return Ok((host, port));
    }
    if let Some(hp) = unbracketed_v6(s) {
        return Ok(hp);
    }
    let (h, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (s, None),
    };
    Ok((parse_host_name(h)?, port))
}

/// Some real phones write IPv6 without brackets (`fec0:0:0:0:216:d3ff:fe0d:22c:5060`).
/// RFC 5118 §4.2 calls that invalid because `2001:db8::10` cannot tell address from port;
/// we accept only the unambiguous form: eight full groups, no `::`, optionally a ninth
/// decimal group that is the port. Everything else stays an error.
fn unbracketed_v6(s: &str) -> Option<(Host, Option<u16>)> {
    if s.contains("::") {
        return None;
    }
    let groups: Vec<&str> = s.split(':').collect();
    let hex = |g: &&str| !g.is_empty() && g.len() <= 4 && g.bytes().all(|c| c.is_ascii_hexdigit());
    match groups.len() {
        8 if groups.iter().all(hex) => s.parse().ok().map(|a| (Host::V6(a), None)),
        9 => {
            let (addr, port) = s.rsplit_once(':')?;
            if !groups.get(..8)?.iter().all(hex) {
                return None;
            }
            let port = parse_port(port).ok()?;
            addr.parse().ok().map(|a| (Host::V6(a), Some(port)))
        }
        _ => None,
    }
}

/// An IPv6 address; RFC 5118 §4.10 asks us to tolerate the RFC 3261 ABNF bug that
/// wrote `2001:db8:::192.0.2.1` with three colons, which means the same address.
fn parse_v6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok().or_else(|| {
        if s.contains(":::") && !s.contains("::::") {
            s.replacen(":::", "::", 1).parse().ok()
        } else {
            None
        }
    })
}

fn parse_host_name(h: &str) -> Result<Host, UriError> {
    if h.is_empty() {
        return Err(UriError::NoHost);
    }
    if h.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return h.parse().map(Host::V4).map_err(|_| UriError::BadHost(h.to_string()));
    }
    let ok = h.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
        && !h.starts_with('.')
        && !h.starts_with('-');
    if ok {
        Ok(Host::Name(h.to_string()))
    } else {
        Err(UriError::BadHost(h.to_string()))
    }
}

fn parse_port(p: &str) -> Result<u16, UriError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return Err(UriError::BadPort(p.to_string()));
    }
    p.parse().map_err(|_| UriError::BadPort(p.to_string()))
}

fn parse_uri_params(s: &str) -> Result<Vec<Param>, UriError> {
    let mut out = Vec::new();
    for part in s.split(';') {
        if part.is_empty() {
            return Err(UriError::BadParam);
        }
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (part, None),
        };
        if name.is_empty() {
            return Err(UriError::BadParam);
        }
        out.push(Param { name: name.to_string(), value });
    }
    Ok(out)
}

fn parse_tel(rest: &str) -> Result<TelUri, UriError> {
    let (number, params) = match rest.split_once(';') {
        Some((n, p)) => (n, parse_uri_params(p)?),
        None => (rest, Vec::new()),
    };
    // RFC 3966: global numbers start with '+'; local ones are digits, *, # and visual
    // separators (with hex digits allowed in local numbers).
    let body = number.strip_prefix('+').unwrap_or(number);
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b'*' | b'#' | b'-' | b'.' | b'(' | b')'));
    if !ok {
        return Err(UriError::BadTelNumber(number.to_string()));
    }
    Ok(TelUri { number: number.to_string(), params })
}

fn parse_urn(rest: &str) -> Result<UrnUri, UriError> {
    let (nid, nss) = rest.split_once(':').ok_or_else(|| UriError::BadUrn(rest.to_string()))?;
    let nid_ok = !nid.is_empty() && nid.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    if !nid_ok || nss.is_empty() {
        return Err(UriError::BadUrn(rest.to_string()));
    }
    Ok(UrnUri { nid: nid.to_string(), nss: nss.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tel_112_is_a_number_not_a_host() {
        let u = Uri::parse("tel:112").unwrap();
        assert_eq!(u.scheme(), "tel");
        assert_eq!(u.dialed().as_deref(), Some("112"));
        let u = Uri::parse("tel:+62-31-112;phone-context=+62").unwrap();
        match u.kind() {
            UriKind::Tel(t) => {
                assert_eq!(t.number, "+62-31-112");
                assert_eq!(t.params[0].name, "phone-context");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn urn_service_sos() {
        let u = Uri::parse("urn:service:sos.fire").unwrap();
        assert_eq!(u.dialed().as_deref(), Some("urn:service:sos.fire"));
        assert!(Uri::parse("urn:service").is_err());
    }

    #[test]
    fn sip_uri_parts_and_raw_kept() {
        let u = Uri::parse("sip:%31%31%32@gw.example.com:5070;user=phone").unwrap();
        let s = u.as_sip().unwrap();
        assert_eq!(s.user.as_deref(), Some("%31%31%32"));
        assert_eq!(s.user_unescaped().as_deref(), Some("112"));
        assert_eq!(s.host, Host::Name("gw.example.com".into()));
        assert_eq!(s.port, Some(5070));
        assert_eq!(s.param("USER").and_then(|p| p.value.as_deref()), Some("phone"));
        assert_eq!(u.to_string(), "sip:%31%31%32@gw.example.com:5070;user=phone");
        let u = Uri::parse("sip:%61lice@example.com").unwrap();
        assert_eq!(u.to_string(), "sip:%61lice@example.com", "never re-escaped");
    }

    #[test]
    fn ipv6_references() {
        let (h, p) = parse_hostport("[2001:db8::10]:5070").unwrap();
        assert_eq!(h, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(p, Some(5070));
        // RFC 5118 §4.3: the port inside the brackets is part of the address.
        let (h, p) = parse_hostport("[2001:db8::10:5070]").unwrap();
        assert_eq!(h, Host::V6("2001:db8::10:5070".parse().unwrap()));
        assert_eq!(p, None);
        // RFC 5118 §4.10: three colons tolerated as the same address.
        let (h, _) = parse_hostport("[2001:db8:::192.0.2.1]").unwrap();
        assert_eq!(h, Host::V6("2001:db8::192.0.2.1".parse().unwrap()));
        // §4.2: unbracketed IPv6 is an error when ambiguous...
        assert!(Uri::parse("sip:user@2001:db8::10").is_err());
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        // ...but the fully written form real phones send is not.
        let (h, p) = parse_hostport("fec0:0:0:0:216:d3ff:fe0d:22c:5060").unwrap();
        assert_eq!(h, Host::V6("fec0::216:d3ff:fe0d:22c".parse().unwrap()));
        assert_eq!(p, Some(5060));
        let (_, p) = parse_hostport("fec0:0:0:0:216:d3ff:fe0d:22c").unwrap();
        assert_eq!(p, None);
    }

    #[test]
    fn malformed_uris() {
        assert_eq!(Uri::parse("").unwrap_err(), UriError::Empty);
        assert_eq!(Uri::parse("nocolon").unwrap_err(), UriError::NoScheme);
        assert!(matches!(Uri::parse("<sip:a@b>").unwrap_err(), UriError::BadScheme(_)));
        assert_eq!(Uri::parse("sip:a @b").unwrap_err(), UriError::Whitespace);
        assert!(matches!(Uri::parse("sip:a@b:99999").unwrap_err(), UriError::BadPort(_)));
        assert!(matches!(Uri::parse("sip:a@b;;x").unwrap_err(), UriError::BadParam));
        assert!(matches!(Uri::parse("tel:11a2z").unwrap_err(), UriError::BadTelNumber(_)));
        assert_eq!(Uri::parse("sip:@host").unwrap_err(), UriError::NoHost);
    }

    #[test]
    fn unusual_user_part_and_other_schemes() {
        let u = Uri::parse("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com").unwrap();
        assert_eq!(u.as_sip().unwrap().host, Host::Name("example.com".into()));
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme(), "soap.beep");
        assert_eq!(unescape("%00a%zz%4"), "\u{0}a%zz%4");
    }
}
