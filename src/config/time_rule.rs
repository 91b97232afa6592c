//! Opening hours of a queue, evaluated against a wall-clock time passed in.
//!
//! Surabaya is on WIB (Asia/Jakarta, UTC+7) which has had no daylight saving time
//! since 1964, so a fixed UTC offset describes it exactly and spares us a time-zone
//! database (and its updates) in an emergency gateway. The offset is configurable for
//! other deployments; a region with DST would need a zone crate here.
//!
//! Nothing here reads the clock: the IVR passes the UTC time in, so a test can check
//! 06:59:59 and 07:00:00 without waiting for the morning.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub(crate) const SECS_PER_DAY: u32 = 86_400;

/// A fixed offset from UTC, in seconds east of Greenwich.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UtcOffset(i32);

impl UtcOffset {
    /// Western Indonesia Time, the zone of Surabaya and Jakarta.
    pub const WIB: UtcOffset = UtcOffset(7 * 3600);

    /// `None` outside the offsets in use on Earth (-12:00 to +14:00), which catches
    /// typos such as `+70:00` before they shift every shift by days.
    pub fn from_seconds(seconds: i32) -> Option<UtcOffset> {
        (-12 * 3600..=14 * 3600)
            .contains(&seconds)
            .then_some(UtcOffset(seconds))
    }

    pub fn seconds(self) -> i32 {
        self.0
    }

    /// Parses `+07:00`, `-03:30`, `+7` or `UTC+7`; the sign is required so an
    /// offset is never mistaken for a time of day.
    pub fn parse(s: &str) -> Option<UtcOffset> {
        let t = s.trim();
        let t = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("GMT"))
            .unwrap_or(t);
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return None,
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None => (rest, "00"),
        };
        let ok = |x: &str, max: usize| {
            !x.is_empty() && x.len() <= max && x.chars().all(|c| c.is_ascii_digit())
        };
        if !ok(h, 2) || !ok(m, 2) || m.len() != 2 {
            return None;
        }
        let h: i32 = h.parse().ok()?;
        let m: i32 = m.parse().ok()?;
        if m >= 60 {
            return None;
        }
        UtcOffset::from_seconds(sign * (h * 3600 + m * 60))
    }

    /// Day of the week and second of the day at this offset for a UTC instant.
    pub fn local(self, utc: SystemTime) -> LocalTime {
        let secs: i64 = match utc.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX / 2),
        };
        let local = secs.saturating_add(i64::from(self.0));
        let day = local.div_euclid(i64::from(SECS_PER_DAY));
        // 1970-01-01 was a Thursday: index 3 when Monday is 0.
        let weekday = Weekday::from_index((day + 3).rem_euclid(7) as u8);
        LocalTime {
            weekday,
            second_of_day: local.rem_euclid(i64::from(SECS_PER_DAY)) as u32,
        }
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    }
}

/// Days of the week, Monday first (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn from_index(i: u8) -> Weekday {
        Weekday::ALL[usize::from(i % 7)]
    }

    pub fn index(self) -> u8 {
        self as u8
    }

    /// The day before, for shifts that started yesterday evening.
    pub fn previous(self) -> Weekday {
        Weekday::from_index(self.index() + 6)
    }

    pub fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][usize::from(self.index())]
    }

    /// English three-letter names, case-insensitive, plus the Indonesian ones the
    /// administrators in Surabaya may write (`sen`, `sel`, `rab`, `kam`, `jum`,
    /// `sab`, `min`).
    pub fn parse(s: &str) -> Option<Weekday> {
        let l = s.trim().to_ascii_lowercase();
        let i = match l.as_str() {
            "mon" | "monday" | "sen" | "senin" => 0,
            "tue" | "tuesday" | "sel" | "selasa" => 1,
            "wed" | "wednesday" | "rab" | "rabu" => 2,
            "thu" | "thursday" | "kam" | "kamis" => 3,
            "fri" | "friday" | "jum" | "jumat" => 4,
            "sat" | "saturday" | "sab" | "sabtu" => 5,
            "sun" | "sunday" | "min" | "minggu" => 6,
            _ => return None,
        };
        Some(Weekday::from_index(i))
    }
}

