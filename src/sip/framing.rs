//! SIP over a byte stream (TCP, later TLS): cutting the stream into messages.
//!
//! Implements RFC 3261 §18.3 (on stream transports the Content-Length header field MUST
//! be present and alone says where the body ends) and the RFC 5626 §4.4.1 CRLF keep-alive
//! (a client pings with CRLFCRLF, the server answers with a single CRLF pong).
//!
//! This module owns only the cut: it does not parse the message, so it scans header lines
//! itself, just enough to find the end of the header section and the Content-Length. It
//! is sans-IO: the TCP task `push`es what it read and then drains [`Framer::next_frame`]
//! until it returns `Ok(None)`. Any `Err` is final: the peer's stream can no longer be
//! cut reliably, so the caller closes the connection.
//!
//! Memory is bounded by `max_message_bytes`: a header section or a whole message that
//! would exceed it is refused as soon as that is known, before it is buffered, so a
//! hostile peer can make us hold at most `max_message_bytes` plus one read.

use bytes::{Buf, Bytes, BytesMut};

/// How many bytes of an unusable Content-Length value we quote in the error: enough to
/// log what the peer sent, never a peer-controlled amount of memory.
const QUOTE_LIMIT: usize = 64;

/// One unit cut from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete SIP message: start line, headers, blank line and exactly
    /// Content-Length bytes of body. Leading CRLFs between messages are not included.
    Message(Bytes),
    /// An RFC 5626 CRLFCRLF ping received between messages: the caller answers with a
    /// single CRLF pong so the client's flow stays known-good.
    KeepAlive,
}

/// Why the stream cannot be cut any further. Every variant ends the connection: after
/// any of them we no longer know where the next message starts.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header section, or headers plus declared body, exceed the configured cap.
    #[error("SIP message larger than {limit} bytes")]
    TooLarge {
        /// The configured `max_message_bytes`.
        limit: usize,
    },
    /// RFC 3261 §18.3: on a stream transport a message without Content-Length has no end.
    #[error("SIP message on a stream transport without Content-Length")]
    MissingContentLength,
    /// The Content-Length value is not a non-negative decimal number that fits in memory.
    #[error("bad Content-Length: {0:?}")]
    BadContentLength(String),
    /// Two Content-Length headers disagree: a request-smuggling shape, never guess.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
}

/// Incremental SIP stream framer. One per connection.
#[derive(Debug)]
pub struct Framer {
    /// Received bytes not yet returned as a frame. Leading CR/LF are consumed eagerly so
    /// `buf[0]` is the first byte of a message whenever `buf` is non-empty.
    buf: BytesMut,
    /// Cap for one message (headers + body) and for the header section alone.
    max: usize,
    /// Empty lines seen since the last message; two make a keep-alive ping.
    empty_lines: u8,
    /// Where to resume the search for the blank line ending the headers, so feeding a
    /// message byte by byte stays linear instead of rescanning from the start.
    scan_from: usize,
    /// Total length (headers + body) of the message at the front, once its header
    /// section has been read; saves re-parsing headers while the body trickles in.
    pending_total: Option<usize>,
    /// The error already returned; it is repeated and further input is dropped.
    failed: Option<FrameError>,
}

