//! The strict SIP message parser (RFC 3261 §7, §25; RFC 4475 torture cases).
//!
//! Input is one message's bytes (a UDP datagram, or a frame cut by
//! [`super::framing`]); every byte is treated as hostile: no panics, no indexing
//! without a bound check, no allocation sized by a number read from the wire.
//! A failure carries the raw Via/From/To/Call-ID/CSeq lines when it can, so the
//! caller can answer 400 (or 505) with a reason that names the problem.

use bytes::Bytes;
use thiserror::Error;

use super::header::{is_token, split_list, CSeq, Header, HeaderError, HeaderName, NameAddr, Via};
use super::message::{Head, Message, Request, Response};
use super::method::Method;
use super::uri::{Uri, UriError};

/// Most header lines we accept in one message: far above any real message (RFC 4475's
/// longest has 40), low enough that a flood of tiny lines cannot make a huge Vec.
pub const MAX_HEADERS: usize = 256;

/// What was wrong with a message. The `Display` text is the 400's reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// No bytes, or nothing but CRLFs.
    #[error("empty message")]
    Empty,
    /// No empty line after the headers: a cut-off datagram.
    #[error("header section does not end with an empty line")]
    NoHeaderEnd,
    /// The request or status line; the text says what is wrong.
    #[error("malformed start line: {0}")]
    BadStartLine(&'static str),
    /// A version other than SIP/2.0 (given): answered with 505 (RFC 3261 §21.5.6,
    /// see [`ParseError::status`]).
    #[error("SIP version {0} not supported")]
    VersionNotSupported(String),
    /// A line without `:`, a name that is not a token, or a continuation line
    /// before any header.
    #[error("malformed header line")]
    BadHeaderLine,
    /// The start line and headers must be UTF-8 text.
    #[error("header section is not UTF-8")]
    NotUtf8,
    /// More than [`MAX_HEADERS`] header lines.
    #[error("too many header lines")]
    TooManyHeaders,
    /// A header every message must carry (named) is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that may appear once (named) appears twice.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// A typed header's value.
    #[error("{0}")]
    Header(#[from] HeaderError),
    /// The Request-URI.
    #[error("bad Request-URI: {0}")]
    Uri(#[from] UriError),
    /// The CSeq method differs from the request line's (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// Not 1-10 decimal digits.
    #[error("Content-Length is not a non-negative number")]
    BadContentLength,
    /// Two Content-Length headers with different values (request smuggling).
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Fewer body bytes than Content-Length says.
    #[error("body shorter than Content-Length ({declared} declared, {got} received)")]
    BodyTooShort {
        /// The Content-Length, in bytes.
        declared: usize,
        /// Bytes after the empty line.
        got: usize,
    },
    /// Not a number from 0 to 255 (RFC 3261 §20.22).
    #[error("Max-Forwards is not a number from 0 to 255")]
    BadMaxForwards,
}

/// A parse failure plus what can be echoed in an error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    /// For a request: its method, if the start line got that far.
    pub method: Option<Method>,
    /// Raw Via (all), From, To, Call-ID and CSeq lines of a request, present ones only;
    /// `None` for responses and for requests without a Via or a CSeq (those are dropped).
    pub echo: Option<Vec<(HeaderName, String)>>,
}

impl ParseError {
    /// Status to answer with when `echo` allows an answer.
    pub fn status(&self) -> u16 {
        match self.kind {
            ParseErrorKind::VersionNotSupported(_) => 505,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for ParseError {}

enum StartLine<'a> {
    Request { method: &'a str, uri: &'a str, version: &'a str },
    Response { version: &'a str, code: &'a str, reason: &'a str },
}

/// Whether [`parse`] would read these bytes as an INVITE's request line, without
/// parsing them: the UDP readers sort new calls into their own queue with it, so it
/// skips the leading CRLFs the parser skips (RFC 3261 §7.5); otherwise a flood of
/// CRLF-prefixed INVITEs would pass as ACKs and BYEs of calls in progress.
pub fn is_invite(input: &[u8]) -> bool {
    let start = input.iter().position(|c| *c != b'\r' && *c != b'\n').unwrap_or(input.len());
    input.get(start..).is_some_and(|rest| rest.starts_with(b"INVITE "))
}

/// Parse one SIP message. On UDP a body longer than Content-Length is cut (RFC 3261
/// §18.3: the rest of the datagram is ignored, RFC 4475 §3.1.1.8); a missing
/// Content-Length means "the rest of the datagram".
pub fn parse(input: &[u8]) -> Result<Message, ParseError> {
    let fail = |kind| ParseError { kind, method: None, echo: None };
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let start = input.iter().position(|c| *c != b'\r' && *c != b'\n').ok_or_else(|| fail(ParseErrorKind::Empty))?;
    let input = input.get(start..).unwrap_or_default();
    let (head_bytes, body, complete) = split_head(input);
    let head_text = match std::str::from_utf8(head_bytes) {
        Ok(t) => t,
        Err(_) => {
            // Still try to echo so the sender learns why; the lossy text is only read.
            let lossy = String::from_utf8_lossy(head_bytes);
            let (lines, _) = raw_lines(&lossy);
            return Err(with_echo(fail(ParseErrorKind::NotUtf8), &lines));
        }
    };
    let (lines, line_err) = raw_lines(head_text);
    let err = |kind| Err(with_echo(fail(kind), &lines));
    let Some(first) = lines.first() else { return err(ParseErrorKind::Empty) };
    let start_line = match parse_start_line(&first.1) {
        Ok(s) => s,
        Err(k) => return err(k),
    };
    if let Some(k) = line_err {
        return err(k);
    }
    if !complete {
        return err(ParseErrorKind::NoHeaderEnd);
    }
    let mut method = None;
    if let StartLine::Request { method: m, .. } = start_line {
        method = Some(Method::from_token(m));
    }
    let result = build(start_line, &lines, body);
    result.map_err(|kind| {
        let mut e = with_echo(fail(kind), &lines);
        e.method = method;
        e
    })
}

/// Split into (header section, body, whether the empty line was found). Bare LF line
/// ends are tolerated (robustness; RFC 5118's archive files use them).
fn split_head(input: &[u8]) -> (&[u8], &[u8], bool) {
    // One pass over line ends: the header section ends at the first empty line,
    // whether lines end in CRLF or a bare LF.
    let mut from = 0;
    while let Some(i) = input.get(from..).and_then(|rest| rest.iter().position(|c| *c == b'\n')).map(|i| i + from) {
        let next = input.get(i + 1..).unwrap_or_default();
        let blank = if next.starts_with(b"\r\n") {
            Some(i + 3)
        } else if next.first() == Some(&b'\n') {
            Some(i + 2)
        } else {
            None
        };
        if let Some(body) = blank {
            // The header section is everything before the line end at `i` (and its CR).
            let end = if i > 0 && input.get(i - 1) == Some(&b'\r') { i - 1 } else { i };
            return (input.get(..end).unwrap_or_default(), input.get(body..).unwrap_or_default(), true);
        }
        from = i + 1;
    }
    (input, &[], false)
}

/// Start line plus unfolded header lines as (name, value); the first element's value is
/// the start line. Returns a deferred error for malformed lines so the start line can
/// still decide whether an answer is possible.
fn raw_lines(text: &str) -> (Vec<(&str, std::borrow::Cow<'_, str>)>, Option<ParseErrorKind>) {
    use std::borrow::Cow;
    let mut out: Vec<(&str, Cow<'_, str>)> = Vec::new();
    let mut err = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if out.is_empty() {
            out.push(("", Cow::Borrowed(line)));
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Folded continuation (RFC 3261 §7.3.1): replace CRLF WSP by one SP.
            let n = out.len();
            match out.last_mut() {
                Some(last) if n > 1 => {
                    let v = last.1.to_mut();
                    let more = line.trim();
                    if !more.is_empty() {
                        if !v.is_empty() {
                            v.push(' ');
                        }
                        v.push_str(more);
                    }
                }
                _ => err = err.or(Some(ParseErrorKind::BadHeaderLine)),
            }
            continue;
        }
        if out.len() > MAX_HEADERS {
            err = err.or(Some(ParseErrorKind::TooManyHeaders));
            break;
        }
        match line.split_once(':') {
            Some((name, value)) => {
                let name = name.trim_end_matches([' ', '\t']);
                if !is_token(name) {
                    err = err.or(Some(ParseErrorKind::BadHeaderLine));
                    continue;
                }
                out.push((name, Cow::Borrowed(value.trim())));
            }
            None => err = err.or(Some(ParseErrorKind::BadHeaderLine)),
        }
    }
    (out, err)
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseErrorKind> {
    if line.starts_with("SIP/") || line.starts_with("sip/") {
        let mut it = line.splitn(3, ' ');
        let version = it.next().unwrap_or_default();
        let code = it.next().ok_or(ParseErrorKind::BadStartLine("status line without code"))?;
        let reason = it.next().ok_or(ParseErrorKind::BadStartLine("status line without reason"))?;
        return Ok(StartLine::Response { version, code, reason });
    }
    // Exactly "Method SP Request-URI SP SIP-Version": extra or trailing spaces are
    // malformed (RFC 4475 §3.1.2.8–10 allow us to reject them).
    let mut it = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(ParseErrorKind::BadStartLine("request line is not 'METHOD URI SIP/2.0'"));
    };
    if !is_token(method) {
        return Err(ParseErrorKind::BadStartLine("method is not a token"));
    }
    if uri.is_empty() || version.is_empty() {
        return Err(ParseErrorKind::BadStartLine("request line is not 'METHOD URI SIP/2.0'"));
    }
    Ok(StartLine::Request { method, uri, version })
}

fn check_version(v: &str) -> Result<(), ParseErrorKind> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let looks_like_version = v.len() > 4
        && v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
        && v.get(4..).is_some_and(|n| {
            let mut parts = n.split('.');
            matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
                if !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
        });
    if looks_like_version {
        Err(ParseErrorKind::VersionNotSupported(v.to_string()))
    } else {
        Err(ParseErrorKind::BadStartLine("bad SIP version"))
    }
}

fn with_echo(mut e: ParseError, lines: &[(&str, std::borrow::Cow<'_, str>)]) -> ParseError {
    let Some(first) = lines.first() else { return e };
    if first.1.starts_with("SIP/") || first.1.starts_with("sip/") {
        return e; // a response: never answered
    }
    if e.method.is_none() {
        e.method = first.1.split(' ').next().filter(|m| is_token(m)).map(Method::from_token);
    }
    let mut echo = Vec::new();
    let mut have = [false; 4];
    for (name, value) in lines.iter().skip(1) {
        let n = HeaderName::from_wire(name);
        let slot = match n {
            HeaderName::Via => None,
            HeaderName::From => Some(0),
            HeaderName::To => Some(1),
            HeaderName::CallId => Some(2),
            HeaderName::CSeq => Some(3),
            _ => continue,
        };
        if let Some(i) = slot {
            match have.get_mut(i) {
                Some(h) if !*h => *h = true,
                _ => continue, // echo only the first of each
            }
        }
        echo.push((n, value.to_string()));
    }
    // A Via and a CSeq are enough for the sender to match our answer to its request
    // (RFC 4475 §3.3.1 wants a 400 even without From, To and Call-ID).
    let has_via = echo.iter().any(|(n, _)| *n == HeaderName::Via);
    if has_via && have.get(3).copied().unwrap_or(false) {
        e.echo = Some(echo);
    }
    e
}

fn build(start: StartLine<'_>, lines: &[(&str, std::borrow::Cow<'_, str>)], body: &[u8]) -> Result<Message, ParseErrorKind> {
    // The version decides before anything else: a SIP/7.0 request gets 505 even if its
    // Via also says 7.0 (RFC 4475 §3.1.2.16).
    match &start {
        StartLine::Request { version, .. } | StartLine::Response { version, .. } => check_version(version)?,
    }
    let mut headers = Vec::with_capacity(lines.len());
    for (name, value) in lines.iter().skip(1) {
        headers.push(Header { name: HeaderName::from_wire(name), value: value.to_string() });
    }
    let head = head(headers)?;
    let body = match head.content_length {
        Some(n) if n > body.len() => return Err(ParseErrorKind::BodyTooShort { declared: n, got: body.len() }),
        Some(n) => body.get(..n).unwrap_or_default(),
        None => body,
    };
    let body = Bytes::copy_from_slice(body);
    match start {
        StartLine::Request { method, uri, .. } => {
            let method = Method::from_token(method);
            if head.cseq.method != method {
                return Err(ParseErrorKind::CSeqMethodMismatch);
            }
            let uri = Uri::parse(uri)?;
            if let Some(s) = uri.as_sip() {
                // RFC 4475 §3.1.2.11: headers escaped into a Request-URI are never applied.
                if s.headers.is_some() {
                    return Err(ParseErrorKind::Uri(UriError::BadParam));
                }
            }
            Ok(Message::Request(Request { method, uri, head, body }))
        }
        StartLine::Response { code, reason, .. } => {
            if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
                return Err(ParseErrorKind::BadStartLine("status code is not three digits"));
            }
            let status: u16 = code.parse().map_err(|_| ParseErrorKind::BadStartLine("status code"))?;
            if !(100..=699).contains(&status) {
                return Err(ParseErrorKind::BadStartLine("status code out of range 100-699"));
            }
            Ok(Message::Response(Response { status, reason: reason.to_string(), head, body }))
        }
    }
}

/// The typed view of the headers: every Via and Contact, the headers that must
/// appear at most once (a second, different one is an error), and the five every
/// message must carry (Via, From, To, Call-ID, CSeq: RFC 3261 §8.1.1).
fn head(headers: Vec<Header>) -> Result<Head, ParseErrorKind> {
    let mut via = Vec::new();
    let mut contact = Vec::new();
    let mut contact_star = false;
    let (mut from, mut to, mut call_id, mut cseq, mut max_forwards) = (None, None, None, None, None);
    let mut content_length: Option<usize> = None;
    for h in &headers {
        match h.name {
            HeaderName::Via => {
                for v in split_list(&h.value)? {
                    via.push(Via::parse(v)?);
                }
            }
            HeaderName::From => set_once(&mut from, NameAddr::parse(&h.value, "From")?, "From")?,
            HeaderName::To => set_once(&mut to, NameAddr::parse(&h.value, "To")?, "To")?,
            HeaderName::CallId => {
                if h.value.is_empty() || h.value.bytes().any(|c| c == b' ' || c == b'\t') {
                    return Err(ParseErrorKind::Header(HeaderError::NameAddr("Call-ID", "empty or contains whitespace")));
                }
                set_once(&mut call_id, h.value.clone(), "Call-ID")?
            }
            HeaderName::Contact if h.value == "*" => contact_star = true,
            HeaderName::Contact => {
                for c in split_list(&h.value)? {
                    contact.push(NameAddr::parse(c, "Contact")?);
                }
            }
            HeaderName::CSeq => set_once(&mut cseq, CSeq::parse(&h.value)?, "CSeq")?,
            HeaderName::MaxForwards => {
                let v = &h.value;
                let n = if !v.is_empty() && v.len() <= 10 && v.bytes().all(|c| c.is_ascii_digit()) {
                    v.parse::<u32>().ok().filter(|n| *n <= 255)
                } else {
                    None
                };
                set_once(&mut max_forwards, n.ok_or(ParseErrorKind::BadMaxForwards)?, "Max-Forwards")?
            }
            HeaderName::ContentLength => {
                let v = &h.value;
                if v.is_empty() || v.len() > 10 || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(ParseErrorKind::BadContentLength);
                }
                let n: usize = v.parse().map_err(|_| ParseErrorKind::BadContentLength)?;
                match content_length {
                    Some(old) if old != n => return Err(ParseErrorKind::ConflictingContentLength),
                    _ => content_length = Some(n),
                }
            }
            _ => {}
        }
    }
    if via.is_empty() {
        return Err(ParseErrorKind::Missing("Via"));
    }
    let from = from.ok_or(ParseErrorKind::Missing("From"))?;
    let to = to.ok_or(ParseErrorKind::Missing("To"))?;
    let call_id = call_id.ok_or(ParseErrorKind::Missing("Call-ID"))?;
    let cseq = cseq.ok_or(ParseErrorKind::Missing("CSeq"))?;
    Ok(Head { headers, via, from, to, call_id, cseq, max_forwards, content_length, contact, contact_star })
}

fn set_once<T>(slot: &mut Option<T>, v: T, name: &'static str) -> Result<(), ParseErrorKind> {
    if slot.is_some() {
        return Err(ParseErrorKind::Duplicate(name));
    }
    *slot = Some(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_is_recognised_as_the_parser_reads_it_leading_crlfs_and_all() {
        for (bytes, want) in [
            (&b"INVITE sip:112@x SIP/2.0\r\n"[..], true),
            (b"\r\n\r\nINVITE sip:112@x SIP/2.0\r\n", true),
            (b"\n\nINVITE sip:112@x SIP/2.0\r\n", true),
            (b"BYE sip:112@x SIP/2.0\r\n", false),
            (b"\r\nACK sip:112@x SIP/2.0\r\n", false),
            (b" INVITE sip:112@x SIP/2.0\r\n", false),
            (b"INVITEX", false),
            (b"\r\n\r\n", false),
            (b"", false),
        ] {
            assert_eq!(is_invite(bytes), want, "{:?}", String::from_utf8_lossy(bytes));
            if want {
                assert!(matches!(parse(bytes), Err(_) | Ok(Message::Request(Request { method: Method::Invite, .. }))));
            }
        }
    }

    const INVITE: &str = "INVITE sip:112@gw.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:112@gw.example.com;user=phone>\r\n\
From: \"Budi\" <sip:0812345@carrier.example>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:0812345@192.0.2.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\r\n";

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_an_emergency_invite() {
        let r = req(INVITE);
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri.dialed().as_deref(), Some("112"));
        assert_eq!(r.head.call_id, "a84b4c76e66710@pc33");
        assert_eq!(r.head.cseq.seq, 314159);
        assert_eq!(r.head.from.display.as_deref(), Some("Budi"));
        assert_eq!(r.head.from.tag(), Some("1928301774"));
        assert_eq!(r.head.max_forwards, Some(70));
        assert_eq!(&r.body[..], b"v=0\r", "body cut at Content-Length");
        assert_eq!(r.head.headers.len(), 9);
    }

    #[test]
    fn compact_forms_and_folding() {
        let r = req("OPTIONS tel:112 SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <tel:112>\r\ni: x\r\nCSeq: 1\r\n OPTIONS\r\nl: 0\r\n\r\n");
        assert_eq!(r.head.cseq.method, Method::Options);
        assert_eq!(r.head.content_length, Some(0));
        assert_eq!(r.head.get(&HeaderName::CSeq), Some("1 OPTIONS"));
    }

    #[test]
    fn version_and_start_line_errors() {
        let e = parse(INVITE.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::VersionNotSupported("SIP/3.0".into()));
        assert_eq!(e.status(), 505);
        assert!(e.echo.is_some());
        let e = parse(INVITE.replace("INVITE sip", "INVITE  sip").as_bytes()).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::BadStartLine(_)));
        assert_eq!(e.method, Some(Method::Invite));
    }

    #[test]
    fn content_length_rules() {
        let e = parse(INVITE.replace("Content-Length: 4", "Content-Length: 40").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::BodyTooShort { declared: 40, got: 5 });
        let e = parse(INVITE.replace("Content-Length: 4", "Content-Length: -4").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::BadContentLength);
        let e = parse(INVITE.replace("Content-Length: 4", "Content-Length: 4\r\nl: 5").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::ConflictingContentLength);
        let e = parse(INVITE.replace("Content-Length: 4", "Content-Length: four").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    }

    #[test]
    fn missing_core_headers_give_no_echo() {
        let e = parse(INVITE.replace("Call-ID: a84b4c76e66710@pc33\r\n", "").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Missing("Call-ID"));
        assert_eq!(e.echo.as_ref().map(Vec::len), Some(4), "Via and CSeq suffice to answer");
        let e = parse(INVITE.replace("CSeq: 314159 INVITE\r\n", "").as_bytes()).unwrap_err();
        assert!(e.echo.is_none(), "without CSeq the sender cannot match an answer");
        let e = parse(INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE").as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::CSeqMethodMismatch);
        let echo = e.echo.unwrap();
        assert_eq!(echo.len(), 5);
        assert_eq!(echo[0], (HeaderName::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds".into()));
    }

    #[test]
    fn responses_parse_and_are_never_echoed() {
        let m = parse(b"SIP/2.0 100 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").unwrap();
        match m {
            Message::Response(r) => assert_eq!((r.status, r.reason.as_str()), (100, "")),
            other => panic!("{other:?}"),
        }
        let e = parse(b"SIP/2.0 700 Big\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n").unwrap_err();
        assert!(e.echo.is_none());
    }

    #[test]
    fn garbage_never_panics() {
        for s in ["", "\r\n\r\n", "SIP/", "INVITE", ":", "\n\n\n", " \r\n x: y\r\n\r\n", "A b c\r\n:\r\n\r\n"] {
            assert!(parse(s.as_bytes()).is_err(), "{s:?}");
        }
        assert!(parse(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']).is_err());
    }
}
