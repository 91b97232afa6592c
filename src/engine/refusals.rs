//! Counting the new calls refused with 503, at the lowest cost.
//!
//! The 503 itself is stateless, as a proxy's rate limiter answers (Kamailio's
//! `sl_send_reply`): no INVITE transaction, sent once (a lost 503 is answered again
//! when the INVITE is retransmitted), so a flood that never ACKs costs neither 32 s of
//! transaction state nor ten retransmissions of the 503 per refusal (Timer G).
//!
//! A refused INVITE gets a 503 with `Retry-After` (the carrier fails over at once) and
//! nothing else of the gateway's: no call, no port, and no record pair of its own. In a
//! flood most INVITEs are refused, and two record writes each would make the disk the
//! bottleneck of the refusals and take the writer's room from the calls in progress.
//! Instead the refusals are tallied per (source, reason) and flushed once a second as
//! one summary each ([`RefusalSummary`], a row of the store's `refusals` table), with
//! the first few distinct caller numbers, so the shift can still call back the people
//! a surge turned away.
//!
//! The tally is bounded: [`MAX_TALLIES`] (source, reason) pairs; past it, newcomers are
//! counted under [`SourceKey::Others`].

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::output::{Effects, Output, RefusalSummary};
use super::timers::TimerKey;
use crate::sip::source::SourceKey;
use crate::sink;

/// (source, reason) pairs tallied in one second at most.
pub(super) const MAX_TALLIES: usize = 1024;

/// Distinct caller numbers kept per summary: enough to call back the people of a
/// small surge, bounded in a flood.
pub(super) const MAX_CALLERS: usize = 5;

/// How long a caller number kept in a summary may be (a phone number is far shorter).
const MAX_CALLER_LEN: usize = 64;

#[derive(Debug)]
struct Tally {
    since: SystemTime,
    count: u64,
    callers: Vec<String>,
}

/// The refusals of the running second.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    tallies: HashMap<(SourceKey, &'static str), Tally>,
    /// When the running tally started; it is flushed a second later.
    started: Option<Instant>,
}

impl Refusals {
    /// One refused call from `source` for `reason`: counted, logged at most once a
    /// second, and its summary due a second after the first of the second.
    pub(super) fn add(&mut self, at: (Instant, SystemTime), source: SourceKey, reason: &'static str, caller: &str, fx: &mut Effects) {
        let (now, utc) = at;
        if self.started.is_none() {
            fx.timers.set(TimerKey::Refusals, Some(now + Duration::from_secs(1)));
        }
        self.started.get_or_insert(now);
        let key = if self.tallies.len() < MAX_TALLIES || self.tallies.contains_key(&(source, reason)) {
            (source, reason)
        } else {
            (SourceKey::Others, reason)
        };
        let t = self.tallies.entry(key).or_insert(Tally { since: utc, count: 0, callers: Vec::new() });
        t.count += 1;
        if t.callers.len() < MAX_CALLERS {
            let caller: String = sink::printable(caller).chars().take(MAX_CALLER_LEN).collect();
            if !t.callers.contains(&caller) {
                t.callers.push(caller);
            }
        }
    }

    /// The second's summaries go out (the `Refusals` timer), largest first.
    pub(super) fn flush(&mut self, fx: &mut Effects) {
        for summary in self.summaries() {
            fx.out.push_back(Output::Refused(summary));
        }
    }

    fn summaries(&mut self) -> Vec<RefusalSummary> {
        self.started = None;
        let mut out: Vec<RefusalSummary> = self
            .tallies
            .drain()
            .map(|((source, reason), t)| RefusalSummary { since: t.since, source: source.to_string(), reason, count: t.count, callers: t.callers })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.count));
        out
    }

    /// Pairs tallied now (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.tallies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_tallied_per_source_and_reason_with_a_few_callers_and_bounded() {
        let (mut r, t0, mut fx) = (Refusals::default(), Instant::now(), Effects::default());
        let at = (t0, SystemTime::UNIX_EPOCH);
        let a = SourceKey::Network("198.51.100.0".parse().unwrap());
        r.add(at, a, "behind", "0811", &mut fx);
        assert_eq!(fx.timers.next(), Some(t0 + Duration::from_secs(1)), "the first refusal starts the second");
        for i in 0..100 {
            r.add(at, a, "behind", &format!("08{}", i % 7), &mut fx);
        }
        r.add(at, a, "source_rate", "0899\r\nX-Injected: 1", &mut fx);
        let out = r.summaries();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].reason, out[0].count, out[0].callers.len()), ("behind", 101, MAX_CALLERS));
        assert_eq!(out[0].source, "198.51.100.0/24");
        assert!(!out[1].callers[0].contains('\n'), "{:?}", out[1].callers);
        assert_eq!(r.len(), 0);
        // Past the cap, newcomers share one entry per reason.
        for i in 0..(MAX_TALLIES as u32 + 100) {
            r.add(at, SourceKey::Network(std::net::IpAddr::from((i << 8).to_be_bytes())), "behind", "1", &mut fx);
        }
        assert_eq!(r.len(), MAX_TALLIES + 1);
        let out = r.summaries();
        assert_eq!(out.iter().map(|s| s.count).sum::<u64>(), u64::from(MAX_TALLIES as u32 + 100));
        assert!(out.iter().any(|s| s.source == "others" && s.count == 100));
    }
}
