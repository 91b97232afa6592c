//! Read-only queries for the CLI and the HTTP API: list (filtered, a page at a time),
//! timeline, operator history, shift report (folded row by row, never all rows held).
//!
//! A [`Reader`] opens its own `SQLITE_OPEN_READ_ONLY` connection: in WAL mode it reads
//! a consistent snapshot while the gateway keeps writing, and it cannot modify the
//! evidence by mistake.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::record::{Outcome, NO_COMMON_CODEC};
use super::schema;
use super::StoreError;
use crate::clock::UtcMs;
use crate::clock::UtcOffset;

pub use super::range::{cli_range, TimeRange};

/// `calls list` filters. Calls are selected by `started_at` within the range: a call
/// belongs to the shift it arrived in, however long it lasted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// Calls that started within it.
    pub range: TimeRange,
    /// Only calls routed to this queue id.
    pub department: Option<String>,
    /// Only calls that ended so (in-progress calls have none and are left out).
    pub outcome: Option<Outcome>,
    /// Newest rows first are not needed by the shift; oldest first, capped here.
    pub limit: Option<usize>,
    /// Only calls from this caller number, as recorded.
    pub caller: Option<String>,
    /// Only calls this operator answered.
    pub operator: Option<String>,
    /// Only calls after this one in the list's order (`started_at`, then `id`): a page
    /// starts where the previous ended, however many calls arrived meanwhile.
    pub after: Option<(UtcMs, String)>,
}

/// One `calls` row. `outcome` is `None` while the call is in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRow {
    /// The record id (a ULID), unique across restarts.
    pub id: String,
    /// Call-ID of the caller's leg, to find the call in SIP traces.
    pub sip_call_id: String,
    /// The caller's number.
    pub caller: String,
    /// The From display name, when sent.
    pub caller_name: Option<String>,
    /// The Request-URI as dialled.
    pub dialed: String,
    /// The emergency identity matched: `112`, `urn:service:sos`...
    pub identity: String,
    /// When the INVITE arrived.
    pub started_at: UtcMs,
    /// When the gateway answered (the IVR picked up).
    pub answered_at: Option<UtcMs>,
    /// The IVR language the caller ended in.
    pub language: Option<String>,
    /// Keys pressed in the IVR, in order.
    pub ivr_digits: Option<String>,
    /// Menus visited: JSON array text as stored.
    pub ivr_path: Option<String>,
    /// The queue the call was routed to.
    pub department: Option<String>,
    /// When it entered that queue.
    pub queue_entered_at: Option<UtcMs>,
    /// The operator who answered.
    pub operator: Option<String>,
    /// When that operator answered.
    pub operator_answered_at: Option<UtcMs>,
    /// `None` while the call is in progress.
    pub ended_at: Option<UtcMs>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// `caller`, `operator` or `gateway`.
    pub hangup_by: Option<String>,
    /// Free text, for the log reader.
    pub end_reason: Option<String>,
    /// The config version the call ran under.
    pub config_version: Option<String>,
    /// Its flags (`callback`, `silent_55`, `silent`), comma-separated.
    pub flags: Option<String>,
    /// `callback` for a call the gateway placed (click to call back); `None`: it came in.
    pub direction: Option<String>,
    /// What the caller's audio held until the bridge: `speech`, `noise`, `silence`,
    /// `no_audio`; `None` for a call never answered (or recorded before schema 5).
    pub voice: Option<String>,
    /// Milliseconds of audio into the call when the caller first spoke.
    pub voice_first_speech_ms: Option<i64>,
    /// Milliseconds of noise heard before that (or until the bridge).
    pub voice_noise_ms: Option<i64>,
    /// Milliseconds of silence heard before that (or until the bridge).
    pub voice_silence_ms: Option<i64>,
}

const CALL_COLUMNS: &str =
    "id, sip_call_id, caller, caller_name, dialed, identity, started_at, answered_at, \
    language, ivr_digits, ivr_path, department, queue_entered_at, operator, operator_answered_at, \
    ended_at, outcome, hangup_by, end_reason, config_version, flags, direction, \
    voice, voice_first_speech_ms, voice_noise_ms, voice_silence_ms";

