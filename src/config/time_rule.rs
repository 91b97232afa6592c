//! Opening hours of a queue (`[[queues]] open = [...]`): the rule as written, the
//! typed [`TimeRule`] evaluated against a local time passed in, and its validator.
//!
//! Nothing here reads the clock: the IVR passes the UTC time in, so a test can check
//! 06:59:59 and 07:00:00 without waiting for the morning. The local offset, weekdays
//! and the `HH:MM` parser are [`crate::clock`]'s.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use super::problems::span::S;
use crate::clock::{parse_time_of_day, LocalTime, Weekday, SECS_PER_DAY};

/// One entry of `open = [...]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeRule {
    pub days: Option<S<Vec<S<String>>>>,
    /// A string `"07:00"` or a TOML local time `07:00:00`.
    pub from: Option<S<toml::Value>>,
    pub until: Option<S<toml::Value>>,
}

/// A set of weekdays as a bit mask (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Days(u8);

impl Days {
    /// Monday to Sunday.
    pub const EVERY_DAY: Days = Days(0x7f);
    /// No day at all.
    pub const NONE: Days = Days(0);

    /// These days and `day`.
    pub fn with(self, day: Weekday) -> Days {
        Days(self.0 | (1 << day.index()))
    }

    /// Whether `day` is one of them.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.index()) != 0
    }

    /// Whether no day is.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `mon` or a range `mon-fri`; a range may wrap around the week (`fri-mon`).
    pub fn parse_item(s: &str) -> Option<Days> {
        match s.split_once('-') {
            None => Weekday::parse(s).map(|d| Days::NONE.with(d)),
            Some((a, b)) => {
                let (a, b) = (Weekday::parse(a)?, Weekday::parse(b)?);
                let mut days = Days::NONE;
                let mut d = a;
                loop {
                    days = days.with(d);
                    if d == b {
                        break;
                    }
                    d = d.next();
                }
                Some(days)
            }
        }
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Days::EVERY_DAY {
            return f.write_str("daily");
        }
        let names: Vec<&str> = Weekday::ALL
            .iter()
            .filter(|d| self.contains(**d))
            .map(|d| d.name())
            .collect();
        f.write_str(&names.join(","))
    }
}

/// One opening window: on `days`, from `from` (inclusive) to `until` (exclusive),
/// local time, in seconds of the day.
///
/// A window with `until <= from` spans midnight (`23:00`–`07:00`) and belongs to the
/// day it starts on: `fri 23:00–07:00` is open Friday night into Saturday morning,
/// which is how duty rosters are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRule {
    /// The days a window starts on.
    pub days: Days,
    /// Local second of the day the window opens, `0..86400`.
    pub from: u32,
    /// 1..=86400; 86400 is `24:00`, the end of the day.
    pub until: u32,
}

impl TimeRule {
    /// A window such as `23:00`–`07:00` that ends the next day.
    pub fn spans_midnight(&self) -> bool {
        self.until <= self.from
    }

    /// Whether the window is open at local time `t`.
    pub fn is_open(&self, t: LocalTime) -> bool {
        let s = t.second_of_day;
        if self.spans_midnight() {
            (self.days.contains(t.weekday) && s >= self.from)
                || (self.days.contains(t.weekday.previous()) && s < self.until)
        } else {
            self.days.contains(t.weekday) && self.from <= s && s < self.until
        }
    }
}

impl fmt::Display for TimeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}-{}",
            self.days,
            clock(self.from),
            clock(self.until)
        )
    }
}

