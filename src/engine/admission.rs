//! Whether a new emergency call can be accepted: the `[overload]` limits.
//!
//! The check is made on the INVITE itself, after what would refuse it for its own sake
//! and costs little (a body that is not SDP, not an emergency identity), so a 503 means
//! "this gateway cannot serve you now, try another": the carrier fails over at once.
//! Whether the offer has a codec in common is tried after it: building the answer is
//! the costliest check, and in a surge most INVITEs are refused.
//!
//! "Behind" is judged on how long INVITEs wait between their socket and the engine
//! (the runtime serves them after the calls in progress), the way CoDel judges a
//! network queue: by the *shortest* wait over a whole second. A stall or a burst (a
//! neighbour's compile, a page-fault storm) makes some messages wait, but the queue
//! empties again within the second and the shortest wait stays small; refusing the
//! calls that arrived meanwhile would turn a hiccup into lost emergency calls. A
//! standing queue, where even the luckiest INVITE of a second waited longer than
//! `max_delay`, means the gateway is past capacity.
//!
//! Behind, the gateway refuses only the INVITEs that waited longer than `max_delay`
//! (CoDel's drop from the head of the queue), and keeps accepting those that got
//! through in time. A 503 costs far less than a call, so refusing the stale head drains
//! the queue until INVITEs get through in time again: the gateway then accepts as many
//! new calls as it has room for, instead of alternating between all and none (which
//! refused every caller for seconds at a time after a surge, measured in the overload
//! benchmark). It counts as caught up when an INVITE gets through in half `max_delay`,
//! and looks again a second later.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::warn;

use super::calls::Calls;
use super::fairness::{Held, OverShare, Shares};
use crate::config::OverloadConfig;
use crate::sip::source::{SourceKey, Sources};

/// How long the wait must stay over `max_delay` before new calls are refused.
pub(super) const SUSTAINED: Duration = Duration::from_secs(1);

/// Why a new call is refused with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `max_calls` calls are in progress.
    TooManyCalls,
    /// More new calls per second than `max_call_rate`.
    TooFast,
    /// INVITEs have waited more than `max_delay` for the engine for a second or
    /// more, and this one did too: its caller has been waiting, and the queue behind
    /// it only drains if the stale head is answered at the cost of a 503.
    Behind,
    /// A limit binds, and this source has had its share of new calls this second
    /// ([`super::fairness`]).
    SourceRate,
    /// Calls in progress are past half of `max_calls`, and this source holds its share.
    SourceCalls,
}

impl From<OverShare> for Refusal {
    fn from(o: OverShare) -> Refusal {
        match o {
            OverShare::Rate => Refusal::SourceRate,
            OverShare::Calls => Refusal::SourceCalls,
        }
    }
}

impl Refusal {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyCalls => "Too many calls in progress",
            Refusal::TooFast => "Too many new calls per second",
            Refusal::Behind => "Overloaded",
            Refusal::SourceRate => "Over this source's share of new calls",
            Refusal::SourceCalls => "Over this source's share of calls in progress",
        }
    }

    /// A short name for the refusal summaries and logs.
    pub(super) fn code(self) -> &'static str {
        match self {
            Refusal::TooManyCalls => "max_calls",
            Refusal::TooFast => "max_call_rate",
            Refusal::Behind => "behind",
            Refusal::SourceRate => "source_rate",
            Refusal::SourceCalls => "source_calls",
        }
    }
}

/// One second's shortest delay, CoDel's measure of a standing queue.
#[derive(Debug, Default)]
struct Window {
    current: Option<(Instant, Duration)>,
}

impl Window {
    /// Adds a sample. When the running window is a second old it is judged: returns
    /// its shortest delay, and a new window starts with this sample.
    fn add(&mut self, now: Instant, delay: Duration) -> Option<Duration> {
        match &mut self.current {
            Some((start, shortest)) if now.saturating_duration_since(*start) < SUSTAINED => {
                *shortest = (*shortest).min(delay);
                None
            }
            Some((start, shortest)) => {
                let judged = *shortest;
                *start = now;
                *shortest = delay;
                Some(judged)
            }
            None => {
                self.current = Some((now, delay));
                None
            }
        }
    }

