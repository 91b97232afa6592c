//! The record store against real SQLite files in temporary directories: migrations,
//! durability settings, the writer's batching, ordering, confirmation and recovery from
//! a locked database, crash recovery, read-only readers, and the shift report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cc112::config::UtcOffset;
use cc112::store::format;
use cc112::store::query::build_report;
use cc112::store::schema;
use cc112::store::{
    CallEnd, CallFilter, CallPatch, CallStart, CommitError, HangupBy, OperatorEventKind, Outcome,
    Reader, Record, RecordId, RecordStore, ShiftSelector, Shifts, StoreError, Submitted, TimeRange,
    UtcMs, Writer, WriterOptions,
};
use rusqlite::Connection;
use serde_json::json;

const WIB: UtcOffset = UtcOffset::WIB;

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("cc112.db")
}

fn t(s: &str) -> UtcMs {
    UtcMs::parse(s, WIB).expect("test time parses")
}

fn start(id: &str, at: UtcMs) -> Record {
    Record::CallStarted(CallStart {
        id: RecordId::new(id),
        sip_call_id: format!("{id}@caller.test"),
        caller: "+6281234567".into(),
        caller_name: Some("Budi".into()),
        dialed: "sip:112@cc112.test".into(),
        identity: "112".into(),
        started_at: at,
        config_version: Some("v1".into()),
    })
}

fn event(id: &str, at: UtcMs, kind: &str) -> Record {
    Record::Event {
        call: RecordId::new(id),
        at,
        kind: kind.into(),
        details: json!({"k": kind}),
    }
}

fn end(id: &str, at: UtcMs, outcome: Outcome) -> Record {
    Record::CallEnded(CallEnd {
        id: RecordId::new(id),
        ended_at: at,
        outcome,
        hangup_by: Some(HangupBy::Caller),
        reason: "caller hung up".into(),
    })
}

fn count(path: &Path, sql: &str) -> i64 {
    let c = Connection::open(path).expect("open");
    c.query_row(sql, [], |r| r.get(0)).expect("query")
}

/// Polls (the writer is another thread) with a deadline, so a broken writer fails the
/// test instead of hanging it.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens, creating data/");
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);
    assert_eq!(
        count(&path, "PRAGMA user_version"),
        schema::schema_version()
    );
    for table in ["calls", "call_events", "operator_events"] {
        assert_eq!(
            count(
                &path,
                &format!(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
                )
            ),
            1,
            "{table}"
        );
    }
    let conn = Connection::open(&path).expect("open");
    assert_eq!(
        schema::migrate(&conn).expect("second run"),
        0,
        "nothing applied twice"
    );
    drop(conn);
    // A second open also works and applies nothing.
    let w = Writer::open(&path, WriterOptions::default()).expect("reopens");
    drop(w);
    assert_eq!(
        count(&path, "PRAGMA user_version"),
        schema::schema_version()
    );

    // A database from a newer cc112 is refused, not written into.
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("PRAGMA user_version = 99")
        .expect("bump");
    drop(conn);
    match Writer::open(&path, WriterOptions::default()) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn wal_and_full_are_in_effect_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let conn = schema::open_writer_connection(&path).expect("opens");
    assert_eq!(
        schema::durability(&conn).expect("pragmas"),
        ("wal".to_string(), 2)
    );
    drop(conn);
    // WAL persists in the file: a plain connection sees it too.
    let plain = Connection::open(&path).expect("open");
    let mode: String = plain
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    drop(plain);
    // An in-memory database cannot be WAL: open must refuse rather than run unsafely.
    match Writer::open(Path::new(":memory:"), WriterOptions::default()) {
        Err(StoreError::Durability(msg)) => assert!(msg.contains("memory"), "{msg}"),
        other => panic!("expected a durability error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn writer_batches_and_keeps_event_order_per_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    let base = t("2026-11-30 08:00");
    let calls = ["A", "B", "C"];
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(
            w.submit(start(c, base.plus_ms(i as i64))),
            Submitted::Queued
        );
    }
    // 1,500 events interleaved over three calls, all stamped with the same instant so
    // only the writer's order can put them in sequence.
    for i in 0..1500 {
        let c = calls[i % 3];
        assert_eq!(
            w.submit(event(c, base.plus_ms(10), &format!("e{i}"))),
            Submitted::Queued
        );
    }
    let report = w.shutdown(Duration::from_secs(10));
    assert_eq!(report.unwritten, 0);
    let h = report.health;
    assert_eq!(h.committed_records, 1503);
    assert!(
        h.committed_batches <= 30,
        "1,503 records took {} transactions: not batching",
        h.committed_batches
    );
    let reader = Reader::open(&path).expect("reader");
    for (ci, c) in calls.iter().enumerate() {
        let (_, events) = reader.call_timeline(c).expect("timeline");
        assert_eq!(events.len(), 501, "{c}: started + 500");
        assert_eq!(events[0].kind, "started");
        let kinds: Vec<String> = events[1..].iter().map(|e| e.kind.clone()).collect();
        let want: Vec<String> = (0..1500)
            .filter(|i| i % 3 == ci)
            .map(|i| format!("e{i}"))
            .collect();
        assert_eq!(kinds, want, "{c}: events out of order");
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=501).collect::<Vec<i64>>());
    }
}