impl Framer {
    /// A framer refusing any message (or header section) above `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        Framer {
            buf: BytesMut::new(),
            max: max_message_bytes,
            empty_lines: 0,
            scan_from: 0,
            pending_total: None,
            failed: None,
        }
    }

    /// Append bytes just read from the socket. Call [`Framer::next_frame`] until it
    /// returns `Ok(None)` after every push: that drain is what keeps the buffer bounded.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            // The connection is being closed; holding more of its bytes serves nobody.
            return;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that
    /// makes this stream unusable (repeated on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.cut() {
            Ok(frame) => Ok(frame),
            Err(err) => {
                self.failed = Some(err.clone());
                // Free the memory now: nothing buffered will ever be used.
                self.buf = BytesMut::new();
                self.pending_total = None;
                self.scan_from = 0;
                Err(err)
            }
        }
    }

    /// True while bytes of an unfinished message are buffered: the caller runs its
    /// slow-message timer then, so a peer cannot park half a message forever.
    /// Keep-alive CR/LF bytes alone do not count.
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|&b| b != b'\r' && b != b'\n')
    }

    /// Bytes currently held (for tests and metrics).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// The configured per-message cap.
    pub fn max_message_bytes(&self) -> usize {
        self.max
    }

    fn cut(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.pending_total.is_none() && self.scan_from == 0 {
            if let Some(frame) = self.skip_leading_empty_lines() {
                return Ok(Some(frame));
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
        }

        let total = match self.pending_total {
            Some(total) => total,
            None => {
                let Some(header_end) = self.find_header_end() else {
                    if self.buf.len() >= self.max {
                        // The blank line is not within the cap, so the headers alone
                        // already exceed it.
                        return Err(FrameError::TooLarge { limit: self.max });
                    }
                    return Ok(None);
                };
                if header_end > self.max {
                    return Err(FrameError::TooLarge { limit: self.max });
                }
                let head = self.buf.get(..header_end).unwrap_or_default();
                let body_len = content_length(head)?;
                let total = header_end
                    .checked_add(body_len)
                    .filter(|&t| t <= self.max)
                    .ok_or(FrameError::TooLarge { limit: self.max })?;
                self.pending_total = Some(total);
                total
            }
        };

        if self.buf.len() < total {
            return Ok(None);
        }
        let message = self.buf.split_to(total).freeze();
        self.pending_total = None;
        self.scan_from = 0;
        self.empty_lines = 0;
        Ok(Some(Frame::Message(message)))
    }

    /// Consume CR/LF between messages (RFC 3261 §7.5 says to ignore them). A bare CR is
    /// skipped, each LF is one empty line, and the second empty line in a row is a
    /// keep-alive. Deciding per byte makes the result independent of how TCP split it.
    fn skip_leading_empty_lines(&mut self) -> Option<Frame> {
        let mut consumed = 0;
        let mut keepalive = false;
        for &b in self.buf.iter() {
            match b {
                b'\r' => consumed += 1,
                b'\n' => {
                    consumed += 1;
                    self.empty_lines = self.empty_lines.saturating_add(1);
                    if self.empty_lines >= 2 {
                        self.empty_lines = 0;
                        keepalive = true;
                        break;
                    }
                }
                _ => {
                    // A message starts: the empty lines before it were mere padding.
                    self.empty_lines = 0;
                    break;
                }
            }
        }
        self.buf.advance(consumed);
        keepalive.then_some(Frame::KeepAlive)
    }

    /// Offset just past the blank line ending the header section, if it is buffered.
    /// A line ends with LF, optionally preceded by CR, so both CRLFCRLF and the bare
    /// LF LF some broken stacks send are accepted.
    fn find_header_end(&mut self) -> Option<usize> {
        let buf = &self.buf[..];
        let mut i = self.scan_from;
        while let Some(off) = buf
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let lf = i + off;
            match (buf.get(lf + 1), buf.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // Undecided until more bytes arrive: resume at this LF.
                    self.scan_from = lf;
                    return None;
                }
                _ => i = lf + 1,
            }
        }
        self.scan_from = buf.len();
        None
    }
}

/// The body length declared in a complete header section (`head` ends with the blank
/// line). Matches `Content-Length` and its compact form `l` case-insensitively, allows
/// whitespace before the colon and values folded onto continuation lines.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    // Skip the start line; header fields follow, each possibly folded over several lines.
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr).skip(1).peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim_ws(line.get(..colon).unwrap_or_default());
        let is_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
        // Only a Content-Length value is collected; other fields cost no allocation.
        let mut value = if is_cl {
            line.get(colon + 1..).unwrap_or_default().to_vec()
        } else {
            Vec::new()
        };
        // Continuation lines (leading SP/HTAB) belong to this field even when it is not
        // the one we want: consuming them keeps a folded line from posing as a header.
        while let Some(next) = lines.peek() {
            if matches!(next.first(), Some(b' ' | b'\t')) {
                if is_cl {
                    value.push(b' ');
                    value.extend_from_slice(next);
                }
                lines.next();
            } else {
                break;
            }
        }
        if !is_cl {
            continue;
        }
        let n = parse_length(trim_ws(&value))?;
        match found {
            Some(prev) if prev != n => return Err(FrameError::ConflictingContentLength),
            _ => found = Some(n),
        }
    }
    found.ok_or(FrameError::MissingContentLength)
}

