//! The transaction layer (RFC 3261 §17, RFC 6026): the engine's three tables of
//! transactions, how requests and responses find theirs, and the responses we build.
//!
//! It owns every INVITE server transaction (with the INVITE kept until its final
//! response is out, and the call it started), every non-INVITE server transaction
//! (answered at once, kept to absorb retransmissions) and every non-INVITE client
//! transaction (our BYEs and CANCELs). Each is a state machine from
//! [`crate::sip::transaction`]; this part feeds them, drains their actions into
//! [`Effects`] (datagrams to send, deadlines under [`TimerKey`]) and drops them when
//! they terminate, indexes included. It knows nothing of calls beyond the [`CallId`]
//! an INVITE transaction carries back to the engine when its 2xx was never ACKed.
//!
//! Bounds: every transaction ends by its own timers (at most 64×T1, 32 s, after its
//! final response), and the server tables together hold at most
//! [`MAX_SERVER_TRANSACTIONS`]. Past that (a flood of requests from anywhere, each of
//! which would be kept 32 s) the gateway answers statelessly: a non-INVITE request's
//! response and an INVITE's refusal (3xx–6xx) go out once and nothing is kept, so a
//! retransmission is handled as a new request and the ACK of such a refusal is a stray.
//! A 2xx to an INVITE always keeps its transaction (it retransmits the 200 until the
//! ACK): those are the calls admitted, which `[overload]` bounds. Our client
//! transactions (BYE, CANCEL) are one or two per call ended or offer cancelled.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, warn};

use super::ids::{Ids, TxId};
use super::output::{Effects, Output};
use super::timers::TimerKey;
use crate::call::CallId;
use crate::sip::message::reason_phrase;
use crate::sip::transaction::{InviteServerTx, NonInviteClientTx, NonInviteServerTx, Timers, TxAction, TxKey};
use crate::sip::{Outgoing, Peer, Request};

struct IstEntry {
    tx: InviteServerTx,
    peer: Peer,
    /// The INVITE, to build our responses from; dropped once the final response is
    /// out (the transaction lives on for 32 s, and a surge holds tens of thousands).
    req: Option<Request>,
    /// Its key in `ist_index`, and its Call-ID, which outlive `req`.
    key: TxKey,
    call_id: String,
    to_tag: String,
    call: Option<CallId>,
}

struct NistEntry {
    tx: NonInviteServerTx,
    peer: Peer,
    /// Its key in `nist_index`, to remove it in O(1) when it ends.
    key: TxKey,
}

struct NictEntry {
    tx: NonInviteClientTx,
    peer: Peer,
    /// Its key in `nict_index`: the branch, or `CANCEL <branch>` for a CANCEL, which
    /// shares its INVITE's branch.
    key: String,
}

/// Server transactions (INVITE and non-INVITE together) kept at most; past it, answers
/// go out statelessly (see the module doc). Reckoned, not measured: the load
/// benchmark's busiest steady state (3,300 calls/s, each call's INVITE and BYE
/// transactions lingering 32 s) holds about 210,000, so the cap leaves it alone; at
/// roughly 1 KB a transaction it stands for some 300 MB.
pub(crate) const MAX_SERVER_TRANSACTIONS: usize = 300_000;

/// A response to build: status, reason phrase (empty: the standard one) and extra headers.
pub(crate) struct Answer<'a> {
    pub(crate) status: u16,
    pub(crate) reason: &'a str,
    pub(crate) headers: &'a [(&'a str, String)],
}