/// A local day of the week and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub weekday: Weekday,
    pub second_of_day: u32,
}

/// A set of weekdays as a bit mask (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Days(u8);

impl Days {
    pub const EVERY_DAY: Days = Days(0x7f);
    pub const NONE: Days = Days(0);

    pub fn with(self, day: Weekday) -> Days {
        Days(self.0 | (1 << day.index()))
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.index()) != 0
    }

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
                    d = Weekday::from_index(d.index() + 1);
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
    pub days: Days,
    pub from: u32,
    /// 1..=86400; 86400 is `24:00`, the end of the day.
    pub until: u32,
}

impl TimeRule {
    pub fn spans_midnight(&self) -> bool {
        self.until <= self.from
    }

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

/// `HH:MM` or `HH:MM:SS`, 24-hour; `24:00` only when `allow_24` (an end time).
pub(crate) fn parse_clock(s: &str, allow_24: bool) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (n(0)?, n(1)?, if parts.len() == 3 { n(2)? } else { 0 });
    if h == 24 && m == 0 && sec == 0 && allow_24 {
        return Some(SECS_PER_DAY);
    }
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn offsets_parse_and_print() {
        assert_eq!(UtcOffset::parse("+07:00"), Some(UtcOffset::WIB));
        assert_eq!(UtcOffset::parse("UTC+7"), Some(UtcOffset::WIB));
        assert_eq!(
            UtcOffset::parse("-03:30").map(|o| o.seconds()),
            Some(-12600)
        );
        assert_eq!(UtcOffset::parse("07:00"), None);
        assert_eq!(UtcOffset::parse("+70:00"), None);
        assert_eq!(UtcOffset::parse("+07:60"), None);
        assert_eq!(UtcOffset::WIB.to_string(), "+07:00");
        assert_eq!(
            UtcOffset::parse("-03:30").map(|o| o.to_string()),
            Some("-03:30".into())
        );
    }

    #[test]
    fn local_time_and_weekday() {
        // 1970-01-01 00:00 UTC, a Thursday: 07:00 Thursday in Surabaya.
        let t = UtcOffset::WIB.local(at(0));
        assert_eq!((t.weekday, t.second_of_day), (Weekday::Thu, 7 * 3600));
        // 2024-01-01 00:00 UTC was a Monday; 17:00 UTC is Tuesday 00:00 WIB.
        let t = UtcOffset::WIB.local(at(1_704_067_200 + 17 * 3600));
        assert_eq!((t.weekday, t.second_of_day), (Weekday::Tue, 0));
        // Before the epoch still works (a badly set clock must not panic).
        let t = UtcOffset::WIB.local(UNIX_EPOCH - Duration::from_secs(8 * 3600));
        assert_eq!((t.weekday, t.second_of_day), (Weekday::Wed, 23 * 3600));
    }

    #[test]
    fn day_ranges_wrap() {
        let d = Days::parse_item("fri-mon").unwrap_or(Days::NONE);
        assert_eq!(d.to_string(), "mon,fri,sat,sun");
        assert_eq!(Days::parse_item("sen-min"), Some(Days::EVERY_DAY));
        assert_eq!(Days::parse_item("funday"), None);
    }

    #[test]
    fn clock_parsing() {
        assert_eq!(parse_clock("07:00", false), Some(25200));
        assert_eq!(parse_clock("23:59:59", false), Some(86399));
        assert_eq!(parse_clock("24:00", true), Some(86400));
        assert_eq!(parse_clock("24:00", false), None);
        assert_eq!(parse_clock("7:00", false), None);
        assert_eq!(parse_clock("12:60", false), None);
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
