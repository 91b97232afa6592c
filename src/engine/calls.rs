//! Dialogs and calls: every emergency call in progress, the index from a dialog to its
//! call, and the RTP ports they hold.
//!
//! A call is created when its INVITE passes every check and a port is free; it is
//! answered once its port is open and its first record is durable (see
//! [`CallState::Opening`]); it leaves this table when it ends, giving back its port. A
//! call that ends while its port is still being opened leaves the port in `closing`, so
//! the port is closed and freed when the runtime reports it open. Call ids are never
//! reused, so anything that still names an ended call finds nothing here.

use std::collections::HashMap;

use tracing::warn;

use super::call::{Call, CallState, DialogKey};
use super::output::{CallEvent, CallEventKind, Effects, MediaCommand, Output, Stats};
use crate::call::ivr::{Ivr, PromptRef};
use crate::config::{Config, Lang, PromptId, RoutingPlan};
use crate::media::vad::Activity;
use crate::media::Codec;
use crate::call::CallId;
use crate::media::ports::PortPool;
use crate::sip::source::SourceKey;
use crate::sip::Request;

/// How many ports are tried for one call before it gets 503: a port can fail to bind
/// when another process holds it.
const MAX_PORT_TRIES: u32 = 8;

/// What the runtime's report on a call's port means for the call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PortOpened {
    /// Not for a call waiting for this port (ended and closed, or a stale report).
    Ignored,
    /// The port is open and the call's record durable: answer it now.
    Answer { port: u16 },
    /// The port is open; the 200 waits for the record.
    WaitingForRecord,
    /// That port failed; the next one is being opened.
    Retrying,
    /// No port can be opened: the call is to be refused with 503.
    Exhausted,
}

/// Every call in progress.
pub(crate) struct Calls {
    calls: HashMap<CallId, Call>,
    dialogs: HashMap<DialogKey, CallId>,
    /// Calls that ended while their port was still being opened: close it when it is.
    closing: HashMap<CallId, u16>,
    ports: PortPool,
    /// Calls in progress per source (fair sharing); a source holding none has no entry,
    /// so the table is bounded by the calls.
    by_source: HashMap<SourceKey, usize>,
}

