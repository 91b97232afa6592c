//! Writer throughput with WAL + `synchronous=FULL`, by batch size, on this machine.
//!
//! `cargo bench --bench store_writer` prints a table. Each run: a fresh database in a
//! temporary directory, a producer thread submitting `Event` records as fast as it can
//! (the writer is always behind, so every transaction is a full `max_batch`), timed from
//! the first submit until shutdown has flushed the last commit. Median of 3 runs.
//! Also: the latency of `submit_and_confirm` for one `CallStarted` on an idle writer,
//! which is what a caller's 200 OK waits for.
//!
//! Not a timed test: numbers depend on the disk's fsync and on what else runs.
//! `CC112_BENCH_DIR=/var/lib/cc112 cargo bench --bench store_writer` measures another disk.

// A measuring tool, not the gateway: the crate's no-panic lints do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use cc112::store::{CallStart, Record, RecordId, UtcMs, Writer, WriterOptions};

fn event(call: &RecordId, i: i64) -> Record {
    Record::Event {
        call: call.clone(),
        at: UtcMs(1_764_460_800_000 + i),
        kind: "queued".into(),
        details: serde_json::json!({ "queue": "medical", "position": i % 7 }),
    }
}

fn start(id: &str, at: i64) -> Record {
    Record::CallStarted(CallStart {
        id: RecordId::new(id),
        sip_call_id: format!("{id}@bench"),
        caller: "+6281234567".into(),
        caller_name: None,
        dialed: "sip:112@cc112".into(),
        identity: "112".into(),
        started_at: UtcMs(at),
        config_version: None,
    })
}

/// Events per second for one run.
fn run(batch: usize, events: usize) -> Result<(f64, u64), Box<dyn std::error::Error>> {
    let dir = bench_dir()?;
    let path = dir.path().join("bench.db");
    let opts = WriterOptions {
        capacity: events + 10,
        max_batch: batch,
        ..WriterOptions::default()
    };
    let w = Writer::open(&path, opts)?;
    // Ten calls so events spread over several per-call sequences, as in production.
    let calls: Vec<RecordId> = (0..10).map(|i| RecordId::new(format!("call{i}"))).collect();
    for (i, c) in calls.iter().enumerate() {
        if w.submit_and_confirm(start(c.as_str(), i as i64))
            .wait()
            .is_err()
        {
            return Err("start not committed".into());
        }
    }
    let begin = Instant::now();
    for i in 0..events {
        w.submit(event(&calls[i % calls.len()], i as i64));
    }
    let report = w.shutdown(Duration::from_secs(600));
    let secs = begin.elapsed().as_secs_f64();
    if report.unwritten != 0 || report.health.committed_records != (events + calls.len()) as u64 {
        return Err(format!("lost records: {:?}", report.health).into());
    }
    // Batches for the events alone (the ten starts were one commit each).
    Ok((
        events as f64 / secs,
        report.health.committed_batches - calls.len() as u64,
    ))
}

/// `CC112_BENCH_DIR` picks the filesystem to measure (the production disk, say);
/// default: the system temporary directory.
fn bench_dir() -> std::io::Result<tempfile::TempDir> {
    match std::env::var_os("CC112_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("store writer: WAL + synchronous=FULL, events/s sustained (median of 3 runs)");
    println!(
        "{:>10} {:>10} {:>14} {:>12} {:>16}",
        "batch", "events", "events/s", "commits", "commits/s"
    );
    for (batch, events) in [
        (1usize, 1_500usize),
        (10, 10_000),
        (100, 100_000),
        (1000, 300_000),
    ] {
        let mut rates = Vec::new();
        let mut commits = 0;
        for _ in 0..3 {
            let (r, c) = run(batch, events)?;
            rates.push(r);
            commits = c;
        }
        let m = median(rates);
        println!(
            "{:>10} {:>10} {:>14.0} {:>12} {:>16.0}",
            batch,
            events,
            m,
            commits,
            m / batch as f64
        );
    }

    // Latency of one confirmed CallStarted on an idle writer (the 200 OK's wait).
    let dir = bench_dir()?;
    let w = Writer::open(&dir.path().join("lat.db"), WriterOptions::default())?;
    let mut lat = Vec::new();
    for i in 0..200 {
        let t0 = Instant::now();
        if w.submit_and_confirm(start(&format!("lat{i}"), i))
            .wait()
            .is_err()
        {
            return Err("confirm failed".into());
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    drop(w);
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "confirm latency, idle writer, 200 CallStarted: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lat[100],
        lat[180],
        lat[198],
        lat[199]
    );
    Ok(())
}