fn clock(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Validates one entry of a queue's `open` list at `here` (`queues[2].open[0]`).
pub(crate) fn time_rule(
    raw: &S<RawTimeRule>,
    here: &str,
    p: &mut Problems<'_>,
) -> Option<TimeRule> {
    let r = raw.get_ref();
    let days = match &r.days {
        None => Some(Days::EVERY_DAY),
        Some(list) => days(list, here, p),
    };
    let mut clock = |key: &str, v: &Option<S<toml::Value>>, end: bool| match v {
        None => {
            p.at(
                here,
                raw.span(),
                format!(
                    "missing key `{key}`; expected from = \"07:00\" and until = \"15:00\" \
                     (local time)"
                ),
            );
            None
        }
        Some(v) => match clock_of(v.get_ref(), end) {
            Ok(s) => Some(s),
            Err(msg) => {
                p.at(format!("{here}.{key}"), v.span(), msg);
                None
            }
        },
    };
    let from = clock("from", &r.from, false);
    let until = clock("until", &r.until, true);
    let (days, from, until) = (days?, from?, until?);
    if from == until || (from == 0 && until == SECS_PER_DAY) {
        let at = r.until.as_ref().map_or(raw.span(), |u| u.span());
        p.at(
            format!("{here}.until"),
            at,
            "the rule covers the whole day; expected a shorter window, or no `open` key \
             for a queue open around the clock",
        );
        return None;
    }
    Some(TimeRule { days, from, until })
}

/// `days = ["mon-fri", "sun"]`: the union of the items, or `None` after a problem.
fn days(list: &S<Vec<S<String>>>, here: &str, p: &mut Problems<'_>) -> Option<Days> {
    let mut days = Days::NONE;
    let mut bad = false;
    for (k, item) in list.get_ref().iter().enumerate() {
        match Days::parse_item(item.get_ref()) {
            Some(more) => {
                for d in Weekday::ALL {
                    if more.contains(d) {
                        days = days.with(d);
                    }
                }
            }
            None => {
                bad = true;
                p.at(
                    format!("{here}.days[{k}]"),
                    item.span(),
                    format!(
                        "{:?} is not a day; expected mon, tue, wed, thu, fri, sat, sun \
                         (or sen..min) or a range like \"mon-fri\"",
                        item.get_ref()
                    ),
                );
            }
        }
    }
    if days.is_empty() && !bad {
        p.at(
            format!("{here}.days"),
            list.span(),
            "days = [] matches no day; expected days like [\"mon-fri\"], or no \
             `days` key for every day",
        );
        bad = true;
    }
    (!bad).then_some(days)
}

/// A `from` or `until` value: a string `"07:00"` or a TOML local time; `end` allows
/// `24:00`.
fn clock_of(v: &toml::Value, end: bool) -> Result<u32, String> {
    let expected = if end {
        "a time of day like \"15:00\" (00:00 to 24:00)"
    } else {
        "a time of day like \"07:00\" (00:00 to 23:59)"
    };
    match v {
        toml::Value::String(s) => parse_time_of_day(s.trim(), end)
            .ok_or_else(|| format!("{s:?} is not a time; expected {expected}")),
        toml::Value::Datetime(dt) if dt.date.is_none() && dt.offset.is_none() => match dt.time {
            Some(t) => parse_time_of_day(
                &format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
                end,
            )
            .ok_or_else(|| format!("{dt} is not a time; expected {expected}")),
            None => Err(format!("{dt} is not a time; expected {expected}")),
        },
        other => Err(format!("found a {}; expected {expected}", other.type_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ranges_wrap() {
        let d = Days::parse_item("fri-mon").unwrap_or(Days::NONE);
        assert_eq!(d.to_string(), "mon,fri,sat,sun");
        assert_eq!(Days::parse_item("sen-min"), Some(Days::EVERY_DAY));
        assert_eq!(Days::parse_item("funday"), None);
    }

    #[test]
    fn midnight_window_belongs_to_its_start_day() {
        let night = TimeRule {
            days: Days::NONE.with(Weekday::Fri),
            from: 23 * 3600,
            until: 7 * 3600,
        };
        let lt = |weekday, h: u32| LocalTime {
            weekday,
            second_of_day: h * 3600,
        };
        assert!(night.is_open(lt(Weekday::Fri, 23)));
        assert!(night.is_open(lt(Weekday::Sat, 6)));
        assert!(!night.is_open(lt(Weekday::Sat, 7)));
        assert!(!night.is_open(lt(Weekday::Sat, 23)));
        assert!(!night.is_open(lt(Weekday::Fri, 6)));
    }
}
