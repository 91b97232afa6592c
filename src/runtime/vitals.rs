//! The node's vital signs: what the threads that do the work leave behind for those that
//! watch them (the watchdog, `cc112 health`, OPTIONS through the engine).
//!
//! The engine task beats at every turn of its loop, and at least every
//! [`Pace::beat`] when idle, leaving the calls in progress; the stop (a signal, `cc112
//! drain`) marks the drain; the watchdog leaves its word on the record writer. Reading
//! them needs no lock on the engine, so a stalled engine thread is seen as stalled
//! (its beat grows old) instead of making the health check hang with it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How quickly a stall must be seen, from the supervisor's watchdog if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pace {
    /// The engine is stalled once its last beat is older than this.
    pub(super) stall_after: Duration,
    /// How often the idle engine beats and the watchdog looks (a quarter of
    /// `stall_after`).
    pub(super) beat: Duration,
    /// The record writer is stalled once it has work and has finished no commit
    /// (good or failed) for this long: at least 5 s, as its retries back off to 2 s and
    /// a large batch on a slow disk may take a second or two.
    pub(super) writer_stall_after: Duration,
}

impl Pace {
    /// From the supervisor's watchdog interval (`WATCHDOG_USEC`), if any: a stalled
    /// engine stops the pings within a quarter of it (and in any case within 5 s), so
    /// a supervisor restarts a wedged gateway within about one interval.
    pub(super) fn for_watchdog(watchdog: Option<Duration>) -> Pace {
        let stall_after = watchdog.map_or(MAX_STALL, |w| (w / 4).clamp(MIN_STALL, MAX_STALL));
        Pace { stall_after, beat: stall_after / 4, writer_stall_after: stall_after.max(MAX_STALL) }
    }
}

const MIN_STALL: Duration = Duration::from_millis(200);
const MAX_STALL: Duration = Duration::from_secs(5);

/// Where the node stands, as `cc112 health`, OPTIONS and the supervisor are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NodeState {
    /// Taking calls.
    TakingCalls { calls: usize },
    /// A stop was asked for: new calls get 503, calls in progress go on.
    Draining { calls: usize, left: Option<Duration> },
    /// A part of the node makes no progress: the engine thread or the record writer.
    Stalled { why: String },
}

impl NodeState {
    /// Whether a load balancer should send this node new calls.
    pub(super) fn takes_calls(&self) -> bool {
        matches!(self, NodeState::TakingCalls { .. })
    }

    /// The state's name in the control socket's reply.
    pub(super) fn name(&self) -> &'static str {
        match self {
            NodeState::TakingCalls { .. } => "taking_calls",
            NodeState::Draining { .. } => "draining",
            NodeState::Stalled { .. } => "stalled",
        }
    }

    /// One line for a person (and the supervisor's STATUS=).
    pub(super) fn line(&self) -> String {
        match self {
            NodeState::TakingCalls { calls } => format!("taking calls; {calls} in progress"),
            NodeState::Draining { calls, left: Some(left) } => {
                format!("draining: new calls get 503; {calls} in progress; {}s of grace left", left.as_secs())
            }
            NodeState::Draining { calls, left: None } => format!("draining: new calls get 503; {calls} in progress"),
            NodeState::Stalled { why } => format!("stalled: {why}"),
        }
    }
}

/// The signs themselves; one per gateway, shared.
pub(super) struct Vitals {
    pace: Pace,
    epoch: Instant,
    /// Milliseconds from `epoch` to the engine task's last beat.
    engine_beat: AtomicU64,
    calls: AtomicUsize,
    draining: AtomicBool,
    /// Milliseconds from `epoch` to the end of the drain's grace; 0 until the engine
    /// has reported it.
    grace_end: AtomicU64,
    /// Set by the watchdog while the record writer is stalled: why.
    writer_stall: Mutex<Option<String>>,
}

impl Vitals {
    pub(super) fn new(pace: Pace) -> Vitals {
        Vitals {
            pace,
            epoch: Instant::now(),
            engine_beat: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            grace_end: AtomicU64::new(0),
            writer_stall: Mutex::new(None),
        }
    }

