//! The wallboard's script and style, embedded in the binary (`include_str!`: no files
//! to install, no Node build step, nothing fetched from elsewhere), served at
//! `/static/wallboard.js` and `/static/wallboard.css` without a token (they hold no
//! data).
//!
//! The page names them with `?v=<hash of the content>`, so a browser may keep them a
//! year (`immutable`): a new build changes the hash and so the address. The `ETag` is
//! the same hash, for a browser that asks again anyway (`If-None-Match` → 304).

use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub(super) struct Asset {
    body: &'static str,
    content_type: &'static str,
    hash: LazyLock<String>,
}

impl Asset {
    /// The first 16 hex digits of the content's SHA-256 (computed once).
    pub fn version(&self) -> &str {
        &self.hash
    }

    /// The file, or 304 when the browser has this version.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let etag = format!("\"{}\"", self.version());
        let cached = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let common = [
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""))),
        ];
        if cached {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        (common, [(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type))], self.body).into_response()
    }
}

fn hash(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    hex::encode(digest).chars().take(16).collect()
}

/// `wallboard.js`.
pub(super) static JS: Asset = Asset {
    body: include_str!("static/wallboard.js"),
    content_type: "text/javascript; charset=utf-8",
    hash: LazyLock::new(|| hash(include_str!("static/wallboard.js"))),
};

/// `wallboard.css`.
pub(super) static CSS: Asset = Asset {
    body: include_str!("static/wallboard.css"),
    content_type: "text/css; charset=utf-8",
    hash: LazyLock::new(|| hash(include_str!("static/wallboard.css"))),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_is_cached_by_its_hash() {
        assert_eq!(JS.version().len(), 16);
        assert_ne!(JS.version(), CSS.version());
        let fresh = JS.respond(&HeaderMap::new());
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&format!("\"{}\"", JS.version())).unwrap());
        assert_eq!(JS.respond(&again).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn the_script_writes_text_only() {
        // The page's promise: caller text is inserted as text, never parsed as HTML.
        for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", ".style."] {
            assert!(!JS.body.contains(banned), "wallboard.js uses {banned}");
        }
    }
}
