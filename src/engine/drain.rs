//! The drain: how the node stops taking calls without cutting one, and what it tells a
//! probe meanwhile.
//!
//! A stop (`SIGTERM`, `SIGINT`, `cc112 drain`) starts the drain with the configured
//! grace (`[shutdown] grace`). From then on new INVITEs and OPTIONS outside a dialog get
//! 503 (the carrier and a load balancer go elsewhere at once) while everything else is
//! served: REGISTERs, the calls in progress and their in-dialog requests; waiting
//! callers keep their place in the queue and are still offered to operators. Each
//! minute of the drain is reported with the calls still in progress. A second stop
//! cuts what is left of the grace to [`HURRY`]. When the grace runs out the engine
//! hangs up every call (a BYE on each leg, the record closed with `gateway shutdown`),
//! and our BYEs get [`LINGER`] for their answers. The drain is over as soon as no call
//! is left and none of our requests waits for an answer.
//!
//! This part owns the phase and its one deadline ([`TimerKey::Drain`]); hanging up is
//! the engine's (it routes between the calls and the operator side). It also holds what
//! makes a probe's answer 503 while the node still serves: the runtime's word that it
//! is unhealthy (the record writer stalled).

use std::time::{Duration, Instant};

use super::output::{DrainReport, DrainStep, Effects};
use super::timers::TimerKey;
use crate::sip::Request;

/// What is left of the grace after a second stop signal.
pub const HURRY: Duration = Duration::from_secs(10);

/// How long our BYEs of the grace's end wait for their answers (retransmitted at 0.5,
/// 1.5 and 3.5 s over UDP) before the process goes.
pub const LINGER: Duration = Duration::from_secs(4);

/// How often the drain reports the calls in progress.
const REPORT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Taking calls.
    Serving,
    /// New calls refused; calls in progress go on until `until`.
    Draining { since: Instant, until: Instant, next_report: Instant },
    /// The grace is over and every call hung up; our BYEs wait for answers until `until`.
    Closing { since: Instant, until: Instant },
    /// Nothing left to wait for.
    Over,
}

/// The node's phase, and whether it is healthy enough to be sent new calls.
#[derive(Debug)]
pub(crate) struct Drain {
    phase: Phase,
    /// Set by the runtime while a part of the node is stalled (the record writer).
    unhealthy: Option<String>,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain { phase: Phase::Serving, unhealthy: None }
    }
}

impl Drain {
    /// A stop: the first starts draining with `grace`, the next leaves at most
    /// [`HURRY`] of it (never more than was left). `None` once the grace is over.
    pub(crate) fn stop(&mut self, now: Instant, grace: Duration, calls: usize, fx: &mut Effects) -> Option<DrainReport> {
        let step = match &mut self.phase {
            Phase::Serving => {
                self.phase = Phase::Draining { since: now, until: now + grace, next_report: now + REPORT_EVERY };
                DrainStep::Started
            }
            Phase::Draining { until, .. } => {
                *until = (*until).min(now + HURRY);
                DrainStep::Hurried
            }
            Phase::Closing { .. } | Phase::Over => return None,
        };
        self.schedule(fx);
        Some(self.report(now, step, calls))
    }

    /// The drain's deadline came: a minute's report, or the end of the grace (the
    /// engine then hangs up every call), or the end of the wait for our BYEs' answers.
    pub(crate) fn timeout(&mut self, now: Instant, calls: usize, fx: &mut Effects) -> Option<DrainReport> {
        let report = match self.phase {
            Phase::Draining { until, .. } if now >= until => {
                let report = self.report(now, DrainStep::GraceOver, calls);
                self.phase = Phase::Closing { since: now, until: now + LINGER };
                Some(report)
            }
            Phase::Draining { since, until, next_report } if now >= next_report => {
                self.phase = Phase::Draining { since, until, next_report: next_report + REPORT_EVERY };
                Some(self.report(now, DrainStep::Minute, calls))
            }
            Phase::Closing { until, .. } if now >= until => {
                self.phase = Phase::Over;
                None
            }
            _ => None,
        };
        self.schedule(fx);
        report
    }

    /// New calls get 503 from the moment a drain begins.
    pub(crate) fn refuses_calls(&self) -> bool {
        self.phase != Phase::Serving
    }

    /// The drain is over: no call left and none of our requests waiting for an answer
    /// (`awaiting`), or the grace and the wait after it are spent.
    pub(crate) fn over(&self, calls: usize, awaiting: usize) -> bool {
        match self.phase {
            Phase::Serving => false,
            Phase::Draining { .. } | Phase::Closing { .. } => calls == 0 && awaiting == 0,
            Phase::Over => true,
        }
    }

