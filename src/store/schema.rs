//! Opening the database: durability settings checked, migrations applied, calls left
//! open by a crash closed as `interrupted`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::record::Outcome;
use crate::clock::UtcMs;
use super::StoreError;

/// The migrations, in order; migration `i` (0-based) brings `user_version` from `i` to
/// `i + 1`. They are compiled in so the binary never runs against a schema it does not
/// know, and a file is never edited once released: a change is a new file.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_calls.sql", include_str!("../../migrations/0001_calls.sql")),
    ("0002_refusals.sql", include_str!("../../migrations/0002_refusals.sql")),
    ("0003_callbacks.sql", include_str!("../../migrations/0003_callbacks.sql")),
    ("0004_callback_calls.sql", include_str!("../../migrations/0004_callback_calls.sql")),
    ("0005_voice.sql", include_str!("../../migrations/0005_voice.sql")),
    ("0006_registrations.sql", include_str!("../../migrations/0006_registrations.sql")),
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// How long the writer lets SQLite wait on a lock before the attempt counts as failed
/// and goes to the writer's retry loop (where it is visible in health).
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// Opens (creating if needed, with its directory) the read-write connection, in WAL with
/// `synchronous=FULL`, and brings the schema up to date.
///
/// WAL lets the CLI read while the gateway writes; FULL makes every commit durable
/// across power loss, not just a process crash, which is what "an answered call always
/// has a record" needs. Both are read back: `journal_mode=WAL` silently stays `memory`
/// or `delete` on some filesystems and media, and we refuse to run believing otherwise.
pub fn open_writer_connection(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
        }
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    // The bundled SQLite has STAT4, which re-plans (re-parses and re-compiles) a cached
    // statement whenever a bound value its WHERE compares to an index changes: that was
    // every event insert (`WHERE call_id = ?1`), 7 % of the gateway's CPU at 1,500
    // calls/s. Our statements have one right plan; keep it.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous=FULL")?;
    check_durability(&conn, &mode)?;
    migrate(&conn)?;
    Ok(conn)
}

fn check_durability(conn: &Connection, mode_reply: &str) -> Result<(), StoreError> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode_reply.eq_ignore_ascii_case("wal") || !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Durability(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if sync != 2 {
        return Err(StoreError::Durability(format!(
            "synchronous is {sync}, not 2 (FULL)"
        )));
    }
    Ok(())
}

/// The durability settings actually in effect on a connection: `(journal_mode,
/// synchronous)`, for tests and the health output.
pub fn durability(conn: &Connection) -> Result<(String, i64), StoreError> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    Ok((mode, sync))
}

/// Applies every migration newer than `PRAGMA user_version`, all in one transaction
/// with the version bump, so a crash mid-migration leaves the old schema intact.
/// Returns how many were applied. A database newer than this build is an error: an old
/// binary must not write into a schema it does not understand.
pub fn migrate(conn: &Connection) -> Result<usize, StoreError> {
    let have: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let want = schema_version();
    if have > want {
        return Err(StoreError::SchemaTooNew {
            found: have,
            known: want,
        });
    }
    if have == want {
        return Ok(0);
    }
    let start = usize::try_from(have).unwrap_or(0);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<(), StoreError> {
        for (name, sql) in MIGRATIONS.iter().skip(start) {
            conn.execute_batch(sql).map_err(|e| StoreError::Migration {
                name: (*name).to_string(),
                source: e,
            })?;
        }
        // PRAGMA takes no bound parameters; the value is our own integer.
        conn.execute_batch(&format!("PRAGMA user_version = {want}"))?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(MIGRATIONS.len() - start)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Calls that were open when the previous process stopped, now `interrupted`.
    pub interrupted: Vec<String>,
}

/// Closes every call without `ended_at` as `interrupted`. Runs at open, before the
/// writer accepts records, so it only ever sees calls of a previous process.
///
/// `ended_at` is the call's last known instant (its last event, else its start), not
/// the restart time: the restart may come hours later and would make the call look that
/// long. The `interrupted` event itself is stamped `now`, with the chosen `ended_at` in
/// its details, so the timeline shows when the gap was found.
pub fn close_interrupted(conn: &mut Connection, now: UtcMs) -> Result<Recovery, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let open: Vec<(String, i64)> = {
        let mut st = tx.prepare(
            "SELECT c.id, COALESCE((SELECT MAX(e.at) FROM call_events e WHERE e.call_id = c.id), c.started_at)
             FROM calls c WHERE c.ended_at IS NULL ORDER BY c.started_at",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, last) in &open {
        tx.execute(
            "UPDATE calls SET ended_at = ?2, outcome = ?3, end_reason = ?4 WHERE id = ?1 AND ended_at IS NULL",
            params![id, last, Outcome::Interrupted.as_str(), "gateway stopped without ending the call"],
        )?;
        let details = serde_json::json!({ "ended_at": last, "detected_at": now.millis() });
        insert_event(
            &tx,
            id,
            now.millis(),
            "interrupted",
            Some(&details.to_string()),
        )?;
    }
    tx.commit()?;
    Ok(Recovery {
        interrupted: open.into_iter().map(|(id, _)| id).collect(),
    })
}

/// One row of `refusals`: a second's refused calls from one source for one reason.
pub(crate) fn insert_refusal(conn: &Connection, r: &super::record::RefusalRow) -> Result<(), rusqlite::Error> {
    let callers = serde_json::Value::from(r.callers.clone()).to_string();
    let count = i64::try_from(r.count).unwrap_or(i64::MAX);
    conn.prepare_cached("INSERT INTO refusals (since, source, reason, count, callers) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![r.since.millis(), r.source, r.reason, count, callers])?;
    Ok(())
}

/// Appends an event with the next sequence number of its call. `MAX(seq) + 1` reads the
/// primary key index; the single writer makes it race-free.
pub(crate) fn insert_event(
    conn: &Connection,
    call_id: &str,
    at: i64,
    kind: &str,
    details: Option<&str>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO call_events (call_id, seq, at, kind, details)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_id = ?1), ?2, ?3, ?4)",
    )?
    .execute(params![call_id, at, kind, details])
}

/// `PRAGMA integrity_check` on the database at `path`, through a read-only connection:
/// `Ok(vec!["ok"])` when healthy, else SQLite's list of problems.
pub fn integrity_check(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_read_only(path)?;
    integrity_check_conn(&conn)
}

pub(crate) fn integrity_check_conn(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut st = conn.prepare("PRAGMA integrity_check")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A read-only connection: the CLI and the API read while the gateway writes (WAL
/// readers never block the writer, nor it them). A missing file is an error rather than
/// a new empty database, so a mistyped path is noticed.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::NoDatabase(path.display().to_string()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let version: Option<i64> = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()?;
    let version = version.unwrap_or(0);
    if version == 0 {
        return Err(StoreError::NoDatabase(format!(
            "{} (no cc112 schema: has the gateway run?)",
            path.display()
        )));
    }
    if version > schema_version() {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: schema_version(),
        });
    }
    Ok(conn)
}
