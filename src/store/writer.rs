//! The writer: one thread owns the read-write connection; the engine hands it records
//! without ever waiting on the disk.
//!
//! Records go into a bounded in-memory queue (a `Mutex<VecDeque>` held for a push or a
//! swap, never across IO). The thread takes everything waiting (up to `max_batch`) and
//! writes it in one transaction, so with `synchronous=FULL` a burst of N records costs
//! one fsync, not N. Commit comes first, confirmations after: a confirmation means the
//! rows are on disk.
//!
//! When a commit fails for a reason that may pass (disk full, database locked, IO
//! error) the batch stays in memory and is retried with exponential backoff; new
//! records keep queueing behind it in order; [`Writer::health`] shows the depth, the
//! last error and the last good commit. The queue is bounded (`capacity` records, see
//! `backlog.rs` for the policy and why): past half of it timeline detail (`Event`,
//! `OperatorEvent`) is dropped and counted; at the cap a new call's `CallStarted` is
//! refused ([`Submitted::Refused`], [`CommitError::Full`]), counted and logged at error
//! level, and the engine answers that call 503 instead of answering it without a record;
//! the updates and end of calls already admitted are always queued.
//!
//! A record SQLite refuses for good (a constraint) is skipped and counted as rejected
//! rather than retried forever, so one bad record cannot stop the rest.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode};
use serde::Serialize;

use super::backlog::{Backlog, Kind, Verdict};
use super::record::{CallStart, Record};
use super::rows;
use super::schema::{self, Recovery};
use super::{CommitError, RecordStore, StoreError, Submitted};
use crate::clock::UtcMs;

/// Tuning of the writer. The defaults suit one gateway of a city command center.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Records that may wait in memory: past half of it timeline events are dropped, at
    /// it new calls are refused (see `backlog.rs`). At ~300 bytes a record, the default
    /// 100,000 is ~30 MB: minutes of a full-load outage.
    pub capacity: usize,
    /// Most records per transaction. Large batches amortise the fsync; the cap bounds
    /// how long one commit holds the write lock against other writers.
    pub max_batch: usize,
    /// First retry delay after a failed commit; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay: how stale the health output may get while the disk is down.
    pub max_backoff: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            capacity: 100_000,
            max_batch: 2_000,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A snapshot of the writer's state for health output and the wallboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Records waiting in memory, including a batch being retried.
    pub queue_depth: usize,
    /// [`WriterOptions::capacity`], for the depth to be read against.
    pub capacity: usize,
    /// Records on disk since the writer opened.
    pub committed_records: u64,
    /// Transactions committed (records / batches: how well fsyncs are amortised).
    pub committed_batches: u64,
    /// Timeline events dropped because the queue was past half full.
    pub dropped_events: u64,
    /// New calls whose record had no room (the queue at its capacity): each was
    /// answered 503 rather than without a record.
    pub refused_calls: u64,
    /// True from a refusal until a commit makes room again: new calls are refused.
    pub full: bool,
    /// Records SQLite refused for good (skipped, logged).
    pub rejected_records: u64,
    /// The last successful commit.
    pub last_commit_at: Option<UtcMs>,
    /// The last failure, kept until a commit succeeds.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<UtcMs>,
    /// Set while commits fail: since when.
    pub failing_since: Option<UtcMs>,
    /// Failed commit attempts since the last success.
    pub consecutive_failures: u32,
    /// How long each successful commit took (its batch's transaction), for `/metrics`.
    #[serde(skip)]
    pub commit_seconds: crate::clock::Histogram,
    /// False once the writer thread has stopped (shutdown, or a bug that killed it):
    /// nothing queued after that will be written.
    pub writer_running: bool,
}

impl Health {
    /// True when records are being written: no failure pending.
    pub fn is_ok(&self) -> bool {
        self.failing_since.is_none() && self.writer_running
    }
}

/// A pending confirmation: resolves once the record is committed, or at the first
/// failed attempt to commit it.
///
/// Runtime-agnostic on purpose: a std channel works from any thread, and
/// [`Writer::submit_with_callback`] lets a tokio runtime complete a oneshot instead of
/// blocking a worker.
#[derive(Debug)]
pub struct Ticket {
    rx: mpsc::Receiver<Result<(), CommitError>>,
}

impl Ticket {
    /// Blocks until the outcome is known.
    pub fn wait(self) -> Result<(), CommitError> {
        self.rx.recv().unwrap_or(Err(CommitError::Closed))
    }