    /// Judges the running window if it is a second old, without a new sample (the
    /// next sample starts the next window).
    fn expire(&mut self, now: Instant) -> Option<Duration> {
        match self.current {
            Some((start, shortest)) if now.saturating_duration_since(start) >= SUSTAINED => {
                self.current = None;
                Some(shortest)
            }
            _ => None,
        }
    }
}

/// Whether one delay signal shows a standing queue: set when a whole second's shortest
/// delay was over `max_delay`, cleared by one sample within half of it.
#[derive(Debug, Default)]
struct Signal {
    window: Window,
    behind: bool,
}

impl Signal {
    fn observe(&mut self, now: Instant, delay: Duration, cfg: &OverloadConfig) {
        if self.behind && delay <= cfg.max_delay / 2 {
            self.behind = false;
        }
        if self.window.add(now, delay).is_some_and(|shortest| shortest > cfg.max_delay) {
            self.behind = true;
        }
    }

    /// Judges a window that is over even if no sample came to close it.
    fn poll(&mut self, now: Instant, cfg: &OverloadConfig) {
        if self.window.expire(now).is_some_and(|shortest| shortest > cfg.max_delay) {
            self.behind = true;
        }
    }
}

/// The admission state.
///
/// Two delays are watched: how long INVITEs wait for the engine (signalling behind),
/// and how late a new call's media starts: its opening's wait for a worker plus how late
/// its media shard runs its calls' timers (media behind: the engine can be quick while
/// the threads that play every call's prompts are saturated, and then each call
/// accepted makes every call's audio later). A slow disk, which delays every
/// answer by its commit whatever the load, is not counted: shedding would not help. While either is behind,
/// new calls are admitted at a rate that follows what the gateway actually served:
/// each second behind, 4/5 of the calls admitted in the second before (never under a
/// quarter of what it served when shedding began); each second not behind, 50 % more,
/// until the configured rate (or no limit) is back. A surge is shed with 503 while the gateway keeps serving about as
/// many calls as it can, instead of refusing everything or accepting everything.
#[derive(Debug, Default)]
pub(super) struct Admission {
    /// Who is a source of its own (the trunks), for fairness.
    sources: Sources,
    waits: Signal,
    media_delays: Signal,
    /// `max_call_rate`'s token bucket: tokens left, and when it was last filled.
    bucket: Option<(f64, Instant)>,
    /// The rate followed while shedding load (calls/s); `None`: only `max_call_rate`.
    adaptive: Option<f64>,
    /// The current control second: its start and the calls admitted in it.
    period: Option<(Instant, u32)>,
    /// Calls served per second when shedding began: the floor is a share of it.
    shed_from: Option<f64>,
    /// Refusals not yet logged, and when the last log line was written: one line per
    /// second at most, however many calls are refused.
    unlogged: (u64, Option<Instant>),
    /// Each source's share while a limit binds.
    shares: Shares,
}

/// The bucket holds this share of a second's calls: a burst of half the rate passes
/// at once (callers and carriers do not send evenly: SIPp's own seconds at a steady
/// 2,700 calls/s ranged from 2,200 to 3,300), a surge beyond the rate is refused
/// within half a second.
const BURST_SECONDS: f64 = 0.5;

/// The adaptive rate's bucket is smaller: it is in force because the gateway is
/// already behind, when a burst is what it cannot take.
const ADAPTIVE_BURST_SECONDS: f64 = 0.2;

/// While behind, the rate drops to this share of what was admitted the second before.
const DECREASE: f64 = 0.8;

/// ... but not below this share of what was served when shedding began: the signals
/// lag by up to a second, and compounding cuts on a lagging signal would take the
/// gateway far below its capacity (measured: to 100 calls/s from 2,700).
const FLOOR_SHARE: f64 = 0.25;

/// The adaptive rate never goes below this: an emergency gateway keeps answering some
/// callers however loaded it is.
const MIN_RATE: f64 = 10.0;

/// Each second not behind, the adaptive rate grows by this factor (plus `MIN_RATE`):
/// from a quarter back to the full rate in between three and four seconds (1.3 took
/// up to 15 s after the overload benchmark's surge, from under a quarter).
const CLIMB: f64 = 1.5;

impl Admission {
    /// With these trunk addresses (`[sip] trunks`).
    pub(super) fn new(trunks: &[IpAddr]) -> Admission {
        Admission { sources: Sources::new(trunks.iter().copied()), ..Admission::default() }
    }

