//! Header names and the typed header values the gateway routes on (RFC 3261 §7.3, §20, §25).
//!
//! Only the headers that transactions, dialogs and routing read are typed: Via, From, To,
//! Contact, CSeq, Call-ID, Content-Length. Every other header stays as text, written back
//! verbatim, because a gateway that rewrites what it does not understand breaks peers.

use std::fmt;

use thiserror::Error;

use super::uri::{parse_hostport, Host, Param, Uri, UriError};

/// Known header names; compact forms (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 4028)
/// are mapped to their long form at parse time so nothing downstream sees `v:` or `i:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// `Accept`, RFC 3261 §20.1.
    Accept,
    /// `Allow`, RFC 3261 §20.5.
    Allow,
    /// `Authorization`, RFC 3261 §20.7.
    Authorization,
    /// `Call-ID` (compact `i`), RFC 3261 §20.8.
    CallId,
    /// `Call-Info`, RFC 3261 §20.9.
    CallInfo,
    /// `Contact` (compact `m`), RFC 3261 §20.10.
    Contact,
    /// `Content-Encoding` (compact `e`), RFC 3261 §20.12.
    ContentEncoding,
    /// `Content-Length` (compact `l`), RFC 3261 §20.14.
    ContentLength,
    /// `Content-Type` (compact `c`), RFC 3261 §20.15.
    ContentType,
    /// `CSeq`, RFC 3261 §20.16.
    CSeq,
    /// `Event` (compact `o`), RFC 6665 §8.2.1.
    Event,
    /// `Expires`, RFC 3261 §20.19.
    Expires,
    /// `From` (compact `f`), RFC 3261 §20.20.
    From,
    /// `Max-Forwards`, RFC 3261 §20.22.
    MaxForwards,
    /// `Proxy-Authorization`, RFC 3261 §20.28.
    ProxyAuthorization,
    /// `Proxy-Require`, RFC 3261 §20.29.
    ProxyRequire,
    /// `Record-Route`, RFC 3261 §20.30.
    RecordRoute,
    /// `Refer-To` (compact `r`), RFC 3515 §2.1.
    ReferTo,
    /// `Referred-By` (compact `b`), RFC 3892 §3.
    ReferredBy,
    /// `Require`, RFC 3261 §20.32.
    Require,
    /// `Retry-After`, RFC 3261 §20.33.
    RetryAfter,
    /// `Route`, RFC 3261 §20.34.
    Route,
    /// `Server`, RFC 3261 §20.35.
    Server,
    /// `Session-Expires` (compact `x`), RFC 4028 §4.
    SessionExpires,
    /// `Subject` (compact `s`), RFC 3261 §20.36.
    Subject,
    /// `Supported` (compact `k`), RFC 3261 §20.37.
    Supported,
    /// `To` (compact `t`), RFC 3261 §20.39.
    To,
    /// `Unsupported`, RFC 3261 §20.40.
    Unsupported,
    /// `User-Agent`, RFC 3261 §20.41.
    UserAgent,
    /// `Via` (compact `v`), RFC 3261 §20.42.
    Via,
    /// `Warning`, RFC 3261 §20.43.
    Warning,
    /// `WWW-Authenticate`, RFC 3261 §20.44.
    WwwAuthenticate,
    /// Any other name, as received.
    Other(String),
}