impl Calls {
    pub(crate) fn new(ports: PortPool) -> Calls {
        Calls { calls: HashMap::new(), dialogs: HashMap::new(), closing: HashMap::new(), ports, by_source: HashMap::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn get(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// What the caller's media heard so far, kept for the record; when it first heard
    /// speech the IVR knows it is no silent caller.
    pub(crate) fn heard(&mut self, now: std::time::Instant, id: CallId, heard: Activity) {
        let Some(call) = self.get_mut(id) else { return };
        let spoke_now = heard.spoke && !call.heard.is_some_and(|h| h.spoke);
        call.heard = Some(heard);
        if let (true, Some(ivr)) = (spoke_now, call.ivr.as_mut()) {
            ivr.handle_speech(now);
        }
    }

    pub(crate) fn get_mut(&mut self, id: CallId) -> Option<&mut Call> {
        self.calls.get_mut(&id)
    }

    pub(crate) fn contains(&self, id: CallId) -> bool {
        self.calls.contains_key(&id)
    }

    /// Every call in progress (the drain's end hangs them all up).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    /// The ACK confirmed the call's dialog: its media starts (`default` codec when its
    /// offer named none we use) and its IVR on `plan`; the IVR's first actions are the
    /// caller's to drain.
    pub(crate) fn start_media_and_ivr(&mut self, id: CallId, now: std::time::Instant, utc: std::time::SystemTime, plan: std::sync::Arc<RoutingPlan>, default: Codec, fx: &mut Effects) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let (start, entry) = call.media_start(default);
        call.ivr = Some(Ivr::new(plan, now, utc, entry));
        fx.out.push_back(Output::Media { call: id, cmd: start });
    }

    /// A free RTP port for a new call.
    pub(crate) fn take_port(&mut self) -> Option<u16> {
        self.ports.take()
    }

    /// Ports held now.
    #[cfg(test)]
    pub(crate) fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    /// Calls in progress from `source`, and how many sources hold calls now.
    pub(crate) fn held_by(&self, source: &SourceKey) -> (usize, usize) {
        (self.by_source.get(source).copied().unwrap_or(0), self.by_source.len())
    }

    pub(crate) fn insert(&mut self, call: Call) {
        *self.by_source.entry(call.source).or_insert(0) += 1;
        self.dialogs.insert(call.dialog_key(), call.id);
        self.calls.insert(call.id, call);
    }

    /// Changes a call's dialog (a call back's, once the number answered), keeping the
    /// index from its dialog key to the call right.
    pub(crate) fn set_dialog(&mut self, id: CallId, change: impl FnOnce(&mut Call)) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        self.dialogs.remove(&call.dialog_key());
        change(call);
        self.dialogs.insert(call.dialog_key(), id);
    }

    /// The call an in-dialog request from the caller belongs to.
    pub(crate) fn dialog_of(&self, req: &Request) -> Option<CallId> {
        self.dialogs.get(&DialogKey::of_request(req)?).copied()
    }

    /// The call of a dialog key, as an ACK names it.
    pub(crate) fn by_dialog(&self, dk: &DialogKey) -> Option<CallId> {
        self.dialogs.get(dk).copied()
    }

    /// The runtime opened (or failed to open) the RTP/RTCP sockets of a call.
    pub(crate) fn port_opened(&mut self, id: CallId, port: u16, ok: bool, fx: &mut Effects) -> PortOpened {
        if let Some(p) = self.closing.remove(&id) {
            if ok {
                fx.out.push_back(Output::CloseMedia { call: id, port: p });
            }
            self.ports.release(p);
            return PortOpened::Ignored;
        }
        let Some(call) = self.calls.get_mut(&id) else { return PortOpened::Ignored };
        let CallState::Opening { port: expected, tries, recorded, .. } = call.state else { return PortOpened::Ignored };
        if expected != port {
            return PortOpened::Ignored;
        }
        if ok {
            call.state = CallState::Opening { port, tries, opened: true, recorded };
            return if recorded { PortOpened::Answer { port } } else { PortOpened::WaitingForRecord };
        }
        warn!(call = %id, port, "RTP port could not be opened; trying the next one");
        self.ports.release(port);
        match self.ports.take() {
            Some(next) if tries < MAX_PORT_TRIES => {
                call.state = CallState::Opening { port: next, tries: tries + 1, opened: false, recorded };
                fx.out.push_back(Output::OpenMedia { call: id, port: next });
                PortOpened::Retrying
            }
            other => {
                if let Some(p) = other {
                    self.ports.release(p);
                }
                PortOpened::Exhausted
            }
        }
    }

    /// The call's first record is durable (or the wait ran out). `Some(port)`: its port
    /// is open too, answer it now.
    pub(crate) fn recorded(&mut self, id: CallId) -> Option<u16> {
        let call = self.calls.get_mut(&id)?;
        let CallState::Opening { port, tries, opened, recorded: false } = call.state else { return None };
        call.state = CallState::Opening { port, tries, opened, recorded: true };
        opened.then_some(port)
    }

    /// Take a call out: its dialog goes, and its port is closed and freed (or, while
    /// still being opened, closed as soon as the runtime reports it).
    pub(crate) fn remove(&mut self, id: CallId, fx: &mut Effects) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        self.dialogs.remove(&call.dialog_key());
        if let Some(n) = self.by_source.get_mut(&call.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_source.remove(&call.source);
            }
        }
        match call.state {
            // Its port is still being opened: closed and freed when the runtime reports it.
            CallState::Opening { port, opened: false, .. } => {
                self.closing.insert(id, port);
            }
            // Open, the 200 waiting for the record: no other report is coming.
            CallState::Opening { port, opened: true, .. } => {
                fx.out.push_back(Output::CloseMedia { call: id, port });
                self.ports.release(port);
            }
            _ => {
                if let Some(m) = &call.local_media {
                    fx.out.push_back(Output::CloseMedia { call: id, port: m.port });
                    self.ports.release(m.port);
                }
            }
        }
        Some(call)
    }

    /// Gives back the tables' room beyond twice what is live now.
    pub(crate) fn compact(&mut self) {
        fn shrink<K: Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 1024 && m.len().saturating_mul(4) < m.capacity() {
                m.shrink_to(m.len().saturating_mul(2));
            }
        }
        shrink(&mut self.calls);
        shrink(&mut self.dialogs);
    }
}

