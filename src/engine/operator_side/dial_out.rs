//! Click to call back (issue 16): the gateway places a call for a worklist item.
//!
//! `cc112 callbacks call ID --operator OP` (or the API) reaches the engine as
//! [`Command::CallBack`]. The operator must be available: the ACD takes them for this
//! call ([`crate::call::acd::Acd::reserve`]), so no queue call rings them meanwhile. A
//! call is made as for an INVITE (a record of its own, `direction = 'callback'`, an RTP
//! port), but its caller's dialog is one we open as UAC:
//!
//! 1. the port open, the operator's phones ring (the operator legs, as the ACD's
//!    offers: every registered UDP contact, `X-CC112-Call`, `X-CC112-Flags: callback`);
//! 2. the operator answers: an INVITE goes to `[callbacks] trunk` with the number in its
//!    Request-URI (digits and a leading `+` only: the number came from the network);
//! 3. the number answers: that dialog becomes the call's caller dialog (so its BYE, and
//!    ours, go the way every call's do), the media starts on the number's address and is
//!    bridged to the operator's (transcoding, RFC 4733 relayed), and the record gets
//!    `operator_answered_at`, which closes the item as `reached`.
//!
//! Either side's BYE ends both legs. Bounded: one call back per operator (they are on
//! it), the operator's phones ring at most `[acd] ring_timeout` and the number at most
//! `[callbacks] ring_timeout`; a call back that reached nobody leaves the item open with
//! the attempt counted (`callbacks.attempts`, `last_attempt`) and the operator
//! available again in their place.

use std::time::Instant;

use bytes::Bytes;
use tracing::{info, warn};

use super::{local_udp, Ctx, OperatorSide};
use crate::call::CallId;
use crate::config::{CallbackTrunk, OperatorId};
use crate::engine::dial_outs::{DialOut, TrunkLeg};
use crate::engine::call::{Call, CallState};
use crate::engine::control::Reply;
use crate::engine::output::{CallEvent, CallEventKind, EndReason, MediaCommand, Output};
use crate::engine::timers::TimerKey;
use crate::engine::uas::ALLOW;
use crate::media::sdp::{self, LocalMedia, Negotiated};
use crate::sip::source::SourceKey;
use crate::sip::transaction::{InviteClientTx, TxAction};
use crate::sip::{sent_by, HeaderName, Method, Outgoing, Peer, Response, Transport};

/// Longest item id accepted (a record id is a 26-character ULID).
const MAX_ITEM_ID: usize = 64;
impl OperatorSide {
    /// [`Command::CallBack`](crate::engine::control::Command::CallBack): reserve the
    /// operator, make the call, open its port (the operator rings once it is open).
    pub(crate) fn call_back(&mut self, now: Instant, item: String, number: &str, operator: &str, mut ctx: Ctx<'_>) -> Reply {
        let error = |message: String| Reply::Error { message };
        let Some(trunk) = ctx.config.callbacks.trunk.clone() else { return error("no [callbacks] trunk is configured: the gateway cannot place calls".into()) };
        let Some(uri) = trunk.uri_for(number) else { return error(format!("{:?} cannot be dialled: only digits and a leading +", crate::sink::printable(number))) };
        if item.is_empty() || item.len() > MAX_ITEM_ID || !item.chars().all(|c| c.is_ascii_alphanumeric()) {
            return error("no such callback item".into());
        }
        if self.dial_outs.by_call.values().any(|d| d.item == item) {
            return error(format!("callback item {item} is being called back already"));
        }
        let op = OperatorId::new(operator.to_string());
        let id = ctx.ids.call();
        match self.acd.reserve(now, &op, id) {
            Err(e) => return error(e.to_string()),
            Ok(false) => {
                let state = self.acd.operator_status(&op).map_or("offline", |s| s.as_str());
                return error(format!("operator {op} is {state}, not available: a call back needs an available operator"));
            }
            Ok(true) => {}
        }
        let Some(port) = ctx.calls.take_port() else {
            self.acd.release(now, &op, id);
            return error("no RTP port is free".into());
        };
        let record = ctx.ids.record(crate::clock::wall_clock_at(self.wall, now));
        let history = self.callers.summary(number, self.utc(now));
        let (call, started) = dial_out_call(now, (id, port), record.clone(), (number, &uri, history), &item, &trunk, ctx.reborrow());
        ctx.calls.insert(call);
        ctx.calls.event(id, started, ctx.fx);
        ctx.calls.event(id, CallEventKind::CallBack { item: item.clone(), operator: op.to_string(), result: None }, ctx.fx);
        ctx.fx.out.push_back(Output::OpenMedia { call: id, port });
        // The port opens in a moment; the operator's phones then ring for ring_timeout.
        ctx.fx.timers.set(TimerKey::DialOut(id), Some(now + ctx.config.acd.ring_timeout + std::time::Duration::from_secs(5)));
        info!(call = %id, %item, operator = %op, "call back: ringing the operator first");
        self.dial_outs.by_call.insert(id, DialOut { item, operator: op.clone(), uri, operator_media: None, trunk: None, result: "operator did not answer" });
        Reply::CallingBack { record, operator: op.to_string() }
    }