impl<'a> Answer<'a> {
    pub(crate) fn new(status: u16, reason: &'a str, headers: &'a [(&'a str, String)]) -> Answer<'a> {
        Answer { status, reason, headers }
    }
}

/// The three transaction tables.
pub(crate) struct Transactions {
    timers: Timers,
    /// The `Server` header of every response (the configured user agent).
    server: String,
    ist_index: HashMap<TxKey, TxId>,
    /// Boxed: a transaction lives 32 s after its final response (Timers H, L), so a
    /// surge leaves a large table behind; boxed entries keep it at 16 bytes a slot.
    ists: HashMap<TxId, Box<IstEntry>>,
    nist_index: HashMap<TxKey, TxId>,
    nists: HashMap<TxId, Box<NistEntry>>,
    nict_index: HashMap<String, TxId>,
    nicts: HashMap<TxId, NictEntry>,
    /// [`MAX_SERVER_TRANSACTIONS`] (tests lower it).
    max_server: usize,
    /// Answers sent statelessly since start, and those not logged yet with when the
    /// last log line went out (at most one a second).
    stateless: u64,
    unlogged: (u64, Option<Instant>),
}

impl Transactions {
    pub(crate) fn new(timers: Timers, server: String) -> Transactions {
        Transactions {
            timers,
            server,
            ist_index: HashMap::new(),
            ists: HashMap::new(),
            nist_index: HashMap::new(),
            nists: HashMap::new(),
            nict_index: HashMap::new(),
            nicts: HashMap::new(),
            max_server: MAX_SERVER_TRANSACTIONS,
            stateless: 0,
            unlogged: (0, None),
        }
    }

    /// With a lower cap on server transactions (tests).
    #[cfg(test)]
    pub(crate) fn with_max_server(mut self, max: usize) -> Transactions {
        self.max_server = max;
        self
    }

    /// Answers sent without keeping a transaction, the tables being full.
    #[cfg(test)]
    pub(crate) fn stateless(&self) -> u64 {
        self.stateless
    }

    /// Server transactions held past the cap (`new_ist` has already added one).
    fn over_cap(&self, extra: usize) -> bool {
        self.ists.len() + self.nists.len() + extra > self.max_server
    }

    /// One more answer sent statelessly: counted, and logged at most once a second.
    fn note_stateless(&mut self, now: Instant) {
        self.stateless += 1;
        self.unlogged.0 += 1;
        if self.unlogged.1.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            warn!(answers = self.unlogged.0, since_start = self.stateless, held = self.ists.len() + self.nists.len(), "transaction tables full: answering statelessly (retransmissions are not absorbed)");
            self.unlogged = (0, Some(now));
        }
    }

    /// The retransmission timers (T1, T2, T4) every transaction is built with.
    pub(crate) fn timers(&self) -> Timers {
        self.timers
    }

    /// A reload may change the user agent.
    pub(crate) fn set_server(&mut self, server: String) {
        self.server = server;
    }

    /// Open transactions of every kind.
    pub(crate) fn len(&self) -> usize {
        self.ists.len() + self.nists.len() + self.nicts.len()
    }

    /// Our requests (BYEs, CANCELs) with no final answer yet.
    pub(crate) fn awaiting_answers(&self) -> usize {
        self.nicts.values().filter(|e| e.tx.awaits_answer()).count()
    }

    /// Gives back the tables' room beyond twice what is live now.
    pub(crate) fn compact(&mut self) {
        shrink(&mut self.ist_index);
        shrink(&mut self.ists);
        shrink(&mut self.nist_index);
        shrink(&mut self.nists);
        shrink(&mut self.nict_index);
        shrink(&mut self.nicts);
    }

    // ----- INVITE server transactions ---------------------------------------------------

    /// A new INVITE: its server transaction, with the To tag of all its responses,
    /// answered later through its key.
    pub(crate) fn new_ist(&mut self, now: Instant, ids: &mut Ids, peer: Peer, req: &Request, key: TxKey, fx: &mut Effects) -> TxId {
        let id = ids.tx();
        let to_tag = ids.tag();
        let tx = InviteServerTx::new(peer.transport.reliable(), self.timers);
        let call_id = req.head.call_id.clone();
        self.ists.insert(id, Box::new(IstEntry { tx, peer, req: Some(req.clone()), key: key.clone(), call_id, to_tag, call: None }));
        self.ist_index.insert(key, id);
        self.drain_ist(now, id, fx);
        id
    }

    /// A retransmitted INVITE goes to its transaction, which answers with its latest
    /// response. `false`: no transaction has this key.
    pub(crate) fn invite_retransmitted(&mut self, now: Instant, key: &TxKey, fx: &mut Effects) -> bool {
        let Some(&id) = self.ist_index.get(key) else { return false };
        if let Some(e) = self.ists.get_mut(&id) {
            e.tx.handle_retransmission();
        }
        self.drain_ist(now, id, fx);
        true
    }

    /// The To tag our responses on this INVITE transaction carry.
    pub(crate) fn to_tag(&self, id: TxId) -> Option<&str> {
        self.ists.get(&id).map(|e| e.to_tag.as_str())
    }

    /// The call this INVITE transaction started (its 2xx needs an ACK for that call).
    pub(crate) fn set_call(&mut self, id: TxId, call: CallId) {
        if let Some(e) = self.ists.get_mut(&id) {
            e.call = Some(call);
        }
    }

    /// `100 Trying` on INVITE transaction `id`.
    pub(crate) fn trying(&mut self, now: Instant, id: TxId, fx: &mut Effects) {
        let Some(e) = self.ists.get(&id) else { return };
        let Some(req) = &e.req else { return };
        let bytes = self.response(req, Answer::new(100, "Trying", &[]), None).to_bytes();
        if let Some(e) = self.ists.get_mut(&id) {
            e.tx.respond(now, 100, bytes);
        }
        self.drain_ist(now, id, fx);
    }

    /// The final response to the INVITE transaction `key` (with our To tag), once: a
    /// transaction that already answered finally ignores it.
    pub(crate) fn final_ist(&mut self, now: Instant, key: &TxKey, answer: Answer<'_>, body: Option<Bytes>, fx: &mut Effects) {
        let Some(&tid) = self.ist_index.get(key) else { return };
        let Some(e) = self.ists.get(&tid) else { return };
        let Some(req) = &e.req else { return };
        let status = answer.status;
        let mut o = self.response(req, answer, Some(&e.to_tag));
        if let Some(b) = body {
            o = o.body("application/sdp", b);
        }
        let bytes = o.to_bytes();
        if let Some(e) = self.ists.get_mut(&tid) {
            e.tx.respond(now, status, bytes);
            if status >= 200 {
                e.req = None;
            }
        }
        self.drain_ist(now, tid, fx);
        // A refusal at the cap goes out once and its transaction is not kept.
        if status >= 300 && self.over_cap(0) {
            if let Some(e) = self.ists.remove(&tid) {
                if self.ist_index.get(&e.key) == Some(&tid) {
                    self.ist_index.remove(&e.key);
                }
            }
            fx.timers.set(TimerKey::Ist(tid), None);
            self.note_stateless(now);
        }
    }

    /// An ACK for INVITE transaction `key` (to a non-2xx, or to a 2xx from an RFC 2543
    /// peer). Returns the call that transaction started, if any; `None` also when no
    /// transaction has the key.
    pub(crate) fn ack(&mut self, now: Instant, key: &TxKey, fx: &mut Effects) -> Option<Option<CallId>> {
        let &tid = self.ist_index.get(key)?;
        let call = self.ists.get_mut(&tid).and_then(|e| {
            e.tx.handle_ack(now);
            e.call
        });
        self.drain_ist(now, tid, fx);
        Some(call)
    }

    /// Every INVITE transaction of this SIP Call-ID has its ACK (the operator's ACK for
    /// our 200 to its re-INVITE).
    pub(crate) fn ack_all_of(&mut self, now: Instant, call_id: &str, fx: &mut Effects) {
        let tids: Vec<TxId> = self.ists.iter().filter(|(_, e)| e.call_id == call_id).map(|(id, _)| *id).collect();
        for tid in tids {
            if let Some(e) = self.ists.get_mut(&tid) {
                e.tx.handle_ack(now);
            }
            self.drain_ist(now, tid, fx);
        }
    }

    /// A CANCEL's target: whether it is still proceeding, the call it started and its To tag.
    pub(crate) fn cancel_target(&self, key: &TxKey) -> Option<(bool, Option<CallId>, String)> {
        let tid = self.ist_index.get(key)?;
        self.ists.get(tid).map(|e| (e.tx.is_proceeding(), e.call, e.to_tag.clone()))
    }

    /// Timer due for INVITE transaction `id`. Returns the call to end when our 2xx
    /// was never ACKed (64×T1).
    pub(crate) fn ist_timeout(&mut self, now: Instant, id: TxId, fx: &mut Effects) -> Option<CallId> {
        self.ists.get_mut(&id)?.tx.handle_timeout(now);
        self.drain_ist(now, id, fx)
    }

    fn drain_ist(&mut self, _now: Instant, id: TxId, fx: &mut Effects) -> Option<CallId> {
        let mut no_ack = None;
        let mut done = false;
        let e = self.ists.get_mut(&id)?;
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => fx.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::NoAck { two_xx } => no_ack = Some((two_xx, e.call)),
                TxAction::Terminated => done = true,
                TxAction::Final(_) | TxAction::Provisional(_) | TxAction::Accepted(_) | TxAction::Timeout => {}
            }
        }
        if done {
            if self.ist_index.get(&e.key) == Some(&id) {
                self.ist_index.remove(&e.key);
            }
            self.ists.remove(&id);
            fx.timers.set(TimerKey::Ist(id), None);
        } else {
            fx.timers.set(TimerKey::Ist(id), e.tx.poll_timeout());
        }
        match no_ack {
            Some((true, call)) => call,
            _ => None,
        }
    }

