//! Repeat callers, never blocked (issue 16): what the gateway knows of a number's
//! recent calls, for the operator (`X-CC112-History: 24h=3;7d=5;last=abandoned_queue,
//! fire,12m`) and for the callback class (a caller who calls again while one of their
//! abandoned calls waits in the callback worklist is served first, flagged `callback`).
//!
//! Sans-IO and in memory, so the lookup on each INVITE costs a hash probe on the
//! signalling thread and never waits for the disk: loaded from the store at start (the
//! last 7 days of calls and the open callback items), then kept in step by the engine
//! as its calls end. Bounded: at most [`MAX_NUMBERS`] numbers (past that, a new number
//! has no history until old ones age out), [`MAX_PER_NUMBER`] calls each, numbers
//! longer than [`MAX_NUMBER_LEN`] not kept (a stranger's From cannot grow the table by
//! its length). The history never refuses or lowers a call by itself.
//!
//! Outcome names are the records' (`store::record::Outcome`, from `EndReason::outcome`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::clock::UtcMs;
use crate::store::record::Outcome;

/// Numbers kept at most.
pub const MAX_NUMBERS: usize = 200_000;
/// Calls kept per number (the newest).
pub const MAX_PER_NUMBER: usize = 32;
/// Longer numbers are not kept.
pub const MAX_NUMBER_LEN: usize = 64;
/// How far back the history looks.
pub const WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// One past call of a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastCall {
    /// When it started.
    pub started: UtcMs,
    /// How it ended.
    pub outcome: Outcome,
    /// The queue it reached.
    pub department: Option<String>,
    /// Routed `silent` (no word, no key): what `[routing.nuisance]` counts.
    pub silent: bool,
}

#[derive(Debug, Default)]
struct Entry {
    /// Oldest first.
    calls: VecDeque<PastCall>,
    /// When the open callback item of this number was made (its oldest open one).
    callback_since: Option<UtcMs>,
}

/// What the engine knows of every recent caller.
#[derive(Debug)]
pub struct CallerBook {
    numbers: HashMap<String, Entry>,
    /// Open callback items expire after this.
    keep: Duration,
    /// Numbers not kept because the book was full (for the log).
    pub refused: u64,
}

impl CallerBook {
    /// An empty book whose callback items expire after `keep`.
    pub fn new(keep: Duration) -> CallerBook {
        CallerBook { numbers: HashMap::new(), keep, refused: 0 }
    }

    /// Numbers known.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether no number is known.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Sets how long callback items stay open (a reload).
    pub fn set_keep(&mut self, keep: Duration) {
        self.keep = keep;
    }

    fn entry(&mut self, number: &str, now: UtcMs) -> Option<&mut Entry> {
        if number.is_empty() || number.len() > MAX_NUMBER_LEN {
            return None;
        }
        if !self.numbers.contains_key(number) && self.numbers.len() >= MAX_NUMBERS {
            self.prune(now);
            if self.numbers.len() >= MAX_NUMBERS {
                self.refused += 1;
                return None;
            }
        }
        Some(self.numbers.entry(number.to_string()).or_default())
    }

    /// Forgets what is older than the window and callback items past `keep`.
    pub fn prune(&mut self, now: UtcMs) {
        let oldest = now.millis().saturating_sub(WINDOW.as_millis() as i64);
        let keep_from = now.millis().saturating_sub(self.keep.as_millis() as i64);
        self.numbers.retain(|_, e| {
            while e.calls.front().is_some_and(|c| c.started.millis() < oldest) {
                e.calls.pop_front();
            }
            if e.callback_since.is_some_and(|t| t.millis() < keep_from) {
                e.callback_since = None;
            }
            !e.calls.is_empty() || e.callback_since.is_some()
        });
    }

    /// A past call of `number` (from the store at start, or a call that just ended).
    /// An abandoned call opens a callback item; an answered one closes it.
    pub fn ended(&mut self, number: &str, call: PastCall, now: UtcMs) {
        let Some(e) = self.entry(number, now) else { return };
        match call.outcome {
            Outcome::AbandonedIvr | Outcome::AbandonedQueue => {
                e.callback_since.get_or_insert(call.started);
            }
            Outcome::Answered => e.callback_since = None,
            _ => {}
        }
        e.calls.push_back(call);
        while e.calls.len() > MAX_PER_NUMBER {
            e.calls.pop_front();
        }
    }

    /// An open callback item of `number`, made at `since` (loading the store at start).
    pub fn open_callback(&mut self, number: &str, since: UtcMs, now: UtcMs) {
        if let Some(e) = self.entry(number, now) {
            e.callback_since = Some(e.callback_since.map_or(since, |t| t.min(since)));
        }
    }

    /// Whether `number` has a callback item open at `now`: it calls back.
    pub fn calls_back(&self, number: &str, now: UtcMs) -> bool {
        let keep_from = now.millis().saturating_sub(self.keep.as_millis() as i64);
        self.numbers.get(number).and_then(|e| e.callback_since).is_some_and(|t| t.millis() >= keep_from)
    }

