//! The callback worklist (issue 16) over HTTP, as `cc112 callbacks` gives it:
//! `GET /api/v1/callbacks` (viewer: the open and claimed items, `?all=true` every one),
//! and for supervisors `POST /api/v1/callbacks/{id}/call` (click to call back: through
//! the engine's command entry point, as the control socket's `callbacks call`),
//! `/claim` and `/done` (one short write transaction each, as the CLI's, beside the
//! gateway's writer: SQLite's WAL and busy timeout let both write).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::{IntoParams, ToSchema};

use super::common::{with_reader, ApiError, ErrorBody};
use super::control::{body_error, send};
use super::params::MAX_PARAM;
use crate::clock::UtcMs;
use crate::engine::control::{Command, Reply};
use crate::http::auth::TokenHolder;
use crate::http::Shared;
use crate::store::callbacks::{self, CallbackItem, WorklistError};

/// Which items.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Closed items too (done, reached, expired); open and claimed only when absent.
    all: Option<bool>,
}

/// The worklist, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallbackList {
    /// The items.
    items: Vec<CallbackItem>,
}

/// Who calls back, or claims.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OperatorBody {
    /// The operator's id.
    operator: String,
}

/// What came of a call back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DoneBody {
    /// The note kept with the item (at most 500 characters, control characters removed).
    note: String,
}

/// A call back placed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallingBack {
    /// The item called back.
    item: String,
    /// The call back's own call record id.
    record: String,
    /// The operator whose phones ring first.
    operator: String,
}

/// `GET /api/v1/callbacks`.
#[utoipa::path(get, path = "/api/v1/callbacks", operation_id = "listCallbacks", tag = "callbacks", params(ListQuery),
    responses((status = 200, body = CallbackList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn list(State(shared): State<Shared>, q: Result<Query<ListQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let items = with_reader(&shared, move |r| Ok(callbacks::list(r.connection(), q.all.unwrap_or(false))?)).await?;
    Ok(Json(CallbackList { items }).into_response())
}

/// `POST /api/v1/callbacks/{id}/call`.
#[utoipa::path(post, path = "/api/v1/callbacks/{id}/call", operation_id = "callBack", tag = "callbacks",
    params(("id" = String, Path, description = "The item's id")), request_body = OperatorBody,
    responses((status = 200, body = CallingBack), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such item"), (status = 409, body = ErrorBody, description = "The item is closed or claimed by another operator, or the engine refused (operator not available, no trunk...)"), (status = 503, body = ErrorBody)))]
pub(super) async fn call(State(shared): State<Shared>, Extension(who): Extension<TokenHolder>, id: Result<Path<String>, PathRejection>, body: Result<Json<OperatorBody>, JsonRejection>) -> Result<Response, ApiError> {
    let id = item_id(id)?;
    let Json(body) = body.map_err(body_error)?;
    let operator = bounded(body.operator)?;
    let (key, op) = (id.clone(), operator.clone());
    let item = with_reader(&shared, move |r| Ok(callbacks::get(r.connection(), &key)?)).await?.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, WorklistError::Unknown(id.clone()).to_string()))?;
    if item.state != "open" && !(item.state == "claimed" && item.operator.as_deref() == Some(op.as_str())) {
        return Err(ApiError::new(StatusCode::CONFLICT, WorklistError::NotOpen { id: item.id, state: item.state, by: item.operator }.to_string()));
    }
    let reply = send(&shared, Command::CallBack { item: id.clone(), number: item.caller, operator, by: Some(who.name.clone()) }).await?;
    let token = crate::sink::printable(&who.name).into_owned();
    match reply {
        Reply::CallingBack { record, operator } => {
            info!(event = "supervisor_action", %token, %operator, action = "call back", item = %id, "API supervisor action");
            Ok(Json(CallingBack { item: id, record, operator }).into_response())
        }
        Reply::Error { message } => Err(ApiError::new(StatusCode::CONFLICT, message)),
        _ => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the engine answered another command")),
    }
}

/// `POST /api/v1/callbacks/{id}/claim`.
#[utoipa::path(post, path = "/api/v1/callbacks/{id}/claim", operation_id = "claimCallback", tag = "callbacks",
    params(("id" = String, Path, description = "The item's id")), request_body = OperatorBody,
    responses((status = 200, body = CallbackItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn claim(State(shared): State<Shared>, id: Result<Path<String>, PathRejection>, body: Result<Json<OperatorBody>, JsonRejection>) -> Result<Response, ApiError> {
    let id = item_id(id)?;
    let Json(body) = body.map_err(body_error)?;
    let operator = bounded(body.operator)?;
    write(&shared, move |conn, now| callbacks::claim(conn, &id, &operator, now)).await
}

/// `POST /api/v1/callbacks/{id}/done`.
#[utoipa::path(post, path = "/api/v1/callbacks/{id}/done", operation_id = "closeCallback", tag = "callbacks",
    params(("id" = String, Path, description = "The item's id")), request_body = DoneBody,
    responses((status = 200, body = CallbackItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn done(State(shared): State<Shared>, id: Result<Path<String>, PathRejection>, body: Result<Json<DoneBody>, JsonRejection>) -> Result<Response, ApiError> {
    let id = item_id(id)?;
    let Json(body) = body.map_err(body_error)?;
    write(&shared, move |conn, now| callbacks::done(conn, &id, &body.note, now)).await
}

fn item_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    bounded(id)
}

fn bounded(s: String) -> Result<String, ApiError> {
    if s.is_empty() || s.len() > MAX_PARAM {
        return Err(ApiError::bad_request(format!("expected 1 to {MAX_PARAM} characters")));
    }
    Ok(s)
}

type Outcome = Result<Result<CallbackItem, WorklistError>, crate::store::StoreError>;

/// One write transaction on the records, on a blocking thread: the item after it, 404
/// for no such item, 409 for one closed or claimed by another.
async fn write(shared: &Shared, act: impl FnOnce(&rusqlite::Connection, UtcMs) -> Outcome + Send + 'static) -> Result<Response, ApiError> {
    let Some(path) = shared.records.clone() else { return Err(ApiError::unavailable("the gateway keeps no call records")) };
    let done = tokio::task::spawn_blocking(move || {
        let conn = crate::store::schema::open_writer_connection(&path)?;
        act(&conn, UtcMs::now())
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the records writer failed: {e}")))??;
    match done {
        Ok(item) => Ok(Json(item).into_response()),
        Err(e @ WorklistError::Unknown(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, e.to_string())),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
    }
}
