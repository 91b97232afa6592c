//! The user agent server's checks (RFC 3261 §8.2): what every request must pass before
//! it reaches a call, and what makes an INVITE an emergency call.
//!
//! Pure functions of the request and the configuration, so the order of the checks (it
//! matters: RFC 4475's torture tests expect the method before the scheme before Require)
//! is readable in one place and testable without an engine. It also owns the one piece
//! of state the checks need: a limit on log lines for bad input, so that a flood of
//! garbage costs one line per source per second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::warn;

use super::output::{CallEvent, CallEventKind, Effects, EndReason, Output, Stats};
use crate::call::CallId;
use crate::config::Config;
use crate::sink::printable;
use crate::sip::body::sdp_of;
use crate::sip::{HeaderName, Method, Outgoing, ParseError, Peer, Request, Uri, UriKind};

/// The methods we implement, as sent in Allow.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

/// Why a request is refused before anything else looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 501: a method we have never heard of.
    UnknownMethod,
    /// 405: a method we know but do not take (PRACK, UPDATE, SUBSCRIBE...).
    MethodNotAllowed,
    /// 416: neither sip, sips, tel nor urn.
    UriScheme,
    /// 420: the request requires extensions we do not support (listed).
    Require(String),
    /// 415: an INVITE body that is not SDP.
    Body,
    /// 503: the gateway is draining; the carrier should try another at once (the
    /// Retry-After in seconds: `[overload] retry_after`).
    ShuttingDown(u64),
    /// 406: the caller's Accept excludes SDP, so it cannot take our answer.
    NotAcceptable,
    /// 404: the Request-URI is no configured emergency identity.
    NotEmergency,
    /// 488: an offer we cannot answer, with its Warning ([`offer_refusal`]); counted
    /// when no codec is in common.
    Offer { warning: &'static str, no_common_codec: bool },
    /// 500: a re-INVITE while ours still awaits its ACK (RFC 3261 §14.2).
    Pending,
    /// 503: no RTP port can be opened at all.
    NoMediaPort,
}

impl Refusal {
    /// Counted in the stats (those a monitor watches).
    pub(crate) fn count(&self, stats: &mut Stats) {
        match self {
            Refusal::ShuttingDown(_) => stats.refused_shutting_down += 1,
            Refusal::NotEmergency => stats.not_emergency += 1,
            Refusal::Offer { no_common_codec: true, .. } => stats.no_common_codec += 1,
            Refusal::NoMediaPort => stats.no_media_port += 1,
            _ => {}
        }
    }

    /// Status, reason phrase and extra headers of the response.
    pub(crate) fn answer(&self) -> (u16, &'static str, Vec<(&'static str, String)>) {
        match self {
            Refusal::UnknownMethod => (501, "Not Implemented", vec![("Allow", ALLOW.into())]),
            Refusal::MethodNotAllowed => (405, "Method Not Allowed", vec![("Allow", ALLOW.into())]),
            Refusal::UriScheme => (416, "Unsupported URI Scheme", Vec::new()),
            Refusal::Require(tags) => (420, "Bad Extension", vec![("Unsupported", tags.clone())]),
            Refusal::Body => (415, "Unsupported Media Type", vec![("Accept", "application/sdp".into())]),
            Refusal::ShuttingDown(secs) => (503, "Shutting down", vec![("Retry-After", secs.to_string())]),
            Refusal::NotAcceptable => (406, "Not Acceptable", vec![("Accept", "application/sdp".into())]),
            Refusal::NotEmergency => (404, "Not an emergency number", Vec::new()),
            Refusal::Offer { warning, .. } => (488, "Not Acceptable Here", vec![("Warning", warning.to_string())]),
            Refusal::Pending => (500, "Previous INVITE still pending", vec![("Retry-After", "1".into())]),
            Refusal::NoMediaPort => (503, "No media port available", vec![("Retry-After", "5".into())]),
        }
    }
}

/// An INVITE outside a dialog that passed every check: the emergency identity it
/// names and the SDP offer it carries (`None`: we make the offer in our 200).
pub(crate) struct Screened {
    pub(crate) identity: String,
    pub(crate) offer: Option<Bytes>,
}

/// Method first: unknown methods get 501, known ones we do not take 405.
pub(crate) fn check_method(method: &Method) -> Result<(), Refusal> {
    match method {
        Method::Other(_) => Err(Refusal::UnknownMethod),
        Method::Invite | Method::Cancel | Method::Bye | Method::Options | Method::Info | Method::Register => Ok(()),
        _ => Err(Refusal::MethodNotAllowed),
    }
}

