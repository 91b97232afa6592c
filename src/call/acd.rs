//! The ACD: department queues and the operators who answer them, sans-IO in the shape
//! of the IVR and the transactions: inputs are `enqueue`, `remove`, `offer_*`,
//! `call_ended`, registration changes and supervisor commands, all with `now`;
//! `poll_action()` drains what to do; `poll_timeout()`/`handle_timeout(now)` drive
//! ring timeouts, wrap-up, overflow and the hold announcements.
//!
//! Rules, and why:
//! - One queue per department, served by priority class, then by wait (`lanes.rs`:
//!   a FIFO per class; a class rises with waiting, so no caller starves). A call
//!   whose offer failed goes back to the **head** of its class: it has waited
//!   longest and must not lose its place.
//! - The **longest-idle** available operator who serves an eligible queue gets the
//!   call, spreading work fairly. An operator may serve several queues; when calls
//!   of two queues compete for one operator the higher class wins, then the call
//!   that waited longer.
//! - A call is eligible for its own queue; after `overflow_after` also for the
//!   queue's overflow target (by default the fallback `general`), after twice that
//!   for the next target in the chain, and so on (`Overflowed` says when).
//! - Ring timeout, reject or an unreachable phone pause the operator as
//!   `not_responding`: a missing operator must not be offered every next call. A
//!   phone that says it is busy (`486`, `600`) is not missing: it is on another call
//!   (another node's, behind one proxy; another line of a desk phone), so its operator
//!   rests in wrap-up for [`BUSY_BACKOFF`] (or `wrap_up`, if longer) and is offered
//!   the next call after that, never paused.
//! - **No timer ends a call.** The queue only ever plays prompts to a waiting
//!   caller; an emergency caller waits until an operator answers or they hang up.
//!
//! Cost: every queue keeps its available operators in a `BTreeSet` ordered by idle
//! time, so picking the operator for a call is O(q · log n) (q = queues the call is
//! eligible for, a handful; n = operators) with no sort per offer; an operator
//! changing state touches the sets of its own departments, O(d · log n). Timers are
//! one ordered set, invalidated lazily (a stale entry is skipped when it fires).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::call::CallId;
use crate::config::{AcdConfig, Operator, OperatorId, QueueId, RoutingPlan};

/// The least time an operator whose phone answered busy waits before the next offer.
pub const BUSY_BACKOFF: Duration = Duration::from_secs(10);

mod lanes;
mod reserve;
mod tables;
mod view;

pub use lanes::Priority;

pub use view::{AcdSnapshot, OperatorSnapshot, OperatorStatus, QueueSnapshot, QueuedCaller, MAX_LISTED_CALLERS};

use tables::{chain, operators_from_accounts, queues_from_plan};
use tables::{AfterCall, CallEntry, Op, OpState, QueueState, Timer};

/// What the ACD asks its owner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdAction {
    /// Ring every registered contact of `operator` for `call`; report back with
    /// `offer_answered` or `offer_failed`.
    Offer {
        /// The call at the head of its queue.
        call: CallId,
        /// The longest-idle available operator who may take it.
        operator: OperatorId,
    },
    /// Withdraw the offer (CANCEL the operator leg): ring timeout, the caller hung
    /// up, or a supervisor paused the operator while it rang.
    CancelOffer {
        /// The call that was offered.
        call: CallId,
        /// The operator whose phones ring.
        operator: OperatorId,
    },
    /// Start the hold prompt (`hold`) for a call that just joined a queue.
    PlayHold {
        /// The call that joined.
        call: CallId,
    },
    /// Play `stay_on_line` ("please stay on the line"), then the hold prompt again.
    PlayStayOnLine {
        /// A call still waiting, every `stay_on_line_every`.
        call: CallId,
    },
    /// The call may now also be answered by operators of `to`.
    Overflowed {
        /// The waiting call.
        call: CallId,
        /// The next queue along the overflow chain.
        to: QueueId,
    },
    /// For the operator-state history and the wallboard.
    OperatorState {
        /// The operator whose state changed.
        op: OperatorId,
        /// The new state.
        state: OperatorStatus,
        /// Why, for [`OperatorStatus::Paused`] only (the supervisor's reason, or
        /// `not_responding`); `None` for every other state.
        reason: Option<String>,
    },
}

