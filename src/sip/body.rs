//! Finding the SDP in a request body.
//!
//! Emergency calls from NG112-capable networks carry the caller's location (RFC 6442,
//! PIDF-LO) next to the SDP in a `multipart/mixed` body; refusing those would refuse the
//! calls that carry the most information. Any other body type gets 415.

use bytes::Bytes;

use super::header::HeaderName;
use super::message::Head;

/// The body could not be used; `415 Unsupported Media Type` with `Accept: application/sdp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported body: {0}")]
pub struct UnsupportedBody(pub String);

/// The SDP offer of a request: `Ok(None)` for an empty body (we make the offer).
pub fn sdp_of(head: &Head, body: &Bytes) -> Result<Option<Bytes>, UnsupportedBody> {
    if body.is_empty() {
        return Ok(None);
    }
    if let Some(enc) = head.get(&HeaderName::ContentEncoding) {
        if !enc.trim().eq_ignore_ascii_case("identity") {
            return Err(UnsupportedBody(format!("Content-Encoding {enc}")));
        }
    }
    // RFC 3261 §20.15: a body without Content-Type is not allowed; treat it as SDP only
    // if it looks like SDP, so an old phone that forgets the header still reaches 112.
    let ct = match head.content_type() {
        Some(ct) => ct,
        None if body.starts_with(b"v=0") => return Ok(Some(body.clone())),
        None => return Err(UnsupportedBody("body without Content-Type".into())),
    };
    let (mime, params) = split_media_type(ct);
    if mime.eq_ignore_ascii_case("application/sdp") {
        return Ok(Some(body.clone()));
    }
    if mime.eq_ignore_ascii_case("multipart/mixed") || mime.eq_ignore_ascii_case("multipart/related") {
        let boundary = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim_matches('"').to_string())
            .ok_or_else(|| UnsupportedBody("multipart body without boundary".into()))?;
        return match multipart_part(body, &boundary, "application/sdp") {
            Some(sdp) => Ok(Some(sdp)),
            None => Err(UnsupportedBody("multipart body without an application/sdp part".into())),
        };
    }
    Err(UnsupportedBody(mime.to_string()))
}

fn split_media_type(ct: &str) -> (&str, Vec<(&str, &str)>) {
    let mut it = ct.split(';');
    let mime = it.next().unwrap_or_default().trim();
    let params = it.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    (mime, params)
}

/// The body of the first part whose Content-Type is `want` (RFC 2046 §5.1.1).
fn multipart_part(body: &Bytes, boundary: &str, want: &str) -> Option<Bytes> {
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let delim = format!("--{boundary}");
    let b: &[u8] = body.as_ref();
    let mut pos = find(b, delim.as_bytes(), 0)?;
    loop {
        let start = pos + delim.len();
        if b.get(start..start + 2) == Some(b"--") {
            return None; // close delimiter
        }
        let next = find(b, delim.as_bytes(), start)?;
        let part = b.get(start..next)?;
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let (head_end, body_start) = match find(part, b"\r\n\r\n", 0) {
            Some(i) => (i, i + 4),
            None if part.starts_with(b"\r\n") => (0, 2),
            None => (part.len(), part.len()),
        };
        let headers = String::from_utf8_lossy(part.get(..head_end)?);
        // Parts without Content-Type default to text/plain (RFC 2046 §5.1).
        let is_want = headers.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case("content-type") && split_media_type(v).0.eq_ignore_ascii_case(want)
            })
        });
        if is_want {
            let offset = (part.as_ptr() as usize) - (b.as_ptr() as usize) + body_start;
            let len = part.len().saturating_sub(body_start);
            return Some(body.slice(offset..offset + len));
        }
        pos = next;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Message};

    fn head_with(ct: &str, body: &str) -> (Head, Bytes) {
        let msg = format!(
            "INVITE sip:112@gw SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:112@gw>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse(msg.as_bytes()).unwrap() {
            Message::Request(r) => (r.head, r.body),
            _ => unreachable!(),
        }
    }

    #[test]
    fn plain_sdp_and_unknown_types() {
        let (h, b) = head_with("application/sdp", "v=0\r\n");
        assert_eq!(sdp_of(&h, &b).unwrap().unwrap(), Bytes::from_static(b"v=0\r\n"));
        let (h, b) = head_with("application/unknownformat", "<x/>");
        assert!(sdp_of(&h, &b).is_err());
    }

    #[test]
    fn sdp_inside_multipart_with_location() {
        let body = "--b1\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\n--b1--\r\n";
        let (h, b) = head_with("multipart/mixed; boundary=\"b1\"", body);
        let sdp = sdp_of(&h, &b).unwrap().unwrap();
        assert_eq!(&sdp[..], b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
        let (h, b) = head_with("multipart/mixed; boundary=b1", "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--");
        assert!(sdp_of(&h, &b).is_err());
        let (h, b) = head_with("multipart/mixed", "--b1--");
        assert!(sdp_of(&h, &b).is_err());
    }
}
