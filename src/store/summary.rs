//! The shift at a glance, for the wallboard: the answered-within share and the
//! abandoned counts of a range, and its last calls. Two small queries on the
//! `calls_started_at` index, aggregated by SQLite, where [`super::query::Reader::report`]
//! loads every row of the shift: the wallboard asks every few seconds, through a busy
//! shift of tens of thousands of calls.
//!
//! The numbers are the report's, by the same definitions (`cc112 report` and the
//! wallboard never disagree; a test checks it on one data set): a call counts as
//! answered within `s` seconds when an operator answered it at most `s` s after its
//! INVITE; the share is out of the calls that asked for an operator (answered, or
//! abandoned in the queue).
//!
//! Like the [`super::query::Reader`], a [`Summary`] holds its own read-only connection.

use std::path::Path;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::query::TimeRange;
use super::record::Outcome;
use super::schema;
use super::StoreError;
use crate::clock::UtcMs;

/// The shift's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ShiftTotals {
    /// Calls that started in the range.
    pub calls: u64,
    /// Calls an operator answered.
    pub answered: u64,
    /// Of those, answered within [`ShiftTotals::within_seconds`] of the INVITE.
    pub answered_within: u64,
    /// The threshold (15 s: NENA's 90 % target).
    pub within_seconds: u32,
    /// Callers who hung up waiting for an operator.
    pub abandoned_queue: u64,
    /// Callers who hung up in the IVR, before choosing a department.
    pub abandoned_ivr: u64,
}

impl ShiftTotals {
    /// Calls that asked for an operator: answered, or abandoned in the queue.
    pub fn offered(&self) -> u64 {
        self.answered + self.abandoned_queue
    }

    /// `answered_within / offered` in percent; `None` before any call asked for one.
    pub fn percent(&self) -> Option<f64> {
        let offered = self.offered();
        (offered > 0).then(|| self.answered_within as f64 * 100.0 / offered as f64)
    }
}

/// Answer times of one priority class in a range: the wallboard's line per class
/// (an average and the longest, aggregated by SQLite; `cc112 report` gives medians).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClassTotals {
    /// `high`, `normal` or `low` ([`super::classes::class_of`]).
    pub class: &'static str,
    /// Calls of the class an operator answered.
    pub answered: u64,
    /// Of those, answered within the threshold.
    pub answered_within: u64,
    /// Callers of the class who hung up waiting.
    pub abandoned_queue: u64,
    /// INVITE to operator answer, the mean (ms); `None` when none was answered.
    pub avg_answer_ms: Option<i64>,
    /// The longest (ms).
    pub max_answer_ms: Option<i64>,
}

/// One of the last calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentCall {
    /// The record id.
    pub id: String,
    /// The caller's number, as sent (escape it for its sink).
    pub caller: String,
    /// The caller's display name, as sent (escape it for its sink).
    pub caller_name: Option<String>,
    /// When the INVITE arrived.
    pub started_at: UtcMs,
    /// The queue it was routed to.
    pub department: Option<String>,
    /// The operator who answered.
    pub operator: Option<String>,
    /// INVITE to the operator's answer, in milliseconds.
    pub answer_ms: Option<i64>,
    /// How it ended; `None` while in progress.
    pub outcome: Option<Outcome>,
}

/// A read-only connection for the shift's summary.
pub struct Summary {
    conn: Connection,
}

fn bounds(range: TimeRange) -> (i64, i64) {
    (range.since.map_or(i64::MIN, UtcMs::millis), range.until.map_or(i64::MAX, UtcMs::millis))
}

