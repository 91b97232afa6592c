//! The INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026 §7.2's Accepted
//! state): the INVITEs the B2BUA sends to an operator's softphone.
//!
//! States carry their timers:
//! - **Calling**: Timer A retransmits the INVITE on UDP (T1, doubling without the T2
//!   cap, §17.1.1.2); Timer B (64×T1) gives up with [`TxAction::Timeout`].
//! - **Proceeding** (a 1xx arrived): no retransmissions, no Timer B; every 1xx is passed
//!   up as [`TxAction::Provisional`]. How long an operator may ring is the TU's ring
//!   timeout (it sends a CANCEL, see [`InviteClientTx::cancel`]), not this machine's.
//! - **Completed** (3xx–6xx): the transaction itself sends the ACK (§17.1.1.3) — the ACK
//!   of a non-2xx belongs to the transaction, it is hop-by-hop — and resends it for each
//!   retransmission of the final response until Timer D (32 s on UDP, 0 on TCP).
//! - **Accepted** (2xx, RFC 6026 §7.2): the ACK of a 2xx is end-to-end and belongs to the
//!   dialog (§13.2.2.4), so the transaction only reports every 2xx
//!   ([`TxAction::Accepted`]) — retransmissions and forked answers alike — until
//!   Timer M (64×T1) ends it. Before RFC 6026 the transaction died at the first 2xx and
//!   its retransmissions became strays; here the TU re-ACKs each one.
//!
//! The ACK and the CANCEL are built from the INVITE as it went on the wire, so the
//! constructor takes those bytes and parses them once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use super::{Timers, TxAction};
use crate::sip::header::split_list;
use crate::sip::message::{Message, Outgoing, Request, Response};
use crate::sip::method::Method;
use crate::sip::parse::parse;
use crate::sip::HeaderName;

/// Timer D on unreliable transports (RFC 3261 §17.1.1.2: "at least 32 seconds").
pub const TIMER_D_UDP: Duration = Duration::from_secs(32);

/// Why [`InviteClientTx::new`] refused the bytes it was given (a TU bug, never the network).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InviteClientError {
    /// The bytes are not a SIP message (the parser's reason).
    #[error("INVITE does not parse: {0}")]
    Parse(String),
    /// A response, or a request of another method.
    #[error("not an INVITE request")]
    NotInvite,
    /// No Via: the CANCEL and ACK could not copy it.
    #[error("INVITE has no Via header")]
    NoVia,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IctState {
    /// Timer A (UDP only) retransmits the INVITE, Timer B gives up.
    Calling { timer_a: Option<(Instant, Duration)>, timer_b: Instant },
    /// A provisional arrived; waiting for a final response (or for the CANCEL guard).
    Proceeding { cancel_guard: Option<Instant> },
    /// A 3xx–6xx arrived and was ACKed; Timer D absorbs its retransmissions.
    Completed { ack: Bytes, timer_d: Instant },
    /// A 2xx arrived (RFC 6026); Timer M passes further 2xx to the TU.
    Accepted { timer_m: Instant },
    Terminated,
}

/// What the ACK and CANCEL copy from the INVITE (RFC 3261 §9.1, §17.1.1.3), verbatim.
#[derive(Debug, Clone)]
struct InviteCopy {
    request_uri: String,
    /// The INVITE's top Via element (only that one: §17.1.1.3, §9.1).
    top_via: String,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
    /// Every Route header line, in order.
    routes: Vec<String>,
}

impl InviteCopy {
    fn from_request(req: &Request) -> Result<InviteCopy, InviteClientError> {
        let raw = |name: HeaderName| req.head.get(&name).unwrap_or_default().to_string();
        let top_via = req
            .head
            .get(&HeaderName::Via)
            .and_then(|line| split_list(line).ok())
            .and_then(|l| l.first().map(|s| s.to_string()))
            .ok_or(InviteClientError::NoVia)?;
        Ok(InviteCopy {
            request_uri: req.uri.as_str().to_string(),
            top_via,
            from: raw(HeaderName::From),
            to: raw(HeaderName::To),
            call_id: raw(HeaderName::CallId),
            cseq: req.head.cseq.seq,
            routes: req.head.get_all(&HeaderName::Route).map(str::to_string).collect(),
        })
    }