fn ms(v: Option<i64>) -> Option<UtcMs> {
    v.map(UtcMs)
}

fn call_row(r: &Row<'_>) -> rusqlite::Result<(CallRow, Option<String>)> {
    let outcome: Option<String> = r.get(16)?;
    Ok((
        CallRow {
            id: r.get(0)?,
            sip_call_id: r.get(1)?,
            caller: r.get(2)?,
            caller_name: r.get(3)?,
            dialed: r.get(4)?,
            identity: r.get(5)?,
            started_at: UtcMs(r.get(6)?),
            answered_at: ms(r.get(7)?),
            language: r.get(8)?,
            ivr_digits: r.get(9)?,
            ivr_path: r.get(10)?,
            department: r.get(11)?,
            queue_entered_at: ms(r.get(12)?),
            operator: r.get(13)?,
            operator_answered_at: ms(r.get(14)?),
            ended_at: ms(r.get(15)?),
            outcome: None,
            hangup_by: r.get(17)?,
            end_reason: r.get(18)?,
            config_version: r.get(19)?,
            flags: r.get(20)?,
            direction: r.get(21)?,
            voice: r.get(22)?,
            voice_first_speech_ms: r.get(23)?,
            voice_noise_ms: r.get(24)?,
            voice_silence_ms: r.get(25)?,
        },
        outcome,
    ))
}

/// Parses the outcome text separately so an unknown value is a clear error, not a
/// silently missing field.
fn finish(pair: (CallRow, Option<String>)) -> Result<CallRow, StoreError> {
    let (mut row, outcome) = pair;
    row.outcome = match outcome {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| StoreError::BadValue {
            column: "outcome",
            value: s,
        })?),
    };
    Ok(row)
}

/// One event of a call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// Order within the call, from 1.
    pub seq: i64,
    /// When it happened.
    pub at: UtcMs,
    /// `started`, `ivr_digit`, `queued`, `offered`, `operator_answered`, `ended`...
    pub kind: String,
    /// JSON text as stored.
    pub details: Option<String>,
}

/// One row of `operator_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorEventRow {
    /// The operator id.
    pub operator: String,
    /// When it happened.
    pub at: UtcMs,
    /// `login`, `logout`, `pause`, `resume`, `wrapup`, `not_responding`.
    pub kind: String,
    /// The pause reason, when there is one.
    pub reason: Option<String>,
}

/// INVITE → operator answer, in milliseconds (nearest-rank percentiles: always a
/// value that occurred, no interpolation to explain to a supervisor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnswerTimes {
    /// Calls an operator answered.
    pub count: usize,
    /// Median.
    pub p50_ms: i64,
    /// 90th percentile.
    pub p90_ms: i64,
    /// 99th percentile.
    pub p99_ms: i64,
    /// The longest.
    pub max_ms: i64,
}

/// Share of calls an operator answered within `seconds` of the INVITE. The denominator
/// is the calls that asked for an operator: answered ones plus those abandoned in the
/// queue (a caller who gave up waiting counts against the center). Calls abandoned in
/// the IVR never asked for an operator and are reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnsweredWithin {
    /// The threshold.
    pub seconds: u32,
    /// Calls answered within it.
    pub answered: u64,
    /// Calls that asked for an operator.
    pub offered: u64,
    /// `answered / offered` in percent (0 when nothing was offered).
    pub percent: f64,
}

/// Calls of one department in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DepartmentLine {
    /// `-` for calls that never reached a department.
    pub department: String,
    /// Its calls.
    pub total: u64,
    /// Outcome name (`open` while in progress) → count.
    pub outcomes: BTreeMap<String, u64>,
}

/// What one operator answered in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OperatorLine {
    /// The operator id.
    pub operator: String,
    /// Calls they answered.
    pub answered: u64,
    /// Median INVITE → this operator's answer.
    pub median_answer_ms: i64,
}