/// Why an offer failed, as the operator leg reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// The phone answered the INVITE with a final error (486 Busy, 603 Decline...).
    Rejected(u16),
    /// No response at all (Timer B), or no contact left to send to.
    Unreachable,
}

/// Supervisor command errors: become a message for the CLI/API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AcdError {
    /// No `[[operators]]` account has this id.
    #[error("no operator {0}")]
    UnknownOperator(OperatorId),
}

/// All queues and operators of the gateway.
#[derive(Debug)]
pub struct Acd {
    cfg: AcdConfig,
    queues: Vec<QueueState>,
    queue_index: HashMap<QueueId, usize>,
    fallback: usize,
    ops: Vec<Op>,
    op_index: HashMap<OperatorId, usize>,
    calls: HashMap<CallId, CallEntry>,
    timers: BTreeSet<(Instant, Timer)>,
    actions: VecDeque<AcdAction>,
}

impl Acd {
    /// Queues and their overflow targets come from the routing plan, accounts from
    /// `[[operators]]`; every operator starts offline until it registers.
    pub fn new(cfg: AcdConfig, plan: &RoutingPlan, operators: &[Operator]) -> Acd {
        let (queues, queue_index, fallback) = queues_from_plan(plan);
        let (ops, op_index) = operators_from_accounts(operators, &queue_index);
        Acd {
            cfg,
            queues,
            queue_index,
            fallback,
            ops,
            op_index,
            calls: HashMap::new(),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
        }
    }

    // ------------------------------------------------------------------- calls

    /// A call of [`Priority::Normal`] joins `queue` (see [`Acd::enqueue_with`]).
    pub fn enqueue(&mut self, now: Instant, call: CallId, queue: &QueueId) {
        self.enqueue_with(now, call, queue, Priority::Normal);
    }

    /// A call joins the tail of its class in `queue` (an unknown queue means the
    /// fallback: the call must land where a human answers). A call already queued is
    /// left alone.
    pub fn enqueue_with(&mut self, now: Instant, call: CallId, queue: &QueueId, class: Priority) {
        if self.calls.contains_key(&call) {
            return;
        }
        let q = self
            .queue_index
            .get(queue)
            .copied()
            .unwrap_or(self.fallback);
        let next_overflow = self
            .queues
            .get(q)
            .and_then(|s| s.overflow)
            .map(|_| now + self.cfg.overflow_after);
        let next_stay = now + self.cfg.stay_on_line_every;
        self.calls.insert(
            call,
            CallEntry {
                queue: q,
                enqueued: now,
                reach: 0,
                next_overflow,
                next_stay,
                offered_to: None,
                class,
            },
        );
        if let Some(s) = self.queues.get_mut(q) {
            s.waiting.push_back(class, call);
        }
        if let Some(t) = next_overflow {
            self.timers.insert((t, Timer::Overflow(call)));
        }
        self.timers.insert((next_stay, Timer::StayOnLine(call)));
        self.actions.push_back(AcdAction::PlayHold { call });
        self.dispatch(now);
    }

    /// The caller hung up (or the call ended otherwise) while queued or offered. An
    /// offer is withdrawn and the operator keeps their place in the idle order.
    pub fn remove(&mut self, now: Instant, call: CallId) {
        let Some(entry) = self.calls.remove(&call) else {
            return;
        };
        match entry.offered_to {
            None => {
                if let Some(q) = self.queues.get_mut(entry.queue) {
                    q.waiting.remove(entry.class, call);
                }
            }
            Some(op) => {
                let id = self.op_id(op);
                self.actions
                    .push_back(AcdAction::CancelOffer { call, operator: id });
                if let Some(OpState::Ringing { was_idle_since, .. }) =
                    self.ops.get(op).map(|o| o.state.clone())
                {
                    self.set_available(op, was_idle_since);
                }
            }
        }
        self.dispatch(now);
    }

    /// The operator answered: the ACD is done with the call, the operator is on it.
    pub fn offer_answered(&mut self, now: Instant, call: CallId, operator: &OperatorId) {
        let Some(op) = self.ringing(operator, call) else {
            return;
        };
        self.calls.remove(&call);
        self.set_state(op, OpState::OnCall { call });
        self.dispatch(now);
    }

