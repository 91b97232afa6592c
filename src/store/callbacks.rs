//! The callback worklist (issue 16): every call abandoned in the IVR or the queue, and
//! every offer refused because none of its codecs could be decoded (issue 17), becomes
//! an item an operator calls back, unless the same number reached an operator since. Items live in the `callbacks` table (migration 0003), keyed by the abandoned
//! call's record id.
//!
//! Why in the store and written by the writer thread: an item is made in the same
//! transaction that closes the abandoned call's row, so a crash cannot leave an
//! abandoned call without its item (or an item for a call still open); and an
//! operator's answer closes the number's open items (`reached`) in the transaction that
//! records the answer. The command line claims and closes items through its own short
//! write transactions (SQLite's WAL lets it while the gateway writes).
//!
//! States: `open` → `claimed` (an operator took it) → `done` (with a note); `reached`
//! (the number reached an operator by itself); `expired` (not handled within
//! `[callbacks] keep`, counted in the log).

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::record::{CallEnd, Outcome};
use super::StoreError;
use crate::clock::UtcMs;

/// Longest note kept with a done item (characters).
pub const MAX_NOTE_CHARS: usize = 500;

/// One item of the worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallbackItem {
    /// The abandoned call's record id (the item's id).
    pub id: String,
    /// The number to call back, as the caller's phone sent it.
    pub caller: String,
    /// When the abandoned call ended (UTC milliseconds since the epoch).
    #[schema(value_type = i64)]
    pub created_at: UtcMs,
    /// The queue it had reached, if any.
    pub department: Option<String>,
    /// The call's flags (`silent`, `silent_55`, `callback`).
    pub flags: Option<String>,
    /// How long the caller waited before hanging up, in milliseconds.
    pub waited_ms: i64,
    /// `abandoned_ivr`, `abandoned_queue`, or `rejected` (no common codec).
    pub outcome: String,
    /// `open`, `claimed`, `done`, `reached`, `expired`.
    pub state: String,
    /// The operator who claimed it.
    pub operator: Option<String>,
    /// The operator's note, once done.
    pub note: Option<String>,
    /// Call backs tried (`cc112 callbacks call`).
    pub attempts: i64,
    /// How the last one went (`answered`, `busy 486`, `no answer`...).
    pub last_attempt: Option<String>,
}

/// Makes the item of a call that just ended abandoned, or refused with 488 because
/// no codec of its offer could be decoded (issue 17: nobody could hear that caller, so
/// an operator calls back); writer thread, in the transaction that closes its row.
/// Another end makes none.
pub(crate) fn on_call_end(conn: &Connection, e: &CallEnd) -> Result<(), rusqlite::Error> {
    let abandoned = matches!(e.outcome, Outcome::AbandonedIvr | Outcome::AbandonedQueue);
    if !abandoned && e.reason != super::record::NO_COMMON_CODEC {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO callbacks (call_id, caller, created_at, department, flags, waited_ms, outcome, state)
         SELECT c.id, c.caller, ?2, c.department, c.flags, MAX(?2 - c.started_at, 0), ?3, 'open'
         FROM calls c
         WHERE c.id = ?1
           AND NOT EXISTS (SELECT 1 FROM calls later WHERE later.caller = c.caller
                           AND later.started_at > c.started_at AND later.operator_answered_at IS NOT NULL)
         ON CONFLICT (call_id) DO NOTHING",
    )?
    .execute(params![e.id.as_str(), e.ended_at.millis(), e.outcome.as_str()])?;
    Ok(())
}

/// The call `id` reached an operator at `at`: its number's open items are `reached`.
pub(crate) fn on_operator_answer(conn: &Connection, id: &str, at: UtcMs) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "UPDATE callbacks SET state = 'reached', closed_at = ?2
         WHERE state IN ('open', 'claimed') AND caller = (SELECT caller FROM calls WHERE id = ?1)",
    )?
    .execute(params![id, at.millis()])?;
    Ok(())
}