/// The local clock hour with the most new calls (ties: the earliest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BusiestHour {
    /// Start of the local clock hour, as a UTC instant.
    #[schema(value_type = i64)]
    pub start: UtcMs,
    /// Calls that started in it.
    pub calls: u64,
}

/// The shift report: everything `cc112 report` prints.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// The calls' start times it covers.
    pub range: TimeRange,
    /// Calls started in the range.
    pub total: u64,
    /// Outcome name (`open` while in progress) → count.
    pub by_outcome: BTreeMap<String, u64>,
    /// Busiest department first.
    pub by_department: Vec<DepartmentLine>,
    /// `None` when no operator answered a call.
    pub answer_time: Option<AnswerTimes>,
    /// Answer times per priority class (issue 16), highest first.
    pub by_class: Vec<super::classes::ClassLine>,
    /// For 10, 15 and 20 s (NENA: 90 % within 15 s).
    pub answered_within: Vec<AnsweredWithin>,
    /// Callers who hung up in the IVR (before asking for an operator).
    pub abandoned_ivr: u64,
    /// Callers who hung up waiting for an operator.
    pub abandoned_queue: u64,
    /// `None` when there were no calls.
    pub busiest_hour: Option<BusiestHour>,
    /// Most answered first.
    pub per_operator: Vec<OperatorLine>,
    /// New calls refused with 503 in the range (they have no row in `calls`).
    pub refused: Refused,
    /// Calls refused with 488 because their offer had no codec of ours (outcome
    /// `rejected`, reason [`NO_COMMON_CODEC`]): people to call back.
    pub no_common_codec: NoCommonCodec,
}

/// The calls of a report refused for want of a common codec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NoCommonCodec {
    /// How many.
    pub total: u64,
    /// Their distinct caller numbers (at most [`REFUSED_CALLERS`]), for a call back.
    pub callers: Vec<String>,
}

/// The `refusals` rows of a range, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Refused {
    /// INVITEs refused.
    pub total: u64,
    /// Reason (`behind`, `source_rate`...) → INVITEs refused.
    pub by_reason: BTreeMap<String, u64>,
    /// Distinct caller numbers kept with them (at most [`REFUSED_CALLERS`]), for a
    /// call back.
    pub callers: Vec<String>,
}

/// Caller numbers of refused calls a report lists at most.
pub const REFUSED_CALLERS: usize = 50;

/// Nearest-rank percentile of sorted data: the smallest value with at least `p` % of
/// the data at or below it.
pub use super::classes::percentile;

