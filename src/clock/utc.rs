//! Instants as stored (UTC milliseconds) and their local, human form.
//!
//! The database stores every time as an `INTEGER` count of milliseconds since the Unix
//! epoch, UTC. Why integers rather than ISO-8601 text: the report subtracts times
//! (INVITE → operator answer) and range-filters by shift on every query, which integer
//! columns do exactly and index well; the value means the same in SQLite and PostgreSQL
//! (`BIGINT`); and there is no text format to keep consistent across writers. The
//! `sqlite3` shell shows them with
//! `strftime('%Y-%m-%d %H:%M:%f', started_at / 1000.0, 'unixepoch', '+7 hours')`.
//!
//! Local time is a fixed UTC offset (see [`UtcOffset`]: WIB has no DST), so civil-date
//! arithmetic here is the proleptic Gregorian calendar and nothing else.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::day::{parse_time_of_day, MS_PER_DAY};
use super::offset::UtcOffset;

/// Milliseconds since 1970-01-01T00:00:00Z. Ordered, copyable, exact; the field is
/// public so SQL rows and tests can build one directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UtcMs(pub i64);

impl UtcMs {
    /// The wall clock. Only the store's shell side (writer thread, CLI) calls this; the
    /// sans-IO engine passes its own `now` converted with [`UtcMs::from_system_time`].
    pub fn now() -> UtcMs {
        UtcMs::from_system_time(SystemTime::now())
    }

    /// The instant of a `SystemTime` (before 1970 gives a negative count).
    pub fn from_system_time(t: SystemTime) -> UtcMs {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UtcMs(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => UtcMs(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Back to a `SystemTime`, for code that schedules against the OS clock.
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }

    /// The stored count of milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `ms` (negative: earlier), saturating at the ends.
    pub fn plus_ms(self, ms: i64) -> UtcMs {
        UtcMs(self.0.saturating_add(ms))
    }

    /// The civil date and time at `offset`.
    pub fn local(self, offset: UtcOffset) -> LocalDateTime {
        let local = self.0.saturating_add(i64::from(offset.seconds()) * 1000);
        let day = local.div_euclid(MS_PER_DAY);
        let ms_of_day = local.rem_euclid(MS_PER_DAY);
        LocalDateTime {
            date: LocalDate::from_days(day),
            ms_of_day: ms_of_day as u32,
        }
    }

    /// `2026-11-30 07:00:00.000` at `offset`: what the table output shows.
    pub fn display_local(self, offset: UtcOffset) -> String {
        let l = self.local(offset);
        format!("{} {}", l.date, l.clock())
    }

    /// RFC 3339 with the local offset, `2026-11-30T07:00:00.000+07:00`: unambiguous for
    /// programs and still readable for the shift, so the JSON lines use it.
    pub fn rfc3339(self, offset: UtcOffset) -> String {
        let l = self.local(offset);
        format!("{}T{}{}", l.date, l.clock(), offset)
    }

    /// Parses a time typed on the command line: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`,
    /// `YYYY-MM-DDTHH:MM:SS[.mmm]`, local at `offset` unless it ends in `Z` or carries
    /// `+HH:MM`/`-HH:MM`. `None` when it is not one of these.
    pub fn parse(s: &str, offset: UtcOffset) -> Option<UtcMs> {
        let s = s.trim();
        let (date, rest) = s.split_at_checked(10)?;
        let date = LocalDate::parse(date)?;
        let (clock, off) = if rest.is_empty() {
            ("", offset)
        } else {
            let rest = rest.strip_prefix(['T', ' '])?;
            if let Some(c) = rest.strip_suffix(['Z', 'z']) {
                (c, UtcOffset::from_seconds(0)?)
            } else if let Some(i) = rest.rfind(['+', '-']) {
                let (clock, off) = rest.split_at(i);
                (clock, UtcOffset::parse(off)?)
            } else {
                (rest, offset)
            }
        };
        let ms_of_day = if clock.is_empty() {
            0
        } else {
            parse_clock(clock)?
        };
        let local = date.days() * MS_PER_DAY + i64::from(ms_of_day);
        Some(UtcMs(local - i64::from(off.seconds()) * 1000))
    }
}

/// `HH:MM[:SS[.mmm]]` → milliseconds of the day.
fn parse_clock(s: &str) -> Option<u32> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let secs = parse_time_of_day(hms, false)?;
    let ms = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let v: u32 = f.parse().ok()?;
            v * 10u32.pow(3 - f.len() as u32)
        }
        Some(_) => return None,
    };
    Some(secs * 1000 + ms)
}