#[test]
fn confirmation_comes_after_the_row_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    let other = Reader::open(&path).expect("second connection");
    for i in 0..20 {
        let id = format!("call{i}");
        // Some noise so confirmations ride in mixed batches.
        w.submit(event("noise", UtcMs(i), "x"));
        let ticket = w.submit_and_confirm(start(&id, t("2026-11-30 09:00").plus_ms(i)));
        assert_eq!(ticket.wait(), Ok(()));
        let row = other.call(&id).expect("query");
        assert!(
            row.is_some(),
            "{id}: confirmed but not visible to another connection"
        );
    }
    // The callback form, as a tokio runtime would use it.
    let (tx, rx) = std::sync::mpsc::channel();
    let path2 = path.clone();
    w.submit_with_callback(start("cb", t("2026-11-30 09:30")), move |r| {
        let seen = Reader::open(&path2)
            .ok()
            .and_then(|rd| rd.call("cb").ok().flatten())
            .is_some();
        let _ = tx.send((r, seen));
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10))
            .expect("callback ran"),
        (Ok(()), true)
    );
}

#[test]
fn a_locked_database_delays_records_without_losing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let opts = WriterOptions {
        capacity: 50,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..WriterOptions::default()
    };
    let w = Writer::open(&path, opts).expect("opens");
    assert!(w
        .submit_and_confirm(start("before", t("2026-11-30 10:00")))
        .wait()
        .is_ok());

    // Another process takes the write lock and sits on it.
    let blocker = Connection::open(&path).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");

    let ticket = w.submit_and_confirm(start("during", t("2026-11-30 10:01")));
    match ticket.wait_timeout(Duration::from_secs(5)) {
        Some(Err(CommitError::Deferred(msg))) => assert!(msg.contains("locked"), "{msg}"),
        other => panic!("expected Deferred while locked, got {other:?}"),
    }
    // With the start waiting, 24 timeline events fit: past half the queue (capacity
    // 50) the 36 newest are dropped and counted, while the calls' rows still queue.
    let mut dropped = 0;
    for i in 0..60 {
        if w.submit(event("during", t("2026-11-30 10:02").plus_ms(i), "hold")) == Submitted::Dropped
        {
            dropped += 1;
        }
    }
    for i in 0..5 {
        assert_eq!(
            w.submit(start(&format!("late{i}"), t("2026-11-30 10:03"))),
            Submitted::Queued
        );
    }
    assert_eq!(
        w.submit(end("during", t("2026-11-30 10:04"), Outcome::Answered)),
        Submitted::Queued
    );
    // New calls fill the other half up to the cap; the next one is refused at once
    // (its call is answered 503, not without a record), and counted.
    for i in 0..19 {
        assert_eq!(w.submit(start(&format!("fill{i}"), t("2026-11-30 10:05"))), Submitted::Queued);
    }
    assert_eq!(w.submit(start("refused", t("2026-11-30 10:06"))), Submitted::Refused);
    let ticket = w.submit_and_confirm(start("refused2", t("2026-11-30 10:06")));
    assert_eq!(ticket.try_wait(), Some(Err(CommitError::Full)), "told at once");
    // The rest of an admitted call's row is kept past the cap.
    assert_eq!(
        w.submit(end("late0", t("2026-11-30 10:07"), Outcome::AbandonedIvr)),
        Submitted::Queued
    );

    let h = w.health();
    assert!(!h.is_ok());
    assert!(h.failing_since.is_some());
    assert!(
        h.last_error.as_deref().unwrap_or("").contains("locked"),
        "{h:?}"
    );
    assert_eq!(h.dropped_events, dropped);
    assert_eq!(
        dropped, 36,
        "capacity 50: 1 start + 24 events fit in the first half, the last 36 of 60 dropped"
    );
    assert_eq!((h.refused_calls, h.full), (2, true));
    assert_eq!(h.queue_depth, 1 + 24 + 5 + 1 + 19 + 1);
    // Nothing reached the file yet.
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM calls WHERE id = 'during'"),
        0
    );

    std::thread::sleep(Duration::from_millis(300));
    blocker.execute_batch("ROLLBACK").expect("unlock");

    eventually("queue drained after the lock is released", || {
        let h = w.health();
        h.queue_depth == 0 && h.is_ok()
    });
    let h = w.health();
    assert!(h.last_error.is_none());
    assert!(!h.full, "room again: new calls are answered");
    assert_eq!(count(&path, "SELECT COUNT(*) FROM calls"), 7 + 19);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM calls WHERE id LIKE 'refused%'"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM calls WHERE id = 'late0' AND outcome = 'abandoned_ivr'"), 1);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM call_events WHERE call_id = 'during' AND kind = 'hold'"
        ),
        24
    );
    assert_eq!(
        count(
            &path,
            "SELECT outcome = 'answered' FROM calls WHERE id = 'during'"
        ),
        1
    );
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);
}

