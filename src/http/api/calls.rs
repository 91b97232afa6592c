//! The records, read-only: `GET /api/v1/calls` (as `cc112 calls list --json`, a page
//! at a time), `GET /api/v1/calls/{id}` (as `cc112 calls show`), `GET /api/v1/report`
//! (as `cc112 report --json`) and `GET /api/v1/operator-events` (the operators'
//! history, supervisor actions included). Ranges as the CLI's `--shift`, `--since`,
//! `--until` (the current shift by default), in the configured local time.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::{self, MAX_PARAM};
use super::common::{snapshot, with_reader, ApiError, ErrorBody};
use crate::clock::{UtcMs, UtcOffset};
use crate::config::Config;
use crate::http::Shared;
use crate::store::format::CallJson;
use crate::store::query::{cli_range, CallFilter, EventRow, Report, TimeRange};
use crate::store::record::Outcome;

/// Operator history entries one request returns at most.
const MAX_OPERATOR_EVENTS: i64 = 2_000;

/// Which calls: the range (as the CLI's), filters, and the page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CallsQuery {
    /// `current` (the default), `previous`, or `YYYY-MM-DD/N` (the N-th shift of that date).
    shift: Option<String>,
    /// From this local time (`YYYY-MM-DD HH:MM[:SS]` or RFC 3339); narrows a shift.
    since: Option<String>,
    /// Until this local time.
    until: Option<String>,
    /// Only calls routed to this department (queue id).
    department: Option<String>,
    /// Only calls that ended so: `answered`, `abandoned_ivr`, `abandoned_queue`, `rejected`, `failed`, `interrupted`.
    outcome: Option<String>,
    /// Only calls from this caller number, exactly as recorded.
    caller: Option<String>,
    /// Only calls this operator answered.
    operator: Option<String>,
    /// Calls per page: 1 to 500, 50 when absent.
    limit: Option<usize>,
    /// The `next` of the previous page (same filters).
    cursor: Option<String>,
}

/// A range, as the CLI's `--shift`, `--since`, `--until`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct RangeQuery {
    /// `current` (the default), `previous`, or `YYYY-MM-DD/N`.
    shift: Option<String>,
    /// From this local time (`YYYY-MM-DD HH:MM[:SS]` or RFC 3339).
    since: Option<String>,
    /// Until this local time.
    until: Option<String>,
    /// Only this operator's entries (operator-events only).
    operator: Option<String>,
}

/// A page of calls, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallPage<'a> {
    /// The calls' start times it covers (UTC milliseconds since the epoch).
    range: TimeRange,
    /// The calls, as `cc112 calls list --json` prints them.
    calls: Vec<CallJson<'a>>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` on the last.
    next: Option<String>,
}

/// One call with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallTimeline<'a> {
    /// The call's summary row.
    call: CallJson<'a>,
    /// Its events, in the order they were recorded.
    events: Vec<TimelineEvent>,
}

/// One event of a call's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TimelineEvent {
    /// Order within the call, from 1.
    seq: i64,
    /// When, RFC 3339 in local time.
    at: String,
    /// Milliseconds after the INVITE.
    after_ms: i64,
    /// `started`, `answered`, `digit`, `routed`, `queued`, `offered`, `operator_answered`, `ended`...
    kind: String,
    /// The event's details as recorded.
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

/// The operators' history in a range.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OperatorEvents {
    /// By time, at most 2,000.
    events: Vec<OperatorEvent>,
    /// More entries were in the range than returned: narrow it.
    truncated: bool,
}

/// One entry of an operator's history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OperatorEvent {
    /// The operator id.
    operator: String,
    /// When, RFC 3339 in local time.
    at: String,
    /// `login`, `logout`, `pause`, `resume`, `wrapup`, `not_responding`, `supervisor`.
    kind: String,
    /// The pause reason; for `supervisor`, what was done and by whom (`pause by alice: break`).
    reason: Option<String>,
}

/// The config's local time offset.
fn offset(config: &Config) -> UtcOffset {
    config.routing.utc_offset
}