    /// A new configuration's trunks.
    pub(super) fn set_trunks(&mut self, trunks: &[IpAddr]) {
        self.sources = Sources::new(trunks.iter().copied());
    }

    /// The source an address counts as.
    pub(super) fn source_of(&self, ip: IpAddr) -> SourceKey {
        self.sources.key(ip)
    }

    /// Every INVITE reports how long it waited between its socket and the engine.
    pub(super) fn observe(&mut self, now: Instant, waited: Duration, cfg: &OverloadConfig) {
        self.waits.observe(now, waited, cfg);
        self.control(now, cfg);
    }

    /// Every new call's media reports how late it started (see `Engine::observe_media_delay`).
    pub(super) fn observe_media_delay(&mut self, now: Instant, delay: Duration, cfg: &OverloadConfig) {
        self.media_delays.observe(now, delay, cfg);
        self.control(now, cfg);
    }

    /// A call was refused: one log line a second at most, with the refusals since the
    /// last one.
    pub(super) fn refused(&mut self, now: Instant, reason: &str, calls: usize, waited: Duration) {
        self.unlogged.0 += 1;
        if self.unlogged.1.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            let (refused, waited_ms) = (self.unlogged.0, waited.as_millis() as u64);
            self.unlogged = (0, Some(now));
            warn!(refused, reason, calls, waited_ms, "overload: new calls answered 503 with Retry-After");
        }
    }

    /// True while either delay shows a standing queue.
    pub(super) fn is_behind(&self) -> bool {
        self.waits.behind || self.media_delays.behind
    }

    /// Once a second: moves the adaptive rate down while behind, up while not.
    fn control(&mut self, now: Instant, cfg: &OverloadConfig) {
        let (start, admitted) = *self.period.get_or_insert((now, 0));
        let elapsed = now.saturating_duration_since(start);
        if elapsed < SUSTAINED {
            return;
        }
        self.period = Some((now, 0));
        self.waits.poll(now, cfg);
        self.media_delays.poll(now, cfg);
        let served = f64::from(admitted) / elapsed.as_secs_f64();
        let configured = configured_rate(cfg);
        if self.is_behind() {
            let floor = *self.shed_from.get_or_insert(served) * FLOOR_SHARE;
            let from = self.adaptive.map_or(served, |r| r.min(served));
            self.adaptive = Some((from * DECREASE).max(floor).max(MIN_RATE));
        } else if let Some(rate) = self.adaptive {
            let next = rate * CLIMB + MIN_RATE;
            self.adaptive = match configured {
                Some(c) if next >= c => None,
                // No configured rate: free again once the limit is well above what the
                // callers offer (the calls admitted were not held back by it).
                None if next >= 2.0 * served.max(MIN_RATE) => None,
                _ => Some(next),
            };
            if self.adaptive.is_none() {
                self.shed_from = None;
            }
        }
    }

    /// Whether a new call from `ip` whose INVITE waited `waited` can be accepted now,
    /// given the calls in progress; an accepted call takes its token from the rate
    /// limit and from its source's share.
    pub(super) fn admit(&mut self, now: Instant, ip: IpAddr, calls: &Calls, waited: Duration, cfg: &OverloadConfig) -> Result<(), Refusal> {
        let source = self.source_of(ip);
        let (by_source, sources) = calls.held_by(&source);
        let held = Held { total: calls.len(), max: cfg.max_calls, by_source, sources: sources + usize::from(by_source == 0) };
        self.admit_held(now, source, held, waited, cfg)
    }

    fn admit_held(&mut self, now: Instant, source: SourceKey, held: Held, waited: Duration, cfg: &OverloadConfig) -> Result<(), Refusal> {
        let key = self.shares.offer(now, source);
        if held.total >= cfg.max_calls {
            return Err(Refusal::TooManyCalls);
        }
        if self.waits.behind && waited > cfg.max_delay {
            return Err(Refusal::Behind);
        }
        let configured = configured_rate(cfg);
        let rate = match (configured, self.adaptive) {
            (Some(c), Some(a)) => Some((c.min(a), a < c)),
            (Some(c), None) => Some((c, false)),
            (None, Some(a)) => Some((a, true)),
            (None, None) => None,
        };
        self.shares.admit(now, key, rate.map(|(r, _)| r), held)?;
        if let Some((rate, adaptive)) = rate {
            let cap = (rate * if adaptive { ADAPTIVE_BURST_SECONDS } else { BURST_SECONDS }).max(1.0);
            let (tokens, at) = self.bucket.get_or_insert((cap, now));
            let refill = now.saturating_duration_since(*at).as_secs_f64() * rate;
            *tokens = (*tokens + refill).min(cap);
            *at = now;
            // A source within its share may take the bucket into a bounded debt (a trunk
            // deeper): another source's burst does not cost it its share.
            let floor = 1.0 - self.shares.debt(key, rate);
            if *tokens < floor {
                self.shares.give_back(key);
                return Err(if adaptive { Refusal::Behind } else { Refusal::TooFast });
            }
            *tokens -= 1.0;
        }
        if let Some((_, admitted)) = &mut self.period {
            *admitted += 1;
        }
        Ok(())
    }
}