#[test]
fn open_calls_are_closed_as_interrupted_at_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    w.submit(start("open-with-events", t("2026-11-30 11:00")));
    w.submit(event(
        "open-with-events",
        t("2026-11-30 11:00:05"),
        "queued",
    ));
    w.submit(event(
        "open-with-events",
        t("2026-11-30 11:00:09.5"),
        "offered",
    ));
    w.submit(start("open-bare", t("2026-11-30 11:01")));
    w.submit(start("closed", t("2026-11-30 11:02")));
    w.submit(end("closed", t("2026-11-30 11:03"), Outcome::AbandonedIvr));
    assert_eq!(w.recovery().interrupted.len(), 0);
    // Shut down without ending the calls: like a crash as far as the rows go.
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);

    let w = Writer::open(&path, WriterOptions::default()).expect("reopens");
    let mut closed = w.recovery().interrupted.clone();
    closed.sort();
    assert_eq!(
        closed,
        vec!["open-bare".to_string(), "open-with-events".to_string()]
    );
    drop(w);

    let r = Reader::open(&path).expect("reader");
    let (row, events) = r.call_timeline("open-with-events").expect("timeline");
    assert_eq!(row.outcome, Some(Outcome::Interrupted));
    assert_eq!(
        row.ended_at,
        Some(t("2026-11-30 11:00:09.5")),
        "ends at its last known event"
    );
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("interrupted"));
    let bare = r.call("open-bare").expect("query").expect("row");
    assert_eq!(bare.ended_at, Some(bare.started_at));
    assert_eq!(bare.outcome, Some(Outcome::Interrupted));
    let kept = r.call("closed").expect("query").expect("row");
    assert_eq!(
        kept.outcome,
        Some(Outcome::AbandonedIvr),
        "ended calls untouched"
    );
    assert_eq!(r.integrity_check().expect("check"), vec!["ok".to_string()]);
    drop(r);

    // A third open finds nothing left to close.
    let w = Writer::open(&path, WriterOptions::default()).expect("reopens");
    assert!(w.recovery().interrupted.is_empty());
    drop(w);
    assert_eq!(
        schema::integrity_check(&path).expect("check"),
        vec!["ok".to_string()]
    );
}