impl HeaderName {
    /// Map a received name (any case, long or compact) to a header name.
    pub fn from_wire(name: &str) -> HeaderName {
        use HeaderName::*;
        if name.len() == 1 {
            match name.as_bytes().first().map(|c| c.to_ascii_lowercase()) {
                Some(b'i') => return CallId,
                Some(b'm') => return Contact,
                Some(b'e') => return ContentEncoding,
                Some(b'l') => return ContentLength,
                Some(b'c') => return ContentType,
                Some(b'f') => return From,
                Some(b's') => return Subject,
                Some(b'k') => return Supported,
                Some(b't') => return To,
                Some(b'v') => return Via,
                Some(b'o') => return Event,
                Some(b'r') => return ReferTo,
                Some(b'b') => return ReferredBy,
                Some(b'x') => return SessionExpires,
                _ => return Other(name.to_string()),
            }
        }
        // Candidates by length first: one or two case-insensitive compares per header
        // instead of a scan of every known name.
        let candidates: &[(&str, HeaderName)] = match name.len() {
            2 => &[("To", To)],
            3 => &[("Via", Via)],
            4 => &[("From", From), ("CSeq", CSeq)],
            5 => &[("Allow", Allow), ("Event", Event), ("Route", Route)],
            6 => &[("Accept", Accept), ("Server", Server)],
            7 => &[("Call-ID", CallId), ("Contact", Contact), ("Expires", Expires), ("Require", Require), ("Subject", Subject), ("Warning", Warning)],
            8 => &[("Refer-To", ReferTo)],
            9 => &[("Call-Info", CallInfo), ("Supported", Supported)],
            10 => &[("User-Agent", UserAgent)],
            11 => &[("Referred-By", ReferredBy), ("Retry-After", RetryAfter), ("Unsupported", Unsupported)],
            12 => &[("Content-Type", ContentType), ("Max-Forwards", MaxForwards), ("Record-Route", RecordRoute)],
            13 => &[("Authorization", Authorization), ("Proxy-Require", ProxyRequire)],
            14 => &[("Content-Length", ContentLength)],
            15 => &[("Session-Expires", SessionExpires)],
            16 => &[("Content-Encoding", ContentEncoding), ("WWW-Authenticate", WwwAuthenticate)],
            19 => &[("Proxy-Authorization", ProxyAuthorization)],
            _ => &[],
        };
        for (n, h) in candidates {
            if n.eq_ignore_ascii_case(name) {
                return h.clone();
            }
        }
        Other(name.to_string())
    }