    /// The operator rejected or could not be reached: paused as not responding (a busy
    /// phone: in wrap-up for [`BUSY_BACKOFF`] instead), the call back to the head of
    /// its queue for the next operator.
    pub fn offer_failed(
        &mut self,
        now: Instant,
        call: CallId,
        operator: &OperatorId,
        why: OfferFailure,
    ) {
        let Some(op) = self.ringing(operator, call) else {
            return;
        };
        self.requeue_head(call);
        if matches!(why, OfferFailure::Rejected(486 | 600)) {
            let until = now + self.cfg.wrap_up.max(BUSY_BACKOFF);
            self.timers.insert((until, Timer::WrapUp(op)));
            self.set_state(op, OpState::WrapUp { until });
        } else {
            self.set_state(
                op,
                OpState::Paused {
                    reason: self.cfg.not_responding_reason.clone(),
                },
            );
        }
        self.dispatch(now);
    }

    /// The bridged call ended (either side hung up): wrap-up, then available.
    pub fn call_ended(&mut self, now: Instant, operator: &OperatorId) {
        let Some(&op) = self.op_index.get(operator) else {
            return;
        };
        if !matches!(
            self.ops.get(op).map(|o| &o.state),
            Some(OpState::OnCall { .. })
        ) {
            return;
        }
        let after = self.ops.get_mut(op).and_then(|o| o.after_call.take());
        let registered = self.ops.get(op).is_some_and(|o| o.registered);
        match after {
            Some(AfterCall::Pause(reason)) => self.set_state(op, OpState::Paused { reason }),
            Some(AfterCall::Logout) => self.set_state(op, OpState::Offline),
            None if !registered => self.set_state(op, OpState::Offline),
            None if self.cfg.wrap_up.is_zero() => self.set_available(op, now),
            None => {
                let until = now + self.cfg.wrap_up;
                self.timers.insert((until, Timer::WrapUp(op)));
                self.set_state(op, OpState::WrapUp { until });
            }
        }
        self.dispatch(now);
    }

    // ------------------------------------------------------------ registration

    /// The operator's first contact registered: available now (unless paused or
    /// busy; a supervisor logout is undone only by `resume`).
    pub fn operator_registered(&mut self, now: Instant, operator: &OperatorId) {
        let Some(&op) = self.op_index.get(operator) else {
            return;
        };
        let Some(o) = self.ops.get_mut(op) else {
            return;
        };
        if o.registered {
            return;
        }
        o.registered = true;
        if o.state == OpState::Offline {
            self.set_available(op, now);
        }
        self.dispatch(now);
    }

    /// The operator's last contact went away: offline; a ringing offer is withdrawn
    /// (back to the head of the queue); a call in progress goes on.
    pub fn operator_unregistered(&mut self, now: Instant, operator: &OperatorId) {
        let Some(&op) = self.op_index.get(operator) else {
            return;
        };
        let Some(o) = self.ops.get_mut(op) else {
            return;
        };
        o.registered = false;
        match o.state.clone() {
            OpState::Available { .. } | OpState::WrapUp { .. } => {
                self.set_state(op, OpState::Offline)
            }
            OpState::Ringing { call, .. } => {
                self.actions.push_back(AcdAction::CancelOffer {
                    call,
                    operator: operator.clone(),
                });
                self.requeue_head(call);
                self.set_state(op, OpState::Offline);
            }
            OpState::Offline | OpState::OnCall { .. } | OpState::Paused { .. } => {}
        }
        self.dispatch(now);
    }

    // -------------------------------------------------------------- supervisor

    /// Pause with a reason. A ringing offer is withdrawn; on a call, the pause
    /// starts when the call ends.
    pub fn pause(
        &mut self,
        now: Instant,
        operator: &OperatorId,
        reason: &str,
    ) -> Result<OperatorStatus, AcdError> {
        let op = self.op(operator)?;
        let reason = reason.to_string();
        match self.ops.get(op).map(|o| o.state.clone()) {
            Some(OpState::OnCall { .. }) => {
                if let Some(o) = self.ops.get_mut(op) {
                    o.after_call = Some(AfterCall::Pause(reason));
                }
            }
            Some(OpState::Ringing { call, .. }) => {
                self.actions.push_back(AcdAction::CancelOffer {
                    call,
                    operator: operator.clone(),
                });
                self.requeue_head(call);
                self.set_state(op, OpState::Paused { reason });
            }
            Some(OpState::Offline) | None => {}
            Some(_) => self.set_state(op, OpState::Paused { reason }),
        }
        self.dispatch(now);
        Ok(self.status(op))
    }

