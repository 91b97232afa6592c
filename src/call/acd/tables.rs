//! The data the ACD keeps, built once from the routing plan and the operator
//! accounts: queues (a FIFO of waiting calls and a set of idle operators each),
//! operators with their state, the calls it holds, and its timer keys.
//!
//! Queues and operators are addressed by their index in these tables (`usize`),
//! not by id: the hot path (`dispatch`) compares and orders indexes only. The
//! transitions that change these tables live in the parent module; this one only
//! shapes them and builds them.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::lanes::{Lanes, Priority};
use crate::call::CallId;
use crate::config::{Operator, OperatorId, QueueId, RoutingPlan};

/// Operator state with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OpState {
    /// Not registered, or logged out by a supervisor.
    Offline,
    /// Idle since `since`: the key in the queues' idle sets.
    Available { since: Instant },
    /// `was_idle_since` is restored if the offer is withdrawn through no fault of
    /// the operator (the caller hung up), so they keep their place; `deadline` is
    /// the ring timeout, and tells a live `Timer::Ring` from a stale one.
    Ringing {
        call: CallId,
        was_idle_since: Instant,
        deadline: Instant,
    },
    /// Bridged to `call`; the ACD no longer holds the call.
    OnCall { call: CallId },
    /// After a call, available again at `until`.
    WrapUp { until: Instant },
    /// Paused by a supervisor or as not responding; `reason` goes to the history.
    Paused { reason: String },
}

/// What a supervisor asked for while the operator was on a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterCall {
    Pause(String),
    Logout,
}

#[derive(Debug)]
pub(super) struct Op {
    pub(super) id: OperatorId,
    /// Queue indexes, duplicates and unknown ids removed.
    pub(super) departments: Vec<usize>,
    /// At least one contact registered.
    pub(super) registered: bool,
    pub(super) state: OpState,
    pub(super) after_call: Option<AfterCall>,
    /// Idle since, when reserved for a call back (`reserve.rs`): restored on release.
    pub(super) reserved_since: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct QueueState {
    pub(super) id: QueueId,
    /// Index of the overflow target; never the queue itself.
    pub(super) overflow: Option<usize>,
    /// Waiting calls, a FIFO per priority class.
    pub(super) waiting: Lanes,
    /// Available operators serving this queue, longest idle first.
    pub(super) idle: BTreeSet<(Instant, usize)>,
}

/// A call the ACD holds, waiting or being offered.
#[derive(Debug)]
pub(super) struct CallEntry {
    /// Index of the queue the call joined (overflow widens who may answer; the
    /// call stays in this queue's FIFO).
    pub(super) queue: usize,
    pub(super) enqueued: Instant,
    /// Overflow steps taken along the queue's chain.
    pub(super) reach: u32,
    /// When the next overflow step is due; `None` at the end of the chain.
    pub(super) next_overflow: Option<Instant>,
    pub(super) next_stay: Instant,
    /// Operator index while an offer rings; `None` while waiting.
    pub(super) offered_to: Option<usize>,
    /// The class it joined with (its lane); it ages while waiting.
    pub(super) class: Priority,
}

/// A timer's key; the deadline in the entry's state tells a live timer from a
/// stale one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    Ring(usize),
    WrapUp(usize),
    Overflow(CallId),
    StayOnLine(CallId),
}

fn queue(id: QueueId) -> QueueState {
    QueueState {
        id,
        overflow: None,
        waiting: Lanes::default(),
        idle: BTreeSet::new(),
    }
}

/// The plan's queues (first of each id wins), their index by id, and the index of
/// the fallback queue, which is added if the plan lacks it.
pub(super) fn queues_from_plan(
    plan: &RoutingPlan,
) -> (Vec<QueueState>, HashMap<QueueId, usize>, usize) {
    let mut queue_index = HashMap::new();
    let mut queues: Vec<QueueState> = Vec::new();
    for q in &plan.queues {
        if queue_index.contains_key(&q.id) {
            continue;
        }
        queue_index.insert(q.id.clone(), queues.len());
        queues.push(queue(q.id.clone()));
    }
    // A hand-built plan without its fallback queue still needs somewhere for calls.
    let fallback = match queue_index.get(&plan.fallback_queue) {
        Some(i) => *i,
        None => {
            queue_index.insert(plan.fallback_queue.clone(), queues.len());
            queues.push(queue(plan.fallback_queue.clone()));
            queues.len() - 1
        }
    };
    for q in &plan.queues {
        let (Some(&i), Some(target)) = (queue_index.get(&q.id), q.overflow.as_ref()) else {
            continue;
        };
        let t = queue_index.get(target).copied();
        if let Some(slot) = queues.get_mut(i) {
            slot.overflow = t.filter(|t| *t != i);
        }
    }
    (queues, queue_index, fallback)
}

/// The operator accounts (first of each id wins), all offline, and their index by
/// id; departments that name no queue are dropped.
pub(super) fn operators_from_accounts(
    operators: &[Operator],
    queue_index: &HashMap<QueueId, usize>,
) -> (Vec<Op>, HashMap<OperatorId, usize>) {
    let mut op_index = HashMap::new();
    let mut ops = Vec::new();
    for o in operators {
        if op_index.contains_key(&o.id) {
            continue;
        }
        let mut departments: Vec<usize> = Vec::new();
        for d in &o.departments {
            if let Some(&i) = queue_index.get(d) {
                if !departments.contains(&i) {
                    departments.push(i);
                }
            }
        }
        op_index.insert(o.id.clone(), ops.len());
        ops.push(Op {
            id: o.id.clone(),
            departments,
            registered: false,
            state: OpState::Offline,
            after_call: None,
            reserved_since: None,
        });
    }
    (ops, op_index)
}

/// `start` and up to `len - 1` overflow targets after it, stopping at a cycle.
pub(super) fn chain(queues: &[QueueState], start: usize, len: u32) -> Vec<usize> {
    let mut out = vec![start];
    let mut cur = start;
    while out.len() < len as usize {
        match queues.get(cur).and_then(|q| q.overflow) {
            Some(next) if !out.contains(&next) => {
                out.push(next);
                cur = next;
            }
            _ => break,
        }
    }
    out
}
