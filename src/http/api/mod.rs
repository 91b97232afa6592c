//! The JSON API under `/api/v1` (issue 15), for desk applications and scripts.
//!
//! Reading (viewer role): the call records as `cc112 calls list|show` and `cc112
//! report --json` give them, read from the store read-only per request on a blocking
//! thread (`calls.rs`); the queues with their waiting callers and the operators with
//! their calls, from the last published snapshot, never from the engine (`live.rs`);
//! the OpenAPI description, generated from the handlers and types here by `utoipa`.
//! Acting (supervisor role): pause, resume and log out an operator through the engine's
//! command entry point, the control socket's, naming the token in the log and in the
//! operator's history (`control.rs`). The callback worklist: read (viewer), and call
//! back, claim, close (supervisor) (`callbacks.rs`).
//!
//! Every answer is JSON, errors `{"error": "..."}`: 400 for a bad parameter, 404 for
//! nothing by that id, 409 for a command the engine refused, 503 before the first
//! snapshot or without call records. Text from SIP leaves only through serde_json
//! (escaped as JSON strings). Parameters are bounded before use (`params.rs`). The
//! error answer and the two sources every handler reads are in `common.rs`.

mod callbacks;
mod calls;
mod common;
mod control;
mod live;
mod params;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::Shared;
use common::ApiError;

/// The largest request body accepted (a pause reason is at most 200 characters).
const MAX_BODY: usize = 4 * 1024;

/// The routes a viewer token may use.
pub(super) fn viewer() -> Router<Shared> {
    Router::new()
        .route("/api/v1/calls", get(calls::list))
        .route("/api/v1/calls/{id}", get(calls::show))
        .route("/api/v1/report", get(calls::report))
        .route("/api/v1/operator-events", get(calls::operator_events))
        .route("/api/v1/queues", get(live::queues))
        .route("/api/v1/operators", get(live::operators))
        .route("/api/v1/callbacks", get(callbacks::list))
        .route("/api/v1/openapi.json", get(openapi))
}

/// The routes that need a supervisor token.
pub(super) fn supervisor() -> Router<Shared> {
    Router::new()
        .route("/api/v1/operators/{id}/pause", post(control::pause))
        .route("/api/v1/operators/{id}/resume", post(control::resume))
        .route("/api/v1/operators/{id}/logout", post(control::logout))
        .route("/api/v1/callbacks/{id}/call", post(callbacks::call))
        .route("/api/v1/callbacks/{id}/claim", post(callbacks::claim))
        .route("/api/v1/callbacks/{id}/done", post(callbacks::done))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Adds the bearer-token scheme the routes require.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI description, from the handlers' `#[utoipa::path]` and the types'
/// `ToSchema`.
#[derive(OpenApi)]
#[openapi(
    info(title = "cc112 API", description = "Call records, the shift report, queues and operators of a cc112 gateway; operator control for supervisors. Every route needs `Authorization: Bearer TOKEN` (`cc112 http-token NAME`)."),
    paths(calls::list, calls::show, calls::report, calls::operator_events, live::queues, live::operators, control::pause, control::resume, control::logout, callbacks::list, callbacks::call, callbacks::claim, callbacks::done, openapi),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub(super) struct ApiDoc;

/// The description as JSON (built once per request: it is small and requests for it
/// are rare).
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "meta",
    responses((status = 200, description = "This OpenAPI 3 description", content_type = "application/json")))]
async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the description could not be written: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the routers serve, with its method.
    pub(crate) const ROUTES: [(&str, &str); 14] = [
        ("get", "/api/v1/calls"),
        ("get", "/api/v1/calls/{id}"),
        ("get", "/api/v1/report"),
        ("get", "/api/v1/operator-events"),
        ("get", "/api/v1/queues"),
        ("get", "/api/v1/operators"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/operators/{id}/pause"),
        ("post", "/api/v1/operators/{id}/resume"),
        ("post", "/api/v1/operators/{id}/logout"),
        ("get", "/api/v1/callbacks"),
        ("post", "/api/v1/callbacks/{id}/call"),
        ("post", "/api/v1/callbacks/{id}/claim"),
        ("post", "/api/v1/callbacks/{id}/done"),
    ];

    #[test]
    fn the_description_parses_and_lists_every_route_with_its_schemas() {
        let text = ApiDoc::openapi().to_json().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        if std::env::var_os("CC112_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
        }
        let n: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(n, ROUTES.len(), "the description lists a route the routers do not serve");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for s in ["CallPage", "CallTimeline", "Report", "Queue", "WaitingCaller", "Operator", "ErrorBody", "OperatorAction", "CallbackList", "CallbackItem", "CallingBack"] {
            assert!(schemas.contains_key(s), "schema {s} missing: {:?}", schemas.keys().collect::<Vec<_>>());
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
