//! Sharing the room for new calls fairly between sources, so that one flooding sender
//! (a telephony denial of service) cannot take the capacity of all.
//!
//! The `[overload]` limits ([`super::admission`]) decide how many new calls the
//! gateway can take; this part decides *whose*. It matters only while a limit binds:
//! a configured `max_call_rate`, the adaptive rate of a gateway that is behind, or
//! calls in progress past half of `max_calls`. Below that, every caller is admitted.
//!
//! - **Rate, max-min fair.** Each second, the calls each source offered in the second
//!   before are "water-filled" against [`RATE_SHARE`] of the rate in force: a source
//!   offering less than its share gets all it offers, the rest is split evenly between
//!   those offering more. Each source then draws from its own token bucket at its
//!   share. A flooder is refused at its share *before* it takes a token of the
//!   gateway's own bucket, so the callers of other sources still find tokens there.
//! - **A share is a promise to the light sources.** A source that offers less than
//!   its share (a "light" one: every caller but the flood) is admitted even when the
//!   gateway's bucket is empty: the bucket goes into a bounded debt
//!   ([`debt_seconds`]), which the headroom pays back. A heavy source (one offering
//!   more than its share) gets no debt, and its bucket starts empty, not full. Without
//!   these, a flooder that took the whole bucket while it was the only sender, or
//!   whose bucket started full, left the others nothing for a second or two
//!   (measured over the wire: 6 of 20 calls of another network refused). Trunks may
//!   go deeper: spoofed senders spread over many networks can exhaust the bucket and
//!   its debt for ordinary sources, never a trunk's share.
//! - **Calls in progress.** Past half of `max_calls`, a source may hold at most
//!   `max_calls` divided by the sources active now: a sender that never ACKs holds each
//!   call it got for 32 s, and would otherwise fill `max_calls` alone.
//! - **Bounded.** At most [`MAX_SOURCES`] sources are tracked; past it, newcomers share
//!   one entry ([`SourceKey::Others`]). A source that offered nothing for a second and
//!   holds no call is forgotten.
//!
//! Who is a source ([`crate::sip::source`]): a trunk by its address, anyone else by
//! network (/24, /56).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::sip::source::SourceKey;

/// Sources tracked at most; newcomers past this share [`SourceKey::Others`].
pub(super) const MAX_SOURCES: usize = 4096;

/// The share of the rate in force that is water-filled between sources; the rest is
/// headroom so that a source below its share finds a token in the gateway's bucket
/// even while the others use theirs to the full.
const RATE_SHARE: f64 = 0.9;

/// A source's bucket holds this much of a second of its share (as the gateway's own).
const BURST_SECONDS: f64 = 0.5;

/// How far into debt a light source may take the gateway's bucket, in seconds of its
/// rate: half a second for a trunk, a quarter for anyone else.
fn debt_seconds(key: SourceKey) -> f64 {
    if key.is_trunk() {
        0.5
    } else {
        0.25
    }
}

/// A share is never below this many calls a second: however many sources, each keeps
/// being served.
const MIN_SHARE: f64 = 1.0;

#[derive(Debug)]
struct Source {
    /// New calls offered in the running second, and in the one before.
    offered: u32,
    offered_before: u32,
    /// Tokens of the source's own bucket and when it was last filled; `None` until
    /// its first call under a binding rate (it starts full).
    bucket: Option<(f64, Instant)>,
}

impl Source {
    /// What it offers, in calls a second: the second before, or the running one's pace
    /// (`into_second`: how far into it the offers go) if higher.
    fn demand(&self, into_second: f64) -> f64 {
        f64::from(self.offered_before).max(f64::from(self.offered) / into_second)
    }
}

/// How often the shares are computed again within a second: a surge that starts
/// mid-second is shared out within this time, not only from the next second.
const RECOMPUTE: Duration = Duration::from_millis(100);

/// Why a source is refused its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OverShare {
    /// More new calls a second than its share of the rate.
    Rate,
    /// More calls in progress than its share of `max_calls`.
    Calls,
}

/// The shares of every source seen lately.
#[derive(Debug, Default)]
pub(super) struct Shares {
    sources: HashMap<SourceKey, Source>,
    /// The running second's start.
    second: Option<Instant>,
    /// The latest time an offer was made (the pace of the running second is measured
    /// up to it).
    now_hint: Option<Instant>,
    /// The per-source rate (calls/s): when it was computed, for which rate in force,
    /// and its value.
    level: Option<(Instant, f64, f64)>,
}

impl Shares {
    /// The key a source is counted under: its own, or [`SourceKey::Others`] once the
    /// table is full.
    fn slot(&self, key: SourceKey) -> SourceKey {
        if self.sources.contains_key(&key) || self.sources.len() < MAX_SOURCES || key.is_trunk() {
            key
        } else {
            SourceKey::Others
        }
    }

