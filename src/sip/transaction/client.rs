//! The non-INVITE client transaction (RFC 3261 §17.1.2): the BYEs we send.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{backoff, Timers, TxAction};

#[derive(Debug, Clone, PartialEq, Eq)]
enum NictState {
    /// Timer E retransmits, Timer F gives up.
    Trying { timer_e: Option<(Instant, Duration)>, timer_f: Instant },
    /// Timer K absorbs response retransmissions.
    Completed { timer_k: Instant },
    Terminated,
}

/// The non-INVITE client transaction of one request we send (Timers E, F, K).
#[derive(Debug)]
pub struct NonInviteClientTx {
    state: NictState,
    reliable: bool,
    timers: Timers,
    request: Bytes,
    actions: VecDeque<TxAction>,
}

impl NonInviteClientTx {
    /// Start the transaction: the request goes out at once.
    pub fn new(now: Instant, reliable: bool, timers: Timers, request: Bytes) -> Self {
        let timer_e = (!reliable).then(|| (now + timers.t1, timers.t1));
        let mut actions = VecDeque::new();
        actions.push_back(TxAction::Send(request.clone()));
        NonInviteClientTx {
            state: NictState::Trying { timer_e, timer_f: now + timers.t1x64() },
            reliable,
            timers,
            request,
            actions,
        }
    }

    /// A response matched to this transaction: a provisional one slows the
    /// retransmissions to T2, the first final one is reported as [`TxAction::Final`].
    pub fn handle_response(&mut self, now: Instant, status: u16) {
        if let NictState::Trying { timer_e, timer_f } = self.state {
            if status < 200 {
                // Proceeding: retransmit at T2 from now on.
                let timer_e = timer_e.map(|(at, _)| (at, self.timers.t2));
                self.state = NictState::Trying { timer_e, timer_f };
                return;
            }
            self.actions.push_back(TxAction::Final(status));
            let wait = if self.reliable { Duration::ZERO } else { self.timers.t4 };
            self.state = NictState::Completed { timer_k: now + wait };
            if wait.is_zero() {
                self.terminate();
            }
        }
    }

    /// Retransmits (Timer E), gives up (Timer F: [`TxAction::Timeout`]) or ends
    /// (Timer K), whichever is due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            NictState::Trying { timer_e, timer_f } => {
                if now >= timer_f {
                    self.actions.push_back(TxAction::Timeout);
                    self.terminate();
                    return;
                }
                if let Some((at, interval)) = timer_e {
                    if now >= at {
                        self.actions.push_back(TxAction::Send(self.request.clone()));
                        let next = backoff(interval, &self.timers);
                        self.state = NictState::Trying { timer_e: Some((now + next, next)), timer_f };
                    }
                }
            }
            NictState::Completed { timer_k } if now >= timer_k => self.terminate(),
            _ => {}
        }
    }

    /// The next timer; `None` once terminated.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            NictState::Trying { timer_e, timer_f } => Some(timer_e.map_or(timer_f, |(at, _)| at.min(timer_f))),
            NictState::Completed { timer_k } => Some(timer_k),
            NictState::Terminated => None,
        }
    }

    /// The next action, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.actions.pop_front()
    }

    /// No final response yet (and Timer F has not given up): the request may still be
    /// retransmitted.
    pub fn awaits_answer(&self) -> bool {
        matches!(self.state, NictState::Trying { .. })
    }

    /// The transaction is over: its owner can drop it.
    pub fn is_terminated(&self) -> bool {
        self.state == NictState::Terminated
    }

    fn terminate(&mut self) {
        self.state = NictState::Terminated;
        self.actions.push_back(TxAction::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_gives_up() {
        let t0 = Instant::now();
        let req = Bytes::from_static(b"BYE");
        let mut tx = NonInviteClientTx::new(t0, false, Timers::default(), req.clone());
        assert_eq!(tx.poll_action(), Some(TxAction::Send(req.clone())));
        let mut sends = Vec::new();
        let mut end = Vec::new();
        while let Some(t) = tx.poll_timeout() {
            tx.handle_timeout(t);
            while let Some(a) = tx.poll_action() {
                match a {
                    TxAction::Send(_) => sends.push((t - t0).as_millis() as u64),
                    other => end.push(((t - t0).as_millis() as u64, other)),
                }
            }
        }
        assert_eq!(&sends[..5], &[500, 1500, 3500, 7500, 11500]);
        assert_eq!(end, vec![(32000, TxAction::Timeout), (32000, TxAction::Terminated)]);
    }

    #[test]
    fn final_response_then_timer_k() {
        let t0 = Instant::now();
        let mut tx = NonInviteClientTx::new(t0, false, Timers::default(), Bytes::from_static(b"BYE"));
        tx.poll_action();
        tx.handle_response(t0 + Duration::from_millis(20), 200);
        assert_eq!(tx.poll_action(), Some(TxAction::Final(200)));
        tx.handle_response(t0 + Duration::from_millis(30), 200);
        assert_eq!(tx.poll_action(), None, "retransmitted response absorbed");
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(5020)));
        tx.handle_timeout(t0 + Duration::from_millis(5020));
        assert!(tx.is_terminated());
    }
}