    // ----- non-INVITE server transactions -----------------------------------------------

    /// A retransmitted non-INVITE request gets its transaction's response again.
    /// `false`: no transaction has this key.
    pub(crate) fn request_retransmitted(&mut self, key: &TxKey, fx: &mut Effects) -> bool {
        let Some(&id) = self.nist_index.get(key) else { return false };
        if let Some(e) = self.nists.get_mut(&id) {
            e.tx.handle_retransmission();
        }
        self.drain_nist(id, fx);
        true
    }

    /// Answer a non-INVITE request through a new server transaction, with our To tag
    /// `tag` (`None`: the request's To as it came).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond(&mut self, now: Instant, id: TxId, peer: Peer, key: TxKey, req: &Request, answer: Answer<'_>, tag: Option<&str>, fx: &mut Effects) {
        let status = answer.status;
        if self.over_cap(1) {
            let bytes = self.response(req, answer, tag).to_bytes();
            fx.out.push_back(Output::Send { peer, bytes });
            return self.note_stateless(now);
        }
        let mut tx = NonInviteServerTx::new(peer.transport.reliable(), self.timers);
        tx.respond(now, status, self.response(req, answer, tag).to_bytes());
        self.nists.insert(id, Box::new(NistEntry { tx, peer, key: key.clone() }));
        self.nist_index.insert(key, id);
        self.drain_nist(id, fx);
    }

    /// Timer due for non-INVITE server transaction `id`.
    pub(crate) fn nist_timeout(&mut self, now: Instant, id: TxId, fx: &mut Effects) {
        if let Some(e) = self.nists.get_mut(&id) {
            e.tx.handle_timeout(now);
            self.drain_nist(id, fx);
        }
    }

    fn drain_nist(&mut self, id: TxId, fx: &mut Effects) {
        let Some(e) = self.nists.get_mut(&id) else { return };
        let mut done = false;
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => fx.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::Terminated => done = true,
                _ => {}
            }
        }
        if done {
            if let Some(e) = self.nists.remove(&id) {
                if self.nist_index.get(&e.key) == Some(&id) {
                    self.nist_index.remove(&e.key);
                }
            }
            fx.timers.set(TimerKey::Nist(id), None);
        } else {
            fx.timers.set(TimerKey::Nist(id), e.tx.poll_timeout());
        }
    }

    // ----- non-INVITE client transactions (our BYE and CANCEL) -------------------------

    /// Send a request of ours (`bytes`) through a new client transaction, found again
    /// by `key` when its responses come.
    pub(crate) fn send_request(&mut self, now: Instant, ids: &mut Ids, peer: Peer, key: String, bytes: Bytes, fx: &mut Effects) {
        let tx = NonInviteClientTx::new(now, peer.transport.reliable(), self.timers, bytes);
        let tid = ids.tx();
        self.nicts.insert(tid, NictEntry { tx, peer, key: key.clone() });
        self.nict_index.insert(key, tid);
        self.drain_nict(tid, fx);
    }

    /// A response from `from` to one of our BYEs or CANCELs. `false`: not ours (a
    /// stray), or not from where the request went (forged: it could end our retries).
    pub(crate) fn client_response(&mut self, now: Instant, from: &Peer, key: &str, status: u16, fx: &mut Effects) -> bool {
        let Some(id) = self.nict_index.get(key).copied() else { return false };
        if self.nicts.get(&id).is_none_or(|e| e.peer.remote != from.remote || e.peer.transport != from.transport) {
            return false;
        }
        if let Some(e) = self.nicts.get_mut(&id) {
            e.tx.handle_response(now, status);
        }
        self.drain_nict(id, fx);
        true
    }

    /// Timer due for client transaction `id`.
    pub(crate) fn nict_timeout(&mut self, now: Instant, id: TxId, fx: &mut Effects) {
        if let Some(e) = self.nicts.get_mut(&id) {
            e.tx.handle_timeout(now);
            self.drain_nict(id, fx);
        }
    }

    fn drain_nict(&mut self, id: TxId, fx: &mut Effects) {
        let Some(e) = self.nicts.get_mut(&id) else { return };
        let mut done = false;
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => fx.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::Timeout => debug!(branch = %e.key, "no answer to our request"),
                TxAction::Terminated => done = true,
                _ => {}
            }
        }
        if done {
            let key = e.key.clone();
            self.nicts.remove(&id);
            self.nict_index.remove(&key);
            fx.timers.set(TimerKey::Nict(id), None);
        } else {
            fx.timers.set(TimerKey::Nict(id), e.tx.poll_timeout());
        }
    }

    /// A final response sent once, with no transaction (overload refusals: see
    /// `Engine::refuse_overload`).
    pub(crate) fn respond_stateless(&self, peer: Peer, req: &Request, answer: Answer<'_>, to_tag: &str, fx: &mut Effects) {
        let bytes = self.response(req, answer, Some(to_tag)).to_bytes();
        fx.out.push_back(Output::Send { peer, bytes });
    }

    /// A response to `req` with our `Server` header.
    fn response(&self, req: &Request, answer: Answer<'_>, to_tag: Option<&str>) -> Outgoing {
        let reason = if answer.reason.is_empty() { reason_phrase(answer.status) } else { answer.reason };
        let mut o = Outgoing::response(req, answer.status, reason, to_tag);
        for (n, v) in answer.headers {
            o.push_header(*n, v.clone());
        }
        o.push_header("Server", self.server.clone());
        o
    }
}