#[test]
fn a_read_only_reader_works_while_the_writer_writes_and_after_it_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    let h = w.handle();
    let producer = std::thread::spawn(move || {
        for i in 0..400 {
            let id = format!("r{i}");
            h.submit(start(&id, t("2026-11-30 12:00").plus_ms(i)));
            h.submit(event(&id, t("2026-11-30 12:00").plus_ms(i + 1), "queued"));
            h.submit(end(
                &id,
                t("2026-11-30 12:01").plus_ms(i),
                Outcome::AbandonedQueue,
            ));
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let reader = Reader::open(&path).expect("read-only while writing");
    let mut last = 0;
    let mut reads = 0;
    while !producer.is_finished() || reads < 3 {
        let n = reader
            .list_calls(&CallFilter::default())
            .expect("list while writing")
            .len();
        assert!(n >= last, "rows went backwards: {last} → {n}");
        last = n;
        reads += 1;
    }
    producer.join().expect("producer");
    // A read-only connection cannot write.
    let ro = schema::open_read_only(&path).expect("ro");
    assert!(
        ro.execute_batch("DELETE FROM calls").is_err(),
        "read-only connection wrote"
    );
    drop(ro);
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);
    // With the gateway stopped (WAL checkpointed and removed) a reader still opens.
    let reader = Reader::open(&path).expect("read-only after the writer closed");
    assert_eq!(
        reader
            .list_calls(&CallFilter::default())
            .expect("list")
            .len(),
        400
    );
    assert!(matches!(
        Reader::open(&dir.path().join("missing.db")),
        Err(StoreError::NoDatabase(_))
    ));
}

#[test]
fn shutdown_with_a_locked_database_reports_what_is_unwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    assert!(w
        .submit_and_confirm(start("first", UtcMs(1)))
        .wait()
        .is_ok());
    let blocker = Connection::open(&path).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    for i in 0..5 {
        w.submit(start(&format!("stuck{i}"), UtcMs(10 + i)));
    }
    let began = Instant::now();
    let report = w.shutdown(Duration::from_millis(400));
    assert_eq!(report.unwritten, 5);
    assert!(!report.health.writer_running);
    assert!(report.health.last_error.is_some());
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "shutdown must honour its deadline"
    );
    blocker.execute_batch("ROLLBACK").expect("unlock");
    assert_eq!(count(&path, "SELECT COUNT(*) FROM calls"), 1);
}

#[test]
fn submissions_after_shutdown_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    let h = w.handle();
    for i in 0..300 {
        h.submit(start(&format!("s{i}"), UtcMs(i)));
    }
    let report = w.shutdown(Duration::from_secs(5));
    assert_eq!(report.unwritten, 0);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM calls"),
        300,
        "shutdown flushed everything"
    );
    assert_eq!(h.submit(start("too-late", UtcMs(1))), Submitted::Closed);
    assert_eq!(
        h.submit_and_confirm(start("too-late", UtcMs(1))).wait(),
        Err(CommitError::Closed)
    );
}

