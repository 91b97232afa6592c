//! Whether a new emergency call can be accepted: the `[overload]` limits.
//!
//! The check is made on the INVITE itself, after everything that would refuse it for
//! its own sake (not an emergency identity, no common codec), so a 503 always means
//! "this gateway cannot serve you now, try another": the carrier fails over at once.
//!
//! "Behind" is judged on every SIP message's wait between its socket and the engine,
//! and only when it lasts: a machine that stalls for a few hundred milliseconds (a
//! neighbour's burst, a page fault storm) catches up by itself, and refusing the calls
//! that arrived meanwhile would turn a hiccup into lost emergency calls. A gateway that
//! stays behind for a whole second is past capacity; it refuses new calls until the
//! wait has fallen to half the limit, so it does not flap at the edge.

use std::time::{Duration, Instant};

use crate::config::OverloadConfig;

/// How long the wait must stay over `max_delay` before new calls are refused.
pub(super) const SUSTAINED: Duration = Duration::from_secs(1);

/// Why a new call is refused with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `max_calls` calls are in progress.
    TooManyCalls,
    /// Messages have waited more than `max_delay` for the engine for a second or
    /// more: a call accepted now would be served late from its first packet.
    Behind,
}

impl Refusal {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyCalls => "Too many calls in progress",
            Refusal::Behind => "Overloaded",
        }
    }
}

/// The admission state: since when the gateway has been behind, if it is.
#[derive(Debug, Default)]
pub(super) struct Admission {
    behind_since: Option<Instant>,
}

impl Admission {
    /// Every SIP message reports how long it waited.
    pub(super) fn observe(&mut self, now: Instant, waited: Duration, cfg: &OverloadConfig) {
        if waited > cfg.max_delay {
            self.behind_since.get_or_insert(now);
        } else if waited <= cfg.max_delay / 2 {
            self.behind_since = None;
        }
    }

    /// Whether a new call can be accepted now, with `calls` calls in progress.
    pub(super) fn admit(&self, now: Instant, calls: usize, cfg: &OverloadConfig) -> Result<(), Refusal> {
        if calls >= cfg.max_calls {
            Err(Refusal::TooManyCalls)
        } else if self.behind_since.is_some_and(|t| now.saturating_duration_since(t) >= SUSTAINED) {
            Err(Refusal::Behind)
        } else {
            Ok(())
        }
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
        OverloadConfig { max_calls: 2, max_delay: Duration::from_millis(200), retry_after: Duration::from_millis(2500) }
    }

    #[test]
    fn too_many_calls_is_immediate() {
        let (c, a, t) = (cfg(), Admission::default(), Instant::now());
        assert_eq!(a.admit(t, 1, &c), Ok(()));
        assert_eq!(a.admit(t, 2, &c), Err(Refusal::TooManyCalls));
        assert_eq!(retry_after(&c), "2");
    }

    #[test]
    fn a_short_stall_refuses_nothing_a_lasting_one_does_until_the_wait_halves() {
        let (c, mut a, t) = (cfg(), Admission::default(), Instant::now());
        let ms = Duration::from_millis;
        // A 900 ms stall: late messages, then back to normal.
        a.observe(t, ms(300), &c);
        a.observe(t + ms(900), ms(250), &c);
        assert_eq!(a.admit(t + ms(900), 0, &c), Ok(()));
        a.observe(t + ms(950), ms(20), &c);
        assert_eq!(a.admit(t + ms(1500), 0, &c), Ok(()), "caught up: the stall is forgotten");
        // Behind for a whole second: refused.
        let t = t + ms(2000);
        a.observe(t, ms(201), &c);
        a.observe(t + ms(999), ms(400), &c);
        assert_eq!(a.admit(t + ms(999), 0, &c), Ok(()));
        a.observe(t + ms(1000), ms(400), &c);
        assert_eq!(a.admit(t + ms(1000), 0, &c), Err(Refusal::Behind));
        // Under the limit but above half of it: still refusing (no flapping).
        a.observe(t + ms(1100), ms(150), &c);
        assert_eq!(a.admit(t + ms(1100), 0, &c), Err(Refusal::Behind));
        // Half the limit: accepting again.
        a.observe(t + ms(1200), ms(100), &c);
        assert_eq!(a.admit(t + ms(1200), 0, &c), Ok(()));
    }
}
