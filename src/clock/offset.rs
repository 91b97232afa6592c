//! The local time of the command center: a fixed offset from UTC, and the weekday and
//! second of the day it gives.
//!
//! Surabaya is on WIB (Asia/Jakarta, UTC+7) which has had no daylight saving time
//! since 1964, so a fixed UTC offset describes it exactly and spares us a time-zone
//! database (and its updates) in an emergency gateway. The offset is configurable for
//! other deployments; a region with DST would need a zone crate here.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::day::SECS_PER_DAY;

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

    /// Seconds east of Greenwich (negative west of it).
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
        let (sign, rest) = if let Some(rest) = t.strip_prefix('+') {
            (1, rest)
        } else if let Some(rest) = t.strip_prefix('-') {
            (-1, rest)
        } else {
            return None;
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
#[allow(missing_docs)] // the seven days need no explanation
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
    /// Monday to Sunday, in the order of [`Weekday::index`].
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
        match i % 7 {
            0 => Weekday::Mon,
            1 => Weekday::Tue,
            2 => Weekday::Wed,
            3 => Weekday::Thu,
            4 => Weekday::Fri,
            5 => Weekday::Sat,
            _ => Weekday::Sun,
        }
    }

    /// 0 for Monday to 6 for Sunday.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The day before, for shifts that started yesterday evening.
    pub fn previous(self) -> Weekday {
        Weekday::from_index(self.index() + 6)
    }

    /// The day after, for day ranges such as `fri-mon` that wrap around the week.
    pub fn next(self) -> Weekday {
        Weekday::from_index(self.index() + 1)
    }

    /// The lowercase English three-letter name (`mon`), as the config summary prints it.
    pub fn name(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
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

/// A local day of the week and time of day: what opening hours are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The local day.
    pub weekday: Weekday,
    /// Seconds after local midnight, `0..86400`.
    pub second_of_day: u32,
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
}
