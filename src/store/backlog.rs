//! The records waiting for the disk, and how many may wait: the writer's queue policy.
//!
//! Records wait here while the writer thread is busy or the database cannot be written
//! (disk full, read-only, I/O error, locked). Memory is bounded by one number, the
//! queue's `capacity` (`[store] queue_capacity`), and the rule "a call that was answered
//! has a record before its 200 OK" decides what gives way first:
//!
//! | record | queued while fewer than this wait | past it |
//! |---|---|---|
//! | timeline detail (`Event`, `OperatorEvent`) | `capacity / 2` | dropped, newest first, counted |
//! | a new call's row (`CallStarted`) | `capacity` | refused, counted: the engine answers that call 503 with Retry-After |
//! | the rest of a call's row (`CallUpdated`, `CallEnded`) | always | — |
//!
//! Why so: timeline detail is what a shift can do without, so it goes first and leaves
//! half the queue to the calls' rows. A new call whose row has no room is refused rather
//! than answered without a record, even in memory: the carrier sends it to another
//! center at once, which is better for the caller than a call nobody can account for.
//! The updates and the end of a call already admitted are never dropped: its start is
//! queued or written, and losing its end would leave an answered call without an
//! outcome. They are bounded without a cap of their own: each call in progress adds a
//! handful (answered, routed, IVR path, operator, end), the calls in progress are
//! bounded by `[overload] max_calls` and the RTP port pool, and while the queue is at
//! its cap no new call starts. So the queue never holds more than `capacity` plus a
//! handful per call in progress.
//!
//! There is no journal file to spill to: the SQLite database is the journal, and a disk
//! that refuses it would refuse a second file too. What is still waiting when the
//! process stops is reported at shutdown; a call left open by a crash is closed as
//! `interrupted` at the next start.

use std::collections::VecDeque;

use super::record::Record;

/// What a record is to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Timeline detail and refusal summaries: dropped first.
    Timeline,
    /// A new call's row: refused at the cap (the call gets 503).
    NewCall,
    /// An update or the end of a call already admitted: always kept.
    CallRow,
}

impl Kind {
    /// The kind of a record.
    pub(crate) fn of(record: &Record) -> Kind {
        match record {
            Record::Event { .. } | Record::OperatorEvent { .. } | Record::Refused(_) | Record::ExpireCallbacks { .. } | Record::Registration(_) | Record::Unregistration { .. } => Kind::Timeline,
            Record::CallStarted(_) => Kind::NewCall,
            Record::CallUpdated { .. } | Record::CallEnded(_) | Record::CallbackAttempt { .. } => Kind::CallRow,
        }
    }
}

/// Why the queue did not take a record offered to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Timeline detail past half the capacity: dropped.
    Dropped,
    /// A new call's row at the capacity: refused.
    Refused,
}

/// The records waiting, in order, with the counts of what gave way.
pub(crate) struct Backlog<T> {
    waiting: VecDeque<T>,
    capacity: usize,
    /// Set at the first refusal, cleared once the depth is under the capacity again.
    full: bool,
    /// Timeline records dropped since the writer opened.
    pub(crate) dropped: u64,
    /// New calls' rows refused since the writer opened.
    pub(crate) refused: u64,
}

impl<T> Backlog<T> {
    /// A queue for at most `capacity` records (at least 2), plus the rows of calls
    /// already admitted.
    pub(crate) fn new(capacity: usize) -> Backlog<T> {
        Backlog { waiting: VecDeque::new(), capacity: capacity.max(2), full: false, dropped: 0, refused: 0 }
    }

    /// The cap new calls are refused at.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records waiting here (not counting a batch the writer holds).
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Nothing waiting here.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// True from a refusal until the depth is under the capacity again (after a
    /// commit, [`Backlog::has_room_again`]).
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Offers a record of `kind`; `held` more records are in the writer's hands (a
    /// batch being written or retried) and count toward the depth. On `Dropped` or
    /// `Refused` the record comes back.
    pub(crate) fn offer(&mut self, item: T, kind: Kind, held: usize) -> Result<(), (T, Verdict)> {
        let depth = self.waiting.len().saturating_add(held);
        match kind {
            Kind::Timeline if depth >= self.capacity / 2 => {
                self.dropped += 1;
                Err((item, Verdict::Dropped))
            }
            Kind::NewCall if depth >= self.capacity => {
                self.refused += 1;
                self.full = true;
                Err((item, Verdict::Refused))
            }
            _ => {
                self.waiting.push_back(item);
                Ok(())
            }
        }
    }