/// A call back of `item` (record `call`) by `operator`: started (`result` `None`: the
/// item is claimed, unless closed meanwhile, and the call's row says what it is), or
/// over (counted with its result; an item the call back did not reach is open again,
/// while one it reached was closed `reached` by [`on_operator_answer`]).
pub(crate) fn attempt(conn: &Connection, item: &str, call: &str, operator: &str, at: UtcMs, result: Option<&str>) -> Result<(), rusqlite::Error> {
    match result {
        None => {
            conn.prepare_cached("UPDATE calls SET direction = 'callback', callback_item = ?2 WHERE id = ?1")?.execute(params![call, item])?;
            conn.prepare_cached("UPDATE callbacks SET state = 'claimed', operator = ?2, claimed_at = ?3 WHERE call_id = ?1 AND state IN ('open', 'claimed')")?
                .execute(params![item, operator, at.millis()])?;
        }
        Some(r) => {
            conn.prepare_cached(
                "UPDATE callbacks SET attempts = attempts + 1, last_attempt = ?2,
                   operator = CASE WHEN state = 'claimed' THEN NULL ELSE operator END,
                   state = CASE WHEN state = 'claimed' THEN 'open' ELSE state END
                 WHERE call_id = ?1",
            )?
            .execute(params![item, r])?;
        }
    }
    Ok(())
}

/// Open or claimed items created before `before` become `expired`; how many.
pub(crate) fn expire(conn: &Connection, before: UtcMs, now: UtcMs) -> Result<usize, rusqlite::Error> {
    conn.prepare_cached("UPDATE callbacks SET state = 'expired', closed_at = ?2 WHERE state IN ('open', 'claimed') AND created_at < ?1")?
        .execute(params![before.millis(), now.millis()])
}

const COLUMNS: &str = "call_id, caller, created_at, department, flags, waited_ms, outcome, state, operator, note, attempts, last_attempt";

fn item(r: &rusqlite::Row<'_>) -> Result<CallbackItem, rusqlite::Error> {
    Ok(CallbackItem {
        id: r.get(0)?,
        caller: r.get(1)?,
        created_at: UtcMs(r.get(2)?),
        department: r.get(3)?,
        flags: r.get(4)?,
        waited_ms: r.get(5)?,
        outcome: r.get(6)?,
        state: r.get(7)?,
        operator: r.get(8)?,
        note: r.get(9)?,
        attempts: r.get(10)?,
        last_attempt: r.get(11)?,
    })
}

/// The items, oldest first: the open and claimed ones, or every one when `all`.
pub fn list(conn: &Connection, all: bool) -> Result<Vec<CallbackItem>, StoreError> {
    let filter = if all { "" } else { "WHERE state IN ('open', 'claimed')" };
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM callbacks {filter} ORDER BY created_at, call_id"))?;
    let rows = stmt.query_map([], item)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One item by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<CallbackItem>, StoreError> {
    Ok(conn.query_row(&format!("SELECT {COLUMNS} FROM callbacks WHERE call_id = ?1"), [id], item).optional()?)
}

/// Why a claim or a close was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorklistError {
    /// No item has this id.
    #[error("no callback item {0}")]
    Unknown(String),
    /// The item is closed (done, reached or expired) or claimed by someone else.
    #[error("callback item {id} is {state}{}", by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default())]
    NotOpen {
        /// The item.
        id: String,
        /// Its state.
        state: String,
        /// Who claimed it.
        by: Option<String>,
    },
}

/// `operator` takes an open item (or one they already claimed).
pub fn claim(conn: &Connection, id: &str, operator: &str, now: UtcMs) -> Result<Result<CallbackItem, WorklistError>, StoreError> {
    let n = conn.execute(
        "UPDATE callbacks SET state = 'claimed', operator = ?2, claimed_at = ?3
         WHERE call_id = ?1 AND (state = 'open' OR (state = 'claimed' AND operator = ?2))",
        params![id, operator, now.millis()],
    )?;
    settle(conn, id, n)
}

/// An open or claimed item is done, with the operator's note (bounded).
pub fn done(conn: &Connection, id: &str, note: &str, now: UtcMs) -> Result<Result<CallbackItem, WorklistError>, StoreError> {
    let note: String = note.chars().filter(|c| !c.is_control()).take(MAX_NOTE_CHARS).collect();
    let n = conn.execute(
        "UPDATE callbacks SET state = 'done', note = ?2, closed_at = ?3 WHERE call_id = ?1 AND state IN ('open', 'claimed')",
        params![id, note, now.millis()],
    )?;
    settle(conn, id, n)
}

