//! The live event stream behind `/api/v1/events` (server-sent events) and the wallboard.
//!
//! The engine task hands every call event and operator change to a [`Publisher`] as it
//! carries out the engine's outputs. The publisher turns each into one [`LiveEvent`],
//! serialised to JSON once, and sends it on a `tokio::sync::broadcast` channel that
//! every full SSE stream subscribes to. A slow client only lags its own receiver (it is
//! told how many events it missed, and catches up from a snapshot); the engine task
//! never waits for a client. With no full stream subscribed, publishing costs one map
//! update per call start and end (the caller's details, kept so that later events of
//! the call name its record and caller: a desk application pops the record when the
//! operator's phone rings) and one atomic store per event: the count of events
//! published ([`Published`]), which coalesced streams (the wallboards) read on their own
//! timer. They do not subscribe: a subscriber is woken on every event, and twenty
//! wallboards woken 25,000 times a second each cost the signalling thread, which does
//! the waking, a large share of W1's rate (README, "Watched").
//!
//! Caller-controlled text (numbers, display names) goes out only inside JSON strings
//! built by `serde_json`, which escapes it; the wallboard inserts it as DOM text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::call::CallId;
use crate::engine::{CallEvent, CallEventKind, OperatorEventKind};

/// Events kept for clients that fall behind; one more lagging client loses the oldest.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Calls whose details the publisher remembers at most (the engine's own limits keep
/// far fewer in progress; past this, a call's later events name no caller).
pub const MAX_TRACKED_CALLS: usize = 200_000;

/// One event of the stream, serialised once.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// Its order in the stream since the gateway started (the SSE `id`).
    pub seq: u64,
    /// The SSE event name: `started`, `queued`, `operator_ringing`, `operator`...
    pub kind: &'static str,
    /// The JSON object sent as the SSE `data` (one line: JSON escapes line breaks).
    pub json: String,
}

/// The JSON of one [`LiveEvent`].
#[derive(Debug, Serialize)]
struct Body<'a> {
    seq: u64,
    /// The event's name, as `kind` above.
    event: &'static str,
    /// Wall-clock time the engine produced it, in milliseconds since the Unix epoch.
    at_ms: u64,
    /// The call's record id (`X-CC112-Call`), for call events.
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    /// The caller's SIP Call-ID, for call events.
    #[serde(skip_serializing_if = "Option::is_none")]
    sip_call_id: Option<&'a str>,
    /// The caller's number as the caller's phone sent it (escaped by JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<&'a str>,
    /// The caller's display name as sent (escaped by JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_name: Option<&'a str>,
    /// The queue (`queued`, `overflowed`: the queue now also answering).
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<&'a str>,
    /// The place in the queue on joining.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
    /// The operator (offers, ringing, answers; operator events).
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<&'a str>,
    /// More: an end's reason, an operator's new state and its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// What the publisher remembers of a call in progress.
#[derive(Debug, Clone)]
struct CallInfo {
    record: String,
    caller: String,
    caller_name: Option<String>,
}

/// How many events have been published since the gateway started: the last event's
/// `seq` (events are numbered whether or not anybody listens).
pub type Published = Arc<AtomicU64>;

/// Turns the engine's events into [`LiveEvent`]s on the broadcast channel.
pub struct Publisher {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    calls: HashMap<CallId, CallInfo>,
    seq: u64,
    published: Published,
}

impl Publisher {
    /// A publisher, the sender full streams subscribe to, and the count of events
    /// published, which coalesced streams read.
    pub fn new() -> (Publisher, broadcast::Sender<Arc<LiveEvent>>, Published) {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        let published = Published::default();
        (Publisher { tx: tx.clone(), calls: HashMap::new(), seq: 0, published: published.clone() }, tx, published)
    }



    /// A call event, as the engine produced it.
    pub fn call_event(&mut self, ev: &CallEvent) {
        let mut queue = None;
        let mut position = None;
        let mut operator = None;
        let mut detail = None;
        let kind = match &ev.kind {
            CallEventKind::Started { record, caller, caller_name, .. } => {
                if self.calls.len() < MAX_TRACKED_CALLS {
                    let info = CallInfo { record: record.clone(), caller: caller.clone(), caller_name: caller_name.clone() };
                    self.calls.insert(ev.call, info);
                }
                "started"
            }
            CallEventKind::Queued { queue: q, position: p } => {
                queue = Some(q.as_str());
                position = Some(*p);
                "queued"
            }
            CallEventKind::Overflowed { to } => {
                queue = Some(to.as_str());
                "overflowed"
            }
            CallEventKind::Offered { operator: o } => {
                operator = Some(o.as_str());
                "offered"
            }
            CallEventKind::OperatorRinging { operator: o } => {
                operator = Some(o.as_str());
                "operator_ringing"
            }
            CallEventKind::OperatorAnswered { operator: o } => {
                operator = Some(o.as_str());
                "operator_answered"
            }
            CallEventKind::OperatorNoAnswer { operator: o } => {
                operator = Some(o.as_str());
                "operator_no_answer"
            }
            CallEventKind::Routed { routing } => {
                queue = Some(routing.queue.as_str());
                "routed"
            }
            CallEventKind::Ended { reason } => {
                detail = Some(reason.as_str());
                "ended"
            }
            // Media and IVR steps: in the record, not on the wall.
            CallEventKind::Answered { .. }
            | CallEventKind::Confirmed
            | CallEventKind::Digit { .. }
            | CallEventKind::Prompt { .. }
            | CallEventKind::IvrPath { .. }
            | CallEventKind::Caller { .. }
            | CallEventKind::CallBack { .. }
            | CallEventKind::RtpTimeout
            | CallEventKind::Voice { .. }
            | CallEventKind::Nuisance
            | CallEventKind::NoCommonCodec { .. } => return,
        };
        let info = self.calls.get(&ev.call);
        {
            let body = Body {
                seq: 0,
                event: kind,
                at_ms: 0,
                record: info.map(|i| i.record.as_str()),
                sip_call_id: Some(ev.sip_call_id.as_str()),
                caller: info.map(|i| i.caller.as_str()),
                caller_name: info.and_then(|i| i.caller_name.as_deref()),
                queue,
                position,
                operator,
                detail,
            };
            send(&self.tx, &mut self.seq, &self.published, body);
        }
        if kind == "ended" {
            self.calls.remove(&ev.call);
        }
    }