    /// Back to work: available if registered. Also ends a wrap-up early, undoes a
    /// logout, and cancels a pause or logout pending after the current call.
    pub fn resume(
        &mut self,
        now: Instant,
        operator: &OperatorId,
    ) -> Result<OperatorStatus, AcdError> {
        let op = self.op(operator)?;
        let (state, registered) = match self.ops.get_mut(op) {
            Some(o) => {
                o.after_call = None;
                (o.state.clone(), o.registered)
            }
            None => return Ok(OperatorStatus::Offline),
        };
        match state {
            OpState::Paused { .. } | OpState::WrapUp { .. } | OpState::Offline if registered => {
                self.set_available(op, now)
            }
            OpState::Paused { .. } => self.set_state(op, OpState::Offline),
            _ => {}
        }
        self.dispatch(now);
        Ok(self.status(op))
    }

    /// Offline until `resume` (or the phone registers anew), whatever the phone
    /// does; on a call, after the call.
    pub fn logout(
        &mut self,
        now: Instant,
        operator: &OperatorId,
    ) -> Result<OperatorStatus, AcdError> {
        let op = self.op(operator)?;
        match self.ops.get(op).map(|o| o.state.clone()) {
            Some(OpState::OnCall { .. }) => {
                if let Some(o) = self.ops.get_mut(op) {
                    o.after_call = Some(AfterCall::Logout);
                }
            }
            Some(OpState::Ringing { call, .. }) => {
                self.actions.push_back(AcdAction::CancelOffer {
                    call,
                    operator: operator.clone(),
                });
                self.requeue_head(call);
                self.set_state(op, OpState::Offline);
            }
            Some(OpState::Offline) | None => {}
            Some(_) => self.set_state(op, OpState::Offline),
        }
        self.dispatch(now);
        Ok(self.status(op))
    }

    // ------------------------------------------------------------------ timers