/// Twenty calls with answer times 1..=20 s (operators alternating), plus abandoned,
/// rejected and one open call, spread over the morning shift of 2026-11-30.
fn known_data_set(w: &Writer) {
    let morning = t("2026-11-30 07:00");
    for i in 1..=20i64 {
        let id = format!("ans{i:02}");
        // Calls 1–12 in the 08:00 hour, 13–20 in the 09:00 hour.
        let at = if i <= 12 {
            t("2026-11-30 08:00").plus_ms(i * 60_000)
        } else {
            t("2026-11-30 09:00").plus_ms(i * 60_000)
        };
        w.submit(start(&id, at));
        w.submit(Record::CallUpdated {
            id: RecordId::new(&id),
            patch: CallPatch {
                answered_at: Some(at.plus_ms(100)),
                language: Some("id".into()),
                ivr_digits: Some("1".into()),
                ivr_path: Some(vec!["main".into()]),
                department: Some(if i % 4 == 0 {
                    "fire".into()
                } else {
                    "medical".into()
                }),
                queue_entered_at: Some(at.plus_ms(500)),
                ..CallPatch::default()
            },
        });
        w.submit(Record::CallUpdated {
            id: RecordId::new(&id),
            patch: CallPatch {
                operator: Some(if i % 2 == 0 {
                    "op-ani".into()
                } else {
                    "op-budi".into()
                }),
                operator_answered_at: Some(at.plus_ms(i * 1000)),
                ..CallPatch::default()
            },
        });
        w.submit(end(&id, at.plus_ms(120_000), Outcome::Answered));
    }
    w.submit(start("ivr-gone", morning.plus_ms(5_000)));
    w.submit(end(
        "ivr-gone",
        morning.plus_ms(9_000),
        Outcome::AbandonedIvr,
    ));
    for i in 0..2 {
        let id = format!("queue-gone{i}");
        w.submit(start(&id, morning.plus_ms(60_000 * (i + 1))));
        w.submit(Record::CallUpdated {
            id: RecordId::new(&id),
            patch: CallPatch {
                department: Some("police".into()),
                ..CallPatch::default()
            },
        });
        w.submit(end(
            &id,
            morning.plus_ms(60_000 * (i + 1) + 40_000),
            Outcome::AbandonedQueue,
        ));
    }
    w.submit(start("rejected", morning.plus_ms(1)));
    w.submit(end("rejected", morning.plus_ms(2), Outcome::Rejected));
    w.submit(start("still-open", t("2026-11-30 14:59:59.999")));
    // Outside the shift on both sides: must not count.
    w.submit(start("night-before", t("2026-11-30 06:59:59.999")));
    w.submit(end(
        "night-before",
        t("2026-11-30 07:00:30"),
        Outcome::Answered,
    ));
    w.submit(start("afternoon", t("2026-11-30 15:00")));
    w.submit(Record::OperatorEvent {
        operator: "op-ani".into(),
        at: morning,
        kind: OperatorEventKind::Login,
        reason: None,
    });
    w.submit(Record::OperatorEvent {
        operator: "op-ani".into(),
        at: morning.plus_ms(3_600_000),
        kind: OperatorEventKind::Pause,
        reason: Some("break".into()),
    });
}

