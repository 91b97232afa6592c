//! The operator leg: the gateway as a B2BUA between the caller and an operator.
//!
//! When the ACD offers a call to an operator, every registered contact of that operator
//! (desk phone, softphone) is rung at once with an INVITE of our own (RFC 3261 §17.1.1)
//! that shows the caller's number and department. The first 200 OK wins: it is ACKed,
//! the other forks are cancelled, and the call's media bridges the two legs on the
//! call's RTP port (media always flows through the gateway). Ring timeout, rejection or
//! silence go back to the ACD, which requeues the call at the head of its queue. Either
//! side's BYE ends the other leg.
//!
//! Only UDP contacts are rung for now: a phone registered over TCP would need its
//! connection kept with the binding.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use tracing::{info, warn};

use super::{CallEventKind, DialogKey, Engine, MediaCommand, Output, TimerRef};
use crate::call::CallId;
use crate::sip::{Peer, Transport};
use crate::call::acd::OfferFailure;
use crate::config::OperatorId;
use crate::media::sdp::{self, LocalMedia};
use crate::sip::transaction::{InviteClientTx, NonInviteClientTx, TxAction};
use crate::sip::{HeaderName, Method, Outgoing, Response};

/// One INVITE to one contact of the offered operator.
pub(super) struct Fork {
    pub branch: String,
    pub tx: Option<InviteClientTx>,
    pub peer: Peer,
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub request_uri: String,
    pub remote_tag: Option<String>,
    pub remote_target: Option<String>,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    /// A CANCEL is wanted but no provisional response has come yet (RFC 3261 §9.1).
    pub cancel_wanted: bool,
    pub done: bool,
    pub ack: Option<Bytes>,
    pub scheduled: Option<Instant>,
}

/// An offer of one call to one operator.
pub(super) struct Offer {
    pub call: CallId,
    pub operator: OperatorId,
    pub forks: Vec<Fork>,
    pub answered: Option<usize>,
    pub withdrawn: bool,
    pub rang: bool,
    pub last_failure: Option<u16>,
}

/// The operator side of a bridged call.
#[derive(Debug, Clone)]
pub struct OperatorDialog {
    pub operator: OperatorId,
    pub offer: u64,
    pub fork: usize,
}

impl Engine {
    /// Ring every registered contact of `operator` for `call`.
    pub(super) fn offer(&mut self, now: Instant, call: CallId, operator: OperatorId) {
        let contacts = self.registrar.contacts(&operator);
        let Some(c) = self.calls.get(&call) else {
            self.acd.offer_failed(now, call, &operator, OfferFailure::Unreachable);
            return;
        };
        let Some(local_media) = c.local_media.clone() else {
            self.acd.offer_failed(now, call, &operator, OfferFailure::Unreachable);
            return;
        };
        let caller = c.caller.clone();
        let caller_name = c.caller_name.clone();
        let record = c.record.clone();
        let department = c.routing.as_ref().map(|r| r.queue.clone());
        let dept_name = department
            .as_ref()
            .and_then(|q| self.config.routing.queue(q))
            .map_or_else(|| "112".to_string(), |q| q.name.clone());
        let local = self.local_udp();
        let offer_sdp = sdp::offer(&LocalMedia { session_version: local_media.session_version + 1, ..local_media }, &self.config.media.codecs);
        let offer_id = self.next_id();
        let mut forks = Vec::new();
        for b in contacts.iter().filter(|b| b.transport == Transport::Udp) {
            let branch = format!("z9hG4bK{:016x}", self.rng.gen::<u64>());
            let call_id = format!("{:016x}@cc112", self.rng.gen::<u64>());
            let tag = format!("{:012x}", self.rng.gen::<u64>() & 0xffff_ffff_ffff);
            let request_uri = b.contact.trim().trim_start_matches('<').trim_end_matches('>').to_string();
            let display = format!("{} {}", dept_name.replace('"', "'"), caller).replace('\\', "");
            let from = format!("\"{display}\" <sip:{}@{}>;tag={tag}", sip_user(&caller), super::sent_by(local));
            let to = format!("<sip:{operator}@{}>", super::sent_by(local));
            let mut o = Outgoing::request(&Method::Invite, &request_uri)
                .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", super::sent_by(local)))
                .header("Max-Forwards", "70")
                .header("From", from.clone())
                .header("To", to.clone())
                .header("Call-ID", call_id.clone())
                .header("CSeq", "1 INVITE")
                .header("Contact", format!("<sip:cc112@{}>", super::sent_by(local)))
                .header("Allow", super::ALLOW)
                .header("X-CC112-Call", record.clone())
                .header("X-CC112-Caller", caller.clone())
                .header("X-CC112-Department", department.as_ref().map_or_else(String::new, ToString::to_string))
                .header("User-Agent", self.config.sip.user_agent.clone());
            if let Some(n) = &caller_name {
                o.push_header("X-CC112-Caller-Name", n.replace(['\r', '\n'], " "));
            }
            let o = o.body("application/sdp", Bytes::from(offer_sdp.clone()));
            let peer = Peer { transport: Transport::Udp, remote: b.source, local, conn: None };
            let tx = match InviteClientTx::new(now, false, self.timers, o.to_bytes()) {
                Ok(tx) => tx,
                Err(e) => {
                    warn!(%call, %operator, error = %e, "cannot build the operator INVITE");
                    continue;
                }
            };
            self.fork_index.insert(branch.clone(), (offer_id, forks.len()));
            forks.push(Fork {
                branch,
                tx: Some(tx),
                peer,
                call_id,
                from,
                to,
                request_uri,
                remote_tag: None,
                remote_target: None,
                route_set: Vec::new(),
                local_cseq: 1,
                cancel_wanted: false,
                done: false,
                ack: None,
                scheduled: None,
            });
        }
        if forks.is_empty() {
            info!(%call, %operator, "operator has no reachable UDP contact");
            self.acd.offer_failed(now, call, &operator, OfferFailure::Unreachable);
            return;
        }
        info!(%call, %operator, forks = forks.len(), "offering the call");
        self.event(call, CallEventKind::Offered { operator: operator.to_string() });
        let n = forks.len();
        self.offers.insert(offer_id, Offer { call, operator, forks, answered: None, withdrawn: false, rang: false, last_failure: None });
        if let Some(c) = self.calls.get_mut(&call) {
            c.offer = Some(offer_id);
        }
        for i in 0..n {
            self.drain_fork(now, offer_id, i);
        }
    }