    /// ACK or CANCEL: same Request-URI, one Via (the INVITE's top), From, Call-ID,
    /// CSeq number with the new method, Route set; `to` is the INVITE's To for a CANCEL
    /// and the response's To (with its tag) for an ACK.
    fn build(&self, method: Method, to: &str) -> Bytes {
        let mut o = Outgoing::request(&method, &self.request_uri)
            .header("Via", self.top_via.as_str())
            .header("Max-Forwards", "70")
            .header("From", self.from.as_str())
            .header("To", to)
            .header("Call-ID", self.call_id.as_str())
            .header("CSeq", format!("{} {method}", self.cseq));
        for r in &self.routes {
            o.push_header("Route", r.as_str());
        }
        o.to_bytes()
    }
}

/// The INVITE client transaction. Feed it with [`handle_response`](Self::handle_response)
/// and [`handle_timeout`](Self::handle_timeout), drain [`poll_action`](Self::poll_action).
#[derive(Debug)]
pub struct InviteClientTx {
    state: IctState,
    reliable: bool,
    timers: Timers,
    invite: Bytes,
    copy: InviteCopy,
    actions: VecDeque<TxAction>,
}

impl InviteClientTx {
    /// Start the transaction for `invite` (the exact bytes sent): it goes out at once.
    /// `reliable` for TCP (no Timer A, Timer D = 0). Fails only if the bytes are not a
    /// parseable INVITE with a Via: the TU built them, so that is a bug to report.
    pub fn new(now: Instant, reliable: bool, timers: Timers, invite: Bytes) -> Result<Self, InviteClientError> {
        let req = match parse(&invite) {
            Ok(Message::Request(r)) if r.method == Method::Invite => r,
            Ok(_) => return Err(InviteClientError::NotInvite),
            Err(e) => return Err(InviteClientError::Parse(e.to_string())),
        };
        let copy = InviteCopy::from_request(&req)?;
        let timer_a = (!reliable).then(|| (now + timers.t1, timers.t1));
        let mut actions = VecDeque::new();
        actions.push_back(TxAction::Send(invite.clone()));
        Ok(InviteClientTx {
            state: IctState::Calling { timer_a, timer_b: now + timers.t1x64() },
            reliable,
            timers,
            invite,
            copy,
            actions,
        })
    }

    /// A response matched to this transaction (by the top Via's branch and CSeq method,
    /// RFC 3261 §17.1.3 — the caller's job).
    pub fn handle_response(&mut self, now: Instant, resp: &Response) {
        let status = resp.status;
        match self.state {
            IctState::Calling { .. } | IctState::Proceeding { .. } => {
                if (100..200).contains(&status) {
                    if let IctState::Calling { .. } = self.state {
                        self.state = IctState::Proceeding { cancel_guard: None };
                    }
                    self.actions.push_back(TxAction::Provisional(status));
                } else if (200..300).contains(&status) {
                    self.actions.push_back(TxAction::Accepted(status));
                    self.state = IctState::Accepted { timer_m: now + self.timers.t1x64() };
                } else if status >= 300 {
                    let to = resp.head.get(&HeaderName::To).unwrap_or(self.copy.to.as_str());
                    let ack = self.copy.build(Method::Ack, to);
                    self.actions.push_back(TxAction::Send(ack.clone()));
                    self.actions.push_back(TxAction::Final(status));
                    let wait = if self.reliable { Duration::ZERO } else { TIMER_D_UDP };
                    self.state = IctState::Completed { ack, timer_d: now + wait };
                    if wait.is_zero() {
                        self.terminate();
                    }
                }
            }
            IctState::Completed { ref ack, .. } => {
                // A retransmitted final response: our ACK was lost (§17.1.1.2).
                if status >= 300 {
                    self.actions.push_back(TxAction::Send(ack.clone()));
                }
            }
            IctState::Accepted { .. } => {
                // RFC 6026 §7.2: 2xx retransmissions and forked 2xx go to the TU, which
                // ACKs them; anything else is absorbed.
                if (200..300).contains(&status) {
                    self.actions.push_back(TxAction::Accepted(status));
                }
            }
            IctState::Terminated => {}
        }
    }

