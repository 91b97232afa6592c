//! `POST /login` and `POST /logout`: the wallboard's token, asked once and kept in the
//! login cookie (`cookie.rs` says why the cookie holds the token and how cross-site
//! requests are refused).
//!
//! The form's body is read up to [`MAX_FORM`] bytes (413 past it). A wrong token gets
//! 401, the form again, and no cookie. Failed attempts are counted per peer address
//! (`attempts.rs`): past [`MAX_FAILURES`](super::attempts::MAX_FAILURES) a minute, 429.

use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tracing::{info, warn};

use super::html;
use super::i18n::Lang;
use super::state::Wall;
use crate::http::auth;
use crate::http::conn::Conn;
use crate::http::cookie;

/// The most a login form's body may hold.
pub(super) const MAX_FORM: usize = 1024;

fn form_page(status: StatusCode, lang: Lang, error: Option<&str>) -> Response {
    (status, Html(html::login(lang, error))).into_response()
}

fn to_board(lang: Lang, cookie: HeaderValue) -> Response {
    let location = HeaderValue::from_static(if lang == Lang::En { "/?lang=en" } else { "/?lang=id" });
    (StatusCode::SEE_OTHER, [(header::LOCATION, location), (header::SET_COOKIE, cookie)]).into_response()
}

/// `POST /login`, form-encoded `token=...`.
pub(super) async fn submit(State(wall): State<Wall>, req: Request) -> Response {
    let lang = Lang::of(req.uri(), req.headers());
    if !cookie::same_origin(req.method(), req.headers()) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
    }
    let ip = req.extensions().get::<Conn>().map(|c| c.remote.ip());
    let now = Instant::now();
    if let Some(ip) = ip {
        if !wall.attempts.allowed(ip, now) {
            warn!(%ip, "wallboard login refused: too many failed attempts");
            return form_page(StatusCode::TOO_MANY_REQUESTS, lang, Some(lang.labels().too_many));
        }
    }
    let Ok(body) = to_bytes(req.into_body(), MAX_FORM).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the login form is too large\n").into_response();
    };
    let token = form_urlencoded::parse(&body).find(|(k, _)| k == "token").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let holder = {
        let tokens = wall.shared.tokens.borrow();
        auth::find(&tokens, &token).map(|t| t.name.clone())
    };
    match (holder, cookie::login(&token)) {
        (Some(name), Some(set)) => {
            info!(token = %name, ip = ?ip, "wallboard login");
            to_board(lang, set)
        }
        _ => {
            if let Some(ip) = ip {
                wall.attempts.failed(ip, now);
            }
            warn!(ip = ?ip, "wallboard login with a wrong token");
            form_page(StatusCode::UNAUTHORIZED, lang, Some(lang.labels().wrong_token))
        }
    }
}

/// `POST /logout`: the cookie cleared, back to the form.
pub(super) async fn logout(req: Request) -> Response {
    if !cookie::same_origin(req.method(), req.headers()) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
    }
    let lang = Lang::of(req.uri(), req.headers());
    to_board(lang, cookie::logout())
}