    /// `24h=N;7d=M;last=OUTCOME,DEPARTMENT,AGE` for a number with calls in the last 7
    /// days (`None` otherwise). The department is `-` when the call reached none; the
    /// age is minutes below two hours, hours below two days, then days.
    /// How many of `number`'s calls within `within` of `now` were silent.
    pub fn silent_calls(&self, number: &str, now: UtcMs, within: std::time::Duration) -> usize {
        let from = now.millis().saturating_sub(within.as_millis() as i64);
        self.numbers.get(number).map_or(0, |e| e.calls.iter().filter(|c| c.silent && c.started.millis() >= from).count())
    }

    /// The summary shown to the operator.
    pub fn summary(&self, number: &str, now: UtcMs) -> Option<String> {
        let e = self.numbers.get(number)?;
        let now_ms = now.millis();
        let recent = |window: i64| e.calls.iter().filter(|c| now_ms.saturating_sub(c.started.millis()) <= window).count();
        let week = recent(7 * DAY_MS);
        if week == 0 {
            return None;
        }
        let last = e.calls.back()?;
        let age_min = now_ms.saturating_sub(last.started.millis()).max(0) / 60_000;
        let age = match age_min {
            m if m < 120 => format!("{m}m"),
            m if m < 48 * 60 => format!("{}h", m / 60),
            m => format!("{}d", m / (24 * 60)),
        };
        let department = last.department.as_deref().unwrap_or("-");
        Some(format!("24h={};7d={week};last={},{department},{age}", recent(DAY_MS), last.outcome.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn silent_calls_are_counted_within_the_rule_s_window() {
        let mut b = CallerBook::new(Duration::from_secs(24 * 3600));
        let now = UtcMs(3_000 * MIN);
        for at in [100, 2_000, 2_900, 2_950] {
            b.ended("0812", PastCall { silent: true, ..past(at, Outcome::AbandonedQueue, Some("general")) }, now);
        }
        b.ended("0812", past(2_990, Outcome::Answered, Some("general")), now);
        assert_eq!(b.silent_calls("0812", now, Duration::from_secs(24 * 3600)), 3, "the call of 2,900 min ago is out of the day");
        assert_eq!(b.silent_calls("0812", now, Duration::from_secs(3600)), 1);
        assert_eq!(b.silent_calls("0813", now, Duration::from_secs(3600)), 0);
    }

    fn past(at_min: i64, outcome: Outcome, dept: Option<&str>) -> PastCall {
        PastCall { started: UtcMs(at_min * MIN), outcome, department: dept.map(str::to_string), silent: false }
    }

    #[test]
    fn the_summary_counts_a_day_and_a_week_and_names_the_last_call() {
        let mut b = CallerBook::new(Duration::from_secs(24 * 3600));
        let now = UtcMs(10 * 24 * 60 * MIN);
        let min = |m: i64| now.millis() / MIN - m;
        b.ended("0812", past(min(9 * 24 * 60), Outcome::Answered, Some("fire")), now); // 9 days ago: out
        b.ended("0812", past(min(3 * 24 * 60), Outcome::Answered, Some("medical")), now);
        b.ended("0812", past(min(300), Outcome::Failed, None), now);
        b.ended("0812", past(min(12), Outcome::AbandonedQueue, Some("fire")), now);
        assert_eq!(b.summary("0812", now).as_deref(), Some("24h=2;7d=3;last=abandoned_queue,fire,12m"));
        assert_eq!(b.summary("0813", now), None);
        assert!(b.calls_back("0812", now), "the abandoned call opened an item");
        b.ended("0812", past(min(1), Outcome::Answered, Some("fire")), now);
        assert!(!b.calls_back("0812", now), "reaching an operator closes it");
    }

    #[test]
    fn callback_items_expire_after_keep_and_the_book_is_bounded() {
        let mut b = CallerBook::new(Duration::from_secs(3600));
        b.open_callback("0812", UtcMs(0), UtcMs(0));
        assert!(b.calls_back("0812", UtcMs(59 * MIN)));
        assert!(!b.calls_back("0812", UtcMs(61 * MIN)));
        b.ended(&"9".repeat(MAX_NUMBER_LEN + 1), past(0, Outcome::AbandonedIvr, None), UtcMs(0));
        b.ended("", past(0, Outcome::AbandonedIvr, None), UtcMs(0));
        assert_eq!(b.len(), 1, "no entry for an empty or overlong number");
        b.prune(UtcMs(8 * 24 * 60 * MIN));
        assert!(b.is_empty());
        for i in 0..40 {
            b.ended("0812", past(i, Outcome::Failed, None), UtcMs(40 * MIN));
        }
        assert_eq!(b.numbers.get("0812").map(|e| e.calls.len()), Some(MAX_PER_NUMBER));
    }
}