    pub(super) fn pace(&self) -> Pace {
        self.pace
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The engine task made a turn, with this many calls in progress.
    pub(super) fn beat(&self, now: Instant, calls: usize) {
        self.engine_beat.store(self.ms(now), Ordering::Relaxed);
        self.calls.store(calls, Ordering::Relaxed);
    }

    /// How long since the engine's last beat.
    pub(super) fn engine_silence(&self, now: Instant) -> Duration {
        Duration::from_millis(self.ms(now).saturating_sub(self.engine_beat.load(Ordering::Relaxed)))
    }

    /// Marks the drain begun; `true` the first time.
    pub(super) fn start_draining(&self) -> bool {
        !self.draining.swap(true, Ordering::SeqCst)
    }

    pub(super) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The engine's word on what is left of the grace.
    pub(super) fn set_grace_left(&self, now: Instant, left: Duration) {
        self.grace_end.store(self.ms(now + left).max(1), Ordering::Relaxed);
    }

    /// The watchdog's word on the record writer.
    pub(super) fn set_writer_stall(&self, why: Option<String>) {
        if let Ok(mut w) = self.writer_stall.lock() {
            *w = why;
        }
    }

    /// Where the node stands at `now`. A stall comes first: it is what a supervisor
    /// must act on.
    pub(super) fn assess(&self, now: Instant) -> NodeState {
        let silence = self.engine_silence(now);
        if silence > self.pace.stall_after {
            return NodeState::Stalled { why: format!("the engine thread has made no progress for {:.1} s", silence.as_secs_f64()) };
        }
        if let Some(why) = self.writer_stall.lock().ok().and_then(|w| w.clone()) {
            return NodeState::Stalled { why };
        }
        let calls = self.calls.load(Ordering::Relaxed);
        if !self.is_draining() {
            return NodeState::TakingCalls { calls };
        }
        let end = self.grace_end.load(Ordering::Relaxed);
        let left = (end > 0).then(|| Duration::from_millis(end.saturating_sub(self.ms(now))));
        NodeState::Draining { calls, left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_follows_the_watchdog_and_has_bounds() {
        let p = Pace::for_watchdog(Some(Duration::from_secs(2)));
        assert_eq!((p.stall_after, p.beat, p.writer_stall_after), (Duration::from_millis(500), Duration::from_millis(125), Duration::from_secs(5)));
        assert_eq!(Pace::for_watchdog(Some(Duration::from_secs(60))).stall_after, Duration::from_secs(5));
        assert_eq!(Pace::for_watchdog(None).stall_after, Duration::from_secs(5));
        assert_eq!(Pace::for_watchdog(Some(Duration::from_millis(100))).stall_after, Duration::from_millis(200));
    }

    #[test]
    fn an_engine_that_stops_beating_is_stalled_whatever_else_holds() {
        let v = Vitals::new(Pace::for_watchdog(Some(Duration::from_secs(2))));
        let t0 = v.epoch + Duration::from_secs(1);
        v.beat(t0, 3);
        assert_eq!(v.assess(t0 + Duration::from_millis(400)), NodeState::TakingCalls { calls: 3 });
        assert!(v.start_draining());
        assert!(!v.start_draining(), "once");
        assert_eq!(v.assess(t0), NodeState::Draining { calls: 3, left: None });
        v.set_grace_left(t0, Duration::from_secs(10));
        let t4 = t0 + Duration::from_secs(4);
        v.beat(t4, 3);
        let d = v.assess(t4);
        assert!(matches!(d, NodeState::Draining { calls: 3, left: Some(l) } if l == Duration::from_secs(6)), "{d:?}");
        let s = v.assess(t4 + Duration::from_millis(600));
        assert!(!s.takes_calls() && s.line().starts_with("stalled: the engine thread"), "{s:?}");
        v.beat(t0 + Duration::from_secs(5), 3);
        v.set_writer_stall(Some("the record writer has finished no commit for 6.0 s with 20 records waiting".into()));
        assert_eq!(v.assess(t0 + Duration::from_secs(5)).name(), "stalled");
        v.set_writer_stall(None);
        assert_eq!(v.assess(t0 + Duration::from_secs(5)).name(), "draining");
    }
}