    /// The call back's port is open: ring the operator.
    pub(crate) fn dial_out_port_open(&mut self, now: Instant, id: CallId, port: u16, mut ctx: Ctx<'_>) {
        let Some(operator) = self.dial_outs.by_call.get(&id).map(|d| d.operator.clone()) else { return };
        let session_id = ctx.ids.session_id();
        if let Some(c) = ctx.calls.get_mut(id) {
            c.local_media = Some(LocalMedia { addr: ctx.config.media.address, port, session_id, session_version: 1 });
            c.state = CallState::Answered;
        }
        if !self.offer(now, id, &operator, ctx.reborrow()) {
            self.end_dial_out(now, id, EndReason::CallerCancelled, ctx);
        }
    }

    /// The operator answered: keep their media for the bridge, call the number.
    pub(crate) fn dial_out_operator_answered(&mut self, now: Instant, id: CallId, bridge: MediaCommand, ctx: Ctx<'_>) {
        let Some(d) = self.dial_outs.by_call.get_mut(&id) else { return };
        d.operator_media = Some(bridge);
        d.result = "no answer";
        let Some(c) = ctx.calls.get(id) else { return };
        let Some(media) = c.local_media.clone() else { return };
        let branch = ctx.ids.branch();
        let local = c.peer.local;
        let offer = sdp::offer(&LocalMedia { session_version: media.session_version + 2, ..media }, &ctx.config.media.codecs);
        let o = Outgoing::request(&Method::Invite, &d.uri)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", sent_by(local)))
            .header("Max-Forwards", "70")
            .header("From", format!("{};tag={}", c.local_to, c.local_tag))
            .header("To", c.remote_from.clone())
            .header("Call-ID", c.sip_call_id.clone())
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:cc112@{}>", sent_by(local)))
            .header("Allow", ALLOW)
            .header("User-Agent", ctx.config.sip.user_agent.clone())
            .body("application/sdp", Bytes::from(offer));
        let tx = match InviteClientTx::new(now, false, ctx.txs.timers(), o.to_bytes()) {
            Ok(tx) => tx,
            Err(e) => {
                warn!(call = %id, error = %e, "cannot build the call back's INVITE");
                return self.end_dial_out(now, id, EndReason::OperatorHangup, ctx);
            }
        };
        info!(call = %id, uri = %d.uri, "call back: the operator answered; calling the number");
        d.trunk = Some(TrunkLeg { branch: branch.clone(), tx: Some(tx), peer: c.peer, answered: false, ack: None });
        self.dial_outs.by_branch.insert(branch, id);
        ctx.fx.timers.set(TimerKey::DialOut(id), Some(now + ctx.config.callbacks.ring_timeout));
        self.drain_trunk(now, id, ctx);
    }

    /// A response whose branch is a call back's INVITE: `false` unless it is one and
    /// comes from where that INVITE went.
    pub(crate) fn trunk_response(&mut self, now: Instant, from: &Peer, branch: &str, resp: &Response, mut ctx: Ctx<'_>) -> bool {
        let Some(&id) = self.dial_outs.by_branch.get(branch) else { return false };
        let Some(t) = self.dial_outs.by_call.get_mut(&id).and_then(|d| d.trunk.as_mut()) else { return false };
        if t.peer.remote != from.remote || from.transport != Transport::Udp {
            return false;
        }
        if let Some(tx) = t.tx.as_mut() {
            tx.handle_response(now, resp);
        }
        if (200..300).contains(&resp.status) {
            let c = ctx.calls.get(id);
            if t.ack.is_none() {
                t.ack = c.map(|c| ack_for(c, resp));
            }
            if let Some(ack) = t.ack.clone() {
                ctx.fx.out.push_back(Output::Send { peer: t.peer, bytes: ack });
            }
            if !t.answered {
                t.answered = true;
                self.number_answered(id, resp, ctx.reborrow());
            }
        } else if resp.status >= 300 {
            if let Some(d) = self.dial_outs.by_call.get_mut(&id) {
                d.result = if resp.status == 486 || resp.status == 600 { "busy" } else { "refused" };
            }
        }
        self.drain_trunk(now, id, ctx);
        true
    }