    /// Blocks at most `timeout`; `None` if still undecided.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), CommitError>> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(CommitError::Closed)),
        }
    }

    /// Non-blocking poll.
    pub fn try_wait(&self) -> Option<Result<(), CommitError>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(CommitError::Closed)),
        }
    }
}

type Callback = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

enum Confirm {
    Channel(mpsc::Sender<Result<(), CommitError>>),
    Callback(Callback),
}

impl Confirm {
    fn send(self, r: Result<(), CommitError>) {
        match self {
            // The receiver may have stopped waiting (timeout): nothing to do.
            Confirm::Channel(tx) => {
                let _ = tx.send(r);
            }
            Confirm::Callback(f) => f(r),
        }
    }
}

struct Envelope {
    record: Record,
    confirm: Option<Confirm>,
}

struct Queue {
    waiting: Backlog<Envelope>,
    /// Records the thread holds (the batch in flight or being retried).
    in_writer: usize,
    /// Set by shutdown: flush, then stop; give up retrying after the deadline.
    closing: Option<Instant>,
    health: Health,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    /// A poisoned lock only means a thread panicked while holding it; the queue itself
    /// is still consistent (every mutation is a single push/drain), so keep going.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, record: Record, confirm: Option<Confirm>) -> Submitted {
        let mut q = self.lock();
        if q.closing.is_some() || !q.health.writer_running {
            drop(q);
            if let Some(c) = confirm {
                c.send(Err(CommitError::Closed));
            }
            return Submitted::Closed;
        }
        let (was_full, held) = (q.waiting.is_full(), q.in_writer);
        let kind = Kind::of(&record);
        match q.waiting.offer(Envelope { record, confirm }, kind, held) {
            Ok(()) => {
                drop(q);
                self.wake.notify_one();
                Submitted::Queued
            }
            Err((env, verdict)) => {
                // Loud once as the queue fills up; the engine task repeats it every 5 s.
                let first = (verdict == Verdict::Refused && !was_full).then(|| (q.waiting.len() + held, q.health.last_error.clone()));
                drop(q);
                if let Some((depth, error)) = first {
                    tracing::error!(depth, ?error, "record store full: new calls are refused with 503 until the disk takes records again");
                }
                let (submitted, e) = match verdict {
                    Verdict::Dropped => (Submitted::Dropped, CommitError::Dropped),
                    Verdict::Refused => (Submitted::Refused, CommitError::Full),
                };
                if let Some(c) = env.confirm {
                    c.send(Err(e));
                }
                submitted
            }
        }
    }
}

/// A cheap, cloneable sending side of the writer (the runtime's recorder holds one).
#[derive(Clone)]
pub struct StoreHandle {
    shared: Arc<Shared>,
}

impl StoreHandle {
    /// Queues a record; see [`RecordStore::submit`].
    pub fn submit(&self, record: Record) -> Submitted {
        self.shared.push(record, None)
    }

    /// Queues a record with a [`Ticket`] for its commit.
    pub fn submit_and_confirm(&self, record: Record) -> Ticket {
        let (tx, rx) = mpsc::channel();
        self.shared.push(record, Some(Confirm::Channel(tx)));
        Ticket { rx }
    }

    /// Queues a record; `on_commit` runs on the writer thread once it is committed
    /// (or the first attempt failed).
    pub fn submit_with_callback(
        &self,
        record: Record,
        on_commit: impl FnOnce(Result<(), CommitError>) + Send + 'static,
    ) -> Submitted {
        self.shared
            .push(record, Some(Confirm::Callback(Box::new(on_commit))))
    }

    /// The writer's state now.
    pub fn health(&self) -> Health {
        let q = self.shared.lock();
        let mut h = q.health.clone();
        h.queue_depth = q.waiting.len() + q.in_writer;
        h.capacity = q.waiting.capacity();
        h.dropped_events = q.waiting.dropped;
        h.refused_calls = q.waiting.refused;
        h.full = q.waiting.is_full();
        h
    }
}

impl RecordStore for StoreHandle {
    fn submit(&self, record: Record) -> Submitted {
        StoreHandle::submit(self, record)
    }
    fn submit_and_confirm(&self, record: Record) -> Ticket {
        StoreHandle::submit_and_confirm(self, record)
    }
    fn submit_with_callback(
        &self,
        record: Record,
        on_commit: Box<dyn FnOnce(Result<(), CommitError>) + Send>,
    ) -> Submitted {
        self.shared.push(record, Some(Confirm::Callback(on_commit)))
    }
    fn health(&self) -> Health {
        StoreHandle::health(self)
    }
}