    /// The runtime's word on the node's health: `Some(why)` while a part is stalled.
    pub(crate) fn set_unhealthy(&mut self, why: Option<String>) {
        self.unhealthy = why;
    }

    /// What an OPTIONS gets: 200 with our capabilities while the node takes calls; 503
    /// with Retry-After while it drains or is unhealthy, so that a load balancer takes
    /// it out at once. OPTIONS inside a dialog (a keep-alive) always get 200.
    pub(crate) fn options_answer(&self, req: &Request, retry_after: String) -> (u16, &'static str, Vec<(&'static str, String)>) {
        if req.head.to.tag().is_some() {
            return (200, "OK", super::uas::capabilities());
        }
        match (self.phase, &self.unhealthy) {
            (Phase::Serving, None) => (200, "OK", super::uas::capabilities()),
            (Phase::Serving, Some(_)) => (503, "Unhealthy", vec![("Retry-After", retry_after)]),
            _ => (503, "Draining", vec![("Retry-After", retry_after)]),
        }
    }

    fn report(&self, now: Instant, step: DrainStep, calls: usize) -> DrainReport {
        let (since, until) = match self.phase {
            Phase::Draining { since, until, .. } | Phase::Closing { since, until } => (since, until),
            Phase::Serving | Phase::Over => (now, now),
        };
        let minute = now.saturating_duration_since(since).as_secs() / 60;
        DrainReport { step, minute, calls, left: until.saturating_duration_since(now) }
    }

    fn schedule(&self, fx: &mut Effects) {
        let at = match self.phase {
            Phase::Draining { until, next_report, .. } => Some(until.min(next_report)),
            Phase::Closing { until, .. } => Some(until),
            Phase::Serving | Phase::Over => None,
        };
        fx.timers.set(TimerKey::Drain, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_reports_each_minute_ends_with_its_grace_and_waits_for_the_byes() {
        let t0 = Instant::now();
        let mut fx = Effects::default();
        let mut d = Drain::default();
        assert!(!d.refuses_calls());
        let start = d.stop(t0, Duration::from_secs(150), 7, &mut fx).unwrap();
        assert_eq!((start.step, start.minute, start.calls, start.left), (DrainStep::Started, 0, 7, Duration::from_secs(150)));
        assert!(d.refuses_calls());
        assert_eq!(fx.timers.next(), Some(t0 + Duration::from_secs(60)));
        let m1 = d.timeout(t0 + Duration::from_secs(60), 5, &mut fx).unwrap();
        assert_eq!((m1.step, m1.minute, m1.calls), (DrainStep::Minute, 1, 5));
        let m2 = d.timeout(t0 + Duration::from_secs(120), 4, &mut fx).unwrap();
        assert_eq!((m2.minute, m2.left), (2, Duration::from_secs(30)));
        assert_eq!(fx.timers.pop_due(t0 + Duration::from_secs(149)), None, "the grace's end comes before the next minute");
        assert_eq!(fx.timers.pop_due(t0 + Duration::from_secs(150)), Some(TimerKey::Drain));
        assert!(!d.over(4, 0));
        let end = d.timeout(t0 + Duration::from_secs(150), 4, &mut fx).unwrap();
        assert_eq!((end.step, end.calls), (DrainStep::GraceOver, 4));
        assert!(!d.over(0, 3), "our BYEs still wait for answers");
        assert!(d.over(0, 0));
        assert!(d.timeout(t0 + Duration::from_secs(150) + LINGER, 0, &mut fx).is_none());
        assert!(d.over(0, 3), "after the linger nothing is waited for");
    }

    #[test]
    fn a_second_stop_leaves_ten_seconds_and_never_lengthens_the_grace() {
        let t0 = Instant::now();
        let mut fx = Effects::default();
        let mut d = Drain::default();
        d.stop(t0, Duration::from_secs(900), 2, &mut fx);
        let r = d.stop(t0 + Duration::from_secs(5), Duration::from_secs(900), 2, &mut fx).unwrap();
        assert_eq!((r.step, r.left), (DrainStep::Hurried, HURRY));
        assert_eq!(fx.timers.pop_due(t0 + Duration::from_secs(14)), None);
        assert_eq!(fx.timers.pop_due(t0 + Duration::from_secs(15)), Some(TimerKey::Drain));
        let mut short = Drain::default();
        short.stop(t0, Duration::from_secs(3), 2, &mut fx);
        assert_eq!(short.stop(t0, Duration::from_secs(3), 2, &mut fx).unwrap().left, Duration::from_secs(3));
        assert!(!Drain::default().over(0, 0), "serving is not over");
    }
}
