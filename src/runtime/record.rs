//! From the engine's call events to call records.
//!
//! The engine speaks of calls by a per-process id; the record store needs an id that is
//! unique across restarts (a ULID made here, at the edge, where clocks may be read).
//! The call's first record is committed before its 200 OK goes out: the commit
//! ([`CommitWait`]) is handed to the opening of the call's media as a one-shot, which
//! reports it to the engine; the engine waits for it (at most [`RECORD_WAIT`]), and
//! the engine answers only then. When the store has no room for it (its queue is at its
//! capacity: the disk has not taken records for a while) the engine is told at once and
//! refuses the call with 503 ([`Started::Refused`]); such a call records nothing more.

use std::collections::HashMap;

use serde_json::json;
use tokio::sync::oneshot;

use crate::call::ivr::{IvrPath, PathEvent, PathStep};
use crate::call::CallId;
use crate::engine::{CallEvent, CallEventKind};
use crate::store::record::{CallEnd, CallPatch, CallStart, Outcome, Record, RecordId, RefusalRow, Voice};
use crate::store::{CommitError, Submitted};
use crate::store::{StoreHandle, UtcMs};

/// How long a call's answer may wait for its first record to reach the disk (the
/// engine's `set_record_wait`). Commits take well under a millisecond on a healthy
/// disk; on a stalled one the caller is answered anyway (logged) and the record follows
/// when the disk recovers.
pub(super) const RECORD_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The commit of a call's first record, awaited before its 200 OK.
pub(super) type CommitWait = oneshot::Receiver<Result<(), CommitError>>;

/// What became of a call's first record.
pub(super) enum Started {
    /// Queued: the commit the call's 200 OK waits for.
    Queued(CommitWait),
    /// The store had no room: the call is to be refused, not answered.
    Refused,
}

/// A call whose record is open: its id in the store, and what its end's outcome
/// depends on.
struct Open {
    id: RecordId,
    /// The call reached a queue.
    routed: bool,
    /// An operator answered it.
    operator: bool,
    /// The call's flags so far (`callback`, `silent_55`, `silent`).
    flags: Vec<&'static str>,
    /// A call back placed by the gateway: the item it calls back.
    dial_out: Option<String>,
}

/// Turns the engine's call and operator events into records for the store. Without a
/// store (it could not be opened) it records nothing and no answer waits.
pub(super) struct Recorder {
    store: Option<StoreHandle>,
    calls: HashMap<CallId, Open>,
}

impl Recorder {
    pub(super) fn new(store: Option<StoreHandle>) -> Recorder {
        Recorder { store, calls: HashMap::new() }
    }

    /// The store, for its health.
    pub(super) fn store(&self) -> Option<&StoreHandle> {
        self.store.as_ref()
    }

    /// Record one event; for a call's start, says what became of its record.
    pub(super) fn on_event(&mut self, ev: &CallEvent) -> Option<Started> {
        let store = self.store.as_ref()?;
        let now = UtcMs::now();
        if let CallEventKind::Started { record, caller, caller_name, dialed, identity, config_version, .. } = &ev.kind {
            let id = RecordId(record.clone());
            let record = Record::CallStarted(CallStart {
                id: id.clone(),
                sip_call_id: ev.sip_call_id.clone(),
                caller: caller.clone(),
                caller_name: caller_name.clone(),
                dialed: dialed.clone(),
                identity: identity.clone(),
                started_at: now,
                config_version: Some(config_version.clone()),
            });
            let (tx, rx) = oneshot::channel();
            let submitted = store.submit_with_callback(record, move |r| {
                let _ = tx.send(r);
            });
            if submitted == Submitted::Refused {
                return Some(Started::Refused);
            }
            self.calls.insert(ev.call, Open { id, routed: false, operator: false, flags: Vec::new(), dial_out: None });
            return Some(Started::Queued(rx));
        }
        let open = self.calls.get_mut(&ev.call)?;
        let records = records_for(open, &ev.kind, now);
        if matches!(ev.kind, CallEventKind::Ended { .. }) {
            self.calls.remove(&ev.call);
        }
        for r in records {
            store.submit(r);
        }
        None
    }

    /// An operator's login, logout or state change, for the operator history.
    /// A second's refusals from one source: one row of `refusals`.
    /// Open callback items older than `keep` expire (the writer logs how many).
    pub(super) fn expire_callbacks(&mut self, keep: std::time::Duration) {
        let Some(store) = &self.store else { return };
        let now = UtcMs::now();
        store.submit(Record::ExpireCallbacks { before: now.plus_ms(-(keep.as_millis() as i64)), now });
    }

    /// An operator's contact changed: the store's copy follows (taken back at start).
    pub(super) fn on_registration(&mut self, change: crate::engine::RegistrationChange) {
        use crate::engine::RegistrationChange as C;
        let Some(store) = self.store.as_ref() else { return };
        store.submit(match change {
            C::Saved(b) => Record::Registration(*b),
            C::Removed { operator, contact } => Record::Unregistration { operator, contact },
        });
    }

