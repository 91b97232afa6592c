//! What the shift sees: tables in local time, and JSON lines for scripts.
//!
//! Formatters return `String`s (or write to any `io::Write`) so the CLI stays a thin
//! layer and the output is tested without running a process.

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use super::query::{CallRow, EventRow, Report};
use crate::clock::UtcMs;
use crate::clock::UtcOffset;
use crate::sink::printable;

fn opt_time(t: Option<UtcMs>, offset: UtcOffset) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.display_local(offset))
}

/// Seconds between two instants, `12.3s`; `-` when either is missing.
fn secs(from: UtcMs, to: Option<UtcMs>) -> String {
    match to {
        Some(t) => format!("{:.1}s", (t.millis() - from.millis()) as f64 / 1000.0),
        None => "-".into(),
    }
}

fn dash(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

/// `calls show`'s voice line: `speech at 3.2s (noise 1.0s, silence 2.1s before)`,
/// `silence (noise 0.3s, silence 24.0s)`, `-` for a call never answered.
fn voice_line(call: &CallRow) -> String {
    let Some(verdict) = call.voice.as_deref() else { return "-".into() };
    let s = |ms: Option<i64>| format!("{:.1}s", ms.unwrap_or(0) as f64 / 1000.0);
    let (noise, silence) = (s(call.voice_noise_ms), s(call.voice_silence_ms));
    match call.voice_first_speech_ms {
        Some(at) => format!("{verdict} at {} (noise {noise}, silence {silence} before)", s(Some(at))),
        None => format!("{verdict} (noise {noise}, silence {silence})"),
    }
}

/// Pads by characters, not bytes (caller names may be non-ASCII), and cuts long cells
/// so one odd value cannot push every column off screen.
fn cell(s: &str, width: usize) -> String {
    // Callers write their own number and name: no control character reaches the terminal.
    let s = printable(s);
    let n = s.chars().count();
    if n > width {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// The `calls list` table: one line per call, local times, wait as seconds from the
/// INVITE to the operator's answer.
pub fn calls_table(rows: &[CallRow], offset: UtcOffset) -> String {
    let cols: [(&str, usize); 10] = [
        ("ID", 26),
        ("STARTED", 23),
        ("CALLER", 16),
        ("LANG", 4),
        ("DIGITS", 6),
        ("DEPARTMENT", 12),
        ("OPERATOR", 12),
        ("ANSWER", 7),
        ("DURATION", 8),
        ("OUTCOME", 15),
    ];
    let mut out = String::new();
    let header: Vec<String> = cols.iter().map(|(h, w)| cell(h, *w)).collect();
    let _ = writeln!(out, "{}", header.join(" ").trim_end());
    for r in rows {
        let vals = [
            r.id.clone(),
            r.started_at.display_local(offset),
            r.caller.clone(),
            dash(&r.language).to_string(),
            dash(&r.ivr_digits).to_string(),
            dash(&r.department).to_string(),
            dash(&r.operator).to_string(),
            secs(r.started_at, r.operator_answered_at),
            secs(r.started_at, r.ended_at),
            r.outcome.map_or("in progress", |o| o.as_str()).to_string(),
        ];
        let line: Vec<String> = vals
            .iter()
            .zip(cols.iter())
            .map(|(v, (_, w))| cell(v, *w))
            .collect();
        let _ = writeln!(out, "{}", line.join(" ").trim_end());
    }
    let _ = writeln!(out, "{} call(s); times are UTC{}", rows.len(), offset);
    out
}

/// One JSON object per call, the stable machine form of `calls list --json`. Times are
/// RFC 3339 with the local offset; absent values are `null`, never missing keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Call)]
pub struct CallJson<'a> {
    id: &'a str,
    sip_call_id: &'a str,
    caller: &'a str,
    caller_name: Option<&'a str>,
    dialed: &'a str,
    identity: &'a str,
    started_at: String,
    answered_at: Option<String>,
    language: Option<&'a str>,
    ivr_digits: Option<&'a str>,
    /// The IVR's steps, oldest first (a JSON array of strings).
    #[schema(value_type = Option<Vec<String>>)]
    ivr_path: Option<serde_json::Value>,
    department: Option<&'a str>,
    queue_entered_at: Option<String>,
    operator: Option<&'a str>,
    operator_answered_at: Option<String>,
    /// INVITE → operator answer, milliseconds.
    answer_ms: Option<i64>,
    ended_at: Option<String>,
    outcome: Option<&'static str>,
    hangup_by: Option<&'a str>,
    end_reason: Option<&'a str>,
    config_version: Option<&'a str>,
    /// `callback`, `silent_55`, `silent`, comma-separated.
    flags: Option<&'a str>,
    /// The class it waited in (`high`, `normal`, `low`); `null` if it reached no queue.
    class: Option<&'static str>,
    /// `callback` for a call the gateway placed; `null` for a call that came in.
    direction: Option<&'a str>,
    /// What the caller's audio held until the bridge: `speech`, `noise`, `silence`,
    /// `no_audio`; `null` for a call never answered.
    voice: Option<&'a str>,
    /// Milliseconds of audio into the call when the caller first spoke.
    voice_first_speech_ms: Option<i64>,
    /// Milliseconds of noise heard before that (or until the bridge).
    voice_noise_ms: Option<i64>,
    /// Milliseconds of silence heard before that (or until the bridge).
    voice_silence_ms: Option<i64>,
}

impl<'a> CallJson<'a> {
    /// The JSON form of `r`, times with `offset`.
    pub fn new(r: &'a CallRow, offset: UtcOffset) -> CallJson<'a> {
        let t = |x: Option<UtcMs>| x.map(|t| t.rfc3339(offset));
        CallJson {
            id: &r.id,
            sip_call_id: &r.sip_call_id,
            caller: &r.caller,
            caller_name: r.caller_name.as_deref(),
            dialed: &r.dialed,
            identity: &r.identity,
            started_at: r.started_at.rfc3339(offset),
            answered_at: t(r.answered_at),
            language: r.language.as_deref(),
            ivr_digits: r.ivr_digits.as_deref(),
            ivr_path: r
                .ivr_path
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            department: r.department.as_deref(),
            queue_entered_at: t(r.queue_entered_at),
            operator: r.operator.as_deref(),
            operator_answered_at: t(r.operator_answered_at),
            answer_ms: r
                .operator_answered_at
                .map(|a| a.millis() - r.started_at.millis()),
            ended_at: t(r.ended_at),
            outcome: r.outcome.map(|o| o.as_str()),
            hangup_by: r.hangup_by.as_deref(),
            end_reason: r.end_reason.as_deref(),
            config_version: r.config_version.as_deref(),
            flags: r.flags.as_deref(),
            class: r.department.as_ref().map(|_| super::classes::class_of(r.flags.as_deref())),
            direction: r.direction.as_deref(),
            voice: r.voice.as_deref(),
            voice_first_speech_ms: r.voice_first_speech_ms,
            voice_noise_ms: r.voice_noise_ms,
            voice_silence_ms: r.voice_silence_ms,
        }
    }
}

/// `calls list --json`: one object per line.
pub fn write_calls_json_lines(
    rows: &[CallRow],
    offset: UtcOffset,
    mut w: impl io::Write,
) -> io::Result<()> {
    for r in rows {
        serde_json::to_writer(&mut w, &CallJson::new(r, offset))?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// `calls show ID`: the summary, then every event with its offset from the INVITE.
pub fn timeline(call: &CallRow, events: &[EventRow], offset: UtcOffset) -> String {
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| {
        let _ = writeln!(out, "{k:<21}{}", printable(v));
    };
    field(&mut out, "call", &call.id);
    field(&mut out, "sip call-id", &call.sip_call_id);
    let caller = match &call.caller_name {
        Some(n) => format!("{} \"{n}\"", call.caller),
        None => call.caller.clone(),
    };
    field(&mut out, "caller", &caller);
    field(
        &mut out,
        "dialed",
        &format!("{} ({})", call.dialed, call.identity),
    );
    field(&mut out, "started", &call.started_at.display_local(offset));
    field(
        &mut out,
        "answered (IVR)",
        &opt_time(call.answered_at, offset),
    );
    field(&mut out, "language", dash(&call.language));
    field(&mut out, "ivr digits", dash(&call.ivr_digits));
    field(&mut out, "ivr path", dash(&call.ivr_path));
    field(&mut out, "department", dash(&call.department));
    field(&mut out, "queued", &opt_time(call.queue_entered_at, offset));
    field(&mut out, "operator", dash(&call.operator));
    field(
        &mut out,
        "operator answered",
        &opt_time(call.operator_answered_at, offset),
    );
    field(&mut out, "ended", &opt_time(call.ended_at, offset));
    field(
        &mut out,
        "outcome",
        call.outcome.map_or("in progress", |o| o.as_str()),
    );
    field(&mut out, "hung up by", dash(&call.hangup_by));
    field(&mut out, "end reason", dash(&call.end_reason));
    field(&mut out, "config version", dash(&call.config_version));
    field(&mut out, "flags", dash(&call.flags));
    field(&mut out, "voice", &voice_line(call));
    if let Some(d) = &call.direction {
        field(&mut out, "direction", d);
    }
    let _ = writeln!(
        out,
        "\n{:<4} {:<23} {:>9}  {:<20} DETAILS",
        "SEQ", "AT", "+", "KIND"
    );
    for e in events {
        let _ = writeln!(
            out,
            "{:<4} {:<23} {:>9}  {:<20} {}",
            e.seq,
            e.at.display_local(offset),
            secs(call.started_at, Some(e.at)),
            e.kind,
            e.details.as_deref().unwrap_or("")
        );
    }
    out
}

/// `cc112 report`: the shift summary as text.
pub fn report_text(r: &Report, offset: UtcOffset) -> String {
    let mut out = String::new();
    let range = |t: Option<UtcMs>| t.map_or_else(|| "…".to_string(), |t| t.display_local(offset));
    let _ = writeln!(
        out,
        "Report {} → {} (UTC{offset})",
        range(r.range.since),
        range(r.range.until)
    );
    let _ = writeln!(out, "calls: {}", r.total);
    let outcomes: Vec<String> = r
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "outcomes: {}",
        if outcomes.is_empty() {
            "-".into()
        } else {
            outcomes.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "abandoned in IVR: {}, in queue: {}",
        r.abandoned_ivr, r.abandoned_queue
    );
    if r.refused.total > 0 {
        let reasons: Vec<String> = r.refused.by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let callers: Vec<String> = r.refused.callers.iter().map(|c| crate::sink::printable(c).into_owned()).collect();
        let _ = writeln!(out, "refused with 503 (no call record): {} ({}); callers: {}", r.refused.total, reasons.join(", "), callers.join(", "));
    }
    if r.no_common_codec.total > 0 {
        let callers: Vec<String> = r.no_common_codec.callers.iter().map(|c| crate::sink::printable(c).into_owned()).collect();
        let _ = writeln!(out, "refused with 488, no common codec (call back): {}; callers: {}", r.no_common_codec.total, callers.join(", "));
    }
    answer_lines(&mut out, r, offset);
    table_lines(&mut out, r);
    out
}

/// The report's answer times, service levels and busiest hour.
fn answer_lines(out: &mut String, r: &Report, offset: UtcOffset) {
    match &r.answer_time {
        Some(a) => {
            let _ = writeln!(
                out,
                "answer time (INVITE → operator), {} calls: p50 {:.1}s  p90 {:.1}s  p99 {:.1}s  max {:.1}s",
                a.count,
                a.p50_ms as f64 / 1000.0,
                a.p90_ms as f64 / 1000.0,
                a.p99_ms as f64 / 1000.0,
                a.max_ms as f64 / 1000.0
            );
        }
        None => {
            let _ = writeln!(out, "answer time: no call answered by an operator");
        }
    }
    // Per priority class (issue 16): is a silent caller kept waiting?
    let secs = |ms: Option<i64>| ms.map_or_else(|| "-".to_string(), |m| format!("{:.1}s", m as f64 / 1000.0));
    for c in &r.by_class {
        let _ = writeln!(out, "  class {:<6} answered {:>4}: p50 {:>6}  p90 {:>6}  max {:>6}; abandoned in the queue {}", c.class, c.answered, secs(c.p50_ms), secs(c.p90_ms), secs(c.max_ms), c.abandoned_queue);
    }
    for w in &r.answered_within {
        let _ = writeln!(
            out,
            "answered within {:>2}s: {:5.1}% ({}/{} calls that asked for an operator)",
            w.seconds, w.percent, w.answered, w.offered
        );
    }
    match &r.busiest_hour {
        Some(b) => {
            let l = b.start.local(offset);
            let _ = writeln!(
                out,
                "busiest hour: {} {:02}:00–{:02}:00, {} calls",
                l.date,
                l.hour(),
                (l.hour() + 1) % 24,
                b.calls
            );
        }
        None => {
            let _ = writeln!(out, "busiest hour: -");
        }
    }
}

/// The report's per-department and per-operator tables.
fn table_lines(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n{:<16} {:>6}  OUTCOMES", "DEPARTMENT", "CALLS");
    for d in &r.by_department {
        let o: Vec<String> = d.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "{} {:>6}  {}",
            cell(&d.department, 16),
            d.total,
            o.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:>8}  {:>13}",
        "OPERATOR", "ANSWERED", "MEDIAN ANSWER"
    );
    for o in &r.per_operator {
        let _ = writeln!(
            out,
            "{} {:>8}  {:>12.1}s",
            cell(&o.operator, 16),
            o.answered,
            o.median_answer_ms as f64 / 1000.0
        );
    }
}

/// `cc112 report --json`: the report as one JSON object.
pub fn report_json(r: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string(r)
}
