//! The operator legs: the gateway as a B2BUA between the caller and an operator.
//!
//! When the ACD offers a call to an operator, every registered contact of that operator
//! (desk phone, softphone) is rung at once with an INVITE of our own (RFC 3261 §17.1.1)
//! that shows the caller's number and department: one *fork* per contact, all in one
//! *offer*. The first 200 OK wins: it is ACKed, the other forks are cancelled, and the
//! call's media bridges the two legs on the call's RTP port (media always flows through
//! the gateway). Ring timeout, rejection or silence go back to the ACD, which requeues
//! the call at the head of its queue. Either side's BYE ends the other leg.
//!
//! This part owns the offers, their forks (each with its INVITE client transaction),
//! the index from a fork's Via branch to the fork, and the operator-side dialogs of
//! bridged calls. It tells its driver (`operator_side`) what happened through
//! [`LegEvent`]s ([`OperatorLegs::poll_event`]); our CANCELs and BYEs go through the
//! transaction layer's client transactions.
//!
//! Only UDP contacts are rung for now: a phone registered over TCP would need its
//! connection kept with the binding.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use tracing::{info, warn};

use super::call::{DialogKey, OperatorDialog};
use super::ids::{Ids, OfferId};
use super::output::{Effects, Output};
use super::timers::TimerKey;
use super::transactions::Transactions;
use super::uas::ALLOW;
use crate::call::acd::OfferFailure;
use crate::call::registrar::Binding;
use crate::call::CallId;
use crate::config::OperatorId;
use crate::media::sdp::Negotiated;
use crate::sink;
use crate::sip::transaction::{InviteClientTx, TxAction};
use crate::sip::{sent_by, HeaderName, Method, Outgoing, Peer, Request, Response, Transport};

/// What the operator legs tell the engine.
#[derive(Debug)]
pub(crate) enum LegEvent {
    /// One of the operator's phones is ringing (the offer's first 180/183).
    Ringing { call: CallId, operator: OperatorId },
    /// A phone answered first: the other forks are being cancelled, and the caller is
    /// to be bridged to the operator's media (`None`: their SDP was unusable).
    Answered { call: CallId, leg: OperatorDialog, media: Option<Negotiated> },
    /// Every fork failed before anyone answered.
    Failed { call: CallId, operator: OperatorId, why: OfferFailure },
}

/// What an offer needs to know of the call it offers.
pub(crate) struct OfferedCall<'a> {
    pub(crate) call: CallId,
    pub(crate) operator: &'a OperatorId,
    /// The caller's number and name, shown on the phone.
    pub(crate) caller: &'a str,
    pub(crate) caller_name: Option<&'a str>,
    /// The call record's id, sent as `X-CC112-Call`.
    pub(crate) record: &'a str,
    /// The queue id and the department's display name.
    pub(crate) department: Option<&'a str>,
    pub(crate) department_name: &'a str,
    /// Flags for the operator (`callback`, `silent_55`, `silent`), as `X-CC112-Flags`.
    pub(crate) flags: Option<String>,
    /// The caller's recent calls, as `X-CC112-History`.
    pub(crate) history: Option<&'a str>,
    /// Our SDP offer, on the call's own RTP port.
    pub(crate) sdp: String,
    /// Our UDP address for the operator leg.
    pub(crate) local: SocketAddr,
    pub(crate) user_agent: &'a str,
}

/// One INVITE to one contact of the offered operator.
struct Fork {
    branch: String,
    tx: Option<InviteClientTx>,
    peer: Peer,
    call_id: String,
    from: String,
    to: String,
    request_uri: String,
    remote_tag: Option<String>,
    remote_target: Option<String>,
    route_set: Vec<String>,
    local_cseq: u32,
    /// A CANCEL is wanted but no provisional response has come yet (RFC 3261 §9.1).
    cancel_wanted: bool,
    done: bool,
    ack: Option<Bytes>,
}

/// An offer of one call to one operator.
struct Offer {
    call: CallId,
    operator: OperatorId,
    forks: Vec<Fork>,
    answered: Option<usize>,
    withdrawn: bool,
    rang: bool,
    last_failure: Option<u16>,
}

