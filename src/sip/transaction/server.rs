//! Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §7.1) and non-INVITE (§17.2.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{backoff, Timers, TxAction};

#[derive(Debug, Clone, PartialEq, Eq)]
enum IstState {
    /// No final response yet; retransmitted INVITEs get the latest provisional.
    Proceeding,
    /// A 2xx was sent (RFC 6026 "Accepted"): retransmit it until the ACK, absorb
    /// INVITE retransmissions until Timer L.
    Accepted { retransmit: Option<(Instant, Duration)>, acked: bool, timer_l: Instant },
    /// A 3xx–6xx was sent: Timer G retransmits it, Timer H gives up waiting for the ACK.
    Completed { timer_g: Option<(Instant, Duration)>, timer_h: Instant },
    /// ACK received; Timer I absorbs ACK retransmissions.
    Confirmed { timer_i: Instant },
    Terminated,
}

/// The INVITE server transaction.
#[derive(Debug)]
pub struct InviteServerTx {
    state: IstState,
    reliable: bool,
    timers: Timers,
    last_response: Option<Bytes>,
    actions: VecDeque<TxAction>,
}

impl InviteServerTx {
    /// A new transaction for a just-received INVITE; `reliable` for TCP.
    pub fn new(reliable: bool, timers: Timers) -> Self {
        InviteServerTx { state: IstState::Proceeding, reliable, timers, last_response: None, actions: VecDeque::new() }
    }

    /// Send a response. Provisional responses are only allowed in Proceeding; a final
    /// response moves to Accepted (2xx) or Completed (3xx–6xx). Returns false if the
    /// state does not allow a response (a second final response is a TU bug, ignored).
    pub fn respond(&mut self, now: Instant, status: u16, bytes: Bytes) -> bool {
        if self.state != IstState::Proceeding {
            return false;
        }
        self.actions.push_back(TxAction::Send(bytes.clone()));
        self.last_response = Some(bytes);
        let t1 = self.timers.t1;
        if (200..300).contains(&status) {
            // The 2xx is retransmitted end to end (RFC 3261 §13.3.1.4) even on TCP? No:
            // only over unreliable transports; TCP delivers it or the connection fails.
            let retransmit = (!self.reliable).then(|| (now + t1, t1));
            self.state = IstState::Accepted { retransmit, acked: false, timer_l: now + self.timers.t1x64() };
        } else if status >= 300 {
            let timer_g = (!self.reliable).then(|| (now + t1, t1));
            self.state = IstState::Completed { timer_g, timer_h: now + self.timers.t1x64() };
        }
        true
    }

    /// The same INVITE arrived again: answer with the latest response.
    pub fn handle_retransmission(&mut self) {
        match self.state {
            IstState::Proceeding | IstState::Accepted { .. } | IstState::Completed { .. } => {
                if let Some(b) = &self.last_response {
                    self.actions.push_back(TxAction::Send(b.clone()));
                }
            }
            IstState::Confirmed { .. } | IstState::Terminated => {}
        }
    }

    /// An ACK for our final response (for a 2xx the dialog layer matched it).
    pub fn handle_ack(&mut self, now: Instant) {
        match &mut self.state {
            IstState::Completed { .. } => {
                let wait = if self.reliable { Duration::ZERO } else { self.timers.t4 };
                self.state = IstState::Confirmed { timer_i: now + wait };
                if wait.is_zero() {
                    self.terminate();
                }
            }
            IstState::Accepted { retransmit, acked, .. } => {
                *retransmit = None;
                *acked = true;
                // The caller has our 2xx: a late copy of its INVITE is absorbed, not
                // answered (RFC 6026 §7.1), so the response's bytes can go now rather
                // than after Timer L's 32 s (a kilobyte per call, 2,000 calls a second).
                self.last_response = None;
            }
            _ => {}
        }
    }

