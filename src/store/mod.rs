//! Call records: the evidence of every call, kept in SQLite for the shift and the city.
//!
//! What this module owns:
//! - the schema (`migrations/*.sql`, embedded, applied at open by `PRAGMA user_version`)
//!   and the durability settings (WAL + `synchronous=FULL`, checked, not assumed);
//! - the [`Writer`] (`writer.rs`): the one part of `store` that does IO on its own. It
//!   spawns a thread that owns the only read-write connection, fed by a bounded
//!   in-memory queue (`backlog.rs`: what gives way when the disk is out), and batches records into transactions so nobody waits on the
//!   disk, yet a caller can wait for the commit of a call's first record before its
//!   200 OK ([`Ticket`], or a callback);
//! - crash recovery: calls left open by a killed process are closed as `interrupted`;
//! - the read-only side: [`Reader`] opens its own read-only connections for the CLI's
//!   queries and reports ([`query`], [`format`](mod@format)), and the wallboard's
//!   summary of the shift ([`summary`]).
//!
//! The engine never sees the store. The runtime's recorder (`runtime/record.rs`) turns
//! the engine's call events into [`Record`]s and submits them to a [`StoreHandle`]; the
//! writer thread commits them. Times and shifts are [`crate::clock`]'s, re-exported
//! here for the store's callers. The SQL is kept portable (integers for times, no
//! SQLite-only types) so a PostgreSQL store could implement [`RecordStore`] for
//! centers that outgrow one machine.

mod backlog;
pub mod callbacks;
pub mod classes;
pub mod format;
pub mod query;
mod range;
pub mod registrations;
pub mod record;
mod rows;
pub mod schema;
pub mod summary;
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
/// Commit-latency buckets (`cc112_record_commit_seconds`), in microseconds: 0.5 ms to 5 s
/// (a healthy disk commits a batch in about a millisecond; a stalled one in seconds).
pub const COMMIT_BOUNDS_US: &[u64] = &[500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000];

pub use writer::{Health, ShutdownReport, StoreHandle, Ticket, Writer, WriterOptions};

/// The default database path, relative to the working directory.
pub const DEFAULT_DB_PATH: &str = "data/cc112.db";

/// Errors opening or reading the store. Writing never returns these to the engine: the
/// writer keeps records and reports problems through [`Health`].
#[derive(Debug, Error)]
pub enum StoreError {
    /// Any SQLite failure not named below.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Creating the database's folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The folder or file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// WAL or `synchronous=FULL` is not in effect: records could be lost in a crash, so
    /// the gateway refuses to start rather than pretend.
    #[error("database durability not as required: {0}")]
    Durability(String),
    /// A schema migration failed; it was rolled back.
    #[error("migration {name} failed: {source}")]
    Migration {
        /// The migration file.
        name: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer cc112; opening it could corrupt it.
    #[error(
        "database schema version {found} is newer than this cc112 knows ({known}); upgrade cc112"
    )]
    SchemaTooNew {
        /// `user_version` of the file.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The read-only side found no database file (it never creates one).
    #[error("no call database at {0}")]
    NoDatabase(String),
    /// `calls show` with an unknown record id.
    #[error("no call with id {0}")]
    NoSuchCall(String),
    /// `--since`/`--until` that is not a time.
    #[error(
        "{0:?} is not a time: use YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (local) or add Z / +HH:MM"
    )]
    BadTime(String),
    /// `--shift` that names no shift.
    #[error(transparent)]
    Shift(#[from] ShiftError),
    /// A stored value this build cannot read back (an unknown outcome name...).
    #[error("corrupt value in column {column}: {value:?}")]
    BadValue {
        /// Where it was read.
        column: &'static str,
        /// What was there.
        value: String,
    },
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
    /// The queue was past half full and this was a droppable timeline event.
    #[error("record dropped: queue full")]
    Dropped,
    /// The queue was at its capacity and this was a new call's start: refused, so
    /// that the call is answered 503 rather than without a record.
    #[error("new call's record refused: record queue at its capacity (the disk is not taking records)")]
    Full,
    /// The store is shut down (or its thread died).
    #[error("record store closed")]
    Closed,
}

/// What happened to a submitted record, known without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// In the queue; the writer will commit it.
    Queued,
    /// Queue past half full: a timeline event was dropped (counted in
    /// [`Health::dropped_events`]).
    Dropped,
    /// Queue at its capacity: a new call's start was refused (counted in
    /// [`Health::refused_calls`]); its call must not be answered.
    Refused,
    /// Shutdown has begun.
    Closed,
}

/// Submitting records to a store. Every method returns at once: writing happens on the
/// store's own thread. Implemented by [`Writer`] and its [`StoreHandle`] (the
/// runtime's recorder holds one); a PostgreSQL store would implement the same.
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