#[test]
fn shift_report_on_a_known_data_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    known_data_set(&w);
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);

    let shifts = Shifts::default_at(WIB);
    let sel = ShiftSelector::parse("2026-11-30/1").expect("selector");
    let span = shifts.resolve(sel, t("2026-12-01 10:00")).expect("span");
    let range = TimeRange::of_shift(&span);
    let reader = Reader::open(&path).expect("reader");
    let r = reader.report(range, WIB).expect("report");

    assert_eq!(
        r.total, 25,
        "20 answered + 1 ivr + 2 queue + 1 rejected + 1 open"
    );
    let a = r.answer_time.expect("answer times");
    assert_eq!(
        (a.count, a.p50_ms, a.p90_ms, a.p99_ms, a.max_ms),
        (20, 10_000, 18_000, 20_000, 20_000)
    );
    assert_eq!(r.abandoned_ivr, 1);
    assert_eq!(r.abandoned_queue, 2);
    let within: Vec<(u32, u64, u64)> = r
        .answered_within
        .iter()
        .map(|w| (w.seconds, w.answered, w.offered))
        .collect();
    assert_eq!(within, vec![(10, 10, 22), (15, 15, 22), (20, 20, 22)]);
    assert!((r.answered_within[1].percent - 68.18).abs() < 0.01);
    let busiest = r.busiest_hour.expect("busiest");
    assert_eq!((busiest.start, busiest.calls), (t("2026-11-30 08:00"), 12));
    assert_eq!(r.by_outcome.get("answered"), Some(&20));
    assert_eq!(r.by_outcome.get("open"), Some(&1));
    let med = r
        .by_department
        .iter()
        .find(|d| d.department == "medical")
        .expect("medical");
    assert_eq!(med.total, 15);
    let fire = r
        .by_department
        .iter()
        .find(|d| d.department == "fire")
        .expect("fire");
    assert_eq!(fire.outcomes.get("answered"), Some(&5));
    let ops: Vec<(String, u64, i64)> = r
        .per_operator
        .iter()
        .map(|o| (o.operator.clone(), o.answered, o.median_answer_ms))
        .collect();
    assert_eq!(
        ops,
        vec![("op-ani".into(), 10, 10_000), ("op-budi".into(), 10, 9_000)]
    );

    // Report totals agree with the rows `calls list` shows for the same shift.
    let rows = reader
        .list_calls(&CallFilter {
            range,
            ..CallFilter::default()
        })
        .expect("list");
    assert_eq!(rows.len() as u64, r.total);
    assert_eq!(build_report(range, &rows, WIB), r);

    let text = format::report_text(&r, WIB);
    assert!(text.contains("p50 10.0s  p90 18.0s  p99 20.0s"), "{text}");
    assert!(
        text.contains("busiest hour: 2026-11-30 08:00–09:00, 12 calls"),
        "{text}"
    );
    let js: serde_json::Value =
        serde_json::from_str(&format::report_json(&r).expect("json")).expect("valid json");
    assert_eq!(js["answer_time"]["p90_ms"], 18_000);

    let ops = reader.operator_events(range).expect("operator events");
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1].reason.as_deref(), Some("break"));
}

#[test]
fn call_list_filters_and_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    known_data_set(&w);
    assert_eq!(w.shutdown(Duration::from_secs(5)).unwritten, 0);
    let reader = Reader::open(&path).expect("reader");
    let shift = Shifts::default_at(WIB)
        .resolve(ShiftSelector::parse("2026-11-30/1").expect("sel"), UtcMs(0))
        .expect("span");
    let in_shift = |f: CallFilter| {
        reader
            .list_calls(&CallFilter {
                range: TimeRange::of_shift(&shift),
                ..f
            })
            .expect("list")
    };

    assert_eq!(
        in_shift(CallFilter {
            department: Some("fire".into()),
            ..CallFilter::default()
        })
        .len(),
        5
    );
    let q = in_shift(CallFilter {
        outcome: Some(Outcome::AbandonedQueue),
        ..CallFilter::default()
    });
    assert_eq!(
        q.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["queue-gone0", "queue-gone1"]
    );
    let since = TimeRange {
        since: Some(t("2026-11-30 09:00")),
        until: None,
    };
    let late = reader
        .list_calls(&CallFilter {
            range: TimeRange::of_shift(&shift).intersect(since),
            ..CallFilter::default()
        })
        .expect("list");
    assert_eq!(late.len(), 9, "8 answered in the 09:00 hour + still-open");
    let all = in_shift(CallFilter::default());
    assert_eq!(
        all.first().map(|r| r.id.as_str()),
        Some("rejected"),
        "oldest first"
    );

    let mut out = Vec::new();
    format::write_calls_json_lines(&all, WIB, &mut out).expect("json lines");
    let text = String::from_utf8(out).expect("utf8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), all.len());
    let ans = lines.iter().find(|v| v["id"] == "ans15").expect("ans15");
    for key in [
        "id",
        "sip_call_id",
        "caller",
        "dialed",
        "started_at",
        "answered_at",
        "language",
        "ivr_digits",
        "department",
        "operator",
        "operator_answered_at",
        "ended_at",
        "outcome",
        "hangup_by",
    ] {
        assert!(
            ans.get(key).is_some_and(|v| !v.is_null()),
            "ans15 lacks {key}: {ans}"
        );
    }
    assert_eq!(ans["started_at"], "2026-11-30T09:15:00.000+07:00");
    assert_eq!(ans["answer_ms"], 15_000);
    assert_eq!(ans["ivr_path"], json!(["main"]));
    let open = lines
        .iter()
        .find(|v| v["id"] == "still-open")
        .expect("open");
    assert!(open["outcome"].is_null() && open["ended_at"].is_null());

    let table = format::calls_table(&all, WIB);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("2026-11-30 09:15:00.000"),
        "local time: {table}"
    );
    assert!(table.contains("in progress"));
    assert!(
        table
            .trim_end()
            .ends_with("25 call(s); times are UTC+07:00"),
        "{table}"
    );

    let (call, events) = reader
        .call_timeline("ans15@caller.test")
        .expect("by SIP Call-ID too");
    assert_eq!(call.id, "ans15");
    let tl = format::timeline(&call, &events, WIB);
    assert!(
        tl.contains("op-budi") && tl.contains("started") && tl.contains("ended"),
        "{tl}"
    );
    assert!(matches!(
        reader.call_timeline("nope"),
        Err(StoreError::NoSuchCall(_))
    ));
}

