//! The tables shipped to the central view, column by column, shared by the shipper
//! (SQLite → PostgreSQL) and the central reader (PostgreSQL → in-memory SQLite), so the
//! two directions cannot disagree about a column.
//!
//! The lists are the local schema's columns at migration 0005; a migration that adds a
//! column to one of these tables adds it here and to [`super::pg_schema`] (the unit
//! test there checks that every column listed has its DDL).

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

/// A column's type: every column of the record schema is an integer or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `BIGINT` / `INTEGER`: times in milliseconds, counts, sequence numbers.
    Int,
    /// `TEXT`.
    Text,
}

/// One shipped table.
#[derive(Debug)]
pub(super) struct Table {
    /// Its name, the same locally and centrally.
    pub name: &'static str,
    /// Its local columns, in order.
    pub cols: &'static [(&'static str, Kind)],
    /// What an insert does with a row already there (after `ON CONFLICT`).
    pub on_conflict: &'static str,
    /// Whether the local rowid is shipped as `local_rowid` (the key of a table that
    /// has none of its own).
    pub ships_rowid: bool,
}

use Kind::{Int, Text};

/// `calls`: a row changes while its call runs; the shipper sends its current state
/// again after each change, so the central row is updated to the node's own row.
pub(super) const CALLS: Table = Table {
    name: "calls",
    cols: &[
        ("id", Text),
        ("sip_call_id", Text),
        ("caller", Text),
        ("caller_name", Text),
        ("dialed", Text),
        ("identity", Text),
        ("started_at", Int),
        ("answered_at", Int),
        ("language", Text),
        ("ivr_digits", Text),
        ("ivr_path", Text),
        ("department", Text),
        ("queue_entered_at", Int),
        ("operator", Text),
        ("operator_answered_at", Int),
        ("ended_at", Int),
        ("outcome", Text),
        ("hangup_by", Text),
        ("end_reason", Text),
        ("config_version", Text),
        ("flags", Text),
        ("history", Text),
        ("direction", Text),
        ("callback_item", Text),
        ("voice", Text),
        ("voice_first_speech_ms", Int),
        ("voice_noise_ms", Int),
        ("voice_silence_ms", Int),
    ],
    on_conflict: "(id) DO UPDATE SET node = EXCLUDED.node, sip_call_id = EXCLUDED.sip_call_id, caller = EXCLUDED.caller, \
        caller_name = EXCLUDED.caller_name, dialed = EXCLUDED.dialed, identity = EXCLUDED.identity, started_at = EXCLUDED.started_at, \
        answered_at = EXCLUDED.answered_at, language = EXCLUDED.language, ivr_digits = EXCLUDED.ivr_digits, ivr_path = EXCLUDED.ivr_path, \
        department = EXCLUDED.department, queue_entered_at = EXCLUDED.queue_entered_at, operator = EXCLUDED.operator, \
        operator_answered_at = EXCLUDED.operator_answered_at, ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome, \
        hangup_by = EXCLUDED.hangup_by, end_reason = EXCLUDED.end_reason, config_version = EXCLUDED.config_version, \
        flags = EXCLUDED.flags, history = EXCLUDED.history, direction = EXCLUDED.direction, callback_item = EXCLUDED.callback_item, \
        voice = EXCLUDED.voice, voice_first_speech_ms = EXCLUDED.voice_first_speech_ms, voice_noise_ms = EXCLUDED.voice_noise_ms, \
        voice_silence_ms = EXCLUDED.voice_silence_ms",
    ships_rowid: false,
};

/// Index of `ended_at` in [`CALLS`] (`None` while the call runs).
pub(super) const CALLS_ENDED_AT: usize = 15;

/// `call_events`: append-only, keyed by the call's record id and the event's number.
pub(super) const CALL_EVENTS: Table = Table {
    name: "call_events",
    cols: &[("call_id", Text), ("seq", Int), ("at", Int), ("kind", Text), ("details", Text)],
    on_conflict: "(call_id, seq) DO NOTHING",
    ships_rowid: false,
};

/// `operator_events`: append-only; operator ids are the same on every node, so the
/// node is part of the central key.
pub(super) const OPERATOR_EVENTS: Table = Table {
    name: "operator_events",
    cols: &[("operator_id", Text), ("seq", Int), ("at", Int), ("kind", Text), ("reason", Text)],
    on_conflict: "(node, operator_id, seq) DO NOTHING",
    ships_rowid: false,
};

/// `refusals`: append-only, no key of its own: the node's rowid is its key.
pub(super) const REFUSALS: Table = Table {
    name: "refusals",
    cols: &[("since", Int), ("source", Text), ("reason", Text), ("count", Int), ("callers", Text)],
    on_conflict: "(node, local_rowid) DO NOTHING",
    ships_rowid: true,
};

impl Table {
    /// `a, b, c`.
    pub fn col_list(&self) -> String {
        self.cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// The local rows past `rowid`, oldest first: `rowid` then the columns.
    pub fn select_after(&self) -> String {
        format!("SELECT rowid, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2", self.col_list(), self.name)
    }

    /// The batch insert: one statement for all rows, each column an array parameter
    /// (`$1` is the node, then `local_rowid` when shipped, then the columns).
    pub fn insert_unnest(&self) -> String {
        let mut names = vec!["node".to_string()];
        let mut arrays = Vec::new();
        let mut n = 2;
        if self.ships_rowid {
            names.push("local_rowid".into());
            arrays.push(format!("${n}::int8[]"));
            n += 1;
        }
        for (c, k) in self.cols {
            names.push((*c).to_string());
            arrays.push(format!("${n}::{}[]", if *k == Int { "int8" } else { "text" }));
            n += 1;
        }
        format!(
            "INSERT INTO {} ({}) SELECT $1, * FROM UNNEST({}) ON CONFLICT {}",
            self.name,
            names.join(", "),
            arrays.join(", "),
            self.on_conflict
        )
    }

    /// The array parameters of [`Table::insert_unnest`] for `rows` (each `rowid` then
    /// the columns, as read by [`Table::select_after`]).
    pub fn arrays(&self, rows: &[Vec<Value>]) -> Vec<Box<dyn ToSql + Sync + Send>> {
        let mut out: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if self.ships_rowid {
            out.push(Box::new(rows.iter().map(|r| int(r.first())).collect::<Vec<_>>()));
        }
        for (i, (_, k)) in self.cols.iter().enumerate() {
            let cell = |r: &Vec<Value>| r.get(i + 1).cloned();
            match k {
                Int => out.push(Box::new(rows.iter().map(|r| int(cell(r).as_ref())).collect::<Vec<_>>())),
                Text => out.push(Box::new(rows.iter().map(|r| text(cell(r).as_ref())).collect::<Vec<_>>())),
            }
        }
        out
    }
}

/// An SQLite cell as an integer (`NULL` and anything else: none).
pub(super) fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(i)) => Some(*i),
        _ => None,
    }
}

/// An SQLite cell as text (an integer in a text column is written out).
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Text(s)) => Some(s.clone()),
        Some(Value::Integer(i)) => Some(i.to_string()),
        _ => None,
    }
}

/// Every shipped table.
#[cfg(test)]
pub(super) const ALL: [&Table; 4] = [&CALLS, &CALL_EVENTS, &OPERATOR_EVENTS, &REFUSALS];