/// Then the Request-URI scheme and Require (RFC 3261 §8.2.1–8.2.2); CANCEL is exempt
/// from Require (§9.2).
pub(crate) fn check_scheme_and_require(req: &Request) -> Result<(), Refusal> {
    if let UriKind::Other { .. } = req.uri.kind() {
        return Err(Refusal::UriScheme);
    }
    let require = req.head.list(&HeaderName::Require);
    if !require.is_empty() && req.method != Method::Cancel {
        return Err(Refusal::Require(require.join(", ")));
    }
    Ok(())
}

/// A new INVITE: scheme, Require, body, draining, Accept, emergency identity, in that
/// order. Admission and codecs come after, in the engine.
pub(crate) fn screen_invite(req: &Request, config: &Config, draining: bool) -> Result<Screened, Refusal> {
    check_scheme_and_require(req)?;
    let offer = sdp_of(&req.head, &req.body).map_err(|e| {
        tracing::debug!(%e, "INVITE body refused");
        Refusal::Body
    })?;
    if draining {
        return Err(Refusal::ShuttingDown(config.overload.retry_after.as_secs().max(1)));
    }
    if !accepts_sdp(req) {
        return Err(Refusal::NotAcceptable);
    }
    let identity = match_emergency(config, &req.uri).ok_or_else(|| {
        tracing::debug!(uri = %req.uri, "INVITE to a non-emergency identity");
        Refusal::NotEmergency
    })?;
    Ok(Screened { identity, offer })
}

/// The configured emergency identity a Request-URI names, exactly: `112` but not
/// `1120`, `0112` or `112a`.
pub(crate) fn match_emergency(config: &Config, uri: &Uri) -> Option<String> {
    let em = &config.emergency;
    let number = |n: &str| em.numbers.iter().find(|e| e.number == n).map(|e| e.number.clone());
    match uri.kind() {
        UriKind::Sip(s) => {
            let user = s.user_unescaped()?;
            // With user=phone the user part is a telephone-subscriber that may carry
            // its own parameters (RFC 3261 §19.1.1): `112;phone-context=+62`.
            let user = if s.param("user").and_then(|p| p.value.as_deref()) == Some("phone") {
                user.split(';').next().unwrap_or_default().to_string()
            } else {
                user
            };
            number(&user)
        }
        UriKind::Tel(t) => number(&t.number),
        UriKind::Urn(_) => {
            let full = uri.dialed()?;
            em.service_urns
                .iter()
                .find(|s| full == **s || full.strip_prefix(s.as_str()).is_some_and(|r| r.starts_with('.')))
                .map(|_| full)
        }
        UriKind::Other { .. } => None,
    }
}

/// An offer we cannot answer: 488 with its Warning (logged).
pub(crate) fn offer_refusal(e: &crate::media::sdp::SdpError) -> Refusal {
    tracing::info!(%e, "INVITE offer refused");
    Refusal::Offer { warning: offer_warning(e), no_common_codec: matches!(e, crate::media::sdp::SdpError::NoCommonCodec { .. }) }
}

/// The Warning (RFC 3261 §20.43) of a 488 for an offer we cannot answer.
fn offer_warning(e: &crate::media::sdp::SdpError) -> &'static str {
    use crate::media::sdp::SdpError;
    match e {
        SdpError::NoCommonCodec { .. } => "305 cc112 \"Incompatible media format: no codec in common\"",
        SdpError::NoAudio => "304 cc112 \"Media type not available: audio required\"",
        SdpError::Malformed(_) => "399 cc112 \"Malformed SDP\"",
    }
}

/// The events of an INVITE refused with 488 for want of a common codec: a call record
/// that starts and ends at once, outcome `rejected`, reason `no common codec`, with the
/// codecs offered and the caller's number, so the shift can call the person back. The
/// refusal is already bounded by admission (it runs first), so a flood of such offers
/// writes no more records than a flood of calls would.
pub(crate) fn codec_refusal(call: CallId, started: CallEventKind, req: &Request, offered: &str, fx: &mut Effects) {
    let sip_call_id = req.head.call_id.clone();
    let offered = sanitize_offered(offered);
    for kind in [started, CallEventKind::NoCommonCodec { offered }, CallEventKind::Ended { reason: EndReason::NoCommonCodec }] {
        fx.out.push_back(Output::Event(CallEvent { call, sip_call_id: sip_call_id.clone(), kind }));
    }
}