/// Every offer in progress and every bridged operator leg.
#[derive(Default)]
pub(crate) struct OperatorLegs {
    offers: HashMap<OfferId, Offer>,
    /// Branch of an operator INVITE → (offer, fork).
    fork_index: HashMap<String, (OfferId, usize)>,
    /// Operator-side dialogs of bridged calls.
    dialogs: HashMap<DialogKey, CallId>,
    events: VecDeque<LegEvent>,
}

impl OperatorLegs {
    /// Offers in progress or bridged (for the memory figures).
    pub(crate) fn len(&self) -> usize {
        self.offers.len()
    }

    /// What happened since the last call, in order.
    pub(crate) fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    /// The call whose operator leg this in-dialog request belongs to (the operator's
    /// tag is the From tag, ours the To tag).
    pub(crate) fn dialog_of(&self, req: &Request) -> Option<CallId> {
        self.dialogs.get(&DialogKey::of_request(req)?).copied()
    }

    /// Whether this dialog key is an operator leg's (an ACK for our 200 to its re-INVITE).
    pub(crate) fn has_dialog(&self, dk: &DialogKey) -> bool {
        self.dialogs.contains_key(dk)
    }

    /// Whether this branch is one of our forks (a response to an operator INVITE).
    pub(crate) fn fork_of(&self, branch: &str) -> Option<(OfferId, usize)> {
        self.fork_index.get(branch).copied()
    }

    /// Whether a response on `fork` comes from where its INVITE went: the phone's
    /// address, over UDP. A response from anywhere else is forged (a 200 would bridge
    /// the caller to whoever sent it) and is dropped.
    pub(crate) fn came_from_fork(&self, (offer, idx): (OfferId, usize), from: &Peer) -> bool {
        self.offers
            .get(&offer)
            .and_then(|o| o.forks.get(idx))
            .is_some_and(|f| f.peer.remote == from.remote && f.peer.transport == from.transport)
    }

    /// Ring every UDP contact in `contacts`. `Err` when none could be rung.
    pub(crate) fn offer(&mut self, now: Instant, c: OfferedCall<'_>, contacts: &[Binding], ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) -> Result<(), OfferFailure> {
        let offer_id = ids.offer();
        let mut forks = Vec::new();
        for b in contacts.iter().filter(|b| b.transport == Transport::Udp) {
            let Some(fork) = build_fork(now, &c, b, ids, txs) else { continue };
            self.fork_index.insert(fork.branch.clone(), (offer_id, forks.len()));
            forks.push(fork);
        }
        if forks.is_empty() {
            info!(call = %c.call, operator = %c.operator, "operator has no reachable UDP contact");
            return Err(OfferFailure::Unreachable);
        }
        info!(call = %c.call, operator = %c.operator, forks = forks.len(), "offering the call");
        let n = forks.len();
        let offer = Offer { call: c.call, operator: c.operator.clone(), forks, answered: None, withdrawn: false, rang: false, last_failure: None };
        self.offers.insert(offer_id, offer);
        for i in 0..n {
            self.drain_fork(now, offer_id, i, ids, txs, fx);
        }
        Ok(())
    }

    /// The ACD withdraws the offer of `call`: ring timeout, caller gone, operator paused.
    pub(crate) fn withdraw(&mut self, now: Instant, call: CallId, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let found = self.offers.iter_mut().find(|(_, o)| o.call == call && o.answered.is_none() && !o.withdrawn);
        let Some((&offer_id, offer)) = found else { return };
        offer.withdrawn = true;
        for i in 0..offer.forks.len() {
            self.cancel_fork(now, offer_id, i, ids, txs, fx);
        }
    }