    /// The canonical long form written on the wire.
    pub fn as_str(&self) -> &str {
        use HeaderName::*;
        match self {
            Accept => "Accept",
            Allow => "Allow",
            Authorization => "Authorization",
            CallId => "Call-ID",
            CallInfo => "Call-Info",
            Contact => "Contact",
            ContentEncoding => "Content-Encoding",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            CSeq => "CSeq",
            Event => "Event",
            Expires => "Expires",
            From => "From",
            MaxForwards => "Max-Forwards",
            ProxyAuthorization => "Proxy-Authorization",
            ProxyRequire => "Proxy-Require",
            RecordRoute => "Record-Route",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            Require => "Require",
            RetryAfter => "Retry-After",
            Route => "Route",
            Server => "Server",
            SessionExpires => "Session-Expires",
            Subject => "Subject",
            Supported => "Supported",
            To => "To",
            Unsupported => "Unsupported",
            UserAgent => "User-Agent",
            Via => "Via",
            Warning => "Warning",
            WwwAuthenticate => "WWW-Authenticate",
            Other(s) => s,
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line, unfolded (CRLF + WSP replaced by one SP), value trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, compact forms already mapped to the long one.
    pub name: HeaderName,
    /// The raw value, written back verbatim when the header is not typed.
    pub value: String,
}

/// Why a typed header value was refused; becomes the reason phrase of a 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A Via element's sent-protocol or branch; the text says which.
    #[error("bad Via: {0}")]
    Via(&'static str),
    /// A Via element's sent-by host or port.
    #[error("bad Via host: {0}")]
    ViaHost(UriError),
    /// A From, To, Contact or Call-ID value (the header, then what is wrong).
    #[error("bad {0} header: {1}")]
    NameAddr(&'static str, &'static str),
    /// The URI inside a From, To or Contact value (the header, then the URI error).
    #[error("bad {0} URI: {1}")]
    NameAddrUri(&'static str, UriError),
    /// The CSeq value; the text says which part.
    #[error("bad CSeq: {0}")]
    CSeq(&'static str),
    /// An empty list element (`a,,b`), or a `;name=value` parameter with no name or
    /// an empty value.
    #[error("empty or malformed header parameter")]
    Param,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    Quote,
}

/// SIP `token` characters (RFC 3261 §25.1).
pub fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// A non-empty SIP `token` (RFC 3261 §25.1): a method, a transport, a branch...
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Split a header value into its comma-separated elements, ignoring commas inside
/// quoted strings and `<...>`. An empty element (`a,,b`) is an error.
pub fn split_list(value: &str) -> Result<Vec<&str>, HeaderError> {
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_angle = false;
    while i < b.len() {
        match b.get(i).copied().unwrap_or(0) {
            b'"' => {
                i = skip_quoted(b, i)?;
                continue;
            }
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                let item = value.get(start..i).unwrap_or_default().trim();
                if item.is_empty() {
                    return Err(HeaderError::Param);
                }
                out.push(item);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let item = value.get(start..).unwrap_or_default().trim();
    if item.is_empty() {
        return Err(HeaderError::Param);
    }
    out.push(item);
    Ok(out)
}

/// Given `b[i] == '"'`, return the index just past the closing quote (quoted-pair aware).
fn skip_quoted(b: &[u8], mut i: usize) -> Result<usize, HeaderError> {
    i += 1;
    while i < b.len() {
        match b.get(i).copied().unwrap_or(0) {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(HeaderError::Quote)
}

/// Parse `*( SEMI generic-param )` where LWS may surround `;` and `=` (RFC 3261 §25.1).
/// `s` is the text after the element (starting at the first `;`, or empty).
pub fn parse_header_params(s: &str) -> Result<Vec<Param>, HeaderError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        rest = rest.strip_prefix(';').ok_or(HeaderError::Param)?.trim_start();
        let name_len = rest.bytes().take_while(|c| is_token_char(*c)).count();
        if name_len == 0 {
            return Err(HeaderError::Param);
        }
        let name = rest.get(..name_len).unwrap_or_default();
        rest = rest.get(name_len..).unwrap_or_default().trim_start();
        let mut value = None;
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let b = r.as_bytes();
            let end = if b.first() == Some(&b'"') {
                skip_quoted(b, 0)?
            } else {
                // token, host (IPv6 in brackets or not: RFC 5118 §4.5) — up to LWS or ';'.
                b.iter().take_while(|c| !matches!(c, b';' | b',' | b' ' | b'\t' | b'"')).count()
            };
            if end == 0 {
                return Err(HeaderError::Param);
            }
            value = Some(r.get(..end).unwrap_or_default().to_string());
            rest = r.get(end..).unwrap_or_default().trim_start();
        }
        out.push(Param { name: name.to_string(), value });
    }
    Ok(out)
}

/// One Via element: `SIP/2.0/UDP host:port;branch=...` (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport of the sent-protocol, upper-cased (`UDP`, `TCP`...).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port; `None` when absent (the transport's default, 5060 for UDP
    /// and TCP).
    pub port: Option<u16>,
    /// `branch`, `received`, `rport`... in order.
    pub params: Vec<Param>,
}

/// RFC 3261 §8.1.1.7: branches starting with this cookie are unique per transaction.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl Via {
    /// Parses one element of a Via header (after [`split_list`]); only SIP/2.0 is
    /// accepted, and a branch must be a token that is more than the magic cookie.
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, LWS allowed
        // around the slashes; RFC 4475 §3.1.1.1 folds it over three lines.
        let mut rest = s;
        let mut parts = [""; 3];
        for (idx, part) in parts.iter_mut().enumerate() {
            rest = rest.trim_start();
            let n = rest.bytes().take_while(|c| is_token_char(*c)).count();
            if n == 0 {
                return Err(HeaderError::Via("sent-protocol"));
            }
            *part = rest.get(..n).unwrap_or_default();
            rest = rest.get(n..).unwrap_or_default().trim_start();
            if idx < 2 {
                rest = rest.strip_prefix('/').ok_or(HeaderError::Via("sent-protocol"))?;
            }
        }
        let [name, version, transport] = parts;
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(HeaderError::Via("protocol is not SIP/2.0"));
        }
        let n = rest.bytes().take_while(|c| !matches!(c, b';' | b' ' | b'\t')).count();
        let (hostport, params) = rest.split_at(n);
        let (host, port) = parse_hostport(hostport).map_err(HeaderError::ViaHost)?;
        let params = parse_header_params(params)?;
        let via = Via { transport: transport.to_ascii_uppercase(), host, port, params };
        if let Some(b) = via.param_value("branch") {
            if !is_token(b) {
                return Err(HeaderError::Via("branch is not a token"));
            }
            // RFC 4475 §3.2.1: a branch that is only the cookie cannot identify a transaction.
            if b == BRANCH_MAGIC {
                return Err(HeaderError::Via("branch is only the magic cookie"));
            }
        }
        Ok(via)
    }

    /// The value of the first parameter `name` (any case); `None` when absent or
    /// valueless.
    pub fn param_value(&self, name: &str) -> Option<&str> {
        super::uri::find_param(&self.params, name).and_then(|p| p.value.as_deref())
    }

    /// The `branch` parameter: the transaction id (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&str> {
        self.param_value("branch")
    }