/// `max_call_rate` as a rate, `None` when it is 0 (no limit).
fn configured_rate(cfg: &OverloadConfig) -> Option<f64> {
    (cfg.max_call_rate > 0).then_some(f64::from(cfg.max_call_rate))
}

/// The `Retry-After` value: whole seconds, at least one.
pub(super) fn retry_after(cfg: &OverloadConfig) -> String {
    cfg.retry_after.as_secs().max(1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: SourceKey = SourceKey::Others;

    fn held(total: usize) -> Held {
        Held { total, max: 1_000_000, by_source: 0, sources: 1 }
    }

    fn cfg() -> OverloadConfig {
        OverloadConfig { max_calls: 2, max_call_rate: 0, max_delay: Duration::from_millis(200), retry_after: Duration::from_millis(2500) }
    }

    #[test]
    fn too_many_calls_is_immediate() {
        let (c, mut a, t) = (cfg(), Admission::default(), Instant::now());
        assert_eq!(a.admit_held(t, SRC, held(1), Duration::ZERO, &c), Ok(()));
        assert_eq!(a.admit_held(t, SRC, held(2), Duration::ZERO, &c), Err(Refusal::TooManyCalls));
        assert_eq!(retry_after(&c), "2");
    }

    #[test]
    fn a_stall_refuses_nothing_a_standing_queue_does_until_a_message_gets_through() {
        let (c, mut a, t) = (cfg(), Admission::default(), Instant::now());
        let ms = Duration::from_millis;
        // A second with a 900 ms stall: most messages late, but one got through at once.
        a.observe(t, ms(5), &c);
        for i in 1..10 {
            a.observe(t + ms(100 * i), ms(400), &c);
        }
        a.observe(t + ms(1000), ms(400), &c);
        assert_eq!(a.admit_held(t, SRC, held(0), ms(400), &c), Ok(()), "the shortest wait of that second was 5 ms");
        // A whole second in which every message waited over max_delay: behind. The
        // stale INVITEs are refused, one that got through in time is still accepted.
        for i in 1..=10 {
            a.observe(t + ms(1000 + 100 * i), ms(250), &c);
        }
        assert_eq!(a.admit_held(t, SRC, held(0), ms(250), &c), Err(Refusal::Behind));
        assert_eq!(a.admit_held(t, SRC, held(0), ms(200), &c), Ok(()), "waited no longer than max_delay");
        // Under the limit but above half of it: still behind (no flapping).
        a.observe(t + ms(2100), ms(150), &c);
        assert_eq!(a.admit_held(t, SRC, held(0), ms(201), &c), Err(Refusal::Behind));
        // A message through in half the limit: caught up, even a late one is accepted.
        a.observe(t + ms(2200), ms(100), &c);
        assert_eq!(a.admit_held(t, SRC, held(0), ms(400), &c), Ok(()));
    }

    #[test]
    fn the_call_rate_passes_half_a_second_at_once_then_the_rate() {
        let c = OverloadConfig { max_calls: 1_000_000, max_call_rate: 100, ..cfg() };
        let (mut a, t) = (Admission::default(), Instant::now());
        // A burst: 50 calls (0.5 s worth) pass, the 51st is refused.
        let passed = (0..80).filter(|_| a.admit_held(t, SRC, held(0), Duration::ZERO, &c).is_ok()).count();
        assert_eq!(passed, 50);
        assert_eq!(a.admit_held(t, SRC, held(0), Duration::ZERO, &c), Err(Refusal::TooFast));
        // Then one call per 10 ms.
        let ms = Duration::from_millis;
        assert_eq!(a.admit_held(t + ms(10), SRC, held(0), Duration::ZERO, &c), Ok(()));
        assert_eq!(a.admit_held(t + ms(10), SRC, held(0), Duration::ZERO, &c), Err(Refusal::TooFast));
        // 2 s at 150 calls/s offered: 100 a second accepted (plus the refilled burst).
        let ok = (0..300).filter(|i| a.admit_held(t + ms(20) + Duration::from_micros(6_667 * i), SRC, held(0), Duration::ZERO, &c).is_ok()).count();
        assert!((200..=221).contains(&ok), "{ok}");
    }

    /// One second of offered calls, evenly spread, each admitted call's media
    /// starting after `start_delay`; returns how many were admitted.
    fn second(a: &mut Admission, c: &OverloadConfig, t0: Instant, sec: u64, offered: u64, start_delay: Duration) -> u64 {
        let mut admitted = 0;
        for i in 0..offered {
            let now = t0 + Duration::from_secs(sec) + Duration::from_micros(1_000_000 * i / offered);
            a.observe(now, Duration::ZERO, c);
            if a.admit_held(now, SRC, held(0), Duration::ZERO, c).is_ok() {
                admitted += 1;
                a.observe_media_delay(now, start_delay, c);
            }
        }
        admitted
    }

    #[test]
    fn slow_answers_cut_the_rate_to_what_was_served_then_it_climbs_back() {
        let c = OverloadConfig { max_calls: 1_000_000, max_call_rate: 1000, ..cfg() };
        let (mut a, t0) = (Admission::default(), Instant::now());
        let ms = Duration::from_millis;
        // 800 calls/s, each answered 300 ms after its INVITE: the media workers are
        // behind. The first second is judged at its end.
        assert_eq!(second(&mut a, &c, t0, 0, 800, ms(300)), 800);
        // Behind: 4/5 of the 800 served (640/s, plus the bucket's burst), the rest 503.
        let n = second(&mut a, &c, t0, 1, 1600, ms(300));
        assert!((640..=800).contains(&n), "{n}");
        assert!(a.is_behind());
        assert_eq!(a.admit_held(t0 + ms(1999), SRC, held(0), Duration::ZERO, &c), Err(Refusal::Behind));
        // Still behind: 4/5 of that again, but never under a quarter of the 800.
        let m = second(&mut a, &c, t0, 2, 1600, ms(300));
        assert!(m < n && m >= 200, "{m} after {n}");
        for s in 3..10 {
            second(&mut a, &c, t0, s, 1600, ms(300));
        }
        assert_eq!(a.adaptive, Some(200.0), "the floor: a quarter of what was served");
        // Quick again: the rate climbs 50 % a second back to max_call_rate,
        // never straight to everything offered.
        let climb: Vec<u64> = (10..18).map(|s| second(&mut a, &c, t0, s, 1600, ms(5))).collect();
        assert!(!a.is_behind());
        assert!(climb.windows(2).all(|w| w[1] + 20 >= w[0]), "{climb:?}");
        assert!(climb[0] < 300, "{climb:?}");
        assert!((990..=1010).contains(&climb[6]), "back at max_call_rate within 6 s: {climb:?}");
        assert_eq!(a.adaptive, None);
    }

    #[test]
    fn without_a_configured_rate_the_adaptive_one_goes_once_it_no_longer_binds() {
        let c = cfg();
        let c = OverloadConfig { max_calls: 1_000_000, ..c };
        let (mut a, t0) = (Admission::default(), Instant::now());
        let ms = Duration::from_millis;
        assert_eq!(second(&mut a, &c, t0, 0, 2000, ms(400)), 2000, "no limit until behind");
        let n = second(&mut a, &c, t0, 1, 2000, ms(400));
        assert!((1600..=1920).contains(&n), "{n}");
        // Quick again, and fewer callers than the limit: the limit goes.
        for s in 2..8 {
            second(&mut a, &c, t0, s, 500, ms(5));
        }
        assert_eq!(a.adaptive, None);
        assert_eq!(second(&mut a, &c, t0, 8, 3000, ms(5)), 3000);
    }
}