    /// The number answered: its dialog becomes the call's, media starts and is bridged.
    fn number_answered(&mut self, id: CallId, resp: &Response, ctx: Ctx<'_>) {
        let Some(d) = self.dial_outs.by_call.get_mut(&id) else { return };
        d.result = "answered";
        let bridge = d.operator_media.clone();
        let operator = d.operator.to_string();
        let codecs = &ctx.config.media.codecs;
        let negotiated: Option<Negotiated> = sdp::accept_answer(&resp.body, codecs).map_err(|e| warn!(call = %id, error = %e, "the number's SDP answer is unusable")).ok();
        ctx.calls.set_dialog(id, |c| {
            c.remote_tag = resp.head.to.tag().unwrap_or_default().to_string();
            c.remote_from = resp.head.get(&HeaderName::To).unwrap_or_default().to_string();
            if let Some(contact) = resp.head.contact.first() {
                c.remote_target = contact.uri.to_string();
            }
            let mut routes: Vec<String> = resp.head.get_all(&HeaderName::RecordRoute).map(str::to_string).collect();
            routes.reverse();
            c.route_set = routes;
            c.state = CallState::Confirmed;
            c.negotiated = negotiated.clone();
        });
        let Some(c) = ctx.calls.get(id) else { return };
        let (start, _) = c.media_start(super::default_codec(ctx.config));
        ctx.fx.out.push_back(Output::Media { call: id, cmd: start });
        if let Some(cmd) = bridge {
            ctx.fx.out.push_back(Output::Media { call: id, cmd });
        }
        ctx.fx.timers.set(TimerKey::DialOut(id), None);
        info!(call = %id, %operator, "call back answered; legs bridged");
        ctx.calls.event(id, CallEventKind::OperatorAnswered { operator }, ctx.fx);
    }

    /// Runs the trunk INVITE's transaction actions; a failure ends the call back.
    fn drain_trunk(&mut self, now: Instant, id: CallId, ctx: Ctx<'_>) {
        let Some(d) = self.dial_outs.by_call.get_mut(&id) else { return };
        let Some(t) = d.trunk.as_mut() else { return };
        let Some(tx) = t.tx.as_mut() else { return };
        let (mut failed, mut ended) = (false, false);
        while let Some(a) = tx.poll_action() {
            match a {
                TxAction::Send(bytes) => ctx.fx.out.push_back(Output::Send { peer: t.peer, bytes }),
                TxAction::Final(_) => failed = true,
                TxAction::Timeout => {
                    failed = true;
                    d.result = "unreachable";
                }
                TxAction::Terminated => ended = true,
                TxAction::Provisional(_) | TxAction::Accepted(_) | TxAction::NoAck { .. } => {}
            }
        }
        if ended {
            t.tx = None;
        }
        ctx.fx.timers.set(TimerKey::DialOutTx(id), t.tx.as_ref().and_then(InviteClientTx::poll_timeout));
        if t.tx.is_none() {
            self.dial_outs.by_branch.remove(&t.branch);
        }
        if failed && !t.answered {
            self.end_dial_out(now, id, EndReason::CallerHangup, ctx);
        }
    }

    /// A call back's deadline: its ring timeout, or its INVITE's transaction timer.
    pub(crate) fn dial_out_timeout(&mut self, now: Instant, key: TimerKey, ctx: Ctx<'_>) {
        match key {
            TimerKey::DialOutTx(id) => {
                if let Some(tx) = self.dial_outs.by_call.get_mut(&id).and_then(|d| d.trunk.as_mut()).and_then(|t| t.tx.as_mut()) {
                    tx.handle_timeout(now);
                }
                self.drain_trunk(now, id, ctx);
            }
            TimerKey::DialOut(id) if self.dial_outs.by_call.get(&id).is_some_and(|d| !d.trunk.as_ref().is_some_and(|t| t.answered)) => {
                info!(call = %id, "call back: nobody answered in time");
                self.end_dial_out(now, id, EndReason::CallerHangup, ctx);
            }
            _ => {}
        }
    }

    /// The operator's phones failed (rejected, unreachable): the call back is over.
    pub(crate) fn dial_out_operator_failed(&mut self, now: Instant, id: CallId, ctx: Ctx<'_>) {
        self.end_dial_out(now, id, EndReason::CallerCancelled, ctx);
    }

    /// Ends a call back from here (the engine's `end_call` does the same for a BYE).
    fn end_dial_out(&mut self, now: Instant, id: CallId, reason: EndReason, mut ctx: Ctx<'_>) {
        ctx.fx.timers.set(TimerKey::Record(id), None);
        let Some(call) = ctx.calls.remove(id, ctx.fx) else { return };
        self.call_ended(now, &call, reason, ctx.reborrow());
        ctx.fx.out.push_back(Output::Event(CallEvent { call: id, sip_call_id: call.sip_call_id, kind: CallEventKind::Ended { reason } }));
    }