#[test]
fn record_store_trait_is_object_safe_for_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let w = Writer::open(&path, WriterOptions::default()).expect("opens");
    let store: Box<dyn RecordStore> = Box::new(w.handle());
    assert!(store
        .submit_and_confirm(start("dyn", UtcMs(5)))
        .wait()
        .is_ok());
    assert_eq!(store.health().queue_depth, 0);
    assert!(store.health().last_commit_at.is_some());
}

/// Set in the child process of [`confirmed_records_survive_kill_9`].
const CRASH_CHILD: &str = "CC112_STORE_CRASH_CHILD";

/// The child: writes calls as the gateway would (confirmed start, a few events, an end
/// for every other call) and prints each confirmed id, until killed.
fn crash_child(path: &Path) {
    let w = match Writer::open(path, WriterOptions::default()) {
        Ok(w) => w,
        Err(e) => {
            println!("error {e}");
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0u64;
    while Instant::now() < deadline {
        let id = format!("k{i}");
        let at = UtcMs(1_764_460_800_000 + i as i64);
        if w.submit_and_confirm(start(&id, at)).wait().is_ok() {
            println!("confirmed {id}");
        }
        for k in 0..20 {
            w.submit(event(&id, at.plus_ms(k), "media"));
        }
        if i.is_multiple_of(2) {
            w.submit(end(&id, at.plus_ms(30), Outcome::Answered));
        }
        i += 1;
    }
}

#[test]
fn confirmed_records_survive_kill_9() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if let Some(p) = std::env::var_os(CRASH_CHILD) {
        crash_child(Path::new(&p));
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "store::confirmed_records_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let out = child.stdout.take().expect("stdout");
    let mut confirmed = Vec::new();
    for line in std::io::BufReader::new(out).lines() {
        let line = line.expect("line");
        assert!(!line.starts_with("error"), "child: {line}");
        if let Some(id) = line.strip_prefix("confirmed ") {
            confirmed.push(id.to_string());
            if confirmed.len() == 300 {
                // SIGKILL: no destructor, no flush, mid-batch.
                child.kill().expect("kill");
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(confirmed.len(), 300, "child stopped early");

    let w = Writer::open(&path, WriterOptions::default()).expect("reopens after kill");
    let interrupted = w.recovery().interrupted.len();
    drop(w);
    let conn = Connection::open(&path).expect("open");
    for id in &confirmed {
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM calls WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(n, 1, "{id} was confirmed before the kill but has {n} rows");
    }
    let open: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(open, 0, "every call closed after recovery");
    assert!(
        interrupted >= 150,
        "odd calls never ended: {interrupted} interrupted"
    );
    assert_eq!(
        schema::integrity_check(&path).expect("check"),
        vec!["ok".to_string()]
    );
}