    pub(super) fn on_refused(&mut self, s: crate::engine::RefusalSummary) {
        let Some(store) = self.store.as_ref() else { return };
        let row = RefusalRow { since: UtcMs::from_system_time(s.since), source: s.source, reason: s.reason.to_string(), count: s.count, callers: s.callers };
        store.submit(Record::Refused(row));
    }

    pub(super) fn on_operator(&mut self, operator: &str, kind: crate::engine::OperatorEventKind, detail: Option<&str>) {
        use crate::engine::OperatorEventKind as K;
        use crate::store::record::OperatorEventKind as S;
        let Some(store) = self.store.as_ref() else { return };
        let kind = match (kind, detail) {
            (K::Supervisor, _) => S::Supervisor,
            (K::Login, _) => S::Login,
            (K::Logout, _) => S::Logout,
            (K::State, Some(d)) if d.starts_with("paused") && d.contains("not_responding") => S::NotResponding,
            (K::State, Some(d)) if d.starts_with("paused") => S::Pause,
            (K::State, Some(d)) if d.starts_with("wrap") => S::Wrapup,
            (K::State, _) => S::Resume,
        };
        store.submit(Record::OperatorEvent { operator: operator.to_string(), at: UtcMs::now(), kind, reason: detail.map(str::to_string) });
    }
}

/// The records one event of an open call adds (its start is recorded apart, see
/// [`Recorder::on_event`]).
fn records_for(open: &mut Open, kind: &CallEventKind, now: UtcMs) -> Vec<Record> {
    let id = open.id.clone();
    let event = |kind: &str, details: serde_json::Value| Record::Event { call: id.clone(), at: now, kind: kind.to_string(), details };
    let patch = |patch: CallPatch| Record::CallUpdated { id: id.clone(), patch };
    match kind {
        CallEventKind::Started { .. } => Vec::new(),
        CallEventKind::Answered { codec, telephone_event, rtp_port, remote_rtp } => vec![
            patch(CallPatch { answered_at: Some(now), ..CallPatch::default() }),
            event("answered", json!({ "codec": codec.name(), "telephone_event": telephone_event, "rtp_port": rtp_port, "remote_rtp": remote_rtp.map(|a| a.to_string()) })),
        ],
        CallEventKind::Confirmed => vec![event("confirmed", json!({}))],
        CallEventKind::NoCommonCodec { offered } => vec![event("rejected", json!({ "reason": crate::store::record::NO_COMMON_CODEC, "offered": offered }))],
        CallEventKind::Digit { key, source } => vec![event("digit", json!({ "key": key.to_string(), "source": source.as_str() }))],
        CallEventKind::Prompt { prompt } => vec![event("prompt", json!({ "lang": prompt.lang.as_str(), "prompt": prompt.id.as_str() }))],
        CallEventKind::Routed { routing } => {
            open.routed = true;
            open.flags.extend(routing.reason.flag());
            let flags = (!open.flags.is_empty()).then(|| open.flags.join(","));
            vec![
                patch(CallPatch { department: Some(routing.queue.to_string()), queue_entered_at: Some(now), flags, ..CallPatch::default() }),
                event("routed", serde_json::to_value(routing).unwrap_or_default()),
            ]
        }
        CallEventKind::IvrPath { path } => vec![patch(ivr_patch(path)), event("ivr_path", serde_json::to_value(path).unwrap_or_default())],
        CallEventKind::RtpTimeout => vec![event("rtp_timeout", json!({}))],
        // The row's voice columns only: a timeline event would repeat them, one more
        // write for every answered call.
        CallEventKind::Voice { heard } => {
            let voice = Voice { verdict: heard.verdict().to_string(), first_speech_ms: heard.first_speech_ms, noise_ms: heard.noise_ms, silence_ms: heard.silence_ms };
            vec![patch(CallPatch { voice: Some(voice), ..CallPatch::default() })]
        }
        CallEventKind::Caller { history, callback } => {
            if *callback {
                open.flags.push("callback");
            }
            let flags = (!open.flags.is_empty()).then(|| open.flags.join(","));
            vec![patch(CallPatch { history: history.clone(), flags, ..CallPatch::default() }), event("caller", json!({ "history": history, "callback": callback }))]
        }
        CallEventKind::CallBack { item, operator, result } => {
            open.dial_out = Some(item.clone());
            let attempt = Record::CallbackAttempt { item: item.clone(), call: id.clone(), operator: operator.clone(), at: now, result: result.clone() };
            vec![attempt, event("callback", json!({ "item": item, "operator": operator, "result": result }))]
        }
        CallEventKind::Nuisance => {
            open.flags.push("nuisance");
            let flags = Some(open.flags.join(","));
            vec![patch(CallPatch { flags, ..CallPatch::default() }), event("nuisance", json!({ "class": "low" }))]
        }
        CallEventKind::Queued { queue, position } => vec![event("queued", json!({ "queue": queue, "position": position }))],
        CallEventKind::Overflowed { to } => vec![event("overflowed", json!({ "to": to }))],
        CallEventKind::Offered { operator } => vec![event("offered", json!({ "operator": operator }))],
        CallEventKind::OperatorRinging { operator } => vec![event("operator_ringing", json!({ "operator": operator }))],
        CallEventKind::OperatorNoAnswer { operator } => vec![event("operator_no_answer", json!({ "operator": operator }))],
        CallEventKind::OperatorAnswered { operator } => {
            open.operator = true;
            vec![
                patch(CallPatch { operator: Some(operator.clone()), operator_answered_at: Some(now), ..CallPatch::default() }),
                event("operator_answered", json!({ "operator": operator })),
                event("bridged", json!({ "operator": operator })),
            ]
        }
        CallEventKind::Ended { reason } => {
            let (mut outcome, hangup_by, mut text) = reason.outcome(open.routed, open.operator);
            if open.dial_out.is_some() && !open.operator {
                // A call back the number never answered, whoever gave up first.
                (outcome, text) = (Outcome::Failed, "call back not answered");
            }
            vec![Record::CallEnded(CallEnd { id, ended_at: now, outcome, hangup_by, reason: text.to_string() })]
        }
    }
}

