//! Who may call the API: `Authorization: Bearer TOKEN`, hashed with SHA-256 and
//! compared with every configured hash in constant time (no early exit, no timing that
//! tells how much of a guess was right); the token's role must cover the route's.
//! The wallboard's browser presents the same token in its login cookie instead
//! (`cookie.rs`); a state-changing request carried by the cookie must not come from
//! another origin.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;
use tracing::debug;

use super::{cookie, Shared};
use crate::config::{token_sha256, HttpToken, Role};

/// The longest `Authorization` header looked at (a token is 70 characters).
const MAX_AUTHORIZATION: usize = 512;

/// The token whose hash matches `presented`'s, if any. Every hash is compared, in
/// constant time each.
pub(super) fn find<'a>(tokens: &'a [HttpToken], presented: &str) -> Option<&'a HttpToken> {
    let hash = token_sha256(presented);
    let mut found = None;
    for t in tokens {
        if bool::from(t.sha256.ct_eq(&hash)) {
            found = Some(t);
        }
    }
    found
}

/// The bearer token of an `Authorization` header value.
fn bearer(value: &HeaderValue) -> Option<&str> {
    if value.len() > MAX_AUTHORIZATION {
        return None;
    }
    let s = value.to_str().ok()?;
    let (scheme, token) = s.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Who made a request: the name and role of the token it carried, put in the
/// request's extensions for the handlers (the API's supervisor actions name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenHolder {
    /// The token's `name` in `[[http.tokens]]`.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Middleware for routes that need `role` at least: 401 without a valid token (with
/// `WWW-Authenticate: Bearer`), 403 with a token whose role is too low, or by cookie
/// from another origin; each with a JSON body `{"error": ...}`. The token comes from
/// `Authorization: Bearer`, else from the login cookie. A request let through carries a
/// [`TokenHolder`].
pub(super) async fn require(role: Role, State(shared): State<Shared>, mut req: Request, next: Next) -> Response {
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(bearer);
    let by_cookie = bearer.is_none();
    let token = bearer.or_else(|| cookie::token(req.headers()));
    if by_cookie && token.is_some() && !cookie::same_origin(req.method(), req.headers()) {
        debug!(path = %req.uri().path(), "HTTP request by cookie from another origin refused");
        return (StatusCode::FORBIDDEN, Json(json!({ "error": "cross-origin request refused" }))).into_response();
    }
    let holder = {
        let tokens = shared.tokens.borrow();
        token.and_then(|t| find(&tokens, t)).map(|t| (t.name.clone(), t.role))
    };
    match holder {
        None => {
            debug!(path = %req.uri().path(), "HTTP request without a valid token");
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(json!({ "error": "a valid token is needed: Authorization: Bearer TOKEN" }))).into_response()
        }
        Some((name, have)) if have < role => {
            debug!(path = %req.uri().path(), token = %name, "HTTP request with too low a role");
            (StatusCode::FORBIDDEN, Json(json!({ "error": format!("this needs the {} role", role.as_str()) }))).into_response()
        }
        Some((name, role)) => {
            req.extensions_mut().insert(TokenHolder { name, role });
            next.run(req).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, role: Role, secret: &str) -> HttpToken {
        HttpToken { name: name.into(), role, sha256: token_sha256(secret) }
    }

    #[test]
    fn a_token_is_found_by_its_hash_and_nothing_else_matches() {
        let tokens = [token("a", Role::Viewer, "cc112_aaa"), token("b", Role::Supervisor, "cc112_bbb")];
        assert_eq!(find(&tokens, "cc112_bbb").map(|t| t.name.as_str()), Some("b"));
        assert!(find(&tokens, "cc112_bb").is_none());
        assert!(find(&tokens, "").is_none());
        // The hash itself is not a token.
        assert!(find(&tokens, &hex::encode(token_sha256("cc112_aaa"))).is_none());
    }

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        assert_eq!(bearer(&HeaderValue::from_static("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&HeaderValue::from_static("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer ")), None);
        assert_eq!(bearer(&HeaderValue::from_str(&format!("Bearer {}", "x".repeat(600))).unwrap()), None);
    }
}
