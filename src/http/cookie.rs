//! The wallboard's login cookie, and the cross-site checks that go with it.
//!
//! The cookie holds the API token itself (`cc112_token`), `HttpOnly` (no script reads
//! it), `SameSite=Strict` (no other site's page sends it), `Path=/`. Holding the token
//! rather than a session id keeps the server stateless: no session table to bound or
//! expire, and a token taken out of the config stops every browser that logged in with
//! it at the reload, as it stops the API. The price: the token sits in the browser's
//! cookie store for [`MAX_AGE`]; a wall screen is a trusted machine of the center.
//!
//! `Secure` is not set: the server speaks plain HTTP (on 127.0.0.1 by default, or behind
//! a TLS proxy), and a browser drops a `Secure` cookie received over plain HTTP from
//! anything but localhost. Behind a TLS proxy, the proxy should add it.
//!
//! Cross-site requests: `SameSite=Strict` keeps the cookie off requests started by
//! other sites; on top of it, a state-changing request (anything but GET and HEAD)
//! must say it comes from our own origin. Browsers say so in `Sec-Fetch-Site`
//! (`same-origin`, or `none` for one the user started); a browser without it is
//! judged by `Origin`, which must then be absent or name the `Host` the request was
//! sent to. (`Origin` alone is not enough: under our `Referrer-Policy: no-referrer`,
//! Chromium sends `Origin: null` with the page's own form posts.)

use axum::http::{header, HeaderMap, HeaderValue, Method};

/// The cookie's name.
pub(super) const NAME: &str = "cc112_token";
/// How long a browser keeps the login: a week (a wall screen left on over a weekend).
pub(super) const MAX_AGE: u32 = 7 * 24 * 3600;
/// Longest `Cookie` header looked at.
const MAX_COOKIE_HEADER: usize = 4096;

/// The token in the request's `cc112_token` cookie, if any.
pub(super) fn token(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter(|v| v.len() <= MAX_COOKIE_HEADER).filter_map(|v| v.to_str().ok()).find_map(find_in)
}

/// The value of our cookie in one `Cookie` header value (`a=b; cc112_token=...`).
fn find_in(header: &str) -> Option<&str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(name, _)| *name == NAME).map(|(_, v)| v.trim().trim_matches('"')).filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that logs a browser in with `token` (the caller checked it:
/// a valid token is printable ASCII without `;`).
pub(super) fn login(token: &str) -> Option<HeaderValue> {
    if !token.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'"' && b != b'\\') {
        return None;
    }
    HeaderValue::from_str(&format!("{NAME}={token}; Max-Age={MAX_AGE}; Path=/; HttpOnly; SameSite=Strict")).ok()
}

/// The `Set-Cookie` value that logs a browser out.
pub(super) fn logout() -> HeaderValue {
    HeaderValue::from_static("cc112_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict")
}

/// Whether a request may change state on the strength of a cookie: a safe method;
/// else `Sec-Fetch-Site: same-origin` (or `none`); else, from a browser that does not
/// send it, no `Origin`, or an `Origin` naming the host the request was sent to.
pub(super) fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) => o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")).is_some_and(|rest| rest.eq_ignore_ascii_case(h)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        assert_eq!(token(&headers(&[("cookie", "a=b; cc112_token=cc112_xyz; c=d")])), Some("cc112_xyz"));
        assert_eq!(token(&headers(&[("cookie", "a=b"), ("cookie", "cc112_token=t")])), Some("t"));
        assert_eq!(token(&headers(&[("cookie", "xcc112_token=t; cc112_token=")])), None);
        assert_eq!(token(&headers(&[])), None);
    }

    #[test]
    fn the_login_cookie_is_http_only_and_strict_and_refuses_odd_tokens() {
        let v = login("cc112_abc").unwrap();
        assert_eq!(v.to_str().unwrap(), "cc112_token=cc112_abc; Max-Age=604800; Path=/; HttpOnly; SameSite=Strict");
        assert!(login("a; Domain=evil").is_none());
        assert!(login("a\r\nX: y").is_none());
        assert!(logout().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn a_post_must_come_from_our_own_origin_when_it_names_one() {
        let post = Method::POST;
        assert!(same_origin(&post, &headers(&[("host", "127.0.0.1:8112")])));
        assert!(same_origin(&post, &headers(&[("host", "127.0.0.1:8112"), ("origin", "http://127.0.0.1:8112")])));
        assert!(!same_origin(&post, &headers(&[("host", "127.0.0.1:8112"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&post, &headers(&[("host", "127.0.0.1:8112"), ("origin", "null")])));
        assert!(!same_origin(&post, &headers(&[("origin", "http://127.0.0.1:8112")])));
        assert!(same_origin(&Method::GET, &headers(&[("host", "a"), ("origin", "http://b")])));
        // A browser that says where the request comes from is believed first.
        assert!(same_origin(&post, &headers(&[("host", "a"), ("origin", "null"), ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&post, &headers(&[("host", "a"), ("origin", "http://a"), ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&post, &headers(&[("host", "a"), ("sec-fetch-site", "same-site")])));
    }
}
