//! One timer table for the whole engine: one named deadline per kind and owner.
//!
//! Every part of the engine (a transaction, a call's IVR, the registrar, the ACD, a fork
//! of an operator offer, a call waiting for its record) asks for at most one deadline
//! under its [`TimerKey`]; setting it again replaces it, `None` clears it. The engine's
//! `poll_timeout` is the earliest deadline, and `handle_timeout` takes the due keys one
//! by one and hands each to its part. As in quinn-proto's `TimerTable`, parts never
//! hold timer handles of their own.
//!
//! Underneath, a map holds the live deadline of each key and a heap orders them; a heap
//! entry whose deadline is no longer the key's live one is skipped when it comes up, so
//! moving a deadline costs one map write and at most one heap push.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use super::ids::{OfferId, TxId};
use crate::call::CallId;

/// Whose deadline it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// An INVITE server transaction's retransmission or timeout.
    Ist(TxId),
    /// A non-INVITE server transaction's lingering timer (J).
    Nist(TxId),
    /// A non-INVITE client transaction (our BYE or CANCEL).
    Nict(TxId),
    /// A call's IVR (menu timeouts, prompt gaps).
    Ivr(CallId),
    /// A new call waits for its first record to be durable before its 200 OK.
    Record(CallId),
    /// The registrar's binding expiries and lockouts.
    Registrar,
    /// The second's refusal summaries are due.
    Refusals,
    /// The ACD's ring timeouts, overflow, wrap-up and hold announcements.
    Acd,
    /// One fork (one phone) of an operator offer: its INVITE client transaction.
    Fork(OfferId, usize),
    /// The drain's next report, the end of its grace, or of the wait after it.
    Drain,
    /// A call back's ring deadline (the operator's phone, then the number's).
    DialOut(CallId),
    /// A call back's INVITE client transaction to the trunk.
    DialOutTx(CallId),
}

/// The deadlines, earliest first.
#[derive(Default)]
pub(crate) struct TimerTable {
    live: HashMap<TimerKey, Instant>,
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl TimerTable {
    /// Set (`Some`) or clear (`None`) the deadline of `key`.
    pub(crate) fn set(&mut self, key: TimerKey, at: Option<Instant>) {
        match at {
            Some(t) => {
                if self.live.insert(key, t) != Some(t) {
                    self.heap.push(Reverse((t, key)));
                }
            }
            None => {
                self.live.remove(&key);
            }
        }
    }

    /// The earliest deadline (possibly one since moved: a spurious wake-up finds nothing due).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// The next key whose deadline is at or before `now`; its deadline is cleared.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        while let Some(&Reverse((t, key))) = self.heap.peek() {
            if t > now {
                return None;
            }
            self.heap.pop();
            if self.live.get(&key) == Some(&t) {
                self.live.remove(&key);
                return Some(key);
            }
        }
        None
    }

    /// Entries in the heap, live or stale (for leak checks).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Deadlines that are live.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live.len()
    }

    /// After a surge: gives back room beyond twice what is live.
    pub(crate) fn compact(&mut self) {
        if self.heap.capacity() > 4096 && self.heap.len().saturating_mul(4) < self.heap.capacity() {
            let live = &self.live;
            self.heap.retain(|Reverse((t, k))| live.get(k) == Some(t));
            self.heap.shrink_to(self.heap.len().saturating_mul(2));
        }
        if self.live.capacity() > 1024 && self.live.len().saturating_mul(4) < self.live.capacity() {
            self.live.shrink_to(self.live.len().saturating_mul(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn deadlines_come_due_in_order_and_a_moved_or_cleared_one_does_not() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = TimerTable::default();
        t.set(TimerKey::Acd, Some(at(30)));
        t.set(TimerKey::Registrar, Some(at(10)));
        t.set(TimerKey::Ist(TxId(1)), Some(at(20)));
        t.set(TimerKey::Ist(TxId(1)), Some(at(40))); // moved later
        t.set(TimerKey::Nist(TxId(2)), Some(at(5)));
        t.set(TimerKey::Nist(TxId(2)), None); // cleared
        assert_eq!(t.next(), Some(at(5)), "a stale head is only a spurious wake-up");
        assert_eq!(t.pop_due(at(25)), Some(TimerKey::Registrar));
        assert_eq!(t.pop_due(at(25)), None, "the moved deadline is not due at its old time");
        assert_eq!(t.pop_due(at(100)), Some(TimerKey::Acd));
        assert_eq!(t.pop_due(at(100)), Some(TimerKey::Ist(TxId(1))));
        assert_eq!(t.pop_due(at(100)), None);
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn setting_the_same_deadline_again_pushes_nothing() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        for _ in 0..100 {
            t.set(TimerKey::Acd, Some(t0));
        }
        assert_eq!(t.len(), 1);
    }
}
