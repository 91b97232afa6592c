//! The SIP parser (`cc112::sip::parse`) on any bytes, as a UDP datagram reaches it.
//!
//! Checks, beyond "no panic":
//! - `sip::is_invite` (how the UDP readers sort new calls into their own queue) says
//!   yes exactly when the parser reads an INVITE request line;
//! - round trip: a parsed message written back (start line, every header line as
//!   parsed, body) parses to the same message;
//! - the answer we would send to a parsed request (`Outgoing::response`, the 200 and the
//!   100) parses as a response with the request's Via, Call-ID and CSeq;
//! - a parse error's 400/505 (`Outgoing::response_raw` with the echoed lines) has one
//!   line per echoed header: nothing in a request can add a header to our answer;
//! - the SDP found in a body (`sip::body::sdp_of`) is part of that body, and an
//!   Authorization header goes through the Digest parser without a panic.
#![no_main]

use cc112::sip::body::sdp_of;
use cc112::sip::digest::{expected_response, parse_authorization};
use cc112::sip::{is_invite, parse, HeaderName, Message, Method, Outgoing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    let reads_invite = matches!(&parsed, Ok(Message::Request(r)) if r.method == Method::Invite);
    if reads_invite {
        assert!(is_invite(data), "parsed as INVITE but is_invite said no");
    }
    if is_invite(data) {
        assert!(
            parsed.is_err() || reads_invite,
            "is_invite said yes but the parser read another message"
        );
    }
    match parsed {
        Ok(message) => {
            let written = write(&message);
            let again = parse(&written);
            assert_eq!(again.as_ref(), Ok(&message), "round trip of {:?}", String::from_utf8_lossy(&written));
            if let Message::Request(req) = &message {
                check_answers(req);
                if let Ok(Some(sdp)) = sdp_of(&req.head, &req.body) {
                    assert!(sdp.len() <= req.body.len());
                }
                for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
                    for value in req.head.get_all(&name) {
                        if let Ok(c) = parse_authorization(value) {
                            let _ = expected_response(&c, req.method.as_str(), "00");
                        }
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(matches!(e.status(), 400 | 505));
            if let Some(echo) = &e.echo {
                let out = Outgoing::response_raw(e.status(), &e.to_string(), echo).to_bytes();
                let lines = out.iter().filter(|&&b| b == b'\n').count();
                // Status line, the echoed headers, Content-Length, the empty line.
                assert_eq!(lines, echo.len() + 3, "{:?}", String::from_utf8_lossy(&out));
            }
        }
    }
});

/// The wire form of a parsed message: start line, its header lines as parsed (unfolded,
/// long names), the empty line and the body.
fn write(m: &Message) -> Vec<u8> {
    let mut out = match m {
        Message::Request(r) => format!("{} {} SIP/2.0\r\n", r.method, r.uri),
        Message::Response(r) => format!("SIP/2.0 {:03} {}\r\n", r.status, r.reason),
    };
    for h in &m.head().headers {
        out.push_str(&format!("{}: {}\r\n", h.name, h.value));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    match m {
        Message::Request(r) => out.extend_from_slice(&r.body),
        Message::Response(r) => out.extend_from_slice(&r.body),
    }
    out
}

/// What the gateway answers a request with must parse, as the same transaction's answer.
fn check_answers(req: &cc112::sip::Request) {
    for status in [100, 200] {
        let out = Outgoing::response(req, status, "OK", Some("fuzz1")).to_bytes();
        let resp = match parse(&out) {
            Ok(Message::Response(r)) => r,
            other => panic!("our {status} does not parse: {other:?}\n{}", String::from_utf8_lossy(&out)),
        };
        assert_eq!(resp.status, status);
        assert_eq!(resp.head.via, req.head.via);
        assert_eq!(resp.head.call_id, req.head.call_id);
        assert_eq!(resp.head.cseq, req.head.cseq);
        assert_eq!(resp.head.from, req.head.from);
        let want_tag = match (req.head.to.tag(), status) {
            (Some(t), _) => Some(t),
            (None, 100) => None,
            (None, _) => Some("fuzz1"),
        };
        assert_eq!(resp.head.to.tag(), want_tag);
    }
}