/// What shutdown achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Records still unwritten when the deadline passed (0 on a clean flush).
    pub unwritten: usize,
    /// The writer's last state.
    pub health: Health,
}

/// The SQLite record store's write side. Owns the writer thread; dropping it without
/// [`Writer::shutdown`] still flushes (with a short deadline).
pub struct Writer {
    handle: StoreHandle,
    thread: Option<JoinHandle<usize>>,
    recovery: Recovery,
    path: PathBuf,
}

impl Writer {
    /// Opens the database (see [`schema::open_writer_connection`]), closes calls left
    /// open by a previous process as `interrupted`, then starts the writer thread.
    /// Fails, rather than running without records, when the file cannot be opened in
    /// WAL + FULL or the schema is newer than this build.
    pub fn open(path: &Path, options: WriterOptions) -> Result<Writer, StoreError> {
        let mut conn = schema::open_writer_connection(path)?;
        let recovery = schema::close_interrupted(&mut conn, UtcMs::now())?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: Backlog::new(options.capacity),
                in_writer: 0,
                closing: None,
                health: Health {
                    writer_running: true,
                    commit_seconds: crate::clock::Histogram::new(super::COMMIT_BOUNDS_US),
                    ..Health::default()
                },
            }),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cc112-store".into())
            .spawn(move || {
                // Marks the writer stopped however `run` exits, a panic included, so
                // submitters get `Closed` instead of queueing into the void.
                let _stopped = StoppedOnDrop(&thread_shared);
                run(conn, &thread_shared, &options)
            })
            .map_err(|e| StoreError::Io {
                path: "writer thread".into(),
                source: e,
            })?;
        Ok(Writer {
            handle: StoreHandle { shared },
            thread: Some(thread),
            recovery,
            path: path.to_path_buf(),
        })
    }

    /// Queues a record; never blocks on IO. `Dropped` only for timeline events past
    /// half the capacity, `Refused` only for a new call's start at the capacity,
    /// `Closed` after shutdown began.
    pub fn submit(&self, record: Record) -> Submitted {
        self.handle.submit(record)
    }

    /// Queues a record and returns a [`Ticket`] that resolves `Ok` once it is committed
    /// (`synchronous=FULL`: on disk), or `Err(Deferred)` at the first failed commit
    /// (the record stays queued and will be written when the disk recovers). The runtime
    /// waits on it for `CallStarted` before sending 200 OK, with its own upper bound: a
    /// caller is never left unanswered because the disk is slow.
    pub fn submit_and_confirm(&self, record: Record) -> Ticket {
        self.handle.submit_and_confirm(record)
    }

    /// Like [`Writer::submit_and_confirm`] but calls `on_commit` on the writer thread
    /// (keep it short: complete a oneshot, send to a channel).
    pub fn submit_with_callback(
        &self,
        record: Record,
        on_commit: impl FnOnce(Result<(), CommitError>) + Send + 'static,
    ) -> Submitted {
        self.handle.submit_with_callback(record, on_commit)
    }

    /// The writer's state now.
    pub fn health(&self) -> Health {
        self.handle.health()
    }

    /// A cloneable sender for other tasks.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Calls closed as `interrupted` when this writer opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting records, writes everything queued, and joins the thread. If the
    /// database keeps failing, retries until `deadline` has passed and reports what
    /// could not be written.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let unwritten = self.stop(deadline);
        ShutdownReport {
            unwritten,
            health: self.handle.health(),
        }
    }

    fn stop(&mut self, deadline: Duration) -> usize {
        {
            let mut q = self.handle.shared.lock();
            if q.closing.is_none() {
                q.closing = Some(Instant::now() + deadline);
            }
        }
        self.handle.shared.wake.notify_all();
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(usize::MAX),
            None => 0,
        }
    }
}

impl RecordStore for Writer {
    fn submit(&self, record: Record) -> Submitted {
        self.handle.submit(record)
    }
    fn submit_and_confirm(&self, record: Record) -> Ticket {
        self.handle.submit_and_confirm(record)
    }
    fn submit_with_callback(
        &self,
        record: Record,
        on_commit: Box<dyn FnOnce(Result<(), CommitError>) + Send>,
    ) -> Submitted {
        self.handle
            .shared
            .push(record, Some(Confirm::Callback(on_commit)))
    }
    fn health(&self) -> Health {
        self.handle.health()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop(Duration::from_secs(2));
        }
    }
}