fn shrink<K: Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 1024 && m.len().saturating_mul(4) < m.capacity() {
        m.shrink_to(m.len().saturating_mul(2));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sip::{parse, Message, Transport};

    fn peer() -> Peer {
        Peer { transport: Transport::Udp, remote: "192.0.2.10:5060".parse().unwrap(), local: "127.0.0.1:5060".parse().unwrap(), conn: None }
    }

    fn request(method: &str, branch: &str) -> Request {
        let text = format!(
            "{method} sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\nFrom: <sip:0812@192.0.2.10>;tag=a\r\nTo: <sip:112@127.0.0.1>\r\nCall-ID: tx-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn sent(fx: &mut Effects) -> Vec<String> {
        fx.out
            .drain(..)
            .filter_map(|o| match o {
                Output::Send { bytes, .. } => Some(String::from_utf8_lossy(&bytes).lines().next().unwrap_or_default().to_string()),
                _ => None,
            })
            .collect()
    }

    /// Fires every deadline up to `until`, as the engine does.
    fn run_timers(txs: &mut Transactions, fx: &mut Effects, until: Instant) -> Vec<CallId> {
        let mut no_ack = Vec::new();
        while let Some(key) = fx.timers.pop_due(until) {
            match key {
                TimerKey::Ist(id) => no_ack.extend(txs.ist_timeout(until, id, fx)),
                TimerKey::Nist(id) => txs.nist_timeout(until, id, fx),
                TimerKey::Nict(id) => txs.nict_timeout(until, id, fx),
                _ => {}
            }
        }
        no_ack
    }

    #[test]
    fn an_invite_retransmission_gets_the_latest_response_and_an_unacked_200_hands_its_call_back() {
        let (t0, mut ids, mut fx) = (Instant::now(), Ids::new(1), Effects::default());
        let mut txs = Transactions::new(Timers::default(), "cc112".into());
        let req = request("INVITE", "z9hG4bKi1");
        let key = TxKey::server(&req).unwrap();
        assert!(!txs.invite_retransmitted(t0, &key, &mut fx), "no transaction yet");
        let id = txs.new_ist(t0, &mut ids, peer(), &req, key.clone(), &mut fx);
        txs.set_call(id, CallId(42));
        txs.trying(t0, id, &mut fx);
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 100 Trying"]);
        txs.final_ist(t0, &key, Answer::new(200, "OK", &[]), None, &mut fx);
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 200 OK"]);
        txs.final_ist(t0, &key, Answer::new(500, "", &[]), None, &mut fx);
        assert!(sent(&mut fx).is_empty(), "one final response per transaction");
        assert!(txs.invite_retransmitted(t0, &key, &mut fx));
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 200 OK"]);
        // No ACK: the 200 is retransmitted on Timer G, then the call comes back at 64×T1.
        let no_ack = run_timers(&mut txs, &mut fx, t0 + Duration::from_secs(33));
        assert_eq!(no_ack, vec![CallId(42)]);
        assert!(sent(&mut fx).iter().all(|l| l == "SIP/2.0 200 OK"));
        run_timers(&mut txs, &mut fx, t0 + Duration::from_secs(120));
        assert_eq!(txs.len(), 0, "terminated transactions leave the tables");
        assert_eq!(fx.timers.live(), 0, "and their deadlines");
    }

    #[test]
    fn a_non_invite_answer_is_repeated_for_retransmissions_until_timer_j() {
        let (t0, mut ids, mut fx) = (Instant::now(), Ids::new(1), Effects::default());
        let mut txs = Transactions::new(Timers::default(), "cc112".into());
        let req = request("OPTIONS", "z9hG4bKo1");
        let key = TxKey::server(&req).unwrap();
        txs.respond(t0, ids.tx(), peer(), key.clone(), &req, Answer::new(200, "OK", &[("Allow", "INVITE".into())]), Some("t"), &mut fx);
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 200 OK"]);
        assert!(txs.request_retransmitted(&key, &mut fx));
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 200 OK"]);
        run_timers(&mut txs, &mut fx, t0 + Duration::from_secs(33));
        assert!(!txs.request_retransmitted(&key, &mut fx), "gone after Timer J");
        assert_eq!((txs.len(), fx.timers.live()), (0, 0));
    }

    #[test]
    fn past_the_cap_answers_go_out_statelessly_and_a_2xx_keeps_its_transaction() {
        let (t0, mut ids, mut fx) = (Instant::now(), Ids::new(1), Effects::default());
        let mut txs = Transactions::new(Timers::default(), "cc112".into()).with_max_server(3);
        // A flood of OPTIONS from anywhere: three are kept (to absorb retransmissions).
        for i in 0..3 {
            let req = request("OPTIONS", &format!("z9hG4bKflood{i}"));
            txs.respond(t0, ids.tx(), peer(), TxKey::server(&req).unwrap(), &req, Answer::new(200, "OK", &[]), Some("t"), &mut fx);
        }
        assert_eq!((sent(&mut fx).len(), txs.len()), (3, 3));
        // The fourth is answered all the same, and nothing is kept of it.
        let req = request("OPTIONS", "z9hG4bKflood3");
        let key = TxKey::server(&req).unwrap();
        txs.respond(t0, ids.tx(), peer(), key.clone(), &req, Answer::new(200, "OK", &[]), Some("t"), &mut fx);
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 200 OK"]);
        assert_eq!((txs.len(), txs.stateless()), (3, 1));
        assert!(!txs.request_retransmitted(&key, &mut fx), "its retransmission is a new request");
        // An INVITE refused at the cap: its 503 goes out once, no Timer G, no transaction.
        let inv = request("INVITE", "z9hG4bKi-refused");
        let ikey = TxKey::server(&inv).unwrap();
        txs.new_ist(t0, &mut ids, peer(), &inv, ikey.clone(), &mut fx);
        txs.final_ist(t0, &ikey, Answer::new(503, "", &[("Retry-After", "10".into())]), None, &mut fx);
        assert_eq!(sent(&mut fx), vec!["SIP/2.0 503 Service Unavailable"]);
        assert_eq!((txs.len(), txs.stateless()), (3, 2));
        assert!(!txs.invite_retransmitted(t0, &ikey, &mut fx));
        // An INVITE answered 200 (a call admitted) keeps its transaction past the cap.
        let call = request("INVITE", "z9hG4bKi-call");
        let ckey = TxKey::server(&call).unwrap();
        let id = txs.new_ist(t0, &mut ids, peer(), &call, ckey.clone(), &mut fx);
        txs.set_call(id, CallId(1));
        txs.final_ist(t0, &ckey, Answer::new(200, "OK", &[]), None, &mut fx);
        assert_eq!(txs.len(), 4);
        assert!(txs.invite_retransmitted(t0, &ckey, &mut fx), "the 200 is retransmitted until the ACK");
        // Timer J frees the flood's transactions: room again, answers are kept again.
        run_timers(&mut txs, &mut fx, t0 + Duration::from_secs(33));
        sent(&mut fx);
        let req = request("OPTIONS", "z9hG4bKlater");
        let key = TxKey::server(&req).unwrap();
        txs.respond(t0 + Duration::from_secs(33), ids.tx(), peer(), key.clone(), &req, Answer::new(200, "OK", &[]), Some("t"), &mut fx);
        assert!(txs.request_retransmitted(&key, &mut fx));
        assert_eq!(txs.stateless(), 2);
    }

    #[test]
    fn our_requests_are_retransmitted_until_answered_and_strays_are_told_apart() {
        let (t0, mut ids, mut fx) = (Instant::now(), Ids::new(1), Effects::default());
        let mut txs = Transactions::new(Timers::default(), "cc112".into());
        let bye = Bytes::from_static(b"BYE sip:caller@192.0.2.10 SIP/2.0\r\n\r\n");
        txs.send_request(t0, &mut ids, peer(), "z9hG4bKb1".into(), bye, &mut fx);
        assert_eq!(sent(&mut fx), vec!["BYE sip:caller@192.0.2.10 SIP/2.0"]);
        run_timers(&mut txs, &mut fx, t0 + Duration::from_millis(600));
        assert_eq!(sent(&mut fx).len(), 1, "Timer E retransmits over UDP");
        assert!(!txs.client_response(t0, &peer(), "z9hG4bKother", 200, &mut fx), "a stray");
        let forger = Peer { remote: "192.0.2.66:5060".parse().unwrap(), ..peer() };
        assert!(!txs.client_response(t0, &forger, "z9hG4bKb1", 200, &mut fx), "not from where the BYE went");
        assert!(txs.client_response(t0, &peer(), "z9hG4bKb1", 200, &mut fx));
        run_timers(&mut txs, &mut fx, t0 + Duration::from_secs(10));
        assert_eq!((txs.len(), fx.timers.live()), (0, 0));
    }
}