/// Longest description of an offer kept in a record.
const MAX_OFFERED: usize = 160;

/// The offer's description as recorded: at most [`MAX_OFFERED`] characters, each a
/// printable ASCII character (anything else, from a hostile or broken peer, becomes
/// `?`), so it is safe in a log line and needs only the usual escaping elsewhere.
pub(crate) fn sanitize_offered(offered: &str) -> String {
    offered
        .chars()
        .take(MAX_OFFERED)
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect()
}

/// What OPTIONS answers: carriers and monitors probe us with it.
pub(crate) fn capabilities() -> Vec<(&'static str, String)> {
    vec![
        ("Allow", ALLOW.into()),
        ("Accept", "application/sdp".into()),
        ("Accept-Encoding", "identity".into()),
        ("Supported", String::new()),
    ]
}

/// RFC 3261 §20.1: an Accept that excludes SDP means the caller cannot take our answer.
fn accepts_sdp(req: &Request) -> bool {
    let accept = req.head.list(&HeaderName::Accept);
    if req.head.get(&HeaderName::Accept).is_none() {
        return true;
    }
    accept.iter().any(|a| {
        let mime = a.split(';').next().unwrap_or_default().trim();
        ["application/sdp", "application/*", "*/*"].iter().any(|m| mime.eq_ignore_ascii_case(m))
    })
}

/// A DTMF digit from a SIP INFO body (`Signal=5` in application/dtmf-relay, or the bare
/// digit in application/dtmf).
pub(crate) fn info_digit(req: &Request) -> Option<char> {
    let ct = req.head.content_type()?.split(';').next()?.trim().to_ascii_lowercase();
    let body = std::str::from_utf8(&req.body).ok()?;
    let raw = match ct.as_str() {
        "application/dtmf-relay" => body
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
            .map(|(_, v)| v.trim())?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = raw.chars();
    let c = chars.next()?.to_ascii_uppercase();
    let c = match (c, raw) {
        (_, "10") => '*',
        (_, "11") => '#',
        (c, _) if chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) => c,
        _ => return None,
    };
    Some(c)
}

/// What became of a message that did not parse.
pub(crate) enum Unparsed {
    /// A request with enough headers to answer: a 400 (or 505...) naming the problem.
    Answered(Bytes),
    /// Anything else: dropped, never answered.
    Dropped,
}

/// Sources remembered for the log limit.
const MAX_SOURCES: usize = 4096;

/// Bad input: answered when it can be, logged at most once a second per source.
pub(crate) struct BadInput {
    last: HashMap<IpAddr, Instant>,
}

impl BadInput {
    pub(crate) fn new() -> BadInput {
        BadInput { last: HashMap::new() }
    }

    /// A message that did not parse, from `peer`.
    pub(crate) fn handle(&mut self, now: Instant, peer: Peer, e: &ParseError, server: &str) -> Unparsed {
        let log = self.allow(now, peer.remote.ip());
        // The error quotes what was sent (a host, a version): escaped in the log line (the
        // status line makes its reason phrase safe itself, `Outgoing::response_raw`).
        let error = e.to_string();
        let error = printable(&error);
        match (&e.echo, &e.method) {
            (Some(echo), m) if *m != Some(Method::Ack) => {
                if log {
                    warn!(remote = %peer.remote, %error, "malformed request answered {}", e.status());
                }
                let reason = e.kind.to_string();
                Unparsed::Answered(Outgoing::response_raw(e.status(), &reason, echo).header("Server", server.to_string()).to_bytes())
            }
            _ => {
                if log {
                    warn!(remote = %peer.remote, %error, "malformed message dropped");
                }
                Unparsed::Dropped
            }
        }
    }

    /// A message that did not parse, from `peer`: answered (a 400 naming the problem)
    /// or dropped, and counted.
    pub(crate) fn answer(&mut self, now: Instant, peer: Peer, e: &ParseError, server: &str, stats: &mut Stats, fx: &mut Effects) {
        match self.handle(now, peer, e, server) {
            Unparsed::Answered(bytes) => {
                stats.malformed_answered += 1;
                fx.out.push_back(Output::Send { peer, bytes });
            }
            Unparsed::Dropped => stats.malformed_dropped += 1,
        }
    }

