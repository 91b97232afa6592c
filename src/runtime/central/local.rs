//! The node's own journal, read the way the CLI reads it: a read-only SQLite connection
//! (WAL: a consistent snapshot, never in the writer's way), past the shipping cursor.
//!
//! `calls`, `call_events`, `operator_events` and `refusals` are only ever appended to
//! by the one writer thread, so a table's rowids grow in commit order: everything past
//! the cursor is exactly what was not shipped. A `calls` row is also *updated* while its
//! call runs (answer, queue, operator, end); the shipper sends a call's row again when
//! an event of that call is shipped, and watches the rows of calls still open (and of
//! calls just ended, for a late patch), re-sending any that changed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{params, Connection};

use super::tables::{Table, CALLS, CALLS_ENDED_AT, CALL_EVENTS, OPERATOR_EVENTS, REFUSALS};
use super::error::CentralError;
use crate::store::Reader;

/// The last local rowid shipped of each table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    pub calls: i64,
    pub call_events: i64,
    pub operator_events: i64,
    pub refusals: i64,
}

/// What one round ships.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Call rows to insert or update (`rowid` then the columns), by record id.
    pub calls: BTreeMap<String, Vec<Value>>,
    pub call_events: Vec<Vec<Value>>,
    pub operator_events: Vec<Vec<Value>>,
    pub refusals: Vec<Vec<Value>>,
    /// The cursor once this batch is committed.
    pub next: Cursor,
    /// A table had more rows than one batch takes: go again at once.
    pub full: bool,
}

impl Batch {
    /// Nothing to ship.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.call_events.is_empty() && self.operator_events.is_empty() && self.refusals.is_empty()
    }

    /// Rows in it.
    pub fn rows(&self) -> usize {
        self.calls.len() + self.call_events.len() + self.operator_events.len() + self.refusals.len()
    }
}

/// How long an ended call's row is still watched for a late change.
const ENDED_WATCH: Duration = Duration::from_secs(3);

/// The call rows last shipped of calls open (or just ended), to send again on change.
/// Bounded by the node's calls in progress (`[overload] max_calls`) and those ended in
/// the last few seconds; its ids come from the node's own journal.
#[derive(Debug, Default)]
pub(super) struct Watch {
    rows: HashMap<String, (Vec<Value>, Option<Instant>)>,
}

impl Watch {
    /// Rows to ship whatever they hold (after a (re)connection: the central view may
    /// hold an older state, or a takeover's close of a call that is in fact running).
    pub fn force(&mut self, ids: Vec<String>) {
        for id in ids {
            self.rows.insert(id, (Vec::new(), None));
        }
    }

    /// After a commit: remember what was shipped; forget calls ended a while ago.
    pub fn shipped(&mut self, calls: &BTreeMap<String, Vec<Value>>, now: Instant) {
        for (id, row) in calls {
            let ended = !matches!(row.get(CALLS_ENDED_AT + 1), None | Some(Value::Null));
            let since = match self.rows.get(id) {
                Some((_, Some(t))) if ended => Some(*t),
                _ => ended.then_some(now),
            };
            self.rows.insert(id.clone(), (row.clone(), since));
        }
        self.rows.retain(|_, (_, ended)| ended.is_none_or(|t| now.duration_since(t) < ENDED_WATCH));
    }
}

/// The node's journal, read-only.
pub(super) struct Local {
    reader: Reader,
}

impl Local {
    /// Opens `path` read-only (the writer has created it).
    pub fn open(path: &Path) -> Result<Local, CentralError> {
        Ok(Local { reader: Reader::open(path)? })
    }

    fn conn(&self) -> &Connection {
        self.reader.connection()
    }

    /// The highest rowid of each table: a cursor past it means the journal was
    /// replaced (a new database file under the same node name).
    pub fn tops(&self) -> Result<Cursor, CentralError> {
        let top = |t: &Table| -> Result<i64, CentralError> {
            Ok(self.conn().query_row(&format!("SELECT COALESCE(MAX(rowid), 0) FROM {}", t.name), [], |r| r.get(0))?)
        };
        Ok(Cursor { calls: top(&CALLS)?, call_events: top(&CALL_EVENTS)?, operator_events: top(&OPERATOR_EVENTS)?, refusals: top(&REFUSALS)? })
    }

    /// Record ids of the calls still open here (by the outcome index: an open call
    /// has neither outcome nor end).
    pub fn open_calls(&self) -> Result<Vec<String>, CentralError> {
        let mut st = self.conn().prepare("SELECT id FROM calls WHERE outcome IS NULL")?;
        let ids = st.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// The next batch past `cursor`, at most `limit` rows of each table, read in one
    /// snapshot, with the call rows that changed.
    pub fn batch(&self, cursor: Cursor, watch: &Watch, limit: usize) -> Result<Batch, CentralError> {
        let tx = self.conn().unchecked_transaction()?;
        let mut b = Batch { next: cursor, ..Batch::default() };
        let (rows, full) = after(&tx, &CALLS, cursor.calls, limit)?;
        b.full |= full;
        for row in rows {
            b.next.calls = b.next.calls.max(super::tables::int(row.first()).unwrap_or(0));
            if let Some(id) = super::tables::text(row.get(1)) {
                b.calls.insert(id, row);
            }
        }
        for (t, from, to, out) in [
            (&CALL_EVENTS, cursor.call_events, &mut b.next.call_events, &mut b.call_events),
            (&OPERATOR_EVENTS, cursor.operator_events, &mut b.next.operator_events, &mut b.operator_events),
            (&REFUSALS, cursor.refusals, &mut b.next.refusals, &mut b.refusals),
        ] {
            let (rows, full) = after(&tx, t, from, limit)?;
            b.full |= full;
            *to = rows.last().and_then(|r| super::tables::int(r.first())).unwrap_or(from);
            *out = rows;
        }
        let touched: Vec<String> = b.call_events.iter().filter_map(|e| super::tables::text(e.get(1))).collect();
        let mut by_id = tx.prepare_cached(&format!("SELECT rowid, {} FROM calls WHERE id = ?1", CALLS.col_list()))?;
        for id in touched {
            if let std::collections::btree_map::Entry::Vacant(slot) = b.calls.entry(id) {
                if let Some(row) = one(&mut by_id, slot.key())? {
                    slot.insert(row);
                }
            }
        }
        for (id, (last, _)) in &watch.rows {
            if b.calls.contains_key(id) {
                continue;
            }
            if let Some(row) = one(&mut by_id, id)? {
                if &row != last {
                    b.calls.insert(id.clone(), row);
                }
            }
        }
        drop(by_id);
        tx.finish()?;
        Ok(b)
    }
}

/// Rows of `t` past `rowid`, at most `limit`; and whether there were more.
fn after(conn: &Connection, t: &Table, rowid: i64, limit: usize) -> Result<(Vec<Vec<Value>>, bool), CentralError> {
    let mut st = conn.prepare_cached(&t.select_after())?;
    let n = t.cols.len() + 1;
    let take = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st
        .query_map(params![rowid, take], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())?
        .collect::<Result<Vec<_>, _>>()?;
    let full = rows.len() >= limit;
    Ok((rows, full))
}

fn one(st: &mut rusqlite::CachedStatement<'_>, id: &str) -> Result<Option<Vec<Value>>, CentralError> {
    let n = CALLS.cols.len() + 1;
    let mut rows = st.query(params![id])?;
    match rows.next()? {
        Some(r) => Ok(Some((0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>()?)),
        None => Ok(None),
    }
}