    /// The earliest pending timer (possibly a stale one: a harmless early wake-up).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every timer due at `now` (ring timeouts, wrap-up ends, overflow steps,
    /// stay-on-line prompts), then offers what became possible.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.fire(at, timer);
        }
        self.dispatch(now);
    }

    fn fire(&mut self, at: Instant, timer: Timer) {
        match timer {
            Timer::Ring(op) => {
                let Some(OpState::Ringing { call, deadline, .. }) =
                    self.ops.get(op).map(|o| o.state.clone())
                else {
                    return;
                };
                if deadline != at {
                    return;
                }
                let id = self.op_id(op);
                self.actions
                    .push_back(AcdAction::CancelOffer { call, operator: id });
                self.requeue_head(call);
                self.set_state(
                    op,
                    OpState::Paused {
                        reason: self.cfg.not_responding_reason.clone(),
                    },
                );
            }
            Timer::WrapUp(op) => {
                if self
                    .ops
                    .get(op)
                    .is_some_and(|o| o.state == OpState::WrapUp { until: at })
                {
                    self.set_available(op, at);
                }
            }
            Timer::Overflow(call) => {
                let every = self.cfg.overflow_after;
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.next_overflow != Some(at) {
                    return;
                }
                c.reach += 1;
                let (start, reach) = (c.queue, c.reach);
                let chain = chain(&self.queues, start, reach + 2);
                let to = chain.get(reach as usize).copied();
                let further = chain.len() > reach as usize + 1;
                let next = further.then(|| at + every);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.next_overflow = next;
                }
                if let Some(t) = next {
                    self.timers.insert((t, Timer::Overflow(call)));
                }
                if let Some(q) = to.and_then(|t| self.queues.get(t)) {
                    self.actions.push_back(AcdAction::Overflowed {
                        call,
                        to: q.id.clone(),
                    });
                }
            }
            Timer::StayOnLine(call) => {
                let every = self.cfg.stay_on_line_every;
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.next_stay != at {
                    return;
                }
                c.next_stay = at + every;
                self.timers.insert((at + every, Timer::StayOnLine(call)));
                self.actions.push_back(AcdAction::PlayStayOnLine { call });
            }
        }
    }

    /// The next thing to do, in the order decided; `None` when drained.
    pub fn poll_action(&mut self) -> Option<AcdAction> {
        self.actions.pop_front()
    }

    // ---------------------------------------------------------------- queries

    /// Every queue and operator as of `now`, for the wallboard and the API.
    pub fn snapshot(&self, now: Instant) -> AcdSnapshot {
        let mut queues: Vec<QueueSnapshot> = self
            .queues
            .iter()
            .map(|q| QueueSnapshot {
                id: q.id.clone(),
                waiting: q.waiting.len(),
                offering: 0,
                longest_wait: None,
                available: q.idle.len(),
                callers: self
                    .in_order(q, now)
                    .into_iter()
                    .take(MAX_LISTED_CALLERS)
                    .enumerate()
                    .filter_map(|(i, (call, class))| {
                        let c = self.calls.get(&call)?;
                        let waited = now.saturating_duration_since(c.enqueued);
                        Some(QueuedCaller { call, position: Some(i + 1), waited, offered_to: None, class: c.class, effective: class })
                    })
                    .collect(),
            })
            .collect();
        for (id, c) in &self.calls {
            if let Some(q) = queues.get_mut(c.queue) {
                let waited = now.saturating_duration_since(c.enqueued);
                if let Some(op) = c.offered_to.and_then(|o| self.ops.get(o)) {
                    q.offering += 1;
                    if q.callers.len() < MAX_LISTED_CALLERS {
                        let effective = c.class.aged(waited, self.cfg.max_priority_wait);
                        q.callers.push(QueuedCaller { call: *id, position: None, waited, offered_to: Some(op.id.clone()), class: c.class, effective });
                    }
                }
                q.longest_wait = Some(q.longest_wait.map_or(waited, |w| w.max(waited)));
            }
        }
        let operators = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, o)| OperatorSnapshot {
                id: o.id.clone(),
                state: self.status(i),
                reason: match &o.state {
                    OpState::Paused { reason } => Some(reason.clone()),
                    _ => None,
                },
                call: match o.state {
                    OpState::Ringing { call, .. } | OpState::OnCall { call } => Some(call),
                    _ => None,
                },
                registered: o.registered,
            })
            .collect();
        AcdSnapshot { queues, operators }
    }

    /// `None` for an id with no account.
    pub fn operator_status(&self, operator: &OperatorId) -> Option<OperatorStatus> {
        self.op_index.get(operator).map(|&i| self.status(i))
    }

    /// Calls waiting in a queue, in the order they would be served at `now`.
    pub fn waiting(&self, now: Instant, queue: &QueueId) -> Vec<CallId> {
        self.queue_index
            .get(queue)
            .and_then(|i| self.queues.get(*i))
            .map(|q| self.in_order(q, now).into_iter().map(|(c, _)| c).collect())
            .unwrap_or_default()
    }

    /// A queue's waiting calls in serving order at `now`, with their effective class.
    fn in_order(&self, q: &QueueState, now: Instant) -> Vec<(CallId, Priority)> {
        q.waiting.in_order(now, self.cfg.max_priority_wait, |c| self.calls.get(&c).map(|e| e.enqueued))
    }

    /// The call's queue and 1-based place in it while waiting (for the `queued`
    /// event of the call's story); `None` while offered or unknown. O(queue length).
    pub fn position(&self, now: Instant, call: CallId) -> Option<(QueueId, usize)> {
        let c = self.calls.get(&call)?;
        let q = self.queues.get(c.queue)?;
        let i = self.in_order(q, now).iter().position(|(x, _)| *x == call)?;
        Some((q.id.clone(), i + 1))
    }

    /// True while the ACD holds the call (waiting or being offered).
    pub fn has_call(&self, call: CallId) -> bool {
        self.calls.contains_key(&call)
    }

    // ---------------------------------------------------------------- internals

    fn op(&self, id: &OperatorId) -> Result<usize, AcdError> {
        self.op_index
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownOperator(id.clone()))
    }

    fn op_id(&self, op: usize) -> OperatorId {
        self.ops
            .get(op)
            .map(|o| o.id.clone())
            .unwrap_or_else(|| OperatorId::new(""))
    }

    fn status(&self, op: usize) -> OperatorStatus {
        match self.ops.get(op).map(|o| &o.state) {
            None | Some(OpState::Offline) => OperatorStatus::Offline,
            Some(OpState::Available { .. }) => OperatorStatus::Available,
            Some(OpState::Ringing { .. }) => OperatorStatus::Ringing,
            Some(OpState::OnCall { .. }) => OperatorStatus::OnCall,
            Some(OpState::WrapUp { .. }) => OperatorStatus::WrapUp,
            Some(OpState::Paused { .. }) => OperatorStatus::Paused,
        }
    }

    /// The operator index if `operator` is ringing for `call`.
    fn ringing(&self, operator: &OperatorId, call: CallId) -> Option<usize> {
        let op = *self.op_index.get(operator)?;
        matches!(self.ops.get(op)?.state, OpState::Ringing { call: c, .. } if c == call)
            .then_some(op)
    }

    /// Put a call whose offer ended back at the head of its own queue.
    fn requeue_head(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.offered_to = None;
        if let Some(q) = self.queues.get_mut(c.queue) {
            q.waiting.push_front(c.class, call);
        }
    }

    fn set_available(&mut self, op: usize, since: Instant) {
        self.set_state(op, OpState::Available { since });
    }

    /// The one place operator state changes: keeps the idle sets in step and emits
    /// the history event.
    fn set_state(&mut self, op: usize, state: OpState) {
        let Some(o) = self.ops.get_mut(op) else {
            return;
        };
        if let OpState::Available { since } = o.state {
            for d in &o.departments {
                if let Some(q) = self.queues.get_mut(*d) {
                    q.idle.remove(&(since, op));
                }
            }
        }
        if let OpState::Available { since } = state {
            for d in &o.departments {
                if let Some(q) = self.queues.get_mut(*d) {
                    q.idle.insert((since, op));
                }
            }
        }
        let old = std::mem::replace(&mut o.state, state);
        let reason = match &o.state {
            OpState::Paused { reason } => Some(reason.clone()),
            _ => None,
        };
        let changed = std::mem::discriminant(&old) != std::mem::discriminant(&o.state)
            || matches!((&old, &o.state), (OpState::Paused { reason: a }, OpState::Paused { reason: b }) if a != b);
        if changed {
            let id = o.id.clone();
            let status = self.status(op);
            self.actions.push_back(AcdAction::OperatorState {
                op: id,
                state: status,
                reason,
            });
        }
    }

    /// Offers waiting calls to available operators until no pair is left. Only the
    /// heads of each queue's class lanes are considered: a head has waited longest in
    /// its lane, so it is eligible for every queue a later call of its lane is, and
    /// has the lane's highest effective class. The best eligible head (class, then
    /// wait) gets the longest-idle operator.
    fn dispatch(&mut self, now: Instant) {
        loop {
            let mut best: Option<((Priority, Instant), CallId, usize)> = None;
            for q in &self.queues {
                for (_, call) in q.waiting.heads() {
                    let Some(c) = self.calls.get(&call) else {
                        continue;
                    };
                    let key = (c.class.aged(now.saturating_duration_since(c.enqueued), self.cfg.max_priority_wait), c.enqueued);
                    if best.as_ref().is_some_and(|(b, _, _)| !lanes::before(key, *b)) {
                        continue;
                    }
                    if let Some(op) = self.longest_idle_for(c) {
                        best = Some((key, call, op));
                    }
                }
            }
            let Some((_, call, op)) = best else { break };
            if !self.offer(now, call, op) {
                break; // cannot happen (idle sets mirror Available); never spin
            }
        }
    }

    /// The longest-idle available operator of a queue the call is eligible for.
    fn longest_idle_for(&self, c: &CallEntry) -> Option<usize> {
        let mut pick: Option<(Instant, usize)> = None;
        for e in chain(&self.queues, c.queue, c.reach + 1) {
            if let Some(&cand) = self.queues.get(e).and_then(|s| s.idle.first()) {
                if pick.is_none_or(|p| cand < p) {
                    pick = Some(cand);
                }
            }
        }
        pick.map(|(_, op)| op)
    }

    fn offer(&mut self, now: Instant, call: CallId, op: usize) -> bool {
        let Some(OpState::Available { since }) = self.ops.get(op).map(|o| o.state.clone()) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        c.offered_to = Some(op);
        if let Some(q) = self.queues.get_mut(c.queue) {
            q.waiting.remove(c.class, call);
        }
        let deadline = now + self.cfg.ring_timeout;
        self.timers.insert((deadline, Timer::Ring(op)));
        let id = self.op_id(op);
        self.actions
            .push_back(AcdAction::Offer { call, operator: id });
        self.set_state(
            op,
            OpState::Ringing {
                call,
                was_idle_since: since,
                deadline,
            },
        );
        true
    }
}

#[cfg(test)]
mod tests;