    /// Takes up to `n` records from the front, for a batch.
    pub(crate) fn take(&mut self, n: usize) -> impl Iterator<Item = T> + '_ {
        let n = n.min(self.waiting.len());
        self.waiting.drain(..n)
    }

    /// Takes everything (the writer has stopped).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        self.waiting.drain(..).collect()
    }

    /// After a commit: `true` when new calls were refused and there is room again.
    pub(crate) fn has_room_again(&mut self, held: usize) -> bool {
        let room = self.waiting.len().saturating_add(held) < self.capacity;
        if self.full && room {
            self.full = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Queued`, or why not.
    #[derive(Debug, PartialEq, Eq)]
    enum Took {
        Queued,
        Dropped,
        Refused,
    }

    fn offer(b: &mut Backlog<u32>, kind: Kind, held: usize) -> Took {
        match b.offer(0, kind, held) {
            Ok(()) => Took::Queued,
            Err((_, Verdict::Dropped)) => Took::Dropped,
            Err((_, Verdict::Refused)) => Took::Refused,
        }
    }

    #[test]
    fn timeline_detail_gives_way_at_half_the_capacity_and_new_calls_at_the_capacity() {
        let mut b: Backlog<u32> = Backlog::new(10);
        // The disk is out: nothing leaves. Timeline detail fills half the queue.
        for _ in 0..5 {
            assert_eq!(offer(&mut b, Kind::Timeline, 0), Took::Queued);
        }
        assert_eq!(offer(&mut b, Kind::Timeline, 0), Took::Dropped, "past half: dropped");
        // The other half is kept for the calls' rows.
        for _ in 0..5 {
            assert_eq!(offer(&mut b, Kind::NewCall, 0), Took::Queued);
        }
        assert_eq!(b.len(), 10);
        assert_eq!(offer(&mut b, Kind::NewCall, 0), Took::Refused, "at the cap: the call is refused");
        assert_eq!(offer(&mut b, Kind::Timeline, 0), Took::Dropped);
        assert_eq!((b.dropped, b.refused), (2, 1));
        assert!(b.is_full());
    }

    #[test]
    fn the_rows_of_calls_already_admitted_are_kept_past_the_cap() {
        let mut b: Backlog<u32> = Backlog::new(4);
        for _ in 0..4 {
            assert_eq!(offer(&mut b, Kind::NewCall, 0), Took::Queued);
        }
        assert_eq!(offer(&mut b, Kind::NewCall, 0), Took::Refused);
        // Their answers and ends (a handful per call in progress) still queue.
        for _ in 0..8 {
            assert_eq!(offer(&mut b, Kind::CallRow, 0), Took::Queued);
        }
        assert_eq!(b.len(), 12);
        assert_eq!(b.refused, 1);
    }

    #[test]
    fn a_batch_in_the_writers_hands_counts_toward_the_depth() {
        let mut b: Backlog<u32> = Backlog::new(10);
        assert_eq!(offer(&mut b, Kind::Timeline, 5), Took::Dropped);
        assert_eq!(offer(&mut b, Kind::NewCall, 9), Took::Queued);
        assert_eq!(offer(&mut b, Kind::NewCall, 9), Took::Refused);
    }

    #[test]
    fn full_from_the_first_refusal_until_a_commit_makes_room() {
        let mut b: Backlog<u32> = Backlog::new(2);
        assert!(b.offer(1, Kind::NewCall, 0).is_ok());
        assert!(b.offer(2, Kind::NewCall, 0).is_ok());
        assert!(!b.is_full(), "at the cap, but nothing refused yet");
        assert!(matches!(b.offer(3, Kind::NewCall, 0), Err((3, Verdict::Refused))));
        assert!(b.is_full());
        assert!(!b.has_room_again(0), "still full");
        // The disk is back: the writer takes a batch and commits it.
        assert_eq!(b.take(2).collect::<Vec<_>>(), vec![1, 2]);
        assert!(b.has_room_again(0));
        assert!(!b.has_room_again(0), "told once");
        assert!(!b.is_full());
        assert!(b.offer(4, Kind::NewCall, 0).is_ok());
    }

    #[test]
    fn records_are_sorted_by_what_they_are_to_the_shift() {
        use crate::store::record::{CallEnd, CallPatch, Outcome, RecordId};
        use crate::store::UtcMs;
        let id = RecordId::new("r");
        let ev = Record::Event { call: id.clone(), at: UtcMs(0), kind: "prompt".into(), details: serde_json::Value::Null };
        let upd = Record::CallUpdated { id: id.clone(), patch: CallPatch::default() };
        let end = Record::CallEnded(CallEnd { id, ended_at: UtcMs(0), outcome: Outcome::Answered, hangup_by: None, reason: String::new() });
        assert_eq!(Kind::of(&ev), Kind::Timeline);
        assert_eq!(Kind::of(&upd), Kind::CallRow);
        assert_eq!(Kind::of(&end), Kind::CallRow);
    }
}