    /// `call` ends, however: the trunk INVITE still ringing is cancelled, an operator who
    /// never answered stops ringing and is available again, and the item learns how it
    /// went. Called first by [`OperatorSide::call_ended`]: `Some(whether the number
    /// answered)` for a call back, `None` for any other call.
    pub(crate) fn dial_out_gone(&mut self, now: Instant, call: &Call, mut ctx: Ctx<'_>) -> Option<bool> {
        let mut d = self.dial_outs.by_call.remove(&call.id)?;
        ctx.fx.timers.set(TimerKey::DialOut(call.id), None);
        ctx.fx.timers.set(TimerKey::DialOutTx(call.id), None);
        if let Some(t) = d.trunk.as_mut() {
            self.dial_outs.by_branch.remove(&t.branch);
            if !t.answered {
                if let Some(bytes) = t.tx.as_mut().and_then(|tx| tx.cancel(now)) {
                    ctx.txs.send_request(now, ctx.ids, t.peer, format!("CANCEL {}", t.branch), bytes, ctx.fx);
                }
            }
        }
        let result = Some(d.result.to_string());
        info!(call = %call.id, item = %d.item, result = d.result, "call back over");
        ctx.calls.event(call.id, CallEventKind::CallBack { item: d.item, operator: d.operator.to_string(), result }, ctx.fx);
        if call.operator.is_none() {
            // The operator never answered: stop their phones, give them back to the
            // queues (what that makes the ACD do is carried out now).
            self.legs.withdraw(now, call.id, ctx.ids, ctx.txs, ctx.fx);
            self.acd.release(now, &d.operator, call.id);
            self.drain_legs(now, ctx.reborrow());
            self.drain_acd(now, ctx);
        }
        Some(d.trunk.is_some_and(|t| t.answered))
    }
}

/// The call a call back is: its first record event, and a caller's dialog whose tags
/// wait for the number's answer.
fn dial_out_call(now: Instant, (id, port): (CallId, u16), record: String, (number, uri, history): (&str, &str, Option<String>), item: &str, trunk: &CallbackTrunk, ctx: Ctx<'_>) -> (Call, CallEventKind) {
    let local = local_udp(ctx.config);
    let peer = Peer { transport: Transport::Udp, remote: trunk.next_hop, local, conn: None };
    let call = Call {
        id,
        record: record.clone(),
        sip_call_id: ctx.ids.sip_call_id(),
        peer,
        started: now,
        state: CallState::Opening { port, tries: 1, opened: false, recorded: true },
        local_tag: ctx.ids.tag(),
        remote_tag: String::new(),
        invite_tx: None,
        remote_from: format!("<{uri}>"),
        local_to: format!("<sip:112@{}>", sent_by(local)),
        remote_target: uri.to_string(),
        route_set: Vec::new(),
        local_cseq: 1,
        remote_cseq: 0,
        remote_offer: None,
        local_media: None,
        negotiated: None,
        identity: "callback".into(),
        ivr: None,
        routing: None,
        language: None,
        playing: None,
        queued_prompts: Default::default(),
        caller: number.to_string(),
        caller_name: None,
        history,
        callback: true,
        nuisance: false,
        heard: None,
        operator: None,
        source: SourceKey::Network(trunk.next_hop.ip()),
        dial_out: Some(item.to_string()),
    };
    let started = CallEventKind::Started {
        record,
        caller: number.to_string(),
        caller_name: None,
        dialed: uri.to_string(),
        identity: "callback".into(),
        remote: trunk.next_hop,
        transport: Transport::Udp,
        config_version: ctx.config.version.clone(),
    };
    (call, started)
}

/// The ACK for the number's 2xx (RFC 3261 §13.2.2.4), to its Contact.
fn ack_for(c: &Call, resp: &Response) -> Bytes {
    let target = resp.head.contact.first().map_or_else(|| c.remote_target.clone(), |x| x.uri.to_string());
    let mut o = Outgoing::request(&Method::Ack, &target)
        .header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bK{}ack;rport", sent_by(c.peer.local), c.local_tag))
        .header("Max-Forwards", "70")
        .header("From", format!("{};tag={}", c.local_to, c.local_tag))
        .header("To", resp.head.get(&HeaderName::To).unwrap_or_default().to_string())
        .header("Call-ID", c.sip_call_id.clone())
        .header("CSeq", "1 ACK");
    for r in resp.head.get_all(&HeaderName::RecordRoute).collect::<Vec<_>>().into_iter().rev() {
        o.push_header("Route", r.to_string());
    }
    o.to_bytes()
}