    /// At most one log line per source address per second; the table is bounded.
    fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.last.len() >= MAX_SOURCES {
            self.last.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(1));
        }
        match self.last.get(&ip) {
            Some(t) if now.saturating_duration_since(*t) < Duration::from_secs(1) => false,
            // More sources than that within one second (a spoofed flood): the newcomers
            // are not logged, and the table does not grow.
            None if self.last.len() >= MAX_SOURCES => false,
            _ => {
                self.last.insert(ip, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Message};

    fn request(text: &str) -> Request {
        match parse(text.replace('\n', "\r\n").as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn invite(uri: &str, extra: &str) -> Request {
        request(&format!(
            "INVITE {uri} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom: <sip:0812@127.0.0.1>;tag=a\nTo: <{uri}>\nCall-ID: x\nCSeq: 1 INVITE\n{extra}Content-Length: 0\n\n"
        ))
    }

    #[test]
    fn the_checks_come_in_the_order_rfc_3261_gives_them() {
        let config = Config::embedded_default().unwrap();
        let refuse = |r: &Request, draining| screen_invite(r, &config, draining).err();
        assert_eq!(refuse(&invite("sip:112@127.0.0.1", ""), false), None);
        assert_eq!(refuse(&invite("mailto:112@x", "Require: foo\n"), false), Some(Refusal::UriScheme));
        assert_eq!(refuse(&invite("sip:112@127.0.0.1", "Require: foo\n"), true), Some(Refusal::Require("foo".into())));
        assert_eq!(refuse(&invite("sip:999@127.0.0.1", ""), true), Some(Refusal::ShuttingDown(10)));
        assert_eq!(refuse(&invite("sip:999@127.0.0.1", "Accept: text/plain\n"), false), Some(Refusal::NotAcceptable));
        assert_eq!(refuse(&invite("sip:1120@127.0.0.1", ""), false), Some(Refusal::NotEmergency));
        assert_eq!(check_method(&Method::Other("FOO".into())), Err(Refusal::UnknownMethod));
        assert_eq!(check_method(&Method::Prack), Err(Refusal::MethodNotAllowed));
    }

    #[test]
    fn emergency_identities_match_exactly() {
        let config = Config::embedded_default().unwrap();
        let id = |u: &str| match_emergency(&config, &invite(u, "").uri);
        assert_eq!(id("sip:112@127.0.0.1").as_deref(), Some("112"));
        assert_eq!(id("sip:112;phone-context=+62@127.0.0.1;user=phone").as_deref(), Some("112"));
        assert_eq!(id("tel:118").as_deref(), Some("118"));
        assert_eq!(id("urn:service:sos.fire").as_deref(), Some("urn:service:sos.fire"));
        assert_eq!(id("sip:0112@127.0.0.1"), None);
        assert_eq!(id("urn:service:sosx"), None);
    }

    #[test]
    fn what_a_malformed_request_quotes_cannot_break_our_status_line() {
        use crate::sip::{HeaderName, ParseErrorKind};
        let e = ParseError {
            kind: ParseErrorKind::VersionNotSupported("SIP/3.0\r\nX-Evil: 1".into()),
            method: Some(Method::Options),
            echo: Some(vec![(HeaderName::CallId, "x".into()), (HeaderName::CSeq, "1 OPTIONS".into())]),
        };
        let peer = Peer { transport: crate::sip::Transport::Udp, remote: "192.0.2.1:5060".parse().unwrap(), local: "127.0.0.1:5060".parse().unwrap(), conn: None };
        let Unparsed::Answered(bytes) = BadInput::new().handle(Instant::now(), peer, &e, "cc112") else { panic!("answered") };
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("SIP/2.0 505 "), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("X-Evil")), "{text}");
    }

    #[test]
    fn bad_input_is_logged_once_a_second_per_source_and_the_table_stays_bounded() {
        let mut b = BadInput::new();
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        assert!(b.allow(t0, ip));
        assert!(!b.allow(t0 + Duration::from_millis(500), ip));
        assert!(b.allow(t0 + Duration::from_secs(1), ip));
        for i in 0..10_000u32 {
            b.allow(t0 + Duration::from_secs(5), IpAddr::from(i.to_be_bytes()));
        }
        assert!(b.last.len() <= MAX_SOURCES);
    }
}