    fn cancel_fork(&mut self, now: Instant, offer_id: OfferId, idx: usize, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) else { return };
        if f.done {
            return;
        }
        match f.tx.as_mut().and_then(|tx| tx.cancel(now)) {
            // A CANCEL shares its INVITE's branch; its responses are told apart by the
            // CSeq method, so it is indexed under its own key.
            Some(bytes) => txs.send_request(now, ids, f.peer, format!("CANCEL {}", f.branch), bytes, fx),
            None => f.cancel_wanted = true,
        }
    }

    /// A response whose CSeq method is INVITE and whose branch is fork `idx` of
    /// `offer_id`. `alive` tells whether a call still exists.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        (offer_id, idx): (OfferId, usize),
        resp: &Response,
        alive: impl Fn(CallId) -> bool,
        codecs: &[crate::media::Codec],
        ids: &mut Ids,
        txs: &mut Transactions,
        fx: &mut Effects,
    ) {
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
                f.ack = Some(ack_for_2xx(f, resp));
            }
            if let Some(ack) = f.ack.clone() {
                fx.out.push_back(Output::Send { peer: f.peer, bytes: ack });
            }
            if offer.answered.is_none() && !offer.withdrawn && alive(call) {
                offer.answered = Some(idx);
                self.answered(now, offer_id, idx, resp, codecs, ids, txs, fx);
            } else if offer.answered != Some(idx) {
                // A second phone answered too late, or the offer was withdrawn: hang it up.
                self.bye_fork(now, offer_id, idx, ids, txs, fx);
            }
        }
        self.drain_fork(now, offer_id, idx, ids, txs, fx);
    }

    #[allow(clippy::too_many_arguments)]
    fn answered(&mut self, now: Instant, offer_id: OfferId, idx: usize, resp: &Response, codecs: &[crate::media::Codec], ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let Some(offer) = self.offers.get(&offer_id) else { return };
        let (call, operator) = (offer.call, offer.operator.clone());
        let n = offer.forks.len();
        let media = match crate::media::sdp::accept_answer(&resp.body, codecs) {
            Ok(n) => Some(n),
            Err(e) => {
                warn!(%call, %operator, error = %e, "operator's SDP answer unusable; bridging with our defaults");
                None
            }
        };
        for i in (0..n).filter(|i| *i != idx) {
            self.cancel_fork(now, offer_id, i, ids, txs, fx);
        }
        let Some(f) = self.offers.get(&offer_id).and_then(|o| o.forks.get(idx)) else { return };
        let dk = DialogKey { call_id: f.call_id.clone(), local_tag: tag_of(&f.from), remote_tag: f.remote_tag.clone().unwrap_or_default() };
        self.dialogs.insert(dk, call);
        let leg = OperatorDialog { operator, offer: offer_id, fork: idx };
        self.events.push_back(LegEvent::Answered { call, leg, media });
    }

    /// Timer due for a fork.
    pub(crate) fn on_timeout(&mut self, now: Instant, offer_id: OfferId, idx: usize, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) else { return };
        if let Some(tx) = f.tx.as_mut() {
            tx.handle_timeout(now);
        }
        self.drain_fork(now, offer_id, idx, ids, txs, fx);
    }

    fn drain_fork(&mut self, now: Instant, offer_id: OfferId, idx: usize, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let (failed, ringing, cancel_now) = self.drain_fork_tx(offer_id, idx, fx);
        if cancel_now {
            if let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) {
                f.cancel_wanted = false;
            }
            self.cancel_fork(now, offer_id, idx, ids, txs, fx);
        }
        let Some(offer) = self.offers.get(&offer_id) else { return };
        let call = offer.call;
        if ringing {
            self.events.push_back(LegEvent::Ringing { call, operator: offer.operator.clone() });
        }
        // Every fork failed before anyone answered: back to the ACD.
        if failed && offer.answered.is_none() && !offer.withdrawn && offer.forks.iter().all(|f| f.done) {
            let operator = offer.operator.clone();
            let why = match offer.last_failure {
                Some(408) | Some(503) | None => OfferFailure::Unreachable,
                Some(code) => OfferFailure::Rejected(code),
            };
            if let Some(o) = self.offers.get_mut(&offer_id) {
                o.withdrawn = true;
            }
            info!(%call, %operator, ?why, "offer failed");
            self.events.push_back(LegEvent::Failed { call, operator, why });
        }
        // An offer nobody answered goes once every fork's transaction has ended (a
        // rejection is ACKed again until Timer D), taking its branches with it; an
        // answered offer stays while its call is bridged on it (the BYE needs the fork).
        if self.offers.get(&offer_id).is_some_and(|o| o.forks.iter().all(|f| f.tx.is_none()) && o.answered.is_none()) {
            self.forget(offer_id);
        }
    }

    /// Runs the fork's transaction actions: (failed, first ringing of the offer, a
    /// CANCEL waited for this provisional response).
    fn drain_fork_tx(&mut self, offer_id: OfferId, idx: usize, fx: &mut Effects) -> (bool, bool, bool) {
        let (mut failed, mut ringing, mut cancel_now) = (None, false, false);
        let Some(offer) = self.offers.get_mut(&offer_id) else { return (false, false, false) };
        let Some(f) = offer.forks.get_mut(idx) else { return (false, false, false) };
        let Some(tx) = f.tx.as_mut() else { return (false, false, false) };
        while let Some(a) = tx.poll_action() {
            match a {
                TxAction::Send(bytes) => fx.out.push_back(Output::Send { peer: f.peer, bytes }),
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
        if f.done {
            f.tx = None;
            self.fork_index.remove(&f.branch);
            fx.timers.set(TimerKey::Fork(offer_id, idx), None);
        } else {
            fx.timers.set(TimerKey::Fork(offer_id, idx), tx.poll_timeout());
        }
        if let Some(code) = failed {
            f.done = true;
            offer.last_failure = Some(code);
        }
        let first_ring = ringing && !offer.rang;
        offer.rang |= ringing;
        (failed.is_some(), first_ring, cancel_now)
    }

    /// The caller's leg ended: hang up the operator's (unless the operator hung up
    /// first) and forget the offer and its dialog.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call_ended(&mut self, now: Instant, call: CallId, leg: &OperatorDialog, operator_hung_up: bool, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        if !operator_hung_up {
            self.bye_fork(now, leg.offer, leg.fork, ids, txs, fx);
        }
        self.dialogs.retain(|_, c| *c != call);
        self.forget(leg.offer);
    }

    /// Drop an offer and the index entries of its forks.
    fn forget(&mut self, offer_id: OfferId) {
        if let Some(o) = self.offers.remove(&offer_id) {
            for f in &o.forks {
                self.fork_index.remove(&f.branch);
            }
        }
    }

    /// BYE on one fork's dialog (an answered operator leg).
    fn bye_fork(&mut self, now: Instant, offer_id: OfferId, idx: usize, ids: &mut Ids, txs: &mut Transactions, fx: &mut Effects) {
        let branch = ids.branch();
        let Some(f) = self.offers.get_mut(&offer_id).and_then(|o| o.forks.get_mut(idx)) else { return };
        f.local_cseq += 1;
        let target = f.remote_target.clone().unwrap_or_else(|| f.request_uri.clone());
        let to = match &f.remote_tag {
            Some(t) => format!("{};tag={t}", f.to),
            None => f.to.clone(),
        };
        let mut o = Outgoing::request(&Method::Bye, &target)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", sent_by(f.peer.local)))
            .header("Max-Forwards", "70")
            .header("From", f.from.clone())
            .header("To", to)
            .header("Call-ID", f.call_id.clone())
            .header("CSeq", format!("{} BYE", f.local_cseq));
        for r in &f.route_set {
            o.push_header("Route", r.clone());
        }
        txs.send_request(now, ids, f.peer, branch, o.to_bytes(), fx);
    }

    /// Gives back the tables' room beyond twice what is live now.
    pub(crate) fn compact(&mut self) {
        for m in [&mut self.fork_index as &mut dyn Shrink, &mut self.offers, &mut self.dialogs] {
            m.shrink();
        }
    }
}