fn count(v: Option<i64>) -> u64 {
    v.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl Summary {
    /// Opens `path` read-only; fails if it does not exist or has no cc112 schema.
    pub fn open(path: &Path) -> Result<Summary, StoreError> {
        Ok(Summary { conn: schema::open_read_only(path)? })
    }

    /// The counts of the calls started in `range`.
    pub fn totals(&self, range: TimeRange, within_seconds: u32) -> Result<ShiftTotals, StoreError> {
        let (since, until) = bounds(range);
        let within_ms = i64::from(within_seconds) * 1000;
        let row = self.conn.query_row(
            "SELECT COUNT(*),
                    SUM(operator_answered_at IS NOT NULL),
                    SUM(operator_answered_at IS NOT NULL AND operator_answered_at - started_at <= ?3),
                    SUM(outcome = 'abandoned_queue'),
                    SUM(outcome = 'abandoned_ivr')
             FROM calls WHERE started_at >= ?1 AND started_at < ?2",
            params![since, until, within_ms],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        Ok(ShiftTotals {
            calls: count(row.0),
            answered: count(row.1),
            answered_within: count(row.2),
            within_seconds,
            abandoned_queue: count(row.3),
            abandoned_ivr: count(row.4),
        })
    }

    /// Answer times per priority class of the calls started in `range` that reached
    /// a queue (calls the gateway placed to call back are not waits), highest class
    /// first; a class without a call is left out.
    pub fn classes(&self, range: TimeRange, within_seconds: u32) -> Result<Vec<ClassTotals>, StoreError> {
        let (since, until) = bounds(range);
        let within_ms = i64::from(within_seconds) * 1000;
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {} AS class,
                    SUM(operator_answered_at IS NOT NULL),
                    SUM(operator_answered_at IS NOT NULL AND operator_answered_at - started_at <= ?3),
                    SUM(outcome = 'abandoned_queue'),
                    AVG(operator_answered_at - started_at),
                    MAX(operator_answered_at - started_at)
             FROM calls WHERE started_at >= ?1 AND started_at < ?2 AND department IS NOT NULL AND direction IS NULL
             GROUP BY class",
            super::classes::CLASS_SQL
        ))?;
        let rows = st.query_map(params![since, until, within_ms], |r| {
            let class: String = r.get(0)?;
            let avg: Option<f64> = r.get(4)?;
            Ok((class, count(r.get(1)?), count(r.get(2)?), count(r.get(3)?), avg.map(|a| a.round() as i64), r.get::<_, Option<i64>>(5)?))
        })?;
        let mut found = Vec::new();
        for row in rows {
            found.push(row?);
        }
        Ok(super::classes::CLASSES
            .into_iter()
            .filter_map(|class| {
                let (_, answered, answered_within, abandoned_queue, avg_answer_ms, max_answer_ms) = found.iter().find(|f| f.0 == class)?.clone();
                Some(ClassTotals { class, answered, answered_within, abandoned_queue, avg_answer_ms, max_answer_ms })
            })
            .collect())
    }

    /// The last `limit` calls started in `range`, newest first.
    pub fn recent(&self, range: TimeRange, limit: usize) -> Result<Vec<RecentCall>, StoreError> {
        let (since, until) = bounds(range);
        let mut st = self.conn.prepare(
            "SELECT id, caller, caller_name, started_at, department, operator, operator_answered_at, outcome
             FROM calls WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY started_at DESC, id DESC LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![since, until, limit], |r| {
            let started: i64 = r.get(3)?;
            let answered: Option<i64> = r.get(6)?;
            let outcome: Option<String> = r.get(7)?;
            Ok((
                RecentCall {
                    id: r.get(0)?,
                    caller: r.get(1)?,
                    caller_name: r.get(2)?,
                    started_at: UtcMs(started),
                    department: r.get(4)?,
                    operator: r.get(5)?,
                    answer_ms: answered.map(|a| (a - started).max(0)),
                    outcome: None,
                },
                outcome,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut call, outcome) = row?;
            call.outcome = match outcome {
                None => None,
                Some(s) => Some(s.parse().map_err(|_| StoreError::BadValue { column: "outcome", value: s })?),
            };
            out.push(call);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UtcOffset;
    use crate::store::query::Reader;

    /// (started, operator answered, outcome) in seconds after 1000 s.
    const CALLS: [(i64, Option<i64>, Option<&str>); 7] = [
        (0, Some(5), Some("answered")),
        (10, Some(25), Some("answered")),   // exactly 15 s: within
        (20, Some(36), Some("answered")),   // 16 s: not within
        (30, None, Some("abandoned_queue")),
        (40, None, Some("abandoned_ivr")),
        (50, None, None),                   // in progress
        (5000, Some(5001), Some("answered")), // after the range
    ];

    fn database(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("cc112.db");
        let conn = schema::open_writer_connection(&path).unwrap();
        for (i, (s, a, o)) in CALLS.iter().enumerate() {
            let ms = |x: i64| 1_000_000 + x * 1000;
            conn.execute(
                "INSERT INTO calls (id, sip_call_id, caller, caller_name, dialed, identity, started_at, operator, operator_answered_at, outcome, department)
                 VALUES (?1, 'c', ?2, ?3, '112', '112', ?4, ?5, ?6, ?7, 'fire')",
                params![format!("R{i}"), format!("0812{i}"), (i == 1).then_some("<b>x</b>"), ms(*s), a.map(|_| "op-sari"), a.map(ms), o],
            )
            .unwrap();
        }
        path
    }

    #[test]
    fn the_totals_agree_with_the_report_and_the_last_calls_come_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let range = TimeRange { since: Some(UtcMs(1_000_000)), until: Some(UtcMs(1_000_000 + 3_600_000)) };
        let t = Summary::open(&path).unwrap().totals(range, 15).unwrap();
        assert_eq!(
            t,
            ShiftTotals { calls: 6, answered: 3, answered_within: 2, within_seconds: 15, abandoned_queue: 1, abandoned_ivr: 1 }
        );
        assert_eq!(t.offered(), 4);
        assert_eq!(t.percent(), Some(50.0));
        let report = Reader::open(&path).unwrap().report(range, UtcOffset::WIB).unwrap();
        let fifteen = report.answered_within.iter().find(|w| w.seconds == 15).unwrap();
        assert_eq!((fifteen.answered, fifteen.offered), (t.answered_within, t.offered()));
        assert_eq!((report.abandoned_queue, report.abandoned_ivr, report.total), (t.abandoned_queue, t.abandoned_ivr, t.calls));

        let recent = Summary::open(&path).unwrap().recent(range, 3).unwrap();
        let ids: Vec<&str> = recent.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["R5", "R4", "R3"]);
        assert_eq!(recent[0].outcome, None);
        assert_eq!(recent[2].outcome, Some(Outcome::AbandonedQueue));
        let all = Summary::open(&path).unwrap().recent(range, 10).unwrap();
        assert_eq!(all.len(), 6);
        let second = all.iter().find(|c| c.id == "R1").unwrap();
        assert_eq!((second.answer_ms, second.caller_name.as_deref()), (Some(15_000), Some("<b>x</b>")));
    }

    #[test]
    fn the_classes_agree_with_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let conn = schema::open_writer_connection(&path).unwrap();
        // R0 (5 s) pressed 5 5; R2 (16 s) and R3 (abandoned) were silent; R1 (15 s) normal.
        conn.execute_batch("UPDATE calls SET flags = 'silent_55' WHERE id = 'R0'; UPDATE calls SET flags = 'silent' WHERE id IN ('R2', 'R3');").unwrap();
        let range = TimeRange { since: Some(UtcMs(1_000_000)), until: Some(UtcMs(1_000_000 + 3_600_000)) };
        let classes = Summary::open(&path).unwrap().classes(range, 15).unwrap();
        let got: Vec<_> = classes.iter().map(|c| (c.class, c.answered, c.answered_within, c.abandoned_queue, c.avg_answer_ms, c.max_answer_ms)).collect();
        assert_eq!(got, [("high", 1, 1, 0, Some(5_000), Some(5_000)), ("normal", 1, 1, 0, Some(15_000), Some(15_000)), ("low", 1, 0, 1, Some(16_000), Some(16_000))]);
        let report = Reader::open(&path).unwrap().report(range, UtcOffset::WIB).unwrap();
        let lines: Vec<_> = report.by_class.iter().map(|l| (l.class, l.answered as u64, l.abandoned_queue, l.max_ms)).collect();
        let mine: Vec<_> = classes.iter().map(|c| (c.class, c.answered, c.abandoned_queue, c.max_answer_ms)).collect();
        assert_eq!(lines, mine, "the wallboard and the report count the same calls per class");
    }

    #[test]
    fn an_empty_shift_has_no_share() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let range = TimeRange { since: Some(UtcMs(0)), until: Some(UtcMs(1)) };
        let t = Summary::open(&path).unwrap().totals(range, 15).unwrap();
        assert_eq!((t.calls, t.offered(), t.percent()), (0, 0, None));
        assert!(Summary::open(&dir.path().join("none.db")).is_err());
    }
}