    /// An operator's registration or ACD state changed (`detail` as in the history).
    pub fn operator_event(&mut self, operator: &str, kind: OperatorEventKind, detail: Option<&str>) {
        let name = match kind {
            OperatorEventKind::Login => "operator_login",
            OperatorEventKind::Logout => "operator_logout",
            OperatorEventKind::State => "operator_state",
            OperatorEventKind::Supervisor => "operator_supervisor",
        };
        let body = Body {
            seq: 0,
            event: name,
            at_ms: 0,
            record: None,
            sip_call_id: None,
            caller: None,
            caller_name: None,
            queue: None,
            position: None,
            operator: Some(operator),
            detail,
        };
        send(&self.tx, &mut self.seq, &self.published, body);
    }
}

/// Numbers one more event; the broadcast channel gets it (with its JSON, built here)
/// only while a full stream is subscribed.
fn send(tx: &broadcast::Sender<Arc<LiveEvent>>, seq: &mut u64, published: &AtomicU64, mut body: Body<'_>) {
    *seq += 1;
    published.store(*seq, Ordering::Release);
    if tx.receiver_count() == 0 {
        return;
    }
    body.seq = *seq;
    body.at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let Ok(json) = serde_json::to_string(&body) else { return };
    // Err only when the last subscriber left meanwhile: nothing to do.
    let _ = tx.send(Arc::new(LiveEvent { seq: *seq, kind: body.event, json }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EndReason;
    use crate::sip::Transport;

    fn started(call: u64, caller: &str, name: Option<&str>) -> CallEvent {
        CallEvent {
            call: CallId(call),
            sip_call_id: format!("sip-{call}"),
            kind: CallEventKind::Started {
                record: format!("R{call}"),
                caller: caller.into(),
                caller_name: name.map(Into::into),
                dialed: "112".into(),
                identity: "112".into(),
                remote: "127.0.0.1:5060".parse().unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 5060))),
                transport: Transport::Udp,
                config_version: "v".into(),
            },
        }
    }

    fn ev(call: u64, kind: CallEventKind) -> CallEvent {
        CallEvent { call: CallId(call), sip_call_id: format!("sip-{call}"), kind }
    }

    #[test]
    fn later_events_name_the_record_and_caller_and_escape_them() {
        let (mut p, tx, _published) = Publisher::new();
        let mut rx = tx.subscribe();
        p.call_event(&started(1, "0812\"\n", Some("<script>alert(1)</script>")));
        p.call_event(&ev(1, CallEventKind::OperatorRinging { operator: "op-budi".into() }));
        let first = rx.try_recv().ok();
        let ringing = rx.try_recv().ok();
        assert_eq!(first.as_ref().map(|e| e.kind), Some("started"));
        let Some(ringing) = ringing else { panic!("no ringing event") };
        assert_eq!(ringing.kind, "operator_ringing");
        assert_eq!(ringing.seq, 2);
        assert!(!ringing.json.contains('\n'), "one line: {}", ringing.json);
        let v: serde_json::Value = serde_json::from_str(&ringing.json).unwrap_or_default();
        assert_eq!(v["record"], "R1");
        assert_eq!(v["caller"], "0812\"\n");
        assert_eq!(v["caller_name"], "<script>alert(1)</script>");
        assert_eq!(v["operator"], "op-budi");
    }

    #[test]
    fn an_ended_call_is_forgotten_and_media_steps_are_not_published() {
        let (mut p, tx, _published) = Publisher::new();
        let mut rx = tx.subscribe();
        p.call_event(&started(1, "0812", None));
        p.call_event(&ev(1, CallEventKind::Confirmed));
        p.call_event(&ev(1, CallEventKind::Ended { reason: EndReason::CallerHangup }));
        assert!(p.calls.is_empty());
        assert_eq!(rx.try_recv().ok().map(|e| e.kind), Some("started"));
        assert_eq!(rx.try_recv().ok().map(|e| e.kind), Some("ended"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn with_nobody_subscribed_events_are_only_counted() {
        let (mut p, tx, published) = Publisher::new();
        p.call_event(&started(7, "0812", None));
        p.call_event(&ev(7, CallEventKind::Confirmed));
        p.operator_event("op-budi", OperatorEventKind::Login, None);
        assert_eq!(published.load(Ordering::Acquire), 2, "started and the login; media steps are not events");
        assert_eq!(p.calls.len(), 1);
        // A full stream subscribing later gets the next number, with its JSON.
        let mut rx = tx.subscribe();
        p.call_event(&ev(7, CallEventKind::Queued { queue: "fire".into(), position: 1 }));
        let queued = rx.try_recv().ok();
        assert_eq!(queued.as_ref().map(|e| e.seq), Some(3));
        assert!(queued.is_some_and(|e| e.json.contains("\"queue\":\"fire\"")));
        assert_eq!(published.load(Ordering::Acquire), 3);
    }
}