/// A calendar date (proleptic Gregorian), the unit a shift belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDate {
    /// 1 to 9999 when built by [`LocalDate::new`] or [`LocalDate::parse`].
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31, valid for the month.
    pub day: u8,
}

impl LocalDate {
    /// `None` for dates that do not exist (2026-02-30).
    pub fn new(year: i32, month: u8, day: u8) -> Option<LocalDate> {
        let ok = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        ok.then_some(LocalDate { year, month, day })
    }

    /// Strict `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<LocalDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let p = s.get(r)?;
            p.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| p.parse().ok())
                .flatten()
        };
        let y = i32::try_from(digits(0..4)?).ok()?;
        let m = u8::try_from(digits(5..7)?).ok()?;
        let d = u8::try_from(digits(8..10)?).ok()?;
        LocalDate::new(y, m, d)
    }

    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Inverse of [`LocalDate::days`] (`civil_from_days`).
    pub fn from_days(z: i64) -> LocalDate {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        LocalDate {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month,
            day,
        }
    }

    /// The day before.
    pub fn pred(self) -> LocalDate {
        LocalDate::from_days(self.days() - 1)
    }

    /// The day after.
    pub fn succ(self) -> LocalDate {
        LocalDate::from_days(self.days() + 1)
    }
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A local civil date and the millisecond of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime {
    /// The local calendar day.
    pub date: LocalDate,
    /// Milliseconds after local midnight, `0..86_400_000`.
    pub ms_of_day: u32,
}

impl LocalDateTime {
    /// The local hour, 0 to 23 (reports count calls per hour).
    pub fn hour(&self) -> u32 {
        self.ms_of_day / 3_600_000
    }

    /// `HH:MM:SS.mmm`.
    pub fn clock(&self) -> String {
        let ms = self.ms_of_day;
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000
        )
    }
}

/// The wall-clock time of the monotonic instant `now`, given one instant whose wall
/// time is known (`anchor`): sans-IO parts are told the time once and read it from
/// their monotonic clock afterwards.
pub fn wall_clock_at(anchor: (std::time::Instant, SystemTime), now: std::time::Instant) -> SystemTime {
    let (at, utc) = anchor;
    match now.checked_duration_since(at) {
        Some(d) => utc + d,
        None => utc.checked_sub(at.duration_since(now)).unwrap_or(utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wib() -> UtcOffset {
        UtcOffset::WIB
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for z in (-200_000..200_000).step_by(97) {
            let d = LocalDate::from_days(z);
            assert_eq!(d.days(), z, "{d}");
        }
        assert_eq!(
            LocalDate::from_days(0),
            LocalDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        assert_eq!(
            LocalDate::parse("2024-02-29").map(|d| d.days()),
            Some(19_782)
        );
    }

    #[test]
    fn invalid_dates_are_rejected() {
        for s in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20260101xx",
            "2026-04-31",
        ] {
            assert_eq!(LocalDate::parse(s), None, "{s}");
        }
        assert!(LocalDate::parse("2028-02-29").is_some());
    }

    #[test]
    fn local_display_and_rfc3339() {
        // 2026-11-30T00:00:00.123Z is 07:00:00.123 in Surabaya.
        let t = UtcMs::parse("2026-11-30T00:00:00.123Z", wib()).expect("parses");
        assert_eq!(t.display_local(wib()), "2026-11-30 07:00:00.123");
        assert_eq!(t.rfc3339(wib()), "2026-11-30T07:00:00.123+07:00");
        assert_eq!(UtcMs::parse("2026-11-30 07:00:00.123", wib()), Some(t));
        assert_eq!(
            UtcMs::parse("2026-11-30T07:00:00.123+07:00", wib()),
            Some(t)
        );
        assert_eq!(
            UtcMs::parse("2026-11-30 07:00", wib()),
            Some(t.plus_ms(-123))
        );
        assert_eq!(
            UtcMs::parse("2026-11-30", wib()),
            UtcMs::parse("2026-11-29T17:00Z", wib())
        );
        for bad in [
            "2026-11-30 25:00",
            "2026-11-30T07",
            "yesterday",
            "2026-11-30 07:00:00.1234",
        ] {
            assert_eq!(UtcMs::parse(bad, wib()), None, "{bad}");
        }
    }

    #[test]
    fn negative_instants_floor_correctly() {
        let t = UtcMs(-1);
        let l = t.local(UtcOffset::from_seconds(0).expect("0 is valid"));
        assert_eq!(
            l.date,
            LocalDate {
                year: 1969,
                month: 12,
                day: 31
            }
        );
        assert_eq!(l.clock(), "23:59:59.999");
        assert_eq!(UtcMs::from_system_time(t.to_system_time()), t);
    }
}
