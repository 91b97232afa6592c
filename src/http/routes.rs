//! The routes. Open: `/healthz` (200 `ok` while running) and `/metrics` (Prometheus;
//! counts only, no caller numbers). With a viewer token or better: `/api/v1/status`,
//! the API's reading routes (`api::viewer`) and the event stream (`sse.rs`); with a
//! supervisor token: operator control (`api::supervisor`). The wallboard's
//! (`wallboard/`): `/`, its static files, its state, the login form.
//! Every route answers from the last published [`Live`] snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::{api, auth, metrics, sse, wallboard, Live, Shared};
use crate::config::Role;

/// A handler must answer within this, or the client gets 503.
pub(super) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The router over `shared`, with the request timeout on every route.
pub(super) fn router(shared: Shared) -> Router {
    let viewer = Router::new()
        .route("/api/v1/status", get(status))
        .merge(api::viewer())
        .route_layer(middleware::from_fn_with_state(shared.clone(), |s, r, n| auth::require(Role::Viewer, s, r, n)));
    let supervisor = Router::new()
        .merge(api::supervisor())
        .route_layer(middleware::from_fn_with_state(shared.clone(), |s, r, n| auth::require(Role::Supervisor, s, r, n)));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .merge(viewer)
        .merge(supervisor)
        .merge(sse::router(shared.clone()))
        .merge(wallboard::router(shared.clone()))
        .layer(middleware::from_fn(timeout))
        .with_state(shared)
}

/// 503 for a handler that does not answer within [`REQUEST_TIMEOUT`].
async fn timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed out\n").into_response(),
    }
}

fn latest(shared: &Shared) -> Option<Arc<Live>> {
    shared.live.borrow().clone()
}

/// 200 `ok` while the gateway runs; 503 before its first snapshot and while stopping.
async fn healthz(State(shared): State<Shared>) -> Response {
    match latest(&shared) {
        Some(live) if !live.engine.draining => (StatusCode::OK, "ok\n").into_response(),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
    }
}

async fn prometheus(State(shared): State<Shared>) -> Response {
    let Some(live) = latest(&shared) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    };
    match metrics::render(&live, shared.central.as_deref()) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be written\n").into_response(),
    }
}

/// `GET /api/v1/status`: the gateway's counts now.
#[derive(Debug, Serialize)]
struct Status {
    config_version: String,
    draining: bool,
    calls_in_progress: usize,
    queues: Vec<QueueStatus>,
    /// Operators per state (`available`, `on_call`...), every state listed.
    operators: BTreeMap<&'static str, usize>,
    /// Call records waiting for the disk, and the most that may.
    records: Option<RecordsStatus>,
}

#[derive(Debug, Serialize)]
struct QueueStatus {
    id: String,
    waiting: usize,
    offering: usize,
    oldest_wait_seconds: Option<f64>,
    operators_available: usize,
}

#[derive(Debug, Serialize)]
struct RecordsStatus {
    waiting: usize,
    capacity: usize,
    full: bool,
}

async fn status(State(shared): State<Shared>) -> Response {
    let Some(live) = latest(&shared) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    };
    let e = &live.engine;
    let queues = e
        .acd
        .queues
        .iter()
        .map(|q| QueueStatus {
            id: q.id.to_string(),
            waiting: q.waiting,
            offering: q.offering,
            oldest_wait_seconds: q.longest_wait.map(|d| d.as_secs_f64()),
            operators_available: q.available,
        })
        .collect();
    let status = Status {
        config_version: e.config_version.clone(),
        draining: e.draining,
        calls_in_progress: e.calls_in_progress,
        queues,
        operators: metrics::operators_per_state(&e.acd),
        records: live.records.as_ref().map(|h| RecordsStatus { waiting: h.queue_depth, capacity: h.capacity, full: h.full }),
    };
    Json(status).into_response()
}