    /// The ACD withdraws the offer: ring timeout, caller gone, operator paused.
    pub(super) fn withdraw(&mut self, now: Instant, call: CallId) {
        let Some(offer_id) = self.offers.iter().find(|(_, o)| o.call == call && o.answered.is_none() && !o.withdrawn).map(|(id, _)| *id) else {
            return;
        };
        if let Some(o) = self.offers.get_mut(&offer_id) {
            o.withdrawn = true;
        }
        let n = self.offers.get(&offer_id).map_or(0, |o| o.forks.len());
        for i in 0..n {
            self.cancel_fork(now, offer_id, i);
        }
    }

    fn cancel_fork(&mut self, now: Instant, offer_id: u64, idx: usize) {
        let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) else { return };
        if f.done {
            return;
        }
        match f.tx.as_mut().and_then(|tx| tx.cancel(now)) {
            Some(bytes) => {
                let peer = f.peer;
                let branch = f.branch.clone();
                let tx = NonInviteClientTx::new(now, false, self.timers, bytes);
                let tid = self.next_id();
                // A CANCEL shares its INVITE's branch; its responses are told apart by
                // the CSeq method, so it is indexed under its own key.
                let key = format!("CANCEL {branch}");
                self.nicts.insert(tid, super::NictEntry { tx, peer, branch: key.clone(), scheduled: None });
                self.nict_index.insert(key, tid);
                self.drain_nict(tid);
            }
            None => f.cancel_wanted = true,
        }
    }

    /// A response whose CSeq method is INVITE and whose branch is one of our forks.
    pub(super) fn on_fork_response(&mut self, now: Instant, offer_id: u64, idx: usize, resp: &Response) {
        let Some(offer) = self.offers.get_mut(&offer_id) else { return };
        let call = offer.call;
        let Some(f) = offer.forks.get_mut(idx) else { return };
        if let Some(tx) = f.tx.as_mut() {
            tx.handle_response(now, resp);
        }
        if (200..300).contains(&resp.status) {
            // Every 2xx is ACKed by us (RFC 3261 §13.2.2.4), retransmissions included.
            if f.ack.is_none() {
                f.remote_tag = resp.head.to.tag().map(str::to_string);
                f.remote_target = resp.head.contact.first().map(|c| c.uri.to_string());
                let mut routes: Vec<String> = resp.head.get_all(&HeaderName::RecordRoute).map(str::to_string).collect();
                routes.reverse(); // a UAC's route set is the Record-Route in reverse (§12.1.2)
                f.route_set = routes;
                f.ack = Some(self_ack(f, resp));
            }
            if let Some(ack) = f.ack.clone() {
                let peer = f.peer;
                self.out.push_back(Output::Send { peer, bytes: ack });
            }
            let first = offer.answered.is_none() && !offer.withdrawn && self.calls.contains_key(&call);
            if first {
                offer.answered = Some(idx);
                self.operator_answered(now, offer_id, idx, resp);
            } else if offer.answered != Some(idx) {
                // A second phone answered too late, or the offer was withdrawn: hang it up.
                self.bye_fork(now, offer_id, idx);
            }
        }
        self.drain_fork(now, offer_id, idx);
    }

    fn operator_answered(&mut self, now: Instant, offer_id: u64, idx: usize, resp: &Response) {
        let Some(offer) = self.offers.get(&offer_id) else { return };
        let (call, operator) = (offer.call, offer.operator.clone());
        let others: Vec<usize> = (0..offer.forks.len()).filter(|i| *i != idx).collect();
        let negotiated = match sdp::accept_answer(&resp.body, &self.config.media.codecs) {
            Ok(n) => Some(n),
            Err(e) => {
                warn!(%call, %operator, error = %e, "operator's SDP answer unusable; bridging with our defaults");
                None
            }
        };
        self.acd.offer_answered(now, call, &operator);
        for i in others {
            self.cancel_fork(now, offer_id, i);
        }
        let Some(f) = self.offers.get(&offer_id).and_then(|o| o.forks.get(idx)) else { return };
        let dk = DialogKey { call_id: f.call_id.clone(), local_tag: tag_of(&f.from), remote_tag: f.remote_tag.clone().unwrap_or_default() };
        self.op_dialogs.insert(dk, call);
        if let Some(c) = self.calls.get_mut(&call) {
            c.operator = Some(super::OperatorDialog { operator: operator.clone(), offer: offer_id, fork: idx });
            c.playing = None;
            c.queued_prompts.clear();
        }
        let default = self.config.media.codecs.first().copied().unwrap_or(crate::media::Codec::Pcmu);
        let cmd = match negotiated {
            Some(n) => MediaCommand::Bridge { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event },
            None => MediaCommand::Bridge { remote: None, codec: default, payload_type: default.payload_type(), telephone_event: None },
        };
        self.out.push_back(Output::Media { call, cmd });
        info!(%call, %operator, "operator answered; legs bridged");
        self.event(call, CallEventKind::OperatorAnswered { operator: operator.to_string() });
        self.drain_acd();
    }

    pub(super) fn drain_fork(&mut self, now: Instant, offer_id: u64, idx: usize) {
        let mut failed = None;
        let mut ringing = false;
        let mut cancel_now = false;
        {
            let Some(offer) = self.offers.get_mut(&offer_id) else { return };
            let Some(f) = offer.forks.get_mut(idx) else { return };
            let Some(tx) = f.tx.as_mut() else { return };
            while let Some(a) = tx.poll_action() {
                match a {
                    TxAction::Send(bytes) => self.out.push_back(Output::Send { peer: f.peer, bytes }),
                    TxAction::Provisional(code) => {
                        ringing |= code == 180 || code == 183;
                        cancel_now |= f.cancel_wanted;
                    }
                    TxAction::Final(code) => failed = Some(code),
                    TxAction::Timeout => failed = Some(408),
                    TxAction::Terminated => f.done = true,
                    TxAction::Accepted(_) | TxAction::NoAck { .. } => {}
                }
            }
            let next = if f.done { None } else { tx.poll_timeout() };
            if f.done {
                f.tx = None;
                self.fork_index.remove(&f.branch);
            } else if next != f.scheduled {
                f.scheduled = next;
                if let Some(t) = next {
                    self.heap.push(std::cmp::Reverse((t, TimerRef::Fork(offer_id, idx))));
                }
            }
            if let Some(code) = failed {
                f.done = true;
                offer.last_failure = Some(code);
            }
            if ringing && !offer.rang {
                offer.rang = true;
            } else {
                ringing = false;
            }
        }
        if cancel_now {
            if let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) {
                f.cancel_wanted = false;
            }
            self.cancel_fork(now, offer_id, idx);
        }
        let Some(offer) = self.offers.get(&offer_id) else { return };
        let call = offer.call;
        if ringing {
            let operator = offer.operator.to_string();
            self.event(call, CallEventKind::OperatorRinging { operator });
        }
        let Some(offer) = self.offers.get(&offer_id) else { return };
        // Every fork failed before anyone answered: back to the ACD.
        if failed.is_some() && offer.answered.is_none() && !offer.withdrawn && offer.forks.iter().all(|f| f.done) {
            let operator = offer.operator.clone();
            let why = match offer.last_failure {
                Some(408) | Some(503) | None => OfferFailure::Unreachable,
                Some(code) => OfferFailure::Rejected(code),
            };
            if let Some(o) = self.offers.get_mut(&offer_id) {
                o.withdrawn = true;
            }
            info!(%call, %operator, ?why, "offer failed");
            self.event(call, CallEventKind::OperatorNoAnswer { operator: operator.to_string() });
            self.acd.offer_failed(now, call, &operator, why);
            self.drain_acd();
        }
        self.forget_offer_if_done(offer_id);
    }

    fn forget_offer_if_done(&mut self, offer_id: u64) {
        // An answered offer stays while its call is bridged on it (the BYE needs the fork).
        let done = self.offers.get(&offer_id).is_some_and(|o| {
            let bridged = o.answered.is_some()
                && self.calls.get(&o.call).and_then(|c| c.operator.as_ref()).is_some_and(|d| d.offer == offer_id);
            o.forks.iter().all(|f| f.done) && !bridged
        });
        if done {
            self.offers.remove(&offer_id);
        }
    }

    /// BYE on one fork's dialog (an answered operator leg).
    pub(super) fn bye_fork(&mut self, now: Instant, offer_id: u64, idx: usize) {
        let branch = format!("z9hG4bK{:016x}", self.rng.gen::<u64>());
        let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) else { return };
        f.local_cseq += 1;
        let target = f.remote_target.clone().unwrap_or_else(|| f.request_uri.clone());
        let to = match &f.remote_tag {
            Some(t) => format!("{};tag={t}", f.to),
            None => f.to.clone(),
        };
        let mut o = Outgoing::request(&Method::Bye, &target)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", super::sent_by(f.peer.local)))
            .header("Max-Forwards", "70")
            .header("From", f.from.clone())
            .header("To", to)
            .header("Call-ID", f.call_id.clone())
            .header("CSeq", format!("{} BYE", f.local_cseq));
        for r in &f.route_set {
            o.push_header("Route", r.clone());
        }
        let peer = f.peer;
        let tx = NonInviteClientTx::new(now, false, self.timers, o.to_bytes());
        let tid = self.next_id();
        self.nicts.insert(tid, super::NictEntry { tx, peer, branch: branch.clone(), scheduled: None });
        self.nict_index.insert(branch, tid);
        self.drain_nict(tid);
    }

    /// Our UDP address for the operator leg (the first UDP listener; an unspecified
    /// address becomes the media address).
    fn local_udp(&self) -> SocketAddr {
        let mut a = self.config.sip.listen_udp.first().copied().unwrap_or_else(|| SocketAddr::new(self.config.media.address, 5060));
        if a.ip().is_unspecified() {
            a.set_ip(self.config.media.address);
        }
        a
    }
}