    /// Retransmits (Timer A), gives up (Timer B, or 64×T1 after a CANCEL:
    /// [`TxAction::Timeout`]) or ends (Timers D and M), whichever is due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            IctState::Calling { timer_a, timer_b } => {
                if now >= timer_b {
                    self.actions.push_back(TxAction::Timeout);
                    self.terminate();
                    return;
                }
                if let Some((at, interval)) = timer_a {
                    if now >= at {
                        self.actions.push_back(TxAction::Send(self.invite.clone()));
                        // INVITE retransmissions double without the T2 cap (§17.1.1.2).
                        let next = interval * 2;
                        self.state = IctState::Calling { timer_a: Some((now + next, next)), timer_b };
                    }
                }
            }
            IctState::Proceeding { cancel_guard: Some(at) } if now >= at => {
                self.actions.push_back(TxAction::Timeout);
                self.terminate();
            }
            IctState::Completed { timer_d, .. } if now >= timer_d => self.terminate(),
            IctState::Accepted { timer_m } if now >= timer_m => self.terminate(),
            _ => {}
        }
    }

    /// The next timer; `None` once terminated, or in Proceeding before a CANCEL.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            IctState::Calling { timer_a, timer_b } => Some(timer_a.map_or(*timer_b, |(at, _)| at.min(*timer_b))),
            IctState::Proceeding { cancel_guard } => *cancel_guard,
            IctState::Completed { timer_d, .. } => Some(*timer_d),
            IctState::Accepted { timer_m } => Some(*timer_m),
            IctState::Terminated => None,
        }
    }

    /// The next action, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.actions.pop_front()
    }

    /// The CANCEL for this INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To
    /// (without a to-tag: it is not in a dialog), CSeq number with method CANCEL, a single
    /// Via equal to the INVITE's top Via (so the UAS matches it to the INVITE's server
    /// transaction, §9.2) and the INVITE's Route headers.
    ///
    /// `None` unless the transaction is in Proceeding: before a provisional response
    /// §9.1 forbids the CANCEL (the TU must wait for [`TxAction::Provisional`], then call
    /// again), and after a final response there is nothing left to cancel.
    ///
    /// The CANCEL is sent on its own non-INVITE client transaction by the TU. This
    /// transaction then waits for the 487 (or a 2xx that crossed the CANCEL); if neither
    /// comes within 64×T1 it reports [`TxAction::Timeout`] and ends (§9.1: "the client
    /// SHOULD then consider the original transaction cancelled").
    pub fn cancel(&mut self, now: Instant) -> Option<Bytes> {
        let IctState::Proceeding { cancel_guard } = &mut self.state else {
            return None;
        };
        if cancel_guard.is_none() {
            *cancel_guard = Some(now + self.timers.t1x64());
        }
        Some(self.copy.build(Method::Cancel, &self.copy.to))
    }

    /// The transaction is over: its owner can drop it.
    pub fn is_terminated(&self) -> bool {
        self.state == IctState::Terminated
    }

    /// For logs and tests.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            IctState::Calling { .. } => "calling",
            IctState::Proceeding { .. } => "proceeding",
            IctState::Completed { .. } => "completed",
            IctState::Accepted { .. } => "accepted",
            IctState::Terminated => "terminated",
        }
    }

    fn terminate(&mut self) {
        self.state = IctState::Terminated;
        self.actions.push_back(TxAction::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:op1@192.0.2.10:5062;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKop1a;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:proxy.example.net;lr>\r\n\
Route: <sip:edge.example.net;lr>\r\n\
From: \"112 caller 0812\" <sip:cc112@192.0.2.1>;tag=gw1\r\n\
To: <sip:op1@192.0.2.10>\r\n\
Call-ID: leg2-abc@192.0.2.1\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:cc112@192.0.2.1:5060>\r\n\
Content-Length: 0\r\n\r\n";

    fn resp(status: u16) -> Response {
        let to = if status == 100 { "<sip:op1@192.0.2.10>".to_string() } else { "<sip:op1@192.0.2.10>;tag=phone9".to_string() };
        let text = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKop1a;rport\r\n\
From: \"112 caller 0812\" <sip:cc112@192.0.2.1>;tag=gw1\r\nTo: {to}\r\n\
Call-ID: leg2-abc@192.0.2.1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Response(r)) => r,
            other => panic!("bad test response: {other:?}"),
        }
    }

    fn tx(t0: Instant, reliable: bool) -> InviteClientTx {
        let mut tx = InviteClientTx::new(t0, reliable, Timers::default(), Bytes::from_static(INVITE.as_bytes())).unwrap();
        assert_eq!(tx.poll_action(), Some(TxAction::Send(Bytes::from_static(INVITE.as_bytes()))));
        assert_eq!(tx.poll_action(), None);
        tx
    }

    fn drain(tx: &mut InviteClientTx) -> Vec<TxAction> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    fn ms(t0: Instant, t: Instant) -> u64 {
        (t - t0).as_millis() as u64
    }

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn timer_a_doubles_uncapped_and_timer_b_gives_up_at_32s() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        let mut sends = Vec::new();
        let mut end = Vec::new();
        while let Some(t) = tx.poll_timeout() {
            tx.handle_timeout(t);
            for a in drain(&mut tx) {
                match a {
                    TxAction::Send(b) => {
                        assert_eq!(b, Bytes::from_static(INVITE.as_bytes()));
                        sends.push(ms(t0, t));
                    }
                    other => end.push((ms(t0, t), other)),
                }
            }
        }
        // Intervals 0.5, 1, 2, 4, 8, 16 s: no T2 cap for INVITE (§17.1.1.2).
        assert_eq!(sends, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(end, vec![(32000, TxAction::Timeout), (32000, TxAction::Terminated)]);
        assert!(tx.is_terminated());
    }

    #[test]
    fn early_timeout_call_does_nothing() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_timeout(t0 + Duration::from_millis(499));
        assert_eq!(tx.poll_action(), None);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    }

    #[test]
    fn tcp_has_no_timer_a_but_timer_b() {
        let t0 = Instant::now();
        let mut tx = tx(t0, true);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(drain(&mut tx), vec![TxAction::Timeout, TxAction::Terminated]);
    }

    #[test]
    fn provisional_stops_timer_a_and_timer_b() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_response(t0 + Duration::from_millis(100), &resp(100));
        tx.handle_response(t0 + Duration::from_millis(200), &resp(180));
        assert_eq!(drain(&mut tx), vec![TxAction::Provisional(100), TxAction::Provisional(180)]);
        assert_eq!(tx.state_name(), "proceeding");
        assert_eq!(tx.poll_timeout(), None, "no retransmission, no Timer B once proceeding");
        tx.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(tx.poll_action(), None);
    }

    #[test]
    fn ringing_then_busy_acks_each_486_and_timer_d_absorbs() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_response(t0 + Duration::from_millis(50), &resp(180));
        assert_eq!(drain(&mut tx), vec![TxAction::Provisional(180)]);
        let t1 = t0 + Duration::from_secs(3);
        tx.handle_response(t1, &resp(486));
        let acts = drain(&mut tx);
        assert_eq!(acts.len(), 2, "{acts:?}");
        let TxAction::Send(ack) = &acts[0] else { panic!("{acts:?}") };
        assert_eq!(acts[1], TxAction::Final(486));
        let ack_text = text(ack);
        assert!(ack_text.starts_with("ACK sip:op1@192.0.2.10:5062;transport=udp SIP/2.0\r\n"), "{ack_text}");
        assert!(ack_text.contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKop1a;rport\r\n"));
        assert!(ack_text.contains("\r\nTo: <sip:op1@192.0.2.10>;tag=phone9\r\n"), "To from the response");
        assert!(ack_text.contains("\r\nCSeq: 7 ACK\r\n"));
        assert!(ack_text.contains("\r\nCall-ID: leg2-abc@192.0.2.1\r\n"));
        assert!(ack_text.contains("\r\nFrom: \"112 caller 0812\" <sip:cc112@192.0.2.1>;tag=gw1\r\n"));
        assert!(ack_text.contains("Route: <sip:proxy.example.net;lr>\r\nRoute: <sip:edge.example.net;lr>\r\n"));
        assert!(!ack_text.contains("Contact"));
        // The ACK itself parses as an ACK.
        assert!(matches!(parse(ack), Ok(Message::Request(r)) if r.method == Method::Ack));

        // Two retransmissions of the 486: one ACK each, no second Final.
        tx.handle_response(t1 + Duration::from_millis(500), &resp(486));
        tx.handle_response(t1 + Duration::from_millis(1500), &resp(486));
        assert_eq!(drain(&mut tx), vec![TxAction::Send(ack.clone()), TxAction::Send(ack.clone())]);
        // Timer D: 32 s after the first 486.
        assert_eq!(tx.poll_timeout(), Some(t1 + Duration::from_secs(32)));
        tx.handle_timeout(t1 + Duration::from_secs(31));
        assert_eq!(tx.poll_action(), None);
        tx.handle_timeout(t1 + Duration::from_secs(32));
        assert_eq!(drain(&mut tx), vec![TxAction::Terminated]);
        tx.handle_response(t1 + Duration::from_secs(33), &resp(486));
        assert_eq!(tx.poll_action(), None);
    }

    #[test]
    fn final_in_calling_goes_straight_to_completed() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_response(t0 + Duration::from_millis(10), &resp(603));
        let acts = drain(&mut tx);
        assert!(matches!(&acts[..], [TxAction::Send(_), TxAction::Final(603)]), "{acts:?}");
        assert_eq!(tx.state_name(), "completed");
        // Timer A no longer runs: only Timer D is scheduled.
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(10) + TIMER_D_UDP));
    }

    #[test]
    fn tcp_final_response_terminates_at_once() {
        let t0 = Instant::now();
        let mut tx = tx(t0, true);
        tx.handle_response(t0, &resp(480));
        let acts = drain(&mut tx);
        assert!(matches!(&acts[..], [TxAction::Send(_), TxAction::Final(480), TxAction::Terminated]), "{acts:?}");
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn two_xx_and_its_retransmissions_go_to_the_tu_until_timer_m() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_response(t0 + Duration::from_millis(20), &resp(180));
        let t1 = t0 + Duration::from_secs(4);
        tx.handle_response(t1, &resp(200));
        assert_eq!(drain(&mut tx), vec![TxAction::Provisional(180), TxAction::Accepted(200)]);
        assert_eq!(tx.state_name(), "accepted");
        // The transaction never ACKs a 2xx: that is the dialog's job.
        tx.handle_response(t1 + Duration::from_millis(500), &resp(200));
        tx.handle_response(t1 + Duration::from_millis(600), &resp(180));
        tx.handle_response(t1 + Duration::from_millis(700), &resp(486));
        tx.handle_response(t1 + Duration::from_millis(1500), &resp(200));
        assert_eq!(drain(&mut tx), vec![TxAction::Accepted(200), TxAction::Accepted(200)]);
        // Timer M = 64×T1 from the first 2xx.
        assert_eq!(tx.poll_timeout(), Some(t1 + Duration::from_secs(32)));
        tx.handle_timeout(t1 + Duration::from_secs(32));
        assert_eq!(drain(&mut tx), vec![TxAction::Terminated]);
        tx.handle_response(t1 + Duration::from_secs(33), &resp(200));
        assert_eq!(tx.poll_action(), None, "after Timer M a 2xx is a stray for the core");
    }

    #[test]
    fn timer_m_also_runs_on_tcp() {
        let t0 = Instant::now();
        let mut tx = tx(t0, true);
        tx.handle_response(t0, &resp(200));
        assert_eq!(drain(&mut tx), vec![TxAction::Accepted(200)]);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    }

    #[test]
    fn cancel_only_after_a_provisional() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        assert_eq!(tx.cancel(t0), None, "§9.1: no CANCEL before a provisional response");
        tx.handle_response(t0 + Duration::from_millis(30), &resp(180));
        drain(&mut tx);
        let t1 = t0 + Duration::from_secs(15);
        let cancel = tx.cancel(t1).unwrap();
        let c = text(&cancel);
        assert!(c.starts_with("CANCEL sip:op1@192.0.2.10:5062;transport=udp SIP/2.0\r\n"), "{c}");
        assert!(c.contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKop1a;rport\r\n"));
        assert!(c.contains("\r\nTo: <sip:op1@192.0.2.10>\r\n"), "the INVITE's To, no tag");
        assert!(c.contains("\r\nCSeq: 7 CANCEL\r\n"));
        assert!(c.contains("\r\nCall-ID: leg2-abc@192.0.2.1\r\n"));
        assert!(c.contains("\r\nFrom: \"112 caller 0812\" <sip:cc112@192.0.2.1>;tag=gw1\r\n"));
        assert!(c.contains("Route: <sip:proxy.example.net;lr>\r\nRoute: <sip:edge.example.net;lr>\r\n"));
        let Ok(Message::Request(r)) = parse(&cancel) else { panic!("CANCEL does not parse") };
        assert_eq!(r.method, Method::Cancel);
        assert_eq!(r.head.via.len(), 1);
        // The UAS's 487 then completes the INVITE transaction with an ACK.
        tx.handle_response(t1 + Duration::from_millis(40), &resp(487));
        let acts = drain(&mut tx);
        assert!(matches!(&acts[..], [TxAction::Send(_), TxAction::Final(487)]), "{acts:?}");
        assert_eq!(tx.cancel(t1), None, "nothing left to cancel");
    }

    #[test]
    fn cancel_without_answer_times_out_after_64_t1() {
        let t0 = Instant::now();
        let mut tx = tx(t0, false);
        tx.handle_response(t0, &resp(180));
        drain(&mut tx);
        let t1 = t0 + Duration::from_secs(15);
        assert!(tx.cancel(t1).is_some());
        assert!(tx.cancel(t1 + Duration::from_secs(1)).is_some(), "a second CANCEL keeps the first guard");
        assert_eq!(tx.poll_timeout(), Some(t1 + Duration::from_secs(32)));
        tx.handle_timeout(t1 + Duration::from_secs(32));
        assert_eq!(drain(&mut tx), vec![TxAction::Timeout, TxAction::Terminated]);
    }

    #[test]
    fn constructor_rejects_non_invites() {
        let t0 = Instant::now();
        let bye = INVITE.replacen("INVITE sip", "BYE sip", 1).replace("7 INVITE", "7 BYE");
        assert_eq!(
            InviteClientTx::new(t0, false, Timers::default(), Bytes::from(bye)).unwrap_err(),
            InviteClientError::NotInvite
        );
        assert!(matches!(
            InviteClientTx::new(t0, false, Timers::default(), Bytes::from_static(b"garbage")),
            Err(InviteClientError::Parse(_))
        ));
    }
}