    /// True when the branch is RFC 3261 style, so it alone identifies the transaction.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_MAGIC) && b.len() > BRANCH_MAGIC.len())
    }

    /// `host[:port]` as a string, the sent-by used in transaction matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

/// `name-addr` or `addr-spec` with header parameters: From, To, Contact, Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted (quoted-pairs resolved).
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`tag`, `expires`...), not the URI's own.
    pub params: Vec<Param>,
}

impl NameAddr {
    /// Parse one element; `which` names the header for error messages.
    pub fn parse(s: &str, which: &'static str) -> Result<NameAddr, HeaderError> {
        let s = s.trim();
        let b = s.as_bytes();
        let (display, uri_text, after);
        if b.first() == Some(&b'"') {
            let end = skip_quoted(b, 0).map_err(|_| HeaderError::NameAddr(which, "unterminated quoted display name"))?;
            display = Some(unquote(s.get(1..end - 1).unwrap_or_default()));
            let rest = s.get(end..).unwrap_or_default().trim_start();
            let (u, a) = angle(rest, which)?;
            uri_text = u;
            after = a;
        } else if let Some(lt) = s.find('<') {
            let name = s.get(..lt).unwrap_or_default().trim();
            // Unquoted display name: tokens separated by LWS only (RFC 4475 §3.1.2.15).
            if !name.split_ascii_whitespace().all(is_token) {
                return Err(HeaderError::NameAddr(which, "display name with non-token characters must be quoted"));
            }
            display = if name.is_empty() { None } else { Some(name.to_string()) };
            let (u, a) = angle(s.get(lt..).unwrap_or_default(), which)?;
            uri_text = u;
            after = a;
        } else {
            // addr-spec: its own ';' start header params, and it may not contain ',', '?' or
            // ';' at all (RFC 3261 §20.10: such URIs must be in angle brackets).
            display = None;
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
            uri_text = s.get(..end).unwrap_or_default();
            if uri_text.contains('?') || uri_text.contains(',') {
                return Err(HeaderError::NameAddr(which, "URI with '?' or ',' must be in angle brackets"));
            }
            after = s.get(end..).unwrap_or_default();
        }
        let uri = Uri::parse(uri_text).map_err(|e| HeaderError::NameAddrUri(which, e))?;
        let params = parse_header_params(after)?;
        // RFC 3261 §25.1: tag-param = "tag" EQUAL token. A bare `;tag` on From or To read
        // as "no tag", so our answer added a second tag behind it that the caller's first
        // one shadowed (found by fuzzing: fuzz/regressions/sip_parse/).
        let bare_tag = params.iter().any(|p| p.name.eq_ignore_ascii_case("tag") && p.value.is_none());
        if bare_tag && matches!(which, "From" | "To") {
            return Err(HeaderError::NameAddr(which, "tag parameter without a value"));
        }
        Ok(NameAddr { display, uri, params })
    }

    /// The `tag` parameter: the dialog half of From or To (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        super::uri::find_param(&self.params, "tag").and_then(|p| p.value.as_deref())
    }
}

/// `<uri>` then the rest; no LWS allowed inside the brackets (RFC 4475 §3.1.2.14).
fn angle<'a>(s: &'a str, which: &'static str) -> Result<(&'a str, &'a str), HeaderError> {
    let inner = s.strip_prefix('<').ok_or(HeaderError::NameAddr(which, "expected '<' after display name"))?;
    let close = inner.find('>').ok_or(HeaderError::NameAddr(which, "missing '>'"))?;
    let uri = inner.get(..close).unwrap_or_default();
    if uri.bytes().any(|c| c == b' ' || c == b'\t') {
        return Err(HeaderError::NameAddr(which, "whitespace inside <URI>"));
    }
    Ok((uri, inner.get(close + 1..).unwrap_or_default()))
}