struct StoppedOnDrop<'a>(&'a Shared);

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.health.writer_running = false;
        // Anyone still waiting on a confirmation learns it will not come.
        let orphans: Vec<Envelope> = q.waiting.take_all();
        drop(q);
        for env in orphans {
            if let Some(c) = env.confirm {
                c.send(Err(CommitError::Closed));
            }
        }
    }
}

/// The writer thread. Returns the number of records left unwritten at exit.
fn run(mut conn: Connection, shared: &Shared, opts: &WriterOptions) -> usize {
    let mut batch: Vec<Envelope> = Vec::new();
    let mut backoff = opts.min_backoff;
    loop {
        let Some(closing) = next_batch(shared, opts, &mut batch) else {
            // Closing and nothing left.
            return 0;
        };
        let started = Instant::now();
        match write_batch(&mut conn, &mut batch) {
            Ok(report) => {
                committed(shared, &mut batch, &report, started.elapsed());
                backoff = opts.min_backoff;
            }
            Err(e) => {
                failed(shared, &mut batch, &e);
                if let Some(deadline) = closing {
                    if Instant::now() >= deadline {
                        let q = shared.lock();
                        let left = batch.len() + q.waiting.len();
                        tracing::error!(unwritten = left, "record store shut down with unwritten records");
                        return left;
                    }
                }
                sleep_interruptible(shared, backoff);
                backoff = (backoff * 2).min(opts.max_backoff);
            }
        }
    }
}

/// Tops `batch` up with what is waiting, or sleeps until something is. `None` when
/// closing with nothing left; otherwise the shutdown deadline, if shutdown has begun.
fn next_batch(
    shared: &Shared,
    opts: &WriterOptions,
    batch: &mut Vec<Envelope>,
) -> Option<Option<Instant>> {
    let mut q = shared.lock();
    while q.waiting.is_empty() && batch.is_empty() && q.closing.is_none() {
        q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
    }
    let room = opts.max_batch.max(1).saturating_sub(batch.len());
    batch.extend(q.waiting.take(room));
    q.in_writer = batch.len();
    (!batch.is_empty()).then_some(q.closing)
}

/// After COMMIT returned: health updated, then every waiter of the batch confirmed.
fn committed(shared: &Shared, batch: &mut Vec<Envelope>, report: &BatchReport, took: Duration) {
    let n = batch.len() as u64;
    {
        let mut q = shared.lock();
        q.in_writer = 0;
        if q.waiting.has_room_again(0) {
            tracing::warn!(depth = q.waiting.len(), "record store has room again: new calls are answered");
        }
        let h = &mut q.health;
        h.committed_records += n - report.rejected;
        h.committed_batches += 1;
        h.rejected_records += report.rejected;
        h.last_commit_at = Some(UtcMs::now());
        h.commit_seconds.observe(took);
        if h.failing_since.take().is_some() {
            tracing::info!(after_failures = h.consecutive_failures, "record store writing again");
        }
        h.consecutive_failures = 0;
        h.last_error = None;
    }
    // Confirm only now, after COMMIT returned.
    for env in batch.drain(..) {
        if let Some(c) = env.confirm {
            c.send(Ok(()));
        }
    }
}

/// After a failed commit: health updated and waiters told; the records stay in
/// `batch` for the retry.
fn failed(shared: &Shared, batch: &mut [Envelope], e: &rusqlite::Error) {
    let now = UtcMs::now();
    let msg = e.to_string();
    {
        let mut q = shared.lock();
        let h = &mut q.health;
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        if h.failing_since.is_none() {
            h.failing_since = Some(now);
            tracing::error!(error = %msg, records = batch.len(), "record store cannot commit; records kept in memory and retried");
        }
        h.last_error = Some(msg.clone());
        h.last_error_at = Some(now);
    }
    // Tell waiters now rather than leave them guessing; the records stay.
    for env in batch.iter_mut() {
        if let Some(c) = env.confirm.take() {
            c.send(Err(CommitError::Deferred(msg.clone())));
        }
    }
}

/// Sleeps for the backoff, but wakes early when shutdown begins so the final flush
/// attempt is not delayed by a long backoff.
fn sleep_interruptible(shared: &Shared, d: Duration) {
    let q = shared.lock();
    if q.closing.is_some() {
        drop(q);
        std::thread::sleep(d.min(Duration::from_millis(50)));
        return;
    }
    let _ = shared
        .wake
        .wait_timeout_while(q, d, |q| q.closing.is_none());
}

struct BatchReport {
    rejected: u64,
}

