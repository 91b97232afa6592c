//! The shift now, from the last published snapshot (never the engine's own state):
//! `GET /api/v1/queues` (each queue's counts and the callers it holds, with who they
//! are and where the IVR sent them) and `GET /api/v1/operators` (each operator's state
//! and call, with the names and departments of the configuration the engine runs).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::common::{snapshot, ApiError, ErrorBody};
use crate::call::CallId;
use crate::engine::LiveCall;
use crate::http::{Live, Shared};

/// One queue (a department) now.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Queue {
    /// The queue id.
    id: String,
    /// Callers waiting (not counting those being offered).
    waiting: usize,
    /// Callers whose offer rings an operator now.
    offering: usize,
    /// The oldest wait, seconds.
    oldest_wait_seconds: Option<f64>,
    /// Operators of the queue available now.
    operators_available: usize,
    /// The callers held, in the order they will be offered (at most 500).
    callers: Vec<WaitingCaller>,
}

/// One caller held by a queue. Caller-sent text (number, name, Call-ID) is as sent.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WaitingCaller {
    /// Place among the waiting (1 = next); `null` while being offered.
    position: Option<usize>,
    /// Seconds since the call joined the queue.
    wait_seconds: f64,
    /// The operator whose phone rings for it, while offered.
    offered_to: Option<String>,
    /// The call record's id (`null` if the snapshot's call list was full).
    record: Option<String>,
    /// The caller's SIP Call-ID.
    sip_call_id: Option<String>,
    /// The caller's number.
    caller: Option<String>,
    /// The caller's display name.
    caller_name: Option<String>,
    /// The language the caller hears.
    language: Option<String>,
    /// Where the IVR sent the call (queue, the queue asked for, closed queues passed
    /// over, why), as in the record's `routed` event.
    #[schema(value_type = Option<Object>)]
    routing: Option<serde_json::Value>,
    /// The priority class it joined with: `high` (a silent caller who pressed 5 5, a
    /// caller calling back), `normal`, `low` (a silent caller).
    class: &'static str,
    /// Its class now (a call that waited `[acd] max_priority_wait` is `high`).
    effective_class: &'static str,
    /// Its flags (`callback`, `silent_55`, `silent`), comma-separated, as the operator's
    /// phone is shown them.
    flags: Option<String>,
}

/// One operator now.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Operator {
    /// The account id (SIP user name).
    id: String,
    /// The display name from the configuration.
    name: String,
    /// The queues they answer.
    departments: Vec<String>,
    /// `offline`, `available`, `ringing`, `on_call`, `wrap_up`, `paused`.
    state: &'static str,
    /// Why paused.
    reason: Option<String>,
    /// Whether a phone of theirs is registered.
    registered: bool,
    /// The call ringing them or bridged to them.
    call: Option<OperatorCall>,
}

/// The call an operator is on or being offered.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OperatorCall {
    /// The call record's id (`null` if the snapshot's call list was full).
    record: Option<String>,
    /// The caller's SIP Call-ID.
    sip_call_id: Option<String>,
    /// The caller's number.
    caller: Option<String>,
    /// The caller's display name.
    caller_name: Option<String>,
    /// Seconds since the INVITE.
    age_seconds: Option<f64>,
}

/// The snapshot's calls in progress by engine id.
fn calls_by_id(live: &Live) -> HashMap<CallId, &LiveCall> {
    live.engine.calls.iter().map(|c| (c.id, c)).collect()
}

/// `GET /api/v1/queues`.
#[utoipa::path(get, path = "/api/v1/queues", operation_id = "listQueues", tag = "live",
    responses((status = 200, body = Vec<Queue>), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn queues(State(shared): State<Shared>) -> Result<Response, ApiError> {
    let live = snapshot(&shared)?;
    Ok(Json(queue_list(&live)).into_response())
}

fn queue_list(live: &Arc<Live>) -> Vec<Queue> {
    let calls = calls_by_id(live);
    live.engine
        .acd
        .queues
        .iter()
        .map(|q| Queue {
            id: q.id.to_string(),
            waiting: q.waiting,
            offering: q.offering,
            oldest_wait_seconds: q.longest_wait.map(|d| d.as_secs_f64()),
            operators_available: q.available,
            callers: q
                .callers
                .iter()
                .map(|c| {
                    let call = calls.get(&c.call);
                    WaitingCaller {
                        position: c.position,
                        wait_seconds: c.waited.as_secs_f64(),
                        offered_to: c.offered_to.as_ref().map(ToString::to_string),
                        record: call.map(|l| l.record.clone()),
                        sip_call_id: call.map(|l| l.sip_call_id.clone()),
                        caller: call.map(|l| l.caller.clone()),
                        caller_name: call.and_then(|l| l.caller_name.clone()),
                        language: call.and_then(|l| l.language.as_ref()).map(|l| l.as_str().to_string()),
                        routing: call.and_then(|l| l.routing.as_ref()).and_then(|r| serde_json::to_value(r).ok()),
                        class: c.class.as_str(),
                        effective_class: c.effective.as_str(),
                        flags: call.and_then(|l| l.flags.clone()),
                    }
                })
                .collect(),
        })
        .collect()
}

/// `GET /api/v1/operators`.
#[utoipa::path(get, path = "/api/v1/operators", operation_id = "listOperators", tag = "live",
    responses((status = 200, body = Vec<Operator>), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn operators(State(shared): State<Shared>) -> Result<Response, ApiError> {
    let live = snapshot(&shared)?;
    Ok(Json(operator_list(&live)).into_response())
}

fn operator_list(live: &Arc<Live>) -> Vec<Operator> {
    let calls = calls_by_id(live);
    live.engine
        .acd
        .operators
        .iter()
        .map(|o| {
            let account = live.config.operators.iter().find(|a| a.id == o.id);
            Operator {
                id: o.id.to_string(),
                name: account.map(|a| a.name.clone()).unwrap_or_default(),
                departments: account.map(|a| a.departments.iter().map(ToString::to_string).collect()).unwrap_or_default(),
                state: o.state.as_str(),
                reason: o.reason.clone(),
                registered: o.registered,
                call: o.call.map(|id| {
                    let c = calls.get(&id);
                    OperatorCall {
                        record: c.map(|c| c.record.clone()),
                        sip_call_id: c.map(|c| c.sip_call_id.clone()),
                        caller: c.map(|c| c.caller.clone()),
                        caller_name: c.and_then(|c| c.caller_name.clone()),
                        age_seconds: c.map(|c| c.age.as_secs_f64()),
                    }
                }),
            }
        })
        .collect()
}
