//! Whether a new emergency call can be accepted: the `[overload]` limits.
//!
//! The check is made on the INVITE itself, after everything that would refuse it for
//! its own sake (not an emergency identity, no common codec), so a 503 always means
//! "this gateway cannot serve you now, try another": the carrier fails over at once.
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

use std::time::{Duration, Instant};

use crate::config::OverloadConfig;

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
}

impl Refusal {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyCalls => "Too many calls in progress",
            Refusal::TooFast => "Too many new calls per second",
            Refusal::Behind => "Overloaded",
        }
    }
}

/// The admission state: the current one-second window and its shortest wait.
#[derive(Debug, Default)]
pub(super) struct Admission {
    window: Option<(Instant, Duration)>,
    behind: bool,
    /// `max_call_rate`'s token bucket: tokens left, and when it was last filled.
    bucket: Option<(f64, Instant)>,
}

/// The bucket holds this share of a second's calls: a burst of a fifth of the rate
/// passes at once, a surge beyond the rate is refused within 200 ms.
const BURST_SECONDS: f64 = 0.2;

impl Admission {
    /// Every SIP message reports how long it waited.
    pub(super) fn observe(&mut self, now: Instant, waited: Duration, cfg: &OverloadConfig) {
        if self.behind && waited <= cfg.max_delay / 2 {
            self.behind = false;
        }
        match &mut self.window {
            Some((start, shortest)) if now.saturating_duration_since(*start) < SUSTAINED => *shortest = (*shortest).min(waited),
            Some((start, shortest)) => {
                // The window is over: judge it, and start the next with this message.
                if *shortest > cfg.max_delay {
                    self.behind = true;
                }
                *start = now;
                *shortest = waited;
            }
            None => self.window = Some((now, waited)),
        }
    }

    /// Whether a new call whose INVITE waited `waited` can be accepted now, with
    /// `calls` calls in progress; an accepted call takes its token from the rate limit.
    pub(super) fn admit(&mut self, now: Instant, calls: usize, waited: Duration, cfg: &OverloadConfig) -> Result<(), Refusal> {
        if calls >= cfg.max_calls {
            return Err(Refusal::TooManyCalls);
        }
        if self.behind && waited > cfg.max_delay {
            return Err(Refusal::Behind);
        }
        if cfg.max_call_rate > 0 {
            let rate = cfg.max_call_rate as f64;
            let cap = (rate * BURST_SECONDS).max(1.0);
            let (tokens, at) = self.bucket.get_or_insert((cap, now));
            let refill = now.saturating_duration_since(*at).as_secs_f64() * rate;
            *tokens = (*tokens + refill).min(cap);
            *at = now;
            if *tokens < 1.0 {
                return Err(Refusal::TooFast);
            }
            *tokens -= 1.0;
        }
        Ok(())
    }
}

/// The `Retry-After` value: whole seconds, at least one.
pub(super) fn retry_after(cfg: &OverloadConfig) -> String {
    cfg.retry_after.as_secs().max(1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> OverloadConfig {
        OverloadConfig { max_calls: 2, max_call_rate: 0, max_delay: Duration::from_millis(200), retry_after: Duration::from_millis(2500) }
    }

    #[test]
    fn too_many_calls_is_immediate() {
        let (c, mut a, t) = (cfg(), Admission::default(), Instant::now());
        assert_eq!(a.admit(t, 1, Duration::ZERO, &c), Ok(()));
        assert_eq!(a.admit(t, 2, Duration::ZERO, &c), Err(Refusal::TooManyCalls));
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
        assert_eq!(a.admit(t, 0, ms(400), &c), Ok(()), "the shortest wait of that second was 5 ms");
        // A whole second in which every message waited over max_delay: behind. The
        // stale INVITEs are refused, one that got through in time is still accepted.
        for i in 1..=10 {
            a.observe(t + ms(1000 + 100 * i), ms(250), &c);
        }
        assert_eq!(a.admit(t, 0, ms(250), &c), Err(Refusal::Behind));
        assert_eq!(a.admit(t, 0, ms(200), &c), Ok(()), "waited no longer than max_delay");
        // Under the limit but above half of it: still behind (no flapping).
        a.observe(t + ms(2100), ms(150), &c);
        assert_eq!(a.admit(t, 0, ms(201), &c), Err(Refusal::Behind));
        // A message through in half the limit: caught up, even a late one is accepted.
        a.observe(t + ms(2200), ms(100), &c);
        assert_eq!(a.admit(t, 0, ms(400), &c), Ok(()));
    }

    #[test]
    fn the_call_rate_passes_a_fifth_of_a_second_at_once_then_the_rate() {
        let c = OverloadConfig { max_calls: 1_000_000, max_call_rate: 100, ..cfg() };
        let (mut a, t) = (Admission::default(), Instant::now());
        // A burst: 20 calls (0.2 s worth) pass, the 21st is refused.
        let passed = (0..30).filter(|_| a.admit(t, 0, Duration::ZERO, &c).is_ok()).count();
        assert_eq!(passed, 20);
        assert_eq!(a.admit(t, 0, Duration::ZERO, &c), Err(Refusal::TooFast));
        // Then one call per 10 ms.
        let ms = Duration::from_millis;
        assert_eq!(a.admit(t + ms(10), 0, Duration::ZERO, &c), Ok(()));
        assert_eq!(a.admit(t + ms(10), 0, Duration::ZERO, &c), Err(Refusal::TooFast));
        // 2 s at 150 calls/s offered: 100 a second accepted (plus the refilled burst).
        let ok = (0..300).filter(|i| a.admit(t + ms(20) + Duration::from_micros(6_667 * i), 0, Duration::ZERO, &c).is_ok()).count();
        assert!((200..=221).contains(&ok), "{ok}");
    }
}