/// The range the CLI would take for these parameters, in the configured shifts.
fn range(config: &Config, shift: Option<&str>, since: Option<&str>, until: Option<&str>) -> Result<TimeRange, ApiError> {
    params::bounded([("shift", shift), ("since", since), ("until", until)]).map_err(ApiError::bad_request)?;
    let shifts = config.store.shifts(offset(config));
    Ok(cli_range(&shifts, shift, since, until, UtcMs::now())?)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `GET /api/v1/calls`.
#[utoipa::path(get, path = "/api/v1/calls", operation_id = "listCalls", tag = "records", params(CallsQuery),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn list(State(shared): State<Shared>, q: Result<Query<CallsQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query(q)?;
    let live = snapshot(&shared)?;
    params::bounded([("department", q.department.as_deref()), ("outcome", q.outcome.as_deref()), ("caller", q.caller.as_deref()), ("operator", q.operator.as_deref()), ("cursor", q.cursor.as_deref())])
        .map_err(ApiError::bad_request)?;
    let limit = params::limit(q.limit).map_err(ApiError::bad_request)?;
    let outcome = q.outcome.as_deref().map(str::parse::<Outcome>).transpose().map_err(|e| ApiError::bad_request(format!("outcome: {e}")))?;
    let after = q.cursor.as_deref().map(|c| params::parse_cursor(c).ok_or_else(|| ApiError::bad_request("cursor: not one this API gave"))).transpose()?;
    let range = range(&live.config, q.shift.as_deref(), q.since.as_deref(), q.until.as_deref())?;
    // One more than the page: whether there is a next page, without a count.
    let filter = CallFilter { range, department: q.department, outcome, limit: Some(limit + 1), caller: q.caller, operator: q.operator, after };
    let mut rows = with_reader(&shared, move |r| Ok(r.list_calls(&filter)?)).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(params::cursor_after) } else { None };
    let off = offset(&live.config);
    let page = CallPage { range, calls: rows.iter().map(|r| CallJson::new(r, off)).collect(), next };
    Ok(Json(page).into_response())
}

/// `GET /api/v1/calls/{id}`.
#[utoipa::path(get, path = "/api/v1/calls/{id}", operation_id = "getCall", tag = "records",
    params(("id" = String, Path, description = "The record id (a ULID) or the caller's SIP Call-ID")),
    responses((status = 200, body = CallTimeline), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn show(State(shared): State<Shared>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if id.is_empty() || id.len() > MAX_PARAM {
        return Err(ApiError::bad_request(format!("a call id is 1 to {MAX_PARAM} bytes")));
    }
    let live = snapshot(&shared)?;
    let (call, events) = with_reader(&shared, move |r| Ok(r.call_timeline(&id)?)).await?;
    let off = offset(&live.config);
    let events = events.into_iter().map(|e| timeline_event(e, call.started_at, off)).collect();
    Ok(Json(CallTimeline { call: CallJson::new(&call, off), events }).into_response())
}

fn timeline_event(e: EventRow, started: UtcMs, off: UtcOffset) -> TimelineEvent {
    TimelineEvent {
        seq: e.seq,
        at: e.at.rfc3339(off),
        after_ms: e.at.millis() - started.millis(),
        kind: e.kind,
        details: e.details.as_deref().and_then(|d| serde_json::from_str(d).ok()),
    }
}

/// `GET /api/v1/report`.
#[utoipa::path(get, path = "/api/v1/report", operation_id = "getReport", tag = "records", params(RangeQuery),
    responses((status = 200, body = Report, description = "What `cc112 report --json` prints; times in UTC milliseconds"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn report(State(shared): State<Shared>, q: Result<Query<RangeQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query(q)?;
    if q.operator.is_some() {
        return Err(ApiError::bad_request("operator is not a report parameter"));
    }
    let live = snapshot(&shared)?;
    let range = range(&live.config, q.shift.as_deref(), q.since.as_deref(), q.until.as_deref())?;
    let range = params::report_range(range, UtcMs::now()).map_err(ApiError::bad_request)?;
    let off = offset(&live.config);
    let report: Report = with_reader(&shared, move |r| Ok(r.report(range, off)?)).await?;
    Ok(Json(report).into_response())
}

/// `GET /api/v1/operator-events`.
#[utoipa::path(get, path = "/api/v1/operator-events", operation_id = "listOperatorEvents", tag = "records", params(RangeQuery),
    responses((status = 200, body = OperatorEvents), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn operator_events(State(shared): State<Shared>, q: Result<Query<RangeQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query(q)?;
    params::bounded([("operator", q.operator.as_deref())]).map_err(ApiError::bad_request)?;
    let live = snapshot(&shared)?;
    let range = range(&live.config, q.shift.as_deref(), q.since.as_deref(), q.until.as_deref())?;
    let operator = q.operator;
    let mut rows = with_reader(&shared, move |r| Ok(r.operator_events_limited(range, operator.as_deref(), MAX_OPERATOR_EVENTS + 1)?)).await?;
    let truncated = rows.len() as i64 > MAX_OPERATOR_EVENTS;
    rows.truncate(MAX_OPERATOR_EVENTS as usize);
    let off = offset(&live.config);
    let events = rows.into_iter().map(|e| OperatorEvent { operator: e.operator, at: e.at.rfc3339(off), kind: e.kind, reason: e.reason }).collect();
    Ok(Json(OperatorEvents { events, truncated }).into_response())
}