/// `1*DIGIT` into a usize; anything else (sign, empty, junk, overflow) is refused.
fn parse_length(value: &[u8]) -> Result<usize, FrameError> {
    let bad = || {
        let quoted: String = String::from_utf8_lossy(value)
            .chars()
            .take(QUOTE_LIMIT)
            .collect();
        FrameError::BadContentLength(quoted)
    };
    if value.is_empty() {
        return Err(bad());
    }
    let mut n: usize = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(n)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer) -> Vec<Result<Frame, FrameError>> {
        let mut out = Vec::new();
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    fn one(input: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut f = Framer::new(4096);
        f.push(input);
        frames(&mut f)
    }

    fn msg(s: &str) -> Result<Frame, FrameError> {
        Ok(Frame::Message(Bytes::copy_from_slice(s.as_bytes())))
    }

    const OPTIONS: &str =
        "OPTIONS sip:112@example.net SIP/2.0\r\nCall-ID: a\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn single_message_with_body() {
        assert_eq!(one(OPTIONS.as_bytes()), vec![msg(OPTIONS)]);
    }

    #[test]
    fn compact_form_and_odd_spacing_and_case() {
        let m = "BYE sip:a SIP/2.0\r\nl :  3 \r\n\r\nabc";
        assert_eq!(one(m.as_bytes()), vec![msg(m)]);
        let m = "BYE sip:a SIP/2.0\r\nCONTENT-length\t:\t2\r\n\r\nab";
        assert_eq!(one(m.as_bytes()), vec![msg(m)]);
    }

    #[test]
    fn folded_content_length() {
        let m = "BYE sip:a SIP/2.0\r\nContent-Length:\r\n   2\r\nVia: x\r\n\r\nab";
        assert_eq!(one(m.as_bytes()), vec![msg(m)]);
    }

    #[test]
    fn bare_lf_line_endings() {
        let m = "BYE sip:a SIP/2.0\nContent-Length: 2\n\nab";
        assert_eq!(one(m.as_bytes()), vec![msg(m)]);
    }

    #[test]
    fn keepalive_and_single_crlf() {
        let input = format!("\r\n\r\n{OPTIONS}\r\n{OPTIONS}\r\n\r\n");
        assert_eq!(
            one(input.as_bytes()),
            vec![
                Ok(Frame::KeepAlive),
                msg(OPTIONS),
                msg(OPTIONS),
                Ok(Frame::KeepAlive)
            ]
        );
    }

    #[test]
    fn keepalive_split_across_pushes() {
        let mut f = Framer::new(100);
        f.push(b"\r\n");
        assert_eq!(frames(&mut f), vec![]);
        assert!(!f.has_partial());
        f.push(b"\r");
        assert_eq!(frames(&mut f), vec![]);
        f.push(b"\n");
        assert_eq!(frames(&mut f), vec![Ok(Frame::KeepAlive)]);
    }

    #[test]
    fn has_partial_tracks_unfinished_message() {
        let mut f = Framer::new(4096);
        f.push(&OPTIONS.as_bytes()[..10]);
        assert_eq!(frames(&mut f), vec![]);
        assert!(f.has_partial());
        f.push(&OPTIONS.as_bytes()[10..]);
        assert_eq!(frames(&mut f), vec![msg(OPTIONS)]);
        assert!(!f.has_partial());
    }

    #[test]
    fn missing_content_length() {
        assert_eq!(
            one(b"ACK sip:a SIP/2.0\r\nVia: x\r\n\r\n"),
            vec![Err(FrameError::MissingContentLength)]
        );
    }

    #[test]
    fn content_length_in_start_line_or_body_does_not_count() {
        assert_eq!(
            one(b"l: 5 sip:a SIP/2.0\r\nVia: x\r\n\r\n"),
            vec![Err(FrameError::MissingContentLength)]
        );
        // A continuation line of another header that looks like Content-Length.
        assert_eq!(
            one(b"ACK sip:a SIP/2.0\r\nSubject: x\r\n Content-Length: 0\r\n\r\n"),
            vec![Err(FrameError::MissingContentLength)]
        );
    }

    #[test]
    fn bad_content_length_values() {
        for v in [
            "abc",
            "-1",
            "+1",
            "",
            "1 2",
            "1x",
            "99999999999999999999999999",
            "0x10",
        ] {
            let m = format!("BYE sip:a SIP/2.0\r\nContent-Length: {v}\r\n\r\n");
            let got = one(m.as_bytes());
            assert!(
                matches!(got.as_slice(), [Err(FrameError::BadContentLength(_))]),
                "{v:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn conflicting_content_length() {
        assert_eq!(
            one(b"BYE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab"),
            vec![Err(FrameError::ConflictingContentLength)]
        );
        // The same value twice is redundant, not ambiguous.
        let m = "BYE sip:a SIP/2.0\r\nContent-Length: 2\r\nl: 02\r\n\r\nab";
        assert_eq!(one(m.as_bytes()), vec![msg(m)]);
    }

    #[test]
    fn too_large_header_section_before_buffering_it_all() {
        let mut f = Framer::new(64);
        f.push(b"INVITE sip:a SIP/2.0\r\n");
        assert_eq!(frames(&mut f), vec![]);
        f.push(&[b'X'; 50]);
        assert_eq!(
            frames(&mut f),
            vec![Err(FrameError::TooLarge { limit: 64 })]
        );
        assert_eq!(f.buffered_len(), 0);
        // Sticky, and later input is dropped.
        f.push(&[b'X'; 50]);
        assert_eq!(f.buffered_len(), 0);
        assert_eq!(f.next_frame(), Err(FrameError::TooLarge { limit: 64 }));
    }

    #[test]
    fn too_large_declared_body_refused_at_header_time() {
        let mut f = Framer::new(100);
        f.push(b"INVITE sip:a SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(
            frames(&mut f),
            vec![Err(FrameError::TooLarge { limit: 100 })]
        );
        let mut f = Framer::new(100);
        f.push(format!("INVITE sip:a SIP/2.0\r\nl: {}\r\n\r\n", usize::MAX).as_bytes());
        assert_eq!(
            frames(&mut f),
            vec![Err(FrameError::TooLarge { limit: 100 })]
        );
    }

    #[test]
    fn exactly_max_is_accepted() {
        let m = "BYE sip:a SIP/2.0\r\nl: 3\r\n\r\nabc";
        let mut f = Framer::new(m.len());
        f.push(m.as_bytes());
        assert_eq!(frames(&mut f), vec![msg(m)]);
        let mut f = Framer::new(m.len() - 1);
        f.push(m.as_bytes());
        assert_eq!(
            frames(&mut f),
            vec![Err(FrameError::TooLarge { limit: m.len() - 1 })]
        );
    }
}