impl Calls {
    /// Counts an output for the metrics as it leaves the engine (every output does,
    /// through `Engine::poll_output`): a SIP message sent, an operator's answer (timed
    /// from the call's start to `now`, the engine's latest time).
    pub(crate) fn tally(&self, out: &Output, stats: &mut Stats, now: std::time::Instant) {
        match out {
            Output::Send { bytes, .. } => stats.sip.sent(bytes),
            Output::Event(CallEvent { call, kind: CallEventKind::OperatorAnswered { .. }, .. }) => {
                if let Some(c) = self.calls.get(call) {
                    stats.calls.answered(c.routing.as_ref().map(|r| r.queue.as_str()), now.saturating_duration_since(c.started));
                }
            }
            _ => {}
        }
    }

    /// A call event, with the call's SIP Call-ID.
    pub(crate) fn event(&self, call: CallId, kind: CallEventKind, fx: &mut Effects) {
        let sip_call_id = self.calls.get(&call).map(|c| c.sip_call_id.clone()).unwrap_or_default();
        fx.out.push_back(Output::Event(CallEvent { call, sip_call_id, kind }));
    }

    /// Play a prompt on a call now, or after the one it is hearing (an announcement
    /// is never cut by the queue's own prompts).
    pub(crate) fn play(&mut self, id: CallId, prompt: PromptRef, fx: &mut Effects) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.playing.is_some() {
            call.queued_prompts.push_back(prompt);
            return;
        }
        call.playing = Some(prompt.clone());
        fx.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
        self.event(id, CallEventKind::Prompt { prompt }, fx);
    }

    /// A prompt finished playing on a call: the next queued one starts, or the IVR is
    /// told (`true`: the IVR has news to drain).
    pub(crate) fn prompt_finished(&mut self, now: std::time::Instant, id: CallId, prompt: &PromptRef, fx: &mut Effects) -> bool {
        let Some(call) = self.calls.get_mut(&id) else { return false };
        if call.playing.as_ref() == Some(prompt) {
            call.playing = None;
        }
        if let Some(ivr) = call.ivr.as_mut() {
            ivr.handle_prompt_finished(now, prompt);
            return true;
        }
        if let Some(next) = call.queued_prompts.pop_front() {
            self.play(id, next, fx);
        }
        false
    }

    /// A prompt by id in the language the caller chose (or the plan's default).
    pub(crate) fn prompt(&self, id: CallId, prompt: &str, config: &Config) -> Option<PromptRef> {
        let call = self.calls.get(&id)?;
        let lang: Lang = call.language.clone().or_else(|| config.routing.default_language().cloned())?;
        Some(PromptRef { lang, id: PromptId::new(prompt) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::engine::call::NewCall;
    use crate::sip::transaction::TxKey;
    use crate::sip::{parse, Message, Peer, Transport};

    fn call(id: u64, port: u16, recorded: bool) -> Call {
        let text = format!(
            "INVITE sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{id}\r\nFrom: <sip:0812@192.0.2.10>;tag=a{id}\r\nTo: <sip:112@127.0.0.1>\r\nCall-ID: c{id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let Ok(Message::Request(req)) = parse(text.as_bytes()) else { panic!("INVITE") };
        let peer = Peer { transport: Transport::Udp, remote: "192.0.2.10:5060".parse().unwrap(), local: "127.0.0.1:5060".parse().unwrap(), conn: None };
        let key = TxKey::server(&req).unwrap();
        Call::from_invite(NewCall {
            id: CallId(id),
            record: format!("r{id}"),
            req: &req,
            peer,
            now: Instant::now(),
            port,
            local_tag: format!("l{id}"),
            invite_tx: key,
            offer: None,
            identity: "112".into(),
            recorded,
            source: crate::sip::source::SourceKey::Others,
        })
    }

    #[test]
    fn a_call_is_answered_once_its_port_is_open_and_its_record_durable_in_either_order() {
        let mut fx = Effects::default();
        let mut calls = Calls::new(PortPool::new(10000, 10010));
        let (a, b) = (calls.take_port().unwrap(), calls.take_port().unwrap());
        calls.insert(call(1, a, false));
        calls.insert(call(2, b, false));
        assert_eq!(calls.port_opened(CallId(1), a, true, &mut fx), PortOpened::WaitingForRecord);
        assert_eq!(calls.recorded(CallId(1)), Some(a));
        assert_eq!(calls.recorded(CallId(2)), None, "durable, port not open yet");
        assert_eq!(calls.port_opened(CallId(2), b, true, &mut fx), PortOpened::Answer { port: b });
        assert_eq!(calls.port_opened(CallId(2), b + 2, true, &mut fx), PortOpened::Ignored, "another port's report");
        assert_eq!(calls.recorded(CallId(2)), None, "a second report changes nothing");
    }

    #[test]
    fn a_failed_port_is_replaced_and_after_eight_the_call_is_refused() {
        let mut fx = Effects::default();
        let mut calls = Calls::new(PortPool::new(10000, 10099));
        let mut port = calls.take_port().unwrap();
        calls.insert(call(1, port, true));
        for _ in 1..MAX_PORT_TRIES {
            assert_eq!(calls.port_opened(CallId(1), port, false, &mut fx), PortOpened::Retrying);
            let Some(Output::OpenMedia { port: next, .. }) = fx.out.pop_back() else { panic!("no OpenMedia") };
            port = next;
        }
        assert_eq!(calls.port_opened(CallId(1), port, false, &mut fx), PortOpened::Exhausted);
        calls.remove(CallId(1), &mut fx);
        assert_eq!(calls.ports_in_use(), 0, "every port tried is free again");
    }

    #[test]
    fn a_call_that_ends_while_its_record_is_awaited_closes_its_open_port_at_once() {
        let mut fx = Effects::default();
        let mut calls = Calls::new(PortPool::new(10000, 10010));
        let port = calls.take_port().unwrap();
        calls.insert(call(1, port, false));
        assert_eq!(calls.port_opened(CallId(1), port, true, &mut fx), PortOpened::WaitingForRecord);
        assert!(calls.remove(CallId(1), &mut fx).is_some());
        assert!(matches!(fx.out.pop_front(), Some(Output::CloseMedia { port: p, .. }) if p == port));
        assert_eq!(calls.ports_in_use(), 0, "no second report is coming: the port is free now");
        assert_eq!(calls.recorded(CallId(1)), None);
    }

    #[test]
    fn a_call_that_ends_while_its_port_opens_closes_the_port_when_it_is_open() {
        let mut fx = Effects::default();
        let mut calls = Calls::new(PortPool::new(10000, 10010));
        let port = calls.take_port().unwrap();
        calls.insert(call(1, port, true));
        assert!(calls.remove(CallId(1), &mut fx).is_some());
        assert!(fx.out.is_empty(), "nothing to close yet");
        assert_eq!(calls.ports_in_use(), 1, "the port is still being opened");
        assert_eq!(calls.port_opened(CallId(1), port, true, &mut fx), PortOpened::Ignored);
        assert!(matches!(fx.out.pop_front(), Some(Output::CloseMedia { port: p, .. }) if p == port));
        assert_eq!(calls.ports_in_use(), 0);
    }
}