/// Errors that say "not now" rather than "never": the batch is kept and retried.
fn is_transient(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => !matches!(
            f.code,
            ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch
        ),
        rusqlite::Error::ToSqlConversionFailure(_)
        | rusqlite::Error::InvalidParameterCount(..)
        | rusqlite::Error::InvalidParameterName(_) => false,
        _ => true,
    }
}

/// One transaction for the whole batch. A transient error anywhere rolls it all back
/// (the caller retries the same batch); a permanent one skips that record only.
fn write_batch(
    conn: &mut Connection,
    batch: &mut [Envelope],
) -> Result<BatchReport, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut rejected = 0;
    for env in batch.iter_mut() {
        match apply(&tx, &env.record) {
            Ok(()) => {}
            Err(e) if is_transient(&e) => return Err(e),
            Err(e) => {
                rejected += 1;
                tracing::warn!(error = %e, record = ?env.record, "record refused by the database; skipped");
                if let Some(c) = env.confirm.take() {
                    c.send(Err(CommitError::Rejected(e.to_string())));
                }
            }
        }
    }
    tx.commit()?;
    Ok(BatchReport { rejected })
}

fn apply(conn: &Connection, record: &Record) -> Result<(), rusqlite::Error> {
    match record {
        Record::CallStarted(s) => insert_call(conn, s),
        Record::CallUpdated { id, patch } => rows::update_call(conn, id.as_str(), patch),
        Record::Event {
            call,
            at,
            kind,
            details,
        } => {
            let details = (!details.is_null()).then(|| details.to_string());
            schema::insert_event(conn, call.as_str(), at.millis(), kind, details.as_deref())?;
            Ok(())
        }
        Record::OperatorEvent {
            operator,
            at,
            kind,
            reason,
        } => {
            conn.prepare_cached(
                "INSERT INTO operator_events (operator_id, seq, at, kind, reason)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM operator_events WHERE operator_id = ?1), ?2, ?3, ?4)",
            )?
            .execute(params![operator, at.millis(), kind.as_str(), reason])?;
            Ok(())
        }
        Record::CallEnded(e) => rows::end_call(conn, e),
        Record::Refused(r) => schema::insert_refusal(conn, r),
        Record::ExpireCallbacks { before, now } => {
            let n = super::callbacks::expire(conn, *before, *now)?;
            if n > 0 {
                tracing::info!(expired = n, "callback items expired unhandled ([callbacks] keep)");
            }
            Ok(())
        }
        Record::CallbackAttempt { item, call, operator, at, result } => super::callbacks::attempt(conn, item, call.as_str(), operator, *at, result.as_deref()),
        Record::Registration(b) => super::registrations::save(conn, b, UtcMs::now()),
        Record::Unregistration { operator, contact } => super::registrations::remove(conn, operator, contact),
    }
}

fn insert_call(conn: &Connection, s: &CallStart) -> Result<(), rusqlite::Error> {
    // DO NOTHING: a start replayed after a partial failure must not duplicate or reset
    // the row (the crash test counts exactly one row per Call-ID).
    let n = conn
        .prepare_cached(
            "INSERT INTO calls (id, sip_call_id, caller, caller_name, dialed, identity, started_at, config_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            s.id.as_str(),
            s.sip_call_id,
            s.caller,
            s.caller_name,
            s.dialed,
            s.identity,
            s.started_at.millis(),
            s.config_version
        ])?;
    if n == 1 {
        let details = serde_json::json!({ "sip_call_id": s.sip_call_id, "caller": s.caller, "dialed": s.dialed });
        schema::insert_event(
            conn,
            s.id.as_str(),
            s.started_at.millis(),
            "started",
            Some(&details.to_string()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: ErrorCode) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code,
                extended_code: 0,
            },
            None,
        )
    }

    #[test]
    fn disk_and_lock_errors_are_retried_constraints_are_not() {
        for c in [
            ErrorCode::DiskFull,
            ErrorCode::DatabaseBusy,
            ErrorCode::DatabaseLocked,
            ErrorCode::SystemIoFailure,
            ErrorCode::CannotOpen,
            ErrorCode::ReadOnly,
        ] {
            assert!(is_transient(&sqlite(c)), "{c:?} must be retried");
        }
        for c in [
            ErrorCode::ConstraintViolation,
            ErrorCode::TooBig,
            ErrorCode::TypeMismatch,
        ] {
            assert!(
                !is_transient(&sqlite(c)),
                "{c:?} must not be retried forever"
            );
        }
    }
}
