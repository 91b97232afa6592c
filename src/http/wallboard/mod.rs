//! The wallboard: one page at `/` for the wall screen of the command center (and a
//! supervisor's laptop), fed by the live event stream.
//!
//! - `GET /`: with a valid login cookie, the board rendered on the server from the
//!   last snapshot (it shows the state without JavaScript); without one, the login
//!   form. `?lang=id|en` (default: `Accept-Language`, else Indonesian).
//! - `GET /api/v1/wallboard` (viewer role, by Bearer token or cookie): the same board
//!   as JSON, which the script fetches after events (at most every 500 ms) and every
//!   2 s anyway, and draws with `textContent`.
//! - `GET /static/wallboard.js`, `/static/wallboard.css`: embedded (`assets.rs`).
//! - `POST /login`, `POST /logout`: the cookie (`login.rs`).
//!
//! The board reads the engine's snapshot (never the engine), the config's names, and
//! the shift's figures from the record store at most every few seconds (`shift.rs`).
//! Every answer carries a Content-Security-Policy that allows scripts, styles and
//! connections from this origin only (no inline script, no `style` attribute, no
//! frame), `nosniff` and `no-referrer`; pages and state are `no-store` (they hold
//! caller numbers).
//!
//! Files: `board.rs` (the model), `html.rs` (the page and the form, escaped),
//! `i18n.rs` (the words), `shift.rs`, `login.rs`, `attempts.rs`, `assets.rs`,
//! `state.rs`, and `static/` (the script and the style).

mod assets;
mod attempts;
mod board;
mod html;
mod i18n;
mod login;
mod shift;
mod state;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;

use self::board::Board;
use self::i18n::Lang;
use self::state::Wall;
use super::{auth, cookie, Shared};
use crate::config::Role;

/// The Content-Security-Policy of every wallboard answer.
pub(super) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The wallboard's routes (their own state; merged into the main router).
pub(super) fn router<S: Clone + Send + Sync + 'static>(shared: Shared) -> Router<S> {
    let wall = Wall::new(shared.clone());
    let viewer = Router::new()
        .route("/api/v1/wallboard", get(state))
        .route_layer(middleware::from_fn_with_state(shared, |s, r, n| auth::require(Role::Viewer, s, r, n)));
    Router::new()
        .route("/", get(page))
        .route("/static/wallboard.js", get(|req: Request| async move { assets::JS.respond(req.headers()) }))
        .route("/static/wallboard.css", get(|req: Request| async move { assets::CSS.respond(req.headers()) }))
        .route("/login", post(login::submit))
        .route("/logout", post(login::logout))
        .merge(viewer)
        .layer(middleware::from_fn(security_headers))
        .with_state(wall)
}

/// The security headers, on every answer of the wallboard's routes.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The board now, in `lang`; `None` before the engine's first snapshot.
async fn current(wall: &Wall, lang: Lang) -> Option<Board> {
    let live = wall.shared.live.borrow().clone()?;
    let config = wall.shared.config.borrow().clone();
    let figures = wall.shift.get(&config).await;
    Some(board::build(&live.engine, &config, &figures, lang))
}

/// `GET /`: the board, or the login form without a valid cookie.
async fn page(State(wall): State<Wall>, req: Request) -> Response {
    let lang = Lang::of(req.uri(), req.headers());
    let logged_in = cookie::token(req.headers()).is_some_and(|t| auth::find(&wall.shared.tokens.borrow(), t).is_some());
    if !logged_in {
        return Html(html::login(lang, None)).into_response();
    }
    match current(&wall, lang).await {
        Some(board) => Html(html::page(&board, lang)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "starting\n").into_response(),
    }
}

/// `GET /api/v1/wallboard`: the board as JSON, built once per snapshot and language
/// for every wallboard (`state.rs`).
async fn state(State(wall): State<Wall>, req: Request) -> Response {
    let lang = Lang::of(req.uri(), req.headers());
    let Some(live) = wall.shared.live.borrow().clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "starting\n").into_response();
    };
    let config = wall.shared.config.borrow().clone();
    let figures = wall.shift.get(&config).await;
    let json = match wall.boards.get(lang, &live, &figures, &config) {
        Some(json) => json,
        None => {
            let board = board::build(&live.engine, &config, &figures, lang);
            match serde_json::to_vec(&board) {
                Ok(v) => {
                    let json = Bytes::from(v);
                    wall.boards.put(lang, live, figures, config, json.clone());
                    json
                }
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    };
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}
