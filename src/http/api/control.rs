//! Operator control for supervisors: `POST /api/v1/operators/{id}/pause` (body
//! `{"reason": "..."}`), `/resume`, `/logout`. Each goes to the engine through the
//! same command entry point as the Unix control socket, carrying the token's name: the
//! engine writes it into the operator's history (`supervisor` entries), and every
//! action, carried out or refused, is logged here with it.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::info;
use utoipa::ToSchema;

use super::params::{self, MAX_PARAM};
use super::common::{snapshot, ApiError, ErrorBody};
use crate::engine::control::{Command, Reply};
use crate::http::auth::TokenHolder;
use crate::http::{Commanded, Shared};

/// How long a command may wait for room in the engine's queue, then for its answer.
const ENGINE_WAIT: Duration = Duration::from_secs(5);

/// The body of a pause.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PauseBody {
    /// Why, kept in the operator's history (`break`, `training`...); at most 200
    /// characters; `supervisor` when absent.
    reason: Option<String>,
}

/// The operator's state after a command.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OperatorAction {
    /// The operator's id.
    operator: String,
    /// Their ACD state now: `paused`, `available`, `offline`...
    state: String,
}

/// `POST /api/v1/operators/{id}/pause`.
#[utoipa::path(post, path = "/api/v1/operators/{id}/pause", operation_id = "pauseOperator", tag = "control",
    params(("id" = String, Path, description = "The operator's id")), request_body = PauseBody,
    responses((status = 200, body = OperatorAction), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such operator"), (status = 409, body = ErrorBody, description = "The engine refused (already paused...)"), (status = 503, body = ErrorBody)))]
pub(super) async fn pause(State(shared): State<Shared>, Extension(who): Extension<TokenHolder>, id: Result<Path<String>, PathRejection>, body: Result<Json<PauseBody>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(body_error)?;
    let reason = params::reason(body.reason.as_deref()).map_err(ApiError::bad_request)?;
    act(&shared, who, id, |operator, by| Command::Pause { operator, reason, by }).await
}

/// A body that is not a pause: 413 past the size limit, 415 without a JSON content
/// type, else 400 (axum says 422 for JSON of the wrong shape: a bad parameter here).
pub(super) fn body_error(e: JsonRejection) -> ApiError {
    match e.status() {
        s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => ApiError::new(s, e.body_text()),
        _ => ApiError::bad_request(e.body_text()),
    }
}

/// `POST /api/v1/operators/{id}/resume`.
#[utoipa::path(post, path = "/api/v1/operators/{id}/resume", operation_id = "resumeOperator", tag = "control",
    params(("id" = String, Path, description = "The operator's id")),
    responses((status = 200, body = OperatorAction), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The engine refused (not paused...)"), (status = 503, body = ErrorBody)))]
pub(super) async fn resume(State(shared): State<Shared>, Extension(who): Extension<TokenHolder>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    act(&shared, who, id, |operator, by| Command::Resume { operator, by }).await
}

/// `POST /api/v1/operators/{id}/logout`.
#[utoipa::path(post, path = "/api/v1/operators/{id}/logout", operation_id = "logoutOperator", tag = "control",
    params(("id" = String, Path, description = "The operator's id")),
    responses((status = 200, body = OperatorAction), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn logout(State(shared): State<Shared>, Extension(who): Extension<TokenHolder>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    act(&shared, who, id, |operator, by| Command::Logout { operator, by }).await
}

/// Checks the operator exists (404, before the engine is bothered), sends the command
/// and answers with the engine's reply, logging it with the token's name.
async fn act(shared: &Shared, who: TokenHolder, id: Result<Path<String>, PathRejection>, command: impl FnOnce(String, Option<String>) -> Command) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let command = command(id.clone(), Some(who.name.clone()));
    let action = command.action().map(|a| a.describe()).unwrap_or_default();
    if id.len() > MAX_PARAM || !snapshot(shared)?.config.operators.iter().any(|o| o.id.as_str() == id) {
        let id: String = crate::sink::printable(&id).chars().take(MAX_PARAM).collect();
        info!(event = "supervisor_action", token = %crate::sink::printable(&who.name), operator = %id, action = %crate::sink::printable(&action), outcome = "refused: no such operator", "API supervisor action");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such operator"));
    }
    let reply = send(shared, command).await;
    let outcome = match &reply {
        Ok(Reply::State { state, .. }) => state.clone(),
        Ok(Reply::Error { message }) => format!("refused: {message}"),
        Ok(Reply::Operators { .. } | Reply::CallingBack { .. }) => "unexpected reply".into(),
        Err(e) => format!("not carried out: {}", e.message),
    };
    // `id` is a configured operator's; the action's reason was made printable.
    let outcome = crate::sink::printable(&outcome).into_owned();
    info!(event = "supervisor_action", token = %crate::sink::printable(&who.name), operator = %id, action = %action, outcome = %outcome, "API supervisor action");
    match reply? {
        Reply::State { operator, state } => Ok(Json(OperatorAction { operator, state }).into_response()),
        Reply::Error { message } => Err(ApiError::new(StatusCode::CONFLICT, message)),
        Reply::Operators { .. } | Reply::CallingBack { .. } => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the engine answered another command")),
    }
}

/// The command to the engine and its reply; 503 when the engine is busy or gone.
pub(super) async fn send(shared: &Shared, command: Command) -> Result<Reply, ApiError> {
    let (reply, answer) = oneshot::channel();
    let busy = || ApiError::unavailable("the engine did not take the command in time");
    tokio::time::timeout(ENGINE_WAIT, shared.commands.send(Commanded { command, reply }))
        .await
        .map_err(|_| busy())?
        .map_err(|_| ApiError::unavailable("the engine has stopped"))?;
    tokio::time::timeout(ENGINE_WAIT, answer).await.map_err(|_| busy())?.map_err(|_| ApiError::unavailable("the engine has stopped"))
}