    /// A new call offered by `key` (every INVITE that reaches admission). Returns the
    /// key it is counted under.
    pub(super) fn offer(&mut self, now: Instant, key: SourceKey) -> SourceKey {
        self.roll(now);
        self.now_hint = Some(now);
        let key = self.slot(key);
        let s = self.sources.entry(key).or_insert(Source { offered: 0, offered_before: 0, bucket: None });
        s.offered = s.offered.saturating_add(1);
        key
    }

    /// A new second: this second's offers become the ones the shares are computed
    /// from, and sources with nothing to remember are forgotten.
    fn roll(&mut self, now: Instant) {
        let start = *self.second.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < Duration::from_secs(1) {
            return;
        }
        // A gap of more than a second: the second before offered nothing.
        let idle = elapsed >= Duration::from_secs(2);
        self.second = Some(now);
        self.level = None;
        self.sources.retain(|_, s| {
            s.offered_before = if idle { 0 } else { s.offered };
            s.offered = 0;
            s.offered_before > 0
        });
    }

    /// Whether `key` (as returned by [`Shares::offer`]) may have a new call now, given
    /// the rate in force (`None`: no rate binds) and its calls in progress. Takes a
    /// token of its bucket when it may.
    pub(super) fn admit(&mut self, now: Instant, key: SourceKey, rate: Option<f64>, held: Held) -> Result<(), OverShare> {
        if held.total.saturating_mul(2) >= held.max && held.by_source >= held.fair() {
            return Err(OverShare::Calls);
        }
        // One source alone has nothing to share with: the gateway's own limits serve it
        // as before.
        let Some(rate) = rate.filter(|_| self.sources.len() > 1) else { return Ok(()) };
        let level = self.level(now, rate);
        let into_second = self.elapsed_in_second();
        let Some(s) = self.sources.get_mut(&key) else { return Ok(()) };
        let demand = s.demand(into_second);
        let cap = (level * BURST_SECONDS).max(1.0);
        // A light source starts with a full bucket (its first callers pass at once), a
        // heavy one with an empty bucket (it gets its share, no burst on top).
        let start = if demand < level { cap } else { 0.0 };
        let (tokens, at) = s.bucket.get_or_insert((start, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * level).min(cap);
        *at = now;
        if *tokens < 1.0 {
            return Err(OverShare::Rate);
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// Gives back the token [`Shares::admit`] took (the gateway's own limit refused
    /// the call after all).
    pub(super) fn give_back(&mut self, key: SourceKey) {
        if let Some((tokens, _)) = self.sources.get_mut(&key).and_then(|s| s.bucket.as_mut()) {
            *tokens += 1.0;
        }
    }

    /// The per-source rate for `rate`: water-filled over what each source offers, a
    /// second's worth (the second before, or the running one's pace if higher),
    /// computed again every [`RECOMPUTE`] or when the rate changes.
    fn level(&mut self, now: Instant, rate: f64) -> f64 {
        if let Some((at, r, level)) = self.level {
            if now.saturating_duration_since(at) < RECOMPUTE && (r - rate).abs() < 0.5 {
                return level;
            }
        }
        let into_second = self.elapsed_in_second();
        let mut demands: Vec<f64> = self.sources.values().map(|s| s.demand(into_second)).collect();
        let level = water_fill(&mut demands, rate * RATE_SHARE).max(MIN_SHARE);
        self.level = Some((now, rate, level));
        level
    }

    /// How far below zero the gateway's bucket (at `rate`) may go for a call of `key`
    /// that its share admitted: a light source's debt; nothing for a heavy source, or
    /// while only one source sends (nothing to share).
    pub(super) fn debt(&self, key: SourceKey, rate: f64) -> f64 {
        match (self.sources.get(&key), self.level) {
            (Some(s), Some((_, _, level))) if self.sources.len() > 1 && s.demand(self.elapsed_in_second()) < level => rate * debt_seconds(key),
            _ => 0.0,
        }
    }

    /// How far into the running second the offers go (seconds, at least [`RECOMPUTE`]):
    /// the running second's offers divided by it are its pace.
    fn elapsed_in_second(&self) -> f64 {
        match (self.second, self.now_hint) {
            (Some(start), Some(now)) => now.saturating_duration_since(start).as_secs_f64(),
            _ => 1.0,
        }
        .max(RECOMPUTE.as_secs_f64())
    }

    /// Sources tracked now (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.sources.len()
    }
}

/// Calls in progress, for the calls share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    /// All calls in progress.
    pub(super) total: usize,
    /// `[overload] max_calls`.
    pub(super) max: usize,
    /// Calls in progress from this source.
    pub(super) by_source: usize,
    /// Sources holding calls now, this one counted.
    pub(super) sources: usize,
}

impl Held {
    fn fair(&self) -> usize {
        (self.max / self.sources.max(1)).max(1)
    }
}

/// The level L such that `sum(min(d, L)) == capacity` (every demand under L is met in
/// full, the rest get L each); with no demand, or demand under capacity, the largest
/// unmet share: capacity less what is met, or all of it.
fn water_fill(demands: &mut [f64], capacity: f64) -> f64 {
    demands.sort_by(|a, b| a.total_cmp(b));
    let mut left = capacity;
    let mut n = demands.len();
    for d in demands.iter() {
        let even = left / n as f64;
        if *d > even {
            return even;
        }
        left -= d;
        n -= 1;
    }
    // Everyone is under an even split: what is left is the share of a newcomer or of a
    // source that offers more than before.
    left.max(capacity / (demands.len() + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn net(s: &str) -> SourceKey {
        SourceKey::Network(s.parse::<IpAddr>().unwrap())
    }

    const FREE: Held = Held { total: 0, max: 10_000, by_source: 0, sources: 1 };

    #[test]
    fn water_filling_meets_small_demands_in_full_and_splits_the_rest() {
        assert_eq!(water_fill(&mut [17_000.0, 330.0, 330.0], 3_300.0), 2_640.0);
        assert_eq!(water_fill(&mut [100.0, 100.0], 3_000.0), 2_800.0);
        assert_eq!(water_fill(&mut [5_000.0, 5_000.0], 3_000.0), 1_500.0);
        assert_eq!(water_fill(&mut [], 3_000.0), 3_000.0);
    }

    /// `seconds` seconds of offers, evenly spread: `(source, calls a second)`; returns
    /// how many of each were admitted in the last second.
    fn run(sh: &mut Shares, t0: Instant, seconds: u64, rate: f64, offers: &[(SourceKey, u32)]) -> Vec<u32> {
        let mut last = vec![0; offers.len()];
        for sec in 0..seconds {
            let mut events: Vec<(u64, usize)> = Vec::new();
            for (i, (_, per_s)) in offers.iter().enumerate() {
                events.extend((0..u64::from(*per_s)).map(|k| (1_000_000 * k / u64::from(*per_s), i)));
            }
            events.sort();
            last = vec![0; offers.len()];
            for (us, i) in events {
                let now = t0 + Duration::from_secs(sec) + Duration::from_micros(us);
                let key = sh.offer(now, offers[i].0);
                if sh.admit(now, key, Some(rate), FREE).is_ok() {
                    last[i] += 1;
                }
            }
        }
        last
    }

    #[test]
    fn a_flooder_gets_what_is_left_the_others_all_they_offer() {
        let (mut sh, t0) = (Shares::default(), Instant::now());
        let (flood, a, b) = (net("127.0.1.0"), net("127.0.2.0"), net("127.0.3.0"));
        let got = run(&mut sh, t0, 4, 3_300.0, &[(flood, 17_000), (a, 330), (b, 330)]);
        assert_eq!(&got[1..], &[330, 330], "{got:?}");
        // 0.9 × 3,300 less the others' 660, plus the bucket's refill rounding.
        assert!((2_300..=2_400).contains(&got[0]), "{got:?}");
    }

    #[test]
    fn without_a_binding_rate_everyone_is_admitted() {
        let (mut sh, t0) = (Shares::default(), Instant::now());
        let k = sh.offer(t0, net("10.0.0.0"));
        for _ in 0..10_000 {
            assert_eq!(sh.admit(t0, k, None, FREE), Ok(()));
        }
    }

    #[test]
    fn past_half_of_max_calls_a_source_holds_at_most_its_share() {
        let mut sh = Shares::default();
        let t0 = Instant::now();
        let k = sh.offer(t0, net("10.0.0.0"));
        let held = |total, by_source| Held { total, max: 100, by_source, sources: 3 };
        assert_eq!(sh.admit(t0, k, None, held(49, 40)), Ok(()), "under half of max_calls: no share");
        assert_eq!(sh.admit(t0, k, None, held(50, 32)), Ok(()));
        assert_eq!(sh.admit(t0, k, None, held(50, 33)), Err(OverShare::Calls));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_quiet_sources() {
        let (mut sh, t0) = (Shares::default(), Instant::now());
        for i in 0..(MAX_SOURCES as u32 + 500) {
            let key = SourceKey::Network(IpAddr::from((i << 8).to_be_bytes()));
            let slot = sh.offer(t0, key);
            assert_eq!(slot, if (i as usize) < MAX_SOURCES { key } else { SourceKey::Others }, "{i}");
        }
        assert!(sh.len() <= MAX_SOURCES + 1, "{}", sh.len());
        // A trunk always has its own entry.
        let trunk = SourceKey::Trunk("192.0.2.1".parse().unwrap());
        assert_eq!(sh.offer(t0, trunk), trunk);
        // Two quiet seconds later, everyone is forgotten.
        sh.offer(t0 + Duration::from_secs(1), trunk);
        sh.offer(t0 + Duration::from_secs(3), trunk);
        assert_eq!(sh.len(), 1);
    }
}