trait Shrink {
    fn shrink(&mut self);
}

impl<K: Eq + std::hash::Hash, V> Shrink for HashMap<K, V> {
    fn shrink(&mut self) {
        if self.capacity() > 1024 && self.len().saturating_mul(4) < self.capacity() {
            self.shrink_to(self.len().saturating_mul(2));
        }
    }
}

/// The INVITE of one fork, with its client transaction; `None` (logged) if it cannot
/// be built.
fn build_fork(now: Instant, c: &OfferedCall<'_>, b: &Binding, ids: &mut Ids, txs: &Transactions) -> Option<Fork> {
    let branch = ids.branch();
    let call_id = ids.sip_call_id();
    let tag = ids.tag();
    let local = c.local;
    let request_uri = b.contact.trim().trim_start_matches('<').trim_end_matches('>').to_string();
    // The caller's number and name are data from a stranger: never syntax (crate::sink).
    let display = sink::quoted(&format!("{} {}", c.department_name, c.caller));
    let from = format!("\"{display}\" <sip:{}@{}>;tag={tag}", sip_user(c.caller), sent_by(local));
    let to = format!("<sip:{}@{}>", c.operator, sent_by(local));
    let mut o = Outgoing::request(&Method::Invite, &request_uri)
        .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", sent_by(local)))
        .header("Max-Forwards", "70")
        .header("From", from.clone())
        .header("To", to.clone())
        .header("Call-ID", call_id.clone())
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<sip:cc112@{}>", sent_by(local)))
        .header("Allow", ALLOW)
        .header("X-CC112-Call", c.record.to_string())
        .header("X-CC112-Caller", sink::header_value(c.caller))
        .header("X-CC112-Department", c.department.unwrap_or_default().to_string())
        .header("User-Agent", c.user_agent.to_string());
    // Behind our proxy: the REGISTER's Path is the Route set back to the phone (RFC 3327).
    for r in &b.path {
        o.push_header("Route", r.clone());
    }
    if let Some(n) = c.caller_name {
        o.push_header("X-CC112-Caller-Name", sink::header_value(n));
    }
    if let Some(f) = &c.flags {
        o.push_header("X-CC112-Flags", f.as_str());
    }
    if let Some(h) = c.history {
        o.push_header("X-CC112-History", sink::header_value(h));
    }
    let o = o.body("application/sdp", Bytes::from(c.sdp.clone()));
    let peer = Peer { transport: Transport::Udp, remote: b.next_hop, local, conn: None };
    let tx = match InviteClientTx::new(now, false, txs.timers(), o.to_bytes()) {
        Ok(tx) => tx,
        Err(e) => {
            warn!(call = %c.call, operator = %c.operator, error = %e, "cannot build the operator INVITE");
            return None;
        }
    };
    Some(Fork {
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
    })
}

