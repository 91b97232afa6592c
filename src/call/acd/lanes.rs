//! Priority inside a queue (issue 16): each queue holds its waiting calls in one FIFO
//! lane per [`Priority`] class, and serves by class, then by wait.
//!
//! Why lanes rather than one sorted list: within a class, the call that joined first
//! is served first, so each lane is a plain FIFO and its head is its best call; the
//! queue's next call is the best of at most three heads, O(1) per offer, as the FIFO it
//! replaces. A call whose offer failed goes back to the head of its lane.
//!
//! **No starvation.** A call that has waited `max_priority_wait` (a minute by default)
//! is in the highest class, whatever it joined with: past that, calls are served by
//! wait alone, so a steady stream of urgent or normal calls cannot keep a silent caller
//! waiting longer than a minute plus the calls that waited longer still. Aging never needs a timer: classes are compared
//! only when an operator can take a call, at that moment. Since the head of a lane has
//! waited longest in it, its effective class is the lane's highest, and comparing heads
//! suffices.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::call::CallId;

/// A call's place in the queue's order, before aging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// A caller who stayed silent and pressed nothing: offered after the others.
    Low,
    /// A caller who chose a department or spoke.
    #[default]
    Normal,
    /// A silent caller who pressed 5 5, or a caller calling back after an abandoned
    /// call: offered first.
    High,
}

impl Priority {
    /// Every class, lowest first (the lanes' order).
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

    /// The name in records, the API and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    fn index(self) -> usize {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
        }
    }

    fn from_index(i: usize) -> Priority {
        match i {
            0 => Priority::Low,
            1 => Priority::Normal,
            _ => Priority::High,
        }
    }

    /// The class a call of this class has after waiting `waited`: [`Priority::High`]
    /// once it has waited `limit`. A zero `limit` never ages.
    pub fn aged(self, waited: Duration, limit: Duration) -> Priority {
        if !limit.is_zero() && waited >= limit {
            Priority::High
        } else {
            self
        }
    }
}

/// The order of two candidates: higher effective class first, then longer wait.
/// `true` when `a` should be served before `b`.
pub(super) fn before(a: (Priority, Instant), b: (Priority, Instant)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// One queue's waiting calls, a FIFO per class.
#[derive(Debug, Default)]
pub(super) struct Lanes {
    lanes: [VecDeque<CallId>; 3],
}

impl Lanes {
    /// Calls waiting, every class.
    pub(super) fn len(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum()
    }

    /// A call joins the tail of its class.
    pub(super) fn push_back(&mut self, class: Priority, call: CallId) {
        if let Some(l) = self.lanes.get_mut(class.index()) {
            l.push_back(call);
        }
    }

    /// A call whose offer ended goes back to the head of its class.
    pub(super) fn push_front(&mut self, class: Priority, call: CallId) {
        if let Some(l) = self.lanes.get_mut(class.index()) {
            l.push_front(call);
        }
    }

    /// Takes `call` out of its class's lane (O(1) when it is the head).
    pub(super) fn remove(&mut self, class: Priority, call: CallId) {
        if let Some(l) = self.lanes.get_mut(class.index()) {
            if l.front() == Some(&call) {
                l.pop_front();
            } else {
                l.retain(|c| *c != call);
            }
        }
    }

    /// The head of each non-empty lane, with its base class.
    pub(super) fn heads(&self) -> impl Iterator<Item = (Priority, CallId)> + '_ {
        self.lanes.iter().enumerate().filter_map(|(i, l)| l.front().map(|c| (Priority::from_index(i), *c)))
    }

    /// The calls in the order they would be served at `now`, each with its effective
    /// class, given each call's join time (`joined`; a call it does not know counts as
    /// joined now) and the aging step. A merge of the lanes: O(n · 3).
    pub(super) fn in_order(&self, now: Instant, step: Duration, joined: impl Fn(CallId) -> Option<Instant>) -> Vec<(CallId, Priority)> {
        let mut cursors = [0usize; 3];
        let mut out = Vec::with_capacity(self.len());
        loop {
            let mut best: Option<(usize, CallId, (Priority, Instant))> = None;
            for (i, lane) in self.lanes.iter().enumerate() {
                let Some(&call) = cursors.get(i).and_then(|&k| lane.get(k)) else { continue };
                let t = joined(call).unwrap_or(now);
                let key = (Priority::from_index(i).aged(now.saturating_duration_since(t), step), t);
                if best.is_none_or(|(_, _, b)| before(key, b)) {
                    best = Some((i, call, key));
                }
            }
            let Some((i, call, (class, _))) = best else { break };
            if let Some(k) = cursors.get_mut(i) {
                *k += 1;
            }
            out.push((call, class));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_that_waited_the_limit_is_in_the_highest_class() {
        let step = Duration::from_secs(60);
        assert_eq!(Priority::Low.aged(Duration::from_secs(59), step), Priority::Low);
        assert_eq!(Priority::Normal.aged(Duration::from_secs(59), step), Priority::Normal);
        assert_eq!(Priority::Low.aged(Duration::from_secs(60), step), Priority::High);
        assert_eq!(Priority::Normal.aged(Duration::from_secs(100_000), step), Priority::High);
        assert_eq!(Priority::High.aged(Duration::from_secs(600), step), Priority::High);
        assert_eq!(Priority::Low.aged(Duration::from_secs(600), Duration::ZERO), Priority::Low);
    }

    #[test]
    fn the_serving_order_is_class_then_wait_with_aging() {
        let t0 = Instant::now();
        let mut lanes = Lanes::default();
        // Joined: 1 low at 0 s, 2 normal at 10 s, 3 high at 20 s, 4 normal at 5 s.
        let joined = |c: CallId| Some(t0 + Duration::from_secs([0, 0, 10, 20, 5].get(c.0 as usize).copied().unwrap_or(0)));
        lanes.push_back(Priority::Low, CallId(1));
        lanes.push_back(Priority::Normal, CallId(4));
        lanes.push_back(Priority::Normal, CallId(2));
        lanes.push_back(Priority::High, CallId(3));
        let step = Duration::from_secs(60);
        let at = |s| lanes.in_order(t0 + Duration::from_secs(s), step, joined).into_iter().map(|(c, _)| c.0).collect::<Vec<_>>();
        assert_eq!(at(30), vec![3, 4, 2, 1]);
        // At 60 s the low call is high, and has waited longest.
        assert_eq!(at(60), vec![1, 3, 4, 2]);
        // At 80 s every call is high: by wait alone.
        assert_eq!(at(80), vec![1, 4, 2, 3]);
        lanes.remove(Priority::Normal, CallId(4));
        assert_eq!(lanes.len(), 3);
        assert_eq!(lanes.heads().map(|(p, c)| (p, c.0)).collect::<Vec<_>>(), vec![(Priority::Low, 1), (Priority::Normal, 2), (Priority::High, 3)]);
    }
}