/// Resolve quoted-pairs in the inside of a quoted string.
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `CSeq: 4711 INVITE` (RFC 3261 §20.16); the number must be below 2^31 (§8.1.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number, below 2^31.
    pub seq: u32,
    /// The method; in a request it must match the request line's.
    pub method: super::method::Method,
}

impl CSeq {
    /// Parses `number method`, nothing before or after.
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        let mut it = s.split_ascii_whitespace();
        let num = it.next().ok_or(HeaderError::CSeq("empty"))?;
        let method = it.next().ok_or(HeaderError::CSeq("no method"))?;
        if it.next().is_some() {
            return Err(HeaderError::CSeq("trailing text"));
        }
        if num.is_empty() || num.len() > 10 || !num.bytes().all(|c| c.is_ascii_digit()) {
            return Err(HeaderError::CSeq("sequence number is not a number below 2^31"));
        }
        let seq: u64 = num.parse().map_err(|_| HeaderError::CSeq("sequence number is not a number"))?;
        if seq >= 1 << 31 {
            return Err(HeaderError::CSeq("sequence number is not below 2^31"));
        }
        if !is_token(method) {
            return Err(HeaderError::CSeq("method is not a token"));
        }
        Ok(CSeq { seq: seq as u32, method: super::method::Method::from_token(method) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::method::Method;

    #[test]
    fn compact_and_case_insensitive_names() {
        assert_eq!(HeaderName::from_wire("v"), HeaderName::Via);
        assert_eq!(HeaderName::from_wire("I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_wire("X-Foo"), HeaderName::Other("X-Foo".into()));
        // Every known name maps back to itself, whatever its case.
        use HeaderName::*;
        for h in [Accept, Allow, Authorization, CallId, CallInfo, Contact, ContentEncoding, ContentLength, ContentType, CSeq, Event, Expires, From, MaxForwards, ProxyAuthorization, ProxyRequire, RecordRoute, ReferTo, ReferredBy, Require, RetryAfter, Route, Server, SessionExpires, Subject, Supported, To, Unsupported, UserAgent, Via, Warning, WwwAuthenticate] {
            assert_eq!(HeaderName::from_wire(h.as_str()), h);
            assert_eq!(HeaderName::from_wire(&h.as_str().to_ascii_uppercase()), h);
        }
    }

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/TCP spindle.example.com   ;  branch  =   z9hG4bK9ikj8").unwrap();
        assert!(v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5060;received=2001:db8::9:255;branch=z9hG4bKas3-111").unwrap();
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.param_value("received"), Some("2001:db8::9:255"));
        let v = Via::parse("SIP/2.0/UDP h;rport;received=[2001:db8::9:255]").unwrap();
        assert_eq!(v.param_value("received"), Some("[2001:db8::9:255]"));
        assert!(v.params.iter().any(|p| p.name == "rport" && p.value.is_none()));
    }

    #[test]
    fn via_errors() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
        assert!(Via::parse("SIP/2.0 h").is_err());
        assert!(Via::parse("SIP/2.0/UDP h;branch=z9hG4bK").is_err());
        assert!(split_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#, "From").unwrap();
        assert_eq!(n.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", "To").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        assert_eq!(n.uri.as_str(), "sip:vivekg@chair-dnrc.example.com");
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323", "From").unwrap();
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n = NameAddr::parse("<tel:112>", "To").unwrap();
        assert_eq!(n.uri.dialed().as_deref(), Some("112"));
    }

    #[test]
    fn name_addr_errors() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#, "To").is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#, "To").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "From").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "Contact").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#, "Contact").is_err());
    }

    #[test]
    fn cseq_bounds() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let l = split_list(r#""a, b" <sip:x@y>;q=1 , <sip:z@w,v>"#).unwrap();
        assert_eq!(l.len(), 2);
        assert!(split_list(r#""unterminated"#).is_err());
    }
}
