//! SIP requests and responses (RFC 3261 §7), and the writer for what we send.
//!
//! A parsed message keeps every header line (unfolded, in order, value verbatim) plus
//! typed copies of the few that transactions and routing read ([`Head`]). Messages we
//! send are built as text by [`Outgoing`]: the values we copy from a request (Via, From,
//! To, Call-ID, CSeq) are copied byte for byte.

use std::fmt::Write as _;

use bytes::Bytes;

use super::header::{CSeq, Header, HeaderName, NameAddr, Via};
use super::method::Method;
use super::uri::Uri;


/// The headers every SIP message must carry, typed, plus all header lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Every header line, unfolded, names canonicalised, values verbatim.
    pub headers: Vec<Header>,
    /// All Via elements, topmost first.
    pub via: Vec<Via>,
    /// The From header: the caller, with its tag (RFC 3261 §8.1.1.3).
    pub from: NameAddr,
    /// The To header; its tag is set once a dialog exists.
    pub to: NameAddr,
    /// The Call-ID, verbatim (no whitespace, never empty).
    pub call_id: String,
    /// The CSeq.
    pub cseq: CSeq,
    /// Max-Forwards (0-255); `None` when absent.
    pub max_forwards: Option<u32>,
    /// Content-Length in bytes; `None` when absent (then the body is the rest of a
    /// UDP datagram; framing on TCP requires it).
    pub content_length: Option<usize>,
    /// Contact elements (REGISTER bindings, the remote target of a dialog).
    pub contact: Vec<NameAddr>,
    /// `Contact: *` (only meaningful in a REGISTER with Expires: 0).
    pub contact_star: bool,
}

impl Head {
    /// First value of a header, if present.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.headers.iter().find(|h| &h.name == name).map(|h| h.value.as_str())
    }

    /// All values of a header, in order (each line as one value; not split at commas).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |h| &h.name == name).map(|h| h.value.as_str())
    }

    /// The comma-separated elements of every line of a header (`Require: a, b` and two
    /// `Require:` lines read the same), trimmed, empty ones skipped.
    pub fn list(&self, name: &HeaderName) -> Vec<String> {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The topmost Via: the previous hop, where responses go (RFC 3261 §18.2.2).
    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    /// The Content-Type value as received (`application/sdp`...).
    pub fn content_type(&self) -> Option<&str> {
        self.get(&HeaderName::ContentType)
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// From the request line; always equal to the CSeq method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers.
    pub head: Head,
    /// The body, `Content-Length` bytes (empty when none).
    pub body: Bytes,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100-699.
    pub status: u16,
    /// The reason phrase as received (may be empty).
    pub reason: String,
    /// The headers.
    pub head: Head,
    /// The body, `Content-Length` bytes (empty when none).
    pub body: Bytes,
}

/// What [`parse`](super::parse::parse) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The headers, whichever kind of message this is.
    pub fn head(&self) -> &Head {
        match self {
            Message::Request(r) => &r.head,
            Message::Response(r) => &r.head,
        }
    }
}

/// Default reason phrases for the statuses we send.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Unknown",
    }
}

/// A message we send, assembled as text. Header values are written exactly as given.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    start: String,
    headers: Vec<(String, String)>,
    body: Option<(String, Bytes)>,
}

impl Outgoing {
    /// A response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied
    /// verbatim; `to_tag` is added to To if the request's To has none.
    pub fn response(req: &Request, status: u16, reason: &str, to_tag: Option<&str>) -> Outgoing {
        let mut o = Outgoing::status_line(status, reason);
        for h in &req.head.headers {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    o.headers.push((h.name.as_str().to_string(), h.value.clone()))
                }
                // A response that makes a dialog carries the proxies' Record-Route
                // (§12.1.1), so the caller's in-dialog requests pass them too.
                HeaderName::RecordRoute if req.method == super::Method::Invite && (101..300).contains(&status) => {
                    o.headers.push(("Record-Route".to_string(), h.value.clone()))
                }
                HeaderName::To => {
                    let v = match (to_tag, req.head.to.tag()) {
                        (Some(t), None) if status > 100 => format!("{};tag={t}", h.value),
                        _ => h.value.clone(),
                    };
                    o.headers.push(("To".to_string(), v));
                }
                _ => {}
            }
        }
        o
    }

    /// A response built from raw header values, for requests too broken to parse whole
    /// (the 400 of a malformed request echoes what it can).
    pub fn response_raw(status: u16, reason: &str, echo: &[(HeaderName, String)]) -> Outgoing {
        let mut o = Outgoing::status_line(status, reason);
        for (n, v) in echo {
            o.headers.push((n.as_str().to_string(), v.clone()));
        }
        o
    }

    fn status_line(status: u16, reason: &str) -> Outgoing {
        // A reason phrase must not break the status line.
        let reason: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        Outgoing { start: format!("SIP/2.0 {status} {reason}"), ..Default::default() }
    }

    /// A request line: `METHOD uri SIP/2.0`.
    pub fn request(method: &Method, uri: &str) -> Outgoing {
        Outgoing { start: format!("{method} {uri} SIP/2.0"), ..Default::default() }
    }

    /// Appends a header line (builder form).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Outgoing {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends a header line.
    pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Sets the body; Content-Type and Content-Length are written from it.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Outgoing {
        self.body = Some((content_type.to_string(), body.into()));
        self
    }

    /// The wire form, with Content-Length always set (mandatory on TCP, harmless on UDP).
    pub fn to_bytes(&self) -> Bytes {
        let body_len = self.body.as_ref().map_or(0, |(_, b)| b.len());
        let mut s = String::with_capacity(256 + self.headers.len() * 48 + body_len);
        s.push_str(&self.start);
        s.push_str("\r\n");
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        if let Some((ct, _)) = &self.body {
            let _ = write!(s, "Content-Type: {ct}\r\n");
        }
        let _ = write!(s, "Content-Length: {body_len}\r\n\r\n");
        let mut out = s.into_bytes();
        if let Some((_, b)) = &self.body {
            out.extend_from_slice(b);
        }
        Bytes::from(out)
    }
}