fn settle(conn: &Connection, id: &str, changed: usize) -> Result<Result<CallbackItem, WorklistError>, StoreError> {
    let Some(item) = get(conn, id)? else {
        return Ok(Err(WorklistError::Unknown(id.to_string())));
    };
    if changed == 1 {
        Ok(Ok(item))
    } else {
        Ok(Err(WorklistError::NotOpen { id: id.to_string(), state: item.state, by: item.operator }))
    }
}

/// One call of the last days as the engine's caller book takes it at start: the
/// number, when it started, how it ended, the queue it reached.
pub type PastCallRow = (String, UtcMs, Outcome, Option<String>, Option<String>);
/// An open callback item as the caller book takes it: the number, when it was made.
pub type OpenItemRow = (String, UtcMs);

/// The ended calls started since `since` (the newest `most`), oldest first, and the open callback items
/// (number, when made): what the engine's caller book is loaded with at start.
pub fn recent_callers(conn: &Connection, since: UtcMs, most: usize) -> Result<(Vec<PastCallRow>, Vec<OpenItemRow>), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT caller, started_at, outcome, department, flags FROM
           (SELECT * FROM calls WHERE started_at >= ?1 AND outcome IS NOT NULL ORDER BY started_at DESC LIMIT ?2)
         ORDER BY started_at",
    )?;
    let calls = stmt
        .query_map(params![since.millis(), most as i64], |r| {
            let outcome: String = r.get(2)?;
            Ok((r.get::<_, String>(0)?, UtcMs(r.get(1)?), outcome, r.get::<_, Option<String>>(3)?, r.get::<_, Option<String>>(4)?))
        })?
        .filter_map(|row| match row {
            Ok((caller, at, outcome, dept, flags)) => outcome.parse::<Outcome>().ok().map(|o| Ok((caller, at, o, dept, flags))),
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare("SELECT caller, created_at FROM callbacks WHERE state IN ('open', 'claimed')")?;
    let open = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, UtcMs(r.get(1)?))))?.collect::<Result<Vec<_>, _>>()?;
    Ok((calls, open))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{CallPatch, HangupBy, RecordId};
    use crate::store::{rows, schema};

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        schema::migrate(&conn).unwrap();
        conn
    }

    fn call(conn: &Connection, id: &str, caller: &str, started: i64) {
        conn.execute("INSERT INTO calls (id, sip_call_id, caller, dialed, identity, started_at) VALUES (?1, ?1, ?2, '112', '112', ?3)", params![id, caller, started]).unwrap();
    }

    fn end(conn: &Connection, id: &str, at: i64, outcome: Outcome) {
        let e = CallEnd { id: RecordId(id.into()), ended_at: UtcMs(at), outcome, hangup_by: Some(HangupBy::Caller), reason: String::new() };
        rows::end_call(conn, &e).unwrap();
    }

    #[test]
    fn an_abandoned_call_becomes_an_item_until_the_number_reaches_an_operator() {
        let conn = db();
        call(&conn, "A1", "0812", 1_000);
        let flags = CallPatch { department: Some("fire".into()), flags: Some("silent".into()), ..CallPatch::default() };
        rows::update_call(&conn, "A1", &flags).unwrap();
        end(&conn, "A1", 31_000, Outcome::AbandonedQueue);
        // Written twice (a replayed batch): still one item.
        on_call_end(&conn, &CallEnd { id: RecordId("A1".into()), ended_at: UtcMs(31_000), outcome: Outcome::AbandonedQueue, hangup_by: None, reason: String::new() }).unwrap();
        let items = list(&conn, false).unwrap();
        assert_eq!(items.len(), 1);
        let i = &items[0];
        assert_eq!((i.id.as_str(), i.caller.as_str(), i.department.as_deref(), i.flags.as_deref(), i.waited_ms, i.state.as_str()), ("A1", "0812", Some("fire"), Some("silent"), 30_000, "open"));
        // An answered call makes none; the same number reaching an operator closes it.
        call(&conn, "A2", "0812", 40_000);
        rows::update_call(&conn, "A2", &CallPatch { operator: Some("op-a".into()), operator_answered_at: Some(UtcMs(45_000)), ..CallPatch::default() }).unwrap();
        end(&conn, "A2", 90_000, Outcome::Answered);
        assert!(list(&conn, false).unwrap().is_empty());
        assert_eq!(get(&conn, "A1").unwrap().map(|i| i.state), Some("reached".into()));
        // A 488 for want of a common codec makes one: nobody could hear that caller.
        call(&conn, "A3", "0815", 100_000);
        let e = CallEnd { id: RecordId("A3".into()), ended_at: UtcMs(100_010), outcome: Outcome::Rejected, hangup_by: Some(HangupBy::Gateway), reason: crate::store::record::NO_COMMON_CODEC.into() };
        rows::end_call(&conn, &e).unwrap();
        assert_eq!(get(&conn, "A3").unwrap().map(|i| (i.outcome, i.state)), Some(("rejected".into(), "open".into())));
        // An abandoned call from before a call that reached an operator makes no item.
        call(&conn, "A0", "0812", 500);
        end(&conn, "A0", 95_000, Outcome::AbandonedIvr);
        assert_eq!(get(&conn, "A0").unwrap(), None);
    }

    #[test]
    fn items_are_claimed_done_and_expire() {
        let conn = db();
        for (id, at) in [("B1", 1_000), ("B2", 2_000), ("B3", 3_000)] {
            call(&conn, id, "0813", at);
            end(&conn, id, at + 10, Outcome::AbandonedIvr);
        }
        assert_eq!(claim(&conn, "B1", "op-a", UtcMs(5_000)).unwrap().map(|i| i.state), Ok("claimed".into()));
        assert_eq!(claim(&conn, "B1", "op-a", UtcMs(5_001)).unwrap().map(|i| i.operator), Ok(Some("op-a".into())), "again by the same operator");
        assert!(matches!(claim(&conn, "B1", "op-b", UtcMs(5_002)).unwrap(), Err(WorklistError::NotOpen { .. })));
        assert_eq!(claim(&conn, "nope", "op-a", UtcMs(5_003)).unwrap(), Err(WorklistError::Unknown("nope".into())));
        let note = format!("rang twice\r\nno answer{}", "x".repeat(600));
        let done_item = done(&conn, "B1", &note, UtcMs(6_000)).unwrap().unwrap();
        assert_eq!(done_item.state, "done");
        assert!(done_item.note.as_deref().is_some_and(|n| n.len() == MAX_NOTE_CHARS && !n.contains('\n')));
        assert!(matches!(done(&conn, "B1", "again", UtcMs(6_001)).unwrap(), Err(WorklistError::NotOpen { .. })));
        assert_eq!(expire(&conn, UtcMs(2_500), UtcMs(7_000)).unwrap(), 1, "B2 only");
        let open: Vec<String> = list(&conn, false).unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(open, ["B3"]);
        assert_eq!(list(&conn, true).unwrap().len(), 3);
        // A call back of B3 that did not reach the number: open again, counted.
        call(&conn, "C1", "0813", 8_000);
        attempt(&conn, "B3", "C1", "op-a", UtcMs(8_000), None).unwrap();
        assert_eq!(get(&conn, "B3").unwrap().map(|i| (i.state, i.operator)), Some(("claimed".into(), Some("op-a".into()))));
        attempt(&conn, "B3", "C1", "op-a", UtcMs(9_000), Some("busy")).unwrap();
        assert_eq!(get(&conn, "B3").unwrap().map(|i| (i.state, i.attempts, i.last_attempt)), Some(("open".into(), 1, Some("busy".into()))));
        let direction: Option<String> = conn.query_row("SELECT direction FROM calls WHERE id = 'C1'", [], |r| r.get(0)).unwrap();
        assert_eq!(direction.as_deref(), Some("callback"));
        let (calls, items) = recent_callers(&conn, UtcMs(0), 10).unwrap();
        assert_eq!(calls.len(), 3);
        assert_eq!(items, [("0813".to_string(), UtcMs(3_010))]);
    }
}