/// A read-only view of the records.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens `path` read-only; fails if it does not exist or has no cc112 schema.
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: schema::open_read_only(path)?,
        })
    }

    /// A reader over a connection prepared elsewhere with this schema (the central
    /// view's in-memory copy, `runtime::central`), so every query is the same SQL.
    pub fn from_connection(conn: Connection) -> Reader {
        Reader { conn }
    }

    /// The read-only connection, for the queries of other modules (the callback
    /// worklist).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Calls started in the filter's range, oldest first.
    pub fn list_calls(&self, f: &CallFilter) -> Result<Vec<CallRow>, StoreError> {
        let mut out = Vec::new();
        self.each_call(f, |r| out.push(r))?;
        Ok(out)
    }

    /// Each call of [`Reader::list_calls`] in turn, none kept (a report over a month
    /// holds its counts, not its rows).
    pub fn each_call(&self, f: &CallFilter, mut each: impl FnMut(CallRow)) -> Result<(), StoreError> {
        let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1");
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        let mut cond = |args: &mut Vec<Box<dyn ToSql>>, v: Box<dyn ToSql>, c: &str| {
            args.push(v);
            sql.push_str(&c.replace("?N", &format!("?{}", args.len())));
        };
        if let Some(s) = f.range.since {
            cond(&mut args, Box::new(s.millis()), " AND started_at >= ?N");
        }
        if let Some(u) = f.range.until {
            cond(&mut args, Box::new(u.millis()), " AND started_at < ?N");
        }
        for (v, c) in [(&f.department, " AND department = ?N"), (&f.caller, " AND caller = ?N"), (&f.operator, " AND operator = ?N")] {
            if let Some(v) = v {
                cond(&mut args, Box::new(v.clone()), c);
            }
        }
        if let Some(o) = f.outcome {
            cond(&mut args, Box::new(o.as_str()), " AND outcome = ?N");
        }
        if let Some((at, id)) = &f.after {
            cond(&mut args, Box::new(at.millis()), " AND (started_at > ?N");
            cond(&mut args, Box::new(at.millis()), " OR (started_at = ?N");
            cond(&mut args, Box::new(id.clone()), " AND id > ?N))");
        }
        sql.push_str(" ORDER BY started_at, id");
        if let Some(l) = f.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        let mut st = self.conn.prepare(&sql)?;
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        for r in st.query_map(refs.as_slice(), call_row)? {
            each(finish(r?)?);
        }
        Ok(())
    }

    /// One call by record id, if there is one.
    pub fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1");
        match self
            .conn
            .query_row(&sql, params![id], call_row)
            .optional()?
        {
            Some(pair) => Ok(Some(finish(pair)?)),
            None => Ok(None),
        }
    }

    /// The call and its events in the order they were recorded. Also accepts a SIP
    /// Call-ID, since that is what a phone log or a SIPp trace shows.
    pub fn call_timeline(&self, id: &str) -> Result<(CallRow, Vec<EventRow>), StoreError> {
        let call = match self.call(id)? {
            Some(c) => c,
            None => {
                let sql = format!(
                    "SELECT {CALL_COLUMNS} FROM calls WHERE sip_call_id = ?1 ORDER BY started_at DESC LIMIT 1"
                );
                match self
                    .conn
                    .query_row(&sql, params![id], call_row)
                    .optional()?
                {
                    Some(pair) => finish(pair)?,
                    None => return Err(StoreError::NoSuchCall(id.to_string())),
                }
            }
        };
        let mut st = self.conn.prepare(
            "SELECT seq, at, kind, details FROM call_events WHERE call_id = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map(params![call.id], |r| {
            Ok(EventRow {
                seq: r.get(0)?,
                at: UtcMs(r.get(1)?),
                kind: r.get(2)?,
                details: r.get(3)?,
            })
        })?;
        let events = rows.collect::<Result<Vec<_>, _>>()?;
        Ok((call, events))
    }

    /// Operator state changes within `range`, by time.
    pub fn operator_events(&self, range: TimeRange) -> Result<Vec<OperatorEventRow>, StoreError> {
        self.operator_events_limited(range, None, i64::MAX)
    }

    /// [`Reader::operator_events`] of one operator (or all), the first `limit` only.
    pub fn operator_events_limited(&self, range: TimeRange, operator: Option<&str>, limit: i64) -> Result<Vec<OperatorEventRow>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT operator_id, at, kind, reason FROM operator_events
             WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR operator_id = ?3) ORDER BY at, operator_id, seq LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![
                range.since.map_or(i64::MIN, UtcMs::millis),
                range.until.map_or(i64::MAX, UtcMs::millis),
                operator,
                limit
            ],
            |r| {
                Ok(OperatorEventRow {
                    operator: r.get(0)?,
                    at: UtcMs(r.get(1)?),
                    kind: r.get(2)?,
                    reason: r.get(3)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// `PRAGMA integrity_check` through this connection.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        schema::integrity_check_conn(&self.conn)
    }

    /// The report over calls started in `range`; `offset` places the busiest hour on
    /// the local clock.
    pub fn report(&self, range: TimeRange, offset: UtcOffset) -> Result<Report, StoreError> {
        let off_ms = i64::from(offset.seconds()) * 1000;
        let mut tally = Tally::default();
        self.each_call(&CallFilter { range, ..CallFilter::default() }, |c| tally.add(&c, off_ms))?;
        let mut report = tally.report(range, off_ms);
        report.refused = self.refused(range)?;
        Ok(report)
    }

    /// The refusals of calls in `range`, summed.
    pub fn refused(&self, range: TimeRange) -> Result<Refused, StoreError> {
        let bounds = params![range.since.map_or(i64::MIN, UtcMs::millis), range.until.map_or(i64::MAX, UtcMs::millis)];
        let mut out = Refused::default();
        let mut st = self.conn.prepare("SELECT reason, SUM(count) FROM refusals WHERE since >= ?1 AND since < ?2 GROUP BY reason")?;
        for row in st.query_map(bounds, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (reason, n) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            out.total += n;
            out.by_reason.insert(reason, n);
        }
        let mut st = self.conn.prepare("SELECT callers FROM refusals WHERE since >= ?1 AND since < ?2 ORDER BY since")?;
        let mut rows = st.query(bounds)?;
        while let (Some(row), true) = (rows.next()?, out.callers.len() < REFUSED_CALLERS) {
            let list: Vec<String> = serde_json::from_str(&row.get::<_, String>(0)?).unwrap_or_default();
            for c in list {
                if out.callers.len() < REFUSED_CALLERS && !out.callers.contains(&c) {
                    out.callers.push(c);
                }
            }
        }
        Ok(out)
    }
}

/// The report from rows already loaded (pure, so it is tested on a known data set).
pub fn build_report(range: TimeRange, calls: &[CallRow], offset: UtcOffset) -> Report {
    let off_ms = i64::from(offset.seconds()) * 1000;
    let mut tally = Tally::default();
    for c in calls {
        tally.add(c, off_ms);
    }
    tally.report(range, off_ms)
}

const HOUR_MS: i64 = 3_600_000;

/// The counts a report is made of, gathered in one pass over the calls.
#[derive(Default)]
struct Tally {
    total: u64,
    by_outcome: BTreeMap<String, u64>,
    departments: BTreeMap<String, DepartmentLine>,
    /// INVITE to operator answer, per answered call.
    answer_ms: Vec<i64>,
    /// The same, per operator.
    per_op: BTreeMap<String, Vec<i64>>,
    /// Calls per local hour (hours since the epoch, local).
    hours: BTreeMap<i64, u64>,
    abandoned_ivr: u64,
    abandoned_queue: u64,
    /// Offers refused with 488 (no common codec), with their callers.
    no_common_codec: NoCommonCodec,
    classes: super::classes::ClassTally,
}

impl Tally {
    fn add(&mut self, c: &CallRow, off_ms: i64) {
        self.total += 1;
        if c.end_reason.as_deref() == Some(NO_COMMON_CODEC) {
            let n = &mut self.no_common_codec;
            n.total += 1;
            if n.callers.len() < REFUSED_CALLERS && !n.callers.contains(&c.caller) {
                n.callers.push(c.caller.clone());
            }
        }
        let o = c.outcome.map_or("open", Outcome::as_str).to_string();
        *self.by_outcome.entry(o.clone()).or_default() += 1;
        let dept = c.department.clone().unwrap_or_else(|| "-".into());
        let line = self
            .departments
            .entry(dept.clone())
            .or_insert_with(|| DepartmentLine {
                department: dept,
                total: 0,
                outcomes: BTreeMap::new(),
            });
        line.total += 1;
        *line.outcomes.entry(o).or_default() += 1;
        match c.outcome {
            Some(Outcome::AbandonedIvr) => self.abandoned_ivr += 1,
            Some(Outcome::AbandonedQueue) => self.abandoned_queue += 1,
            _ => {}
        }
        // A call back the gateway placed has no caller's answer time.
        let answer = c.operator_answered_at.filter(|_| c.direction.is_none()).map(|a| (a.millis() - c.started_at.millis()).max(0));
        if c.department.is_some() {
            self.classes.add(c.flags.as_deref(), answer, c.outcome == Some(Outcome::AbandonedQueue));
        }
        if let Some(d) = answer {
            self.answer_ms.push(d);
            if let Some(op) = &c.operator {
                self.per_op.entry(op.clone()).or_default().push(d);
            }
        }
        let local_hour = (c.started_at.millis() + off_ms).div_euclid(HOUR_MS);
        *self.hours.entry(local_hour).or_default() += 1;
    }

    fn report(self, range: TimeRange, off_ms: i64) -> Report {
        let Tally { total, by_outcome, departments, mut answer_ms, per_op, hours, abandoned_ivr, abandoned_queue, no_common_codec, classes } = self;
        answer_ms.sort_unstable();
        let answer_time = (!answer_ms.is_empty()).then(|| AnswerTimes {
            count: answer_ms.len(),
            p50_ms: percentile(&answer_ms, 50).unwrap_or(0),
            p90_ms: percentile(&answer_ms, 90).unwrap_or(0),
            p99_ms: percentile(&answer_ms, 99).unwrap_or(0),
            max_ms: answer_ms.last().copied().unwrap_or(0),
        });
        let mut by_department: Vec<DepartmentLine> = departments.into_values().collect();
        by_department.sort_by(|a, b| b.total.cmp(&a.total).then(a.department.cmp(&b.department)));
        Report {
            range,
            total,
            by_outcome,
            by_department,
            answer_time,
            by_class: classes.lines(),
            answered_within: answered_within(&answer_ms, abandoned_queue),
            abandoned_ivr,
            abandoned_queue,
            busiest_hour: busiest_hour(&hours, off_ms),
            per_operator: per_operator(per_op),
            refused: Refused::default(),
            no_common_codec,
        }
    }
}

/// Service levels: answered within 10, 15 and 20 s out of the calls that reached a
/// queue (answered, or abandoned there). `answer_ms` is sorted.
fn answered_within(answer_ms: &[i64], abandoned_queue: u64) -> Vec<AnsweredWithin> {
    let offered = answer_ms.len() as u64 + abandoned_queue;
    [10u32, 15, 20]
        .into_iter()
        .map(|s| {
            let answered = answer_ms
                .iter()
                .filter(|&&d| d <= i64::from(s) * 1000)
                .count() as u64;
            AnsweredWithin {
                seconds: s,
                answered,
                offered,
                percent: if offered == 0 {
                    0.0
                } else {
                    answered as f64 * 100.0 / offered as f64
                },
            }
        })
        .collect()
}

/// The local hour with most calls; ties go to the earliest hour (BTreeMap order,
/// strict `>`).
fn busiest_hour(hours: &BTreeMap<i64, u64>, off_ms: i64) -> Option<BusiestHour> {
    hours
        .iter()
        .fold(None::<(i64, u64)>, |best, (&h, &n)| match best {
            Some((_, bn)) if bn >= n => best,
            _ => Some((h, n)),
        })
        .map(|(h, n)| BusiestHour {
            start: UtcMs(h * HOUR_MS - off_ms),
            calls: n,
        })
}

/// Answered calls and median answer time per operator, busiest first.
fn per_operator(per_op: BTreeMap<String, Vec<i64>>) -> Vec<OperatorLine> {
    let mut per_operator: Vec<OperatorLine> = per_op
        .into_iter()
        .map(|(operator, mut v)| {
            v.sort_unstable();
            OperatorLine {
                operator,
                answered: v.len() as u64,
                median_answer_ms: percentile(&v, 50).unwrap_or(0),
            }
        })
        .collect();
    per_operator.sort_by(|a, b| {
        b.answered
            .cmp(&a.answered)
            .then(a.operator.cmp(&b.operator))
    });
    per_operator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 90), Some(90));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&v, 100), Some(100));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn ranges_intersect() {
        let r = |a: Option<i64>, b: Option<i64>| TimeRange {
            since: a.map(UtcMs),
            until: b.map(UtcMs),
        };
        assert_eq!(
            r(Some(10), Some(20)).intersect(r(Some(15), None)),
            r(Some(15), Some(20))
        );
        assert_eq!(r(None, None).intersect(r(None, Some(5))), r(None, Some(5)));
    }
}