/// The ACK for a 2xx on a fork (RFC 3261 §13.2.2.4): a new transaction, to the
/// operator's Contact, with the route set from Record-Route.
fn ack_for_2xx(f: &Fork, resp: &Response) -> Bytes {
    let target = resp.head.contact.first().map_or_else(|| f.request_uri.clone(), |c| c.uri.to_string());
    let to = resp.head.get(&HeaderName::To).unwrap_or_default().to_string();
    let branch = format!("z9hG4bK{:016x}a", f.branch.len() as u64 ^ 0x5a5a);
    let mut o = Outgoing::request(&Method::Ack, &target)
        .header("Via", format!("SIP/2.0/UDP {};branch={}{branch};rport", sent_by(f.peer.local), f.branch))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sip::transaction::Timers;
    use crate::sip::{parse, Message};

    const SDP: &str = "v=0\r\no=op 1 1 IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";

    struct World {
        legs: OperatorLegs,
        ids: Ids,
        txs: Transactions,
        fx: Effects,
        t0: Instant,
    }

    fn world() -> World {
        World { legs: OperatorLegs::default(), ids: Ids::new(3), txs: Transactions::new(Timers::default(), "cc112".into()), fx: Effects::default(), t0: Instant::now() }
    }

    fn binding(port: u16, transport: Transport, t0: Instant) -> Binding {
        Binding {
            contact: format!("<sip:op-a@192.0.2.101:{port}>"),
            source: SocketAddr::from(([192, 0, 2, 101], port)),
            next_hop: SocketAddr::from(([192, 0, 2, 101], port)),
            path: Vec::new(),
            transport,
            registered_at: t0,
            expires_at: t0 + Duration::from_secs(300),
            call_id: format!("reg{port}"),
            cseq: 1,
        }
    }

    fn offer(w: &mut World, contacts: &[Binding]) -> Result<(), OfferFailure> {
        offer_from(w, "081234567", "Siti", contacts)
    }

    /// An offer of call 7 to op-a from this caller number and name.
    fn offer_from(w: &mut World, caller: &str, name: &str, contacts: &[Binding]) -> Result<(), OfferFailure> {
        let op = OperatorId::new("op-a");
        let c = OfferedCall {
            call: CallId(7),
            operator: &op,
            caller,
            caller_name: Some(name),
            record: "01REC",
            department: Some("medical"),
            department_name: "Medis \"112\"",
            flags: None,
            history: None,
            sdp: SDP.replace("192.0.2.101", "127.0.0.1"),
            local: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "cc112",
        };
        w.legs.offer(w.t0, c, contacts, &mut w.ids, &mut w.txs, &mut w.fx)
    }

    /// The INVITEs sent, with their Via branch.
    fn invites(w: &mut World) -> Vec<(SocketAddr, Request)> {
        w.fx.out
            .drain(..)
            .filter_map(|o| match o {
                Output::Send { peer, bytes } => match parse(&bytes) {
                    Ok(Message::Request(r)) if r.method == Method::Invite => Some((peer.remote, r)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn response(inv: &Request, status: u16, tag: &str) -> Response {
        let via = inv.head.get(&HeaderName::Via).unwrap_or_default();
        let from = inv.head.get(&HeaderName::From).unwrap_or_default();
        let to = inv.head.get(&HeaderName::To).unwrap_or_default();
        let body = if status == 200 { SDP } else { "" };
        let ct = if status == 200 { "Content-Type: application/sdp\r\n" } else { "" };
        let text = format!(
            "SIP/2.0 {status} X\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to};tag={tag}\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: <sip:op-a@192.0.2.101>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            inv.head.call_id,
            body.len()
        );
        match parse(text.as_bytes()) {
            Ok(Message::Response(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_response_counts_only_from_where_the_invite_went() {
        let mut w = world();
        let t0 = w.t0;
        offer(&mut w, &[binding(5061, Transport::Udp, t0)]).unwrap();
        let sent = invites(&mut w);
        let branch = sent[0].1.head.top_via().and_then(|v| v.branch()).unwrap_or_default().to_string();
        let fork = w.legs.fork_of(&branch).unwrap();
        let phone = Peer { transport: Transport::Udp, remote: sent[0].0, local: "127.0.0.1:5060".parse().unwrap(), conn: None };
        assert!(w.legs.came_from_fork(fork, &phone));
        let forger = Peer { remote: "192.0.2.66:5061".parse().unwrap(), ..phone };
        assert!(!w.legs.came_from_fork(fork, &forger), "another address");
        let other_port = Peer { remote: SocketAddr::from(([192, 0, 2, 101], 5099)), ..phone };
        assert!(!w.legs.came_from_fork(fork, &other_port), "another port of the same host");
        assert!(!w.legs.came_from_fork(fork, &Peer { transport: Transport::Tcp, conn: Some(1), ..phone }), "another transport");
    }

    fn respond(w: &mut World, inv: &Request, status: u16, tag: &str) {
        let branch = inv.head.top_via().and_then(|v| v.branch()).unwrap_or_default().to_string();
        let fork = w.legs.fork_of(&branch).expect("our fork");
        let resp = response(inv, status, tag);
        w.legs.on_response(w.t0, fork, &resp, |_| true, &[crate::media::Codec::Pcmu], &mut w.ids, &mut w.txs, &mut w.fx);
    }

    #[test]
    fn every_udp_phone_rings_and_the_first_to_answer_wins_the_others_are_cancelled() {
        let mut w = world();
        let t0 = w.t0;
        offer(&mut w, &[binding(5061, Transport::Udp, t0), binding(5062, Transport::Udp, t0), binding(5063, Transport::Tcp, t0)]).unwrap();
        let sent = invites(&mut w);
        assert_eq!(sent.len(), 2, "UDP contacts only");
        let (a, b) = (&sent[0].1, &sent[1].1);
        for inv in [a, b] {
            assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Call".into())), Some("01REC"));
            assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Caller".into())), Some("081234567"));
        }
        respond(&mut w, b, 180, "tb");
        assert!(matches!(w.legs.poll_event(), Some(LegEvent::Ringing { call: CallId(7), .. })));
        respond(&mut w, a, 180, "ta");
        assert!(w.legs.poll_event().is_none(), "one ringing event per offer");
        respond(&mut w, b, 200, "tb");
        let Some(LegEvent::Answered { call: CallId(7), leg, media: Some(_) }) = w.legs.poll_event() else { panic!("no answer") };
        assert_eq!(leg.fork, 1);
        let out: Vec<String> = w.fx.out.iter().filter_map(|o| match o {
            Output::Send { bytes, .. } => String::from_utf8_lossy(bytes).lines().next().map(str::to_string),
            _ => None,
        }).collect();
        assert!(out.iter().any(|l| l.starts_with("ACK ")), "{out:?}");
        assert!(out.iter().any(|l| l.starts_with("CANCEL ")), "the other phone stops ringing: {out:?}");
        assert_eq!(w.legs.len(), 1, "the answered offer stays while the call is bridged");
        w.legs.call_ended(t0, CallId(7), &leg, false, &mut w.ids, &mut w.txs, &mut w.fx);
        assert_eq!(w.legs.len(), 0);
        for inv in [a, b] {
            let branch = inv.head.top_via().and_then(|v| v.branch()).unwrap_or_default();
            assert!(w.legs.fork_of(branch).is_none(), "no branch outlives its call");
        }
        assert!(w.fx.out.iter().any(|o| matches!(o, Output::Send { bytes, .. } if bytes.starts_with(b"BYE "))));
    }

    /// The caller's number and name are what a stranger wrote (`%0D%0A` in a From URI
    /// unescapes to a line break): the operator's phone still gets a well-formed INVITE,
    /// with the caller's value in one header and no header of the caller's making.
    #[test]
    fn a_caller_id_with_line_breaks_still_rings_the_operator_with_one_caller_header() {
        let mut w = world();
        let t0 = w.t0;
        let caller = "0812\r\nX-Injected: yes\r\nX-CC112-Department: fake";
        offer_from(&mut w, caller, "Siti\r\nX-Injected: name\"\\", &[binding(5061, Transport::Udp, t0)]).unwrap();
        let sent = invites(&mut w);
        assert_eq!(sent.len(), 1, "the INVITE is built and sent");
        let inv = &sent[0].1;
        let all = |name: &str| inv.head.get_all(&HeaderName::Other(name.into())).count();
        assert_eq!(all("X-Injected"), 0);
        assert_eq!(all("X-CC112-Department"), 1);
        assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Department".into())), Some("medical"));
        assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Caller".into())), Some("0812%0D%0AX-Injected: yes%0D%0AX-CC112-Department: fake"));
        assert_eq!(inv.head.from.display.as_deref().map(|d| d.contains("Medis")), Some(true));
    }

    #[test]
    fn an_offer_nobody_can_take_goes_back_to_the_acd_with_why() {
        let mut w = world();
        let t0 = w.t0;
        assert_eq!(offer(&mut w, &[binding(5063, Transport::Tcp, t0)]), Err(OfferFailure::Unreachable));
        assert_eq!(w.legs.len(), 0);
        offer(&mut w, &[binding(5061, Transport::Udp, t0)]).unwrap();
        let sent = invites(&mut w);
        respond(&mut w, &sent[0].1, 486, "ta");
        let Some(LegEvent::Failed { call: CallId(7), why, .. }) = w.legs.poll_event() else { panic!("no failure") };
        assert_eq!(why, OfferFailure::Rejected(486));
        let branch = sent[0].1.head.top_via().and_then(|v| v.branch()).unwrap_or_default().to_string();
        assert!(w.legs.fork_of(&branch).is_some(), "a retransmitted 486 is still ACKed until Timer D");
        let later = t0 + Duration::from_secs(40);
        while let Some(key) = w.fx.timers.pop_due(later) {
            if let TimerKey::Fork(o, i) = key {
                w.legs.on_timeout(later, o, i, &mut w.ids, &mut w.txs, &mut w.fx);
            }
        }
        assert_eq!(w.legs.len(), 0, "then the failed offer is forgotten");
        assert!(w.legs.fork_of(&branch).is_none(), "with its branch");
        assert_eq!(w.fx.timers.live(), 0);
    }
}