/// The ACK for a 2xx on a fork (RFC 3261 §13.2.2.4): a new transaction, to the
/// operator's Contact, with the route set from Record-Route.
fn self_ack(f: &Fork, resp: &Response) -> Bytes {
    let target = resp.head.contact.first().map_or_else(|| f.request_uri.clone(), |c| c.uri.to_string());
    let to = resp.head.get(&HeaderName::To).unwrap_or_default().to_string();
    let branch = format!("z9hG4bK{:016x}a", f.branch.len() as u64 ^ 0x5a5a);
    let mut o = Outgoing::request(&Method::Ack, &target)
        .header("Via", format!("SIP/2.0/UDP {};branch={}{branch};rport", super::sent_by(f.peer.local), f.branch))
        .header("Max-Forwards", "70")
        .header("From", f.from.clone())
        .header("To", to)
        .header("Call-ID", f.call_id.clone())
        .header("CSeq", "1 ACK");
    for r in resp.head.get_all(&HeaderName::RecordRoute).collect::<Vec<_>>().into_iter().rev() {
        o.push_header("Route", r.to_string());
    }
    o.to_bytes()
}

fn tag_of(name_addr: &str) -> String {
    name_addr.rsplit_once(";tag=").map(|(_, t)| t.to_string()).unwrap_or_default()
}

/// A caller number usable as the user part of our From URI.
fn sip_user(caller: &str) -> String {
    let u: String = caller.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '*' | '#')).collect();
    if u.is_empty() {
        "anonymous".to_string()
    } else {
        u
    }
}