    /// Retransmits the final response on UDP (Timer G; for a 2xx, RFC 3261
    /// §13.3.1.4), reports a missing ACK (Timer H; Timer L after a 2xx:
    /// [`TxAction::NoAck`]) or ends (Timer I), whichever is due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state.clone() {
            IstState::Accepted { retransmit, acked, timer_l } => {
                if now >= timer_l {
                    if !acked {
                        self.actions.push_back(TxAction::NoAck { two_xx: true });
                    }
                    self.terminate();
                    return;
                }
                if let Some((at, interval)) = retransmit {
                    if now >= at {
                        self.resend_last();
                        let next = backoff(interval, &self.timers);
                        self.state = IstState::Accepted { retransmit: Some((now + next, next)), acked, timer_l };
                    }
                }
            }
            IstState::Completed { timer_g, timer_h } => {
                if now >= timer_h {
                    self.actions.push_back(TxAction::NoAck { two_xx: false });
                    self.terminate();
                    return;
                }
                if let Some((at, interval)) = timer_g {
                    if now >= at {
                        self.resend_last();
                        let next = backoff(interval, &self.timers);
                        self.state = IstState::Completed { timer_g: Some((now + next, next)), timer_h };
                    }
                }
            }
            IstState::Confirmed { timer_i } if now >= timer_i => self.terminate(),
            _ => {}
        }
    }

    /// The next timer; `None` in Proceeding (the TU answers) and once terminated.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            IstState::Accepted { retransmit, timer_l, .. } => {
                Some(retransmit.map_or(*timer_l, |(at, _)| at.min(*timer_l)))
            }
            IstState::Completed { timer_g, timer_h } => Some(timer_g.map_or(*timer_h, |(at, _)| at.min(*timer_h))),
            IstState::Confirmed { timer_i } => Some(*timer_i),
            IstState::Proceeding | IstState::Terminated => None,
        }
    }

    /// The next action, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.actions.pop_front()
    }

    /// True while no final response has been sent (a CANCEL can still end it with 487).
    pub fn is_proceeding(&self) -> bool {
        self.state == IstState::Proceeding
    }

    /// The transaction is over: its owner can drop it.
    pub fn is_terminated(&self) -> bool {
        self.state == IstState::Terminated
    }

    /// For logs and tests.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            IstState::Proceeding => "proceeding",
            IstState::Accepted { .. } => "accepted",
            IstState::Completed { .. } => "completed",
            IstState::Confirmed { .. } => "confirmed",
            IstState::Terminated => "terminated",
        }
    }

    fn resend_last(&mut self) {
        if let Some(b) = &self.last_response {
            self.actions.push_back(TxAction::Send(b.clone()));
        }
    }

    fn terminate(&mut self) {
        self.state = IstState::Terminated;
        self.actions.push_back(TxAction::Terminated);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NistState {
    Trying,
    Proceeding,
    /// Final response sent; Timer J absorbs request retransmissions.
    Completed { timer_j: Instant },
    Terminated,
}

/// The non-INVITE server transaction (BYE, OPTIONS, CANCEL, REGISTER, ...).
#[derive(Debug)]
pub struct NonInviteServerTx {
    state: NistState,
    reliable: bool,
    timers: Timers,
    last_response: Option<Bytes>,
    actions: VecDeque<TxAction>,
}

impl NonInviteServerTx {
    /// A transaction for a request just received; `reliable` (TCP) skips Timer J.
    pub fn new(reliable: bool, timers: Timers) -> Self {
        NonInviteServerTx { state: NistState::Trying, reliable, timers, last_response: None, actions: VecDeque::new() }
    }

    /// Sends a response (`bytes`, with `status`); a final one moves to Completed.
    /// False, and nothing sent, once a final response went out.
    pub fn respond(&mut self, now: Instant, status: u16, bytes: Bytes) -> bool {
        if !matches!(self.state, NistState::Trying | NistState::Proceeding) {
            return false;
        }
        self.actions.push_back(TxAction::Send(bytes.clone()));
        self.last_response = Some(bytes);
        if status < 200 {
            self.state = NistState::Proceeding;
        } else {
            let wait = if self.reliable { Duration::ZERO } else { self.timers.t1x64() };
            self.state = NistState::Completed { timer_j: now + wait };
            if wait.is_zero() {
                self.terminate();
            }
        }
        true
    }

    /// The request came again: the last response is sent again (none in Trying).
    pub fn handle_retransmission(&mut self) {
        if matches!(self.state, NistState::Proceeding | NistState::Completed { .. }) {
            if let Some(b) = &self.last_response {
                self.actions.push_back(TxAction::Send(b.clone()));
            }
        }
    }

    /// Ends the transaction when Timer J has run out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let NistState::Completed { timer_j } = self.state {
            if now >= timer_j {
                self.terminate();
            }
        }
    }

    /// Timer J while Completed; otherwise `None`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            NistState::Completed { timer_j } => Some(timer_j),
            _ => None,
        }
    }

    /// The next action, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.actions.pop_front()
    }

    /// The transaction is over: its owner can drop it.
    pub fn is_terminated(&self) -> bool {
        self.state == NistState::Terminated
    }

    /// For logs and tests.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            NistState::Trying => "trying",
            NistState::Proceeding => "proceeding",
            NistState::Completed { .. } => "completed",
            NistState::Terminated => "terminated",
        }
    }

    fn terminate(&mut self) {
        self.state = NistState::Terminated;
        self.actions.push_back(TxAction::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_ist(tx: &mut InviteServerTx) -> Vec<TxAction> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    fn run_until(tx: &mut InviteServerTx, start: Instant, end: Duration) -> Vec<(Duration, TxAction)> {
        let mut out = Vec::new();
        while let Some(t) = tx.poll_timeout() {
            if t > start + end {
                break;
            }
            tx.handle_timeout(t);
            for a in drain_ist(tx) {
                out.push((t - start, a));
            }
        }
        out
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn retransmitted_invite_gets_latest_response() {
        let now = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(now, 100, b("100"));
        tx.handle_retransmission();
        assert_eq!(drain_ist(&mut tx), vec![TxAction::Send(b("100")), TxAction::Send(b("100"))]);
        tx.respond(now, 200, b("200"));
        tx.handle_retransmission();
        assert_eq!(drain_ist(&mut tx), vec![TxAction::Send(b("200")), TxAction::Send(b("200"))]);
    }

    #[test]
    fn after_the_ack_a_late_invite_copy_is_absorbed_until_timer_l() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 200, b("200"));
        tx.handle_ack(t0 + Duration::from_millis(10));
        drain_ist(&mut tx);
        tx.handle_retransmission();
        assert_eq!(drain_ist(&mut tx), vec![], "absorbed: not a new call, not answered");
        assert_eq!(tx.state_name(), "accepted");
        assert!(tx.last_response.is_none(), "the 2xx is not kept once acknowledged");
    }

    #[test]
    fn two_xx_retransmitted_on_timer_g_schedule_until_ack() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 200, b("200"));
        drain_ist(&mut tx);
        let sends = run_until(&mut tx, t0, Duration::from_millis(8_000));
        let times: Vec<u64> = sends.iter().map(|(d, _)| d.as_millis() as u64).collect();
        // 0.5, 1.5, 3.5, 7.5 s: doubling from T1.
        assert_eq!(times, vec![500, 1500, 3500, 7500]);
        tx.handle_ack(t0 + Duration::from_millis(8_000));
        let rest = run_until(&mut tx, t0, Duration::from_secs(60));
        // After the ACK no more 2xx; at Timer L (32 s) it just ends.
        assert_eq!(rest, vec![(Duration::from_secs(32), TxAction::Terminated)]);
    }

    #[test]
    fn two_xx_without_ack_caps_at_t2_then_reports_no_ack() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 200, b("200"));
        drain_ist(&mut tx);
        let all = run_until(&mut tx, t0, Duration::from_secs(40));
        let sends: Vec<u64> = all
            .iter()
            .filter(|(_, a)| matches!(a, TxAction::Send(_)))
            .map(|(d, _)| d.as_millis() as u64)
            .collect();
        assert_eq!(sends, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
        let tail: Vec<_> = all.iter().filter(|(_, a)| !matches!(a, TxAction::Send(_))).cloned().collect();
        assert_eq!(
            tail,
            vec![
                (Duration::from_secs(32), TxAction::NoAck { two_xx: true }),
                (Duration::from_secs(32), TxAction::Terminated)
            ]
        );
    }

    #[test]
    fn error_response_timer_g_then_timer_h() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 487, b("487"));
        drain_ist(&mut tx);
        let all = run_until(&mut tx, t0, Duration::from_secs(40));
        assert_eq!(all.first().map(|(d, _)| d.as_millis()), Some(500));
        assert_eq!(
            all.last(),
            Some(&(Duration::from_secs(32), TxAction::Terminated)),
            "Timer H = 64*T1"
        );
        assert!(all.contains(&(Duration::from_secs(32), TxAction::NoAck { two_xx: false })));
    }

    #[test]
    fn ack_to_error_response_confirms_then_timer_i() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 404, b("404"));
        drain_ist(&mut tx);
        tx.handle_ack(t0 + Duration::from_millis(100));
        assert_eq!(tx.state_name(), "confirmed");
        tx.handle_retransmission();
        assert!(drain_ist(&mut tx).is_empty(), "retransmissions absorbed in Confirmed");
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(5100)), "Timer I = T4");
        tx.handle_timeout(t0 + Duration::from_millis(5100));
        assert!(tx.is_terminated());
    }

    #[test]
    fn ack_loss_is_repaired_by_retransmission() {
        // The first ACK is lost: the 2xx keeps coming; the second ACK stops it.
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        tx.respond(t0, 200, b("200"));
        drain_ist(&mut tx);
        let first = run_until(&mut tx, t0, Duration::from_millis(1600));
        assert_eq!(first.len(), 2);
        tx.handle_ack(t0 + Duration::from_millis(1600));
        let rest = run_until(&mut tx, t0, Duration::from_secs(40));
        assert!(rest.iter().all(|(_, a)| !matches!(a, TxAction::Send(_))));
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(true, Timers::default());
        tx.respond(t0, 486, b("486"));
        drain_ist(&mut tx);
        tx.handle_ack(t0);
        assert!(tx.is_terminated(), "Timer I = 0 on TCP");
        let mut tx = InviteServerTx::new(true, Timers::default());
        tx.respond(t0, 200, b("200"));
        drain_ist(&mut tx);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)), "only Timer L");
    }

    #[test]
    fn non_invite_timer_j() {
        let t0 = Instant::now();
        let mut tx = NonInviteServerTx::new(false, Timers::default());
        tx.handle_retransmission();
        assert!(tx.poll_action().is_none(), "nothing to resend in Trying");
        tx.respond(t0, 200, b("200"));
        assert_eq!(tx.poll_action(), Some(TxAction::Send(b("200"))));
        tx.handle_retransmission();
        assert_eq!(tx.poll_action(), Some(TxAction::Send(b("200"))));
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.handle_timeout(t0 + Duration::from_secs(31));
        assert!(!tx.is_terminated());
        tx.handle_timeout(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
        let mut tx = NonInviteServerTx::new(true, Timers::default());
        tx.respond(t0, 200, b("200"));
        assert!(tx.is_terminated(), "Timer J = 0 on TCP");
    }

    #[test]
    fn second_final_response_refused() {
        let t0 = Instant::now();
        let mut tx = InviteServerTx::new(false, Timers::default());
        assert!(tx.respond(t0, 200, b("200")));
        assert!(!tx.respond(t0, 487, b("487")));
    }
}
