//! Call records: the evidence of every call, kept in SQLite for the shift and the city.
//!
//! What this module owns:
//! - the schema (`migrations/*.sql`, embedded, applied at open by `PRAGMA user_version`)
//!   and the durability settings (WAL + `synchronous=FULL`, checked, not assumed);
//! - the [`Writer`]: one thread with the only read-write connection, fed by a bounded
//!   in-memory queue, batching records into transactions so the engine never waits on
//!   the disk, yet can wait for the commit of a call's first record before its 200 OK;
//! - crash recovery: calls left open by a killed process are closed as `interrupted`;
//! - shifts ([`shift`]) and the read-only queries and formatters the CLI prints
//!   ([`query`], [`format`](mod@format)).
//!
//! The engine talks to the [`RecordStore`] trait, not to SQLite, so a PostgreSQL store
//! (tokio-postgres: rusqlite and sqlx's SQLite driver cannot link together) can replace
//! it for centers that outgrow one machine; the SQL is kept portable for that reason.

pub mod format;
pub mod query;
pub mod record;
pub mod schema;
pub mod writer;

use thiserror::Error;

pub use query::{
    cli_range, CallFilter, CallRow, EventRow, OperatorEventRow, Reader, Report, TimeRange,
};
pub use record::{
    CallEnd, CallPatch, CallStart, HangupBy, OperatorEventKind, Outcome, Record, RecordId,
};
pub use schema::{integrity_check, Recovery};
// Times and shifts live in `crate::clock` (configuration speaks of them too); these
// re-exports keep `store::UtcMs` and friends working for the store's callers.
pub use crate::clock::{LocalDate, ShiftDef, ShiftError, ShiftId, ShiftSelector, ShiftSpan, Shifts, UtcMs};
pub use writer::{Health, ShutdownReport, StoreHandle, Ticket, Writer, WriterOptions};

/// The default database path, relative to the working directory.
pub const DEFAULT_DB_PATH: &str = "data/cc112.db";

/// Errors opening or reading the store. Writing never returns these to the engine: the
/// writer keeps records and reports problems through [`Health`].
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// WAL or `synchronous=FULL` is not in effect: records could be lost in a crash, so
    /// the gateway refuses to start rather than pretend.
    #[error("database durability not as required: {0}")]
    Durability(String),
    #[error("migration {name} failed: {source}")]
    Migration {
        name: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} is newer than this cc112 knows ({known}); upgrade cc112"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no call database at {0}")]
    NoDatabase(String),
    #[error("no call with id {0}")]
    NoSuchCall(String),
    #[error(
        "{0:?} is not a time: use YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (local) or add Z / +HH:MM"
    )]
    BadTime(String),
    #[error(transparent)]
    Shift(#[from] ShiftError),
    #[error("corrupt value in column {column}: {value:?}")]
    BadValue { column: &'static str, value: String },
}

/// Why a confirmation did not say "committed". Cloneable (unlike [`StoreError`]) since
/// one failure is reported to every waiter of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommitError {
    /// The commit failed (disk full, database locked...). The record is still queued
    /// and will be written when the database recovers; only the wait is over.
    #[error("record not yet committed (kept in memory, retrying): {0}")]
    Deferred(String),
    /// The database refused this record for good (constraint); it was skipped.
    #[error("record refused by the database: {0}")]
    Rejected(String),
    /// The queue was full and this was a droppable timeline event.
    #[error("record dropped: queue full")]
    Dropped,
    /// The store is shut down (or its thread died).
    #[error("record store closed")]
    Closed,
}

/// What happened to a submitted record, known without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// Queue full: a timeline event was dropped (counted in [`Health::dropped_events`]).
    Dropped,
    /// Shutdown has begun.
    Closed,
}

/// The engine's view of a record store. Every method returns at once: writing happens
/// elsewhere. Implemented by [`Writer`] and its [`StoreHandle`]; a PostgreSQL store
/// would implement the same.
pub trait RecordStore: Send + Sync {
    /// Queue a record.
    fn submit(&self, record: Record) -> Submitted;
    /// Queue a record and get a [`Ticket`] resolving when it is committed (or the first
    /// commit attempt fails).
    fn submit_and_confirm(&self, record: Record) -> Ticket;
    /// Queue a record; `on_commit` runs on the store's thread with the same outcome a
    /// ticket would carry. For async runtimes: complete a oneshot in it.
    fn submit_with_callback(
        &self,
        record: Record,
        on_commit: Box<dyn FnOnce(Result<(), CommitError>) + Send>,
    ) -> Submitted;
    /// Queue depth, last error, last commit.
    fn health(&self) -> Health;
}