/// The call's IVR path as the call's row shows it: the digits pressed, the language,
/// one line per step.
fn ivr_patch(path: &IvrPath) -> CallPatch {
    let digits: String = path
        .events
        .iter()
        .filter_map(|e| match &e.step {
            PathStep::Digit { key, .. } | PathStep::Invalid { key, .. } => Some(*key),
            _ => None,
        })
        .collect();
    let steps = path.events.iter().map(step_text).collect();
    CallPatch { ivr_digits: Some(digits), language: Some(path.language.to_string()), ivr_path: Some(steps), ..CallPatch::default() }
}

/// One IVR step as a shift operator reads it: `5.2s digit 1 in main`.
fn step_text(e: &PathEvent) -> String {
    use PathStep::*;
    let what = match &e.step {
        Digit { key, menu, barge_in } => format!("digit {key} in {menu}{}", if *barge_in { " (cut the prompt)" } else { "" }),
        Invalid { key, menu, count } => format!("invalid {key} in {menu} (#{count})"),
        Ignored { key } => format!("ignored {key}"),
        Language { from, to } => format!("language {from} -> {to}"),
        Timeout { menu, count } => format!("no key after {menu} (#{count})"),
        PromptTimeout { prompt } => format!("prompt {}/{} not finished", prompt.lang, prompt.id),
        NoInputLimit => "no input limit".to_string(),
        Spoke => "caller spoke".to_string(),
        SilentPrompt => "silent prompt (press 5 twice)".to_string(),
        TimeLimit => "time limit".to_string(),
        Routed { queue } => format!("routed to {queue}"),
        Abandoned => "caller hung up".to_string(),
    };
    format!("{:.1}s {what}", e.at_ms as f64 / 1000.0)
}

/// Takes back the operators' contacts the store kept (those not expired), so a
/// restarted node rings its operators at once. A database that cannot be read leaves
/// the registrar empty (logged): the phones' next REGISTERs fill it.
pub(super) fn restore_registrations(engine: &mut crate::engine::Engine, path: &std::path::Path) {
    let read = crate::store::schema::open_read_only(path).and_then(|c| crate::store::registrations::live(&c, UtcMs::now()));
    match read {
        Ok(saved) => {
            let kept = saved.len();
            let taken = engine.restore_registrations(std::time::Instant::now(), saved);
            if kept > 0 {
                tracing::info!(taken, kept, "operators' registrations taken back from the records (only live UDP contacts of configured operators)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "operators' registrations could not be read back: operators are reachable once their phones register again"),
    }
}

/// The caller book's most calls loaded at start (the newest): a centre's week is far
/// fewer; a benchmark's database must not make the start slow.
const MAX_LOADED_CALLS: usize = 1_000_000;

/// Loads the engine's caller book from the record database: the last 7 days of calls
/// and the open callback items. A database that cannot be read leaves it empty (logged):
/// the history is a help to the operator, never a reason not to start.
pub(super) fn load_callers(engine: &mut crate::engine::Engine, path: &std::path::Path) {
    use crate::engine::callers::{PastCall, WINDOW};
    let since = UtcMs::now().plus_ms(-(WINDOW.as_millis() as i64));
    let read = crate::store::schema::open_read_only(path).and_then(|c| crate::store::callbacks::recent_callers(&c, since, MAX_LOADED_CALLS));
    match read {
        Ok((calls, open)) => {
            let (n, m) = (calls.len(), open.len());
            let silent = |f: &Option<String>| f.as_deref().is_some_and(|f| f.split(',').any(|x| x == "silent"));
            let calls = calls.into_iter().map(|(number, started, outcome, department, flags)| (number, PastCall { started, outcome, department, silent: silent(&flags) })).collect();
            engine.load_callers(std::time::Instant::now(), calls, open);
            tracing::info!(calls = n, open_callbacks = m, "caller history loaded (7 days)");
        }
        Err(e) => tracing::warn!(error = %e, "caller history could not be read: operators see no X-CC112-History until calls end"),
    }
}
