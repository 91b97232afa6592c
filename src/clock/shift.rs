//! Work shifts of the command center: the unit every report and `calls list` is cut by.
//!
//! A day is tiled by a list of shifts (default three: 07:00–15:00, 15:00–23:00,
//! 23:00–07:00 local). A shift that crosses midnight belongs to the date it *starts*, so
//! the night shift of 2026-11-30 runs from 23:00 on the 30th to 07:00 on 1 December:
//! that is how the roster names it. Shifts are numbered from 1 in configuration order,
//! so `2026-11-30/3` is that night shift.
//!
//! Nothing reads the clock here; `now` is passed in so the edges (06:59:59.999, 07:00,
//! midnight) are tested exactly.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::day::{parse_time_of_day, MS_PER_DAY, SECS_PER_DAY};
use super::offset::UtcOffset;
use super::utc::{LocalDate, UtcMs};

/// One shift of the daily roster: a start and end time of day, local.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftDef {
    /// Shown in reports (`pagi`, `siang`, `malam`...).
    pub name: String,
    /// Milliseconds after local midnight.
    pub start_ms: u32,
    /// Milliseconds after local midnight; smaller than `start_ms` when it crosses midnight.
    pub end_ms: u32,
}

impl ShiftDef {
    /// `ShiftDef::parse("malam", "23:00", "07:00")`.
    pub fn parse(name: &str, start: &str, end: &str) -> Result<ShiftDef, ShiftError> {
        let t = |s: &str| parse_hhmm(s).ok_or_else(|| ShiftError::BadTime(s.to_string()));
        Ok(ShiftDef {
            name: name.to_string(),
            start_ms: t(start)?,
            end_ms: t(end)?,
        })
    }

    fn len_ms(&self) -> i64 {
        (i64::from(self.end_ms) - i64::from(self.start_ms)).rem_euclid(MS_PER_DAY)
    }
}

/// `HH:MM` (or `24:00` for an end at midnight) to milliseconds after midnight. A
/// roster is written to the minute, so seconds are refused.
fn parse_hhmm(s: &str) -> Option<u32> {
    let t = s.trim();
    if t.len() != 5 {
        return None;
    }
    parse_time_of_day(t, true).map(|secs| (secs % SECS_PER_DAY) * 1000)
}

/// Why a roster or a `--shift` selector was refused; the messages are shown to the
/// administrator as they are (config check, CLI).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShiftError {
    /// A start or end that is not `HH:MM`.
    #[error("time of day {0:?} is not HH:MM")]
    BadTime(String),
    /// An empty roster.
    #[error("no shifts configured")]
    Empty,
    /// A shift that starts when it ends, in a roster of several.
    #[error("shift {0} has zero length")]
    ZeroLength(String),
    /// A gap or an overlap between two shifts that follow each other.
    #[error("shift {next} must start when shift {prev} ends: the shifts must cover the day without gap or overlap")]
    NotContiguous {
        /// The shift that ends.
        prev: String,
        /// The shift that should start then.
        next: String,
    },
    /// Contiguous shifts that wrap the clock more (or less) than once.
    #[error("the shifts add up to {minutes} minutes, not 24 h")]
    NotOneDay {
        /// The total length of the roster.
        minutes: i64,
    },
    /// A selector that is not `current`, `previous` or `YYYY-MM-DD/N`.
    #[error("{0:?} is not `current`, `previous` or `YYYY-MM-DD/N`")]
    BadSelector(String),
    /// `YYYY-MM-DD/N` with N past the end of the roster.
    #[error("there is no shift {n} (the roster has {count})")]
    NoSuchShift {
        /// The number asked for (from 1).
        n: usize,
        /// How many shifts the roster has.
        count: usize,
    },
}

/// The validated roster plus the local offset it is read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shifts {
    defs: Vec<ShiftDef>,
    offset: UtcOffset,
}

/// One concrete shift: the date it starts on and its 1-based number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShiftId {
    /// The local date the shift starts on.
    pub date: LocalDate,
    /// Its place in the roster, from 1.
    pub n: usize,
}

impl fmt::Display for ShiftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.date, self.n)
    }
}

/// What `--shift` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftSelector {
    /// The shift containing now.
    Current,
    /// The one before it.
    Previous,
    /// A named shift, `YYYY-MM-DD/N`.
    Id(ShiftId),
}

impl ShiftSelector {
    /// `current`, `previous` or `YYYY-MM-DD/N` (N from 1). The number is range-checked
    /// against the roster by [`Shifts::resolve`].
    pub fn parse(s: &str) -> Result<ShiftSelector, ShiftError> {
        let bad = || ShiftError::BadSelector(s.to_string());
        match s.trim() {
            "current" => Ok(ShiftSelector::Current),
            "previous" => Ok(ShiftSelector::Previous),
            t => {
                let (d, n) = t.split_once('/').ok_or_else(bad)?;
                let date = LocalDate::parse(d).ok_or_else(bad)?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 2 {
                    return Err(bad());
                }
                let n: usize = n.parse().map_err(|_| bad())?;
                if n == 0 {
                    return Err(bad());
                }
                Ok(ShiftSelector::Id(ShiftId { date, n }))
            }
        }
    }
}

/// A resolved shift with its UTC bounds, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftSpan {
    /// Which shift.
    pub id: ShiftId,
    /// Its roster name (`malam`).
    pub name: String,
    /// First instant in the shift.
    pub start: UtcMs,
    /// First instant after it.
    pub end: UtcMs,
}

impl Shifts {
    /// 07–15, 15–23, 23–07: the roster of Command Center 112 Surabaya.
    pub fn default_defs() -> Vec<ShiftDef> {
        let h = |x: u32| x * 3_600_000;
        vec![
            ShiftDef {
                name: "pagi".into(),
                start_ms: h(7),
                end_ms: h(15),
            },
            ShiftDef {
                name: "siang".into(),
                start_ms: h(15),
                end_ms: h(23),
            },
            ShiftDef {
                name: "malam".into(),
                start_ms: h(23),
                end_ms: h(7),
            },
        ]
    }

    /// The default roster read at `offset`.
    pub fn default_at(offset: UtcOffset) -> Shifts {
        Shifts {
            defs: Shifts::default_defs(),
            offset,
        }
    }

    /// Checks that the shifts, in the order given, follow each other and cover exactly
    /// one day: a gap would leave calls in no shift, an overlap would count them twice.
    pub fn new(defs: Vec<ShiftDef>, offset: UtcOffset) -> Result<Shifts, ShiftError> {
        if defs.is_empty() {
            return Err(ShiftError::Empty);
        }
        let mut total = 0i64;
        for (i, d) in defs.iter().enumerate() {
            if d.len_ms() == 0 && defs.len() > 1 {
                return Err(ShiftError::ZeroLength(d.name.clone()));
            }
            total += if defs.len() == 1 && d.len_ms() == 0 {
                MS_PER_DAY
            } else {
                d.len_ms()
            };
            let Some(next) = defs.get((i + 1) % defs.len()) else {
                continue;
            };
            if d.end_ms != next.start_ms {
                return Err(ShiftError::NotContiguous {
                    prev: d.name.clone(),
                    next: next.name.clone(),
                });
            }
        }
        if total != MS_PER_DAY {
            return Err(ShiftError::NotOneDay {
                minutes: total / 60_000,
            });
        }
        Ok(Shifts { defs, offset })
    }

    /// The shifts in roster order.
    pub fn defs(&self) -> &[ShiftDef] {
        &self.defs
    }

    /// The local offset the roster is read in.
    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    fn def_len(&self, d: &ShiftDef) -> i64 {
        if self.defs.len() == 1 {
            MS_PER_DAY
        } else {
            d.len_ms()
        }
    }

    /// The UTC bounds `[start, end)` of a shift, or `NoSuchShift`.
    pub fn span(&self, id: ShiftId) -> Result<ShiftSpan, ShiftError> {
        let def =
            id.n.checked_sub(1)
                .and_then(|i| self.defs.get(i))
                .ok_or(ShiftError::NoSuchShift {
                    n: id.n,
                    count: self.defs.len(),
                })?;
        let local_start = id.date.days() * MS_PER_DAY + i64::from(def.start_ms);
        let start = local_start - i64::from(self.offset.seconds()) * 1000;
        Ok(ShiftSpan {
            id,
            name: def.name.clone(),
            start: UtcMs(start),
            end: UtcMs(start + self.def_len(def)),
        })
    }

    /// The shift an instant falls in. The start is inclusive and the end exclusive, so
    /// 07:00:00.000 is the morning shift and 06:59:59.999 still the night one.
    pub fn containing(&self, t: UtcMs) -> ShiftSpan {
        let local = t.local(self.offset);
        // A shift containing `t` started today or yesterday (none is longer than a day).
        for date in [local.date, local.date.pred()] {
            for n in 1..=self.defs.len() {
                if let Ok(span) = self.span(ShiftId { date, n }) {
                    if span.start <= t && t < span.end {
                        return span;
                    }
                }
            }
        }
        // Unreachable for a validated roster (it tiles the day); answer the first
        // shift of the day rather than panic in a CLI.
        ShiftSpan {
            id: ShiftId {
                date: local.date,
                n: 1,
            },
            name: self.defs.first().map(|d| d.name.clone()).unwrap_or_default(),
            start: t,
            end: t,
        }
    }

    /// The shift containing `now`.
    pub fn current(&self, now: UtcMs) -> ShiftSpan {
        self.containing(now)
    }

    /// The shift before the current one: the one that contains its last millisecond.
    pub fn previous(&self, now: UtcMs) -> ShiftSpan {
        let cur = self.containing(now);
        self.containing(cur.start.plus_ms(-1))
    }

    /// The shift a selector names, at `now` for the relative ones.
    pub fn resolve(&self, sel: ShiftSelector, now: UtcMs) -> Result<ShiftSpan, ShiftError> {
        match sel {
            ShiftSelector::Current => Ok(self.current(now)),
            ShiftSelector::Previous => Ok(self.previous(now)),
            ShiftSelector::Id(id) => self.span(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wib() -> Shifts {
        Shifts::default_at(UtcOffset::WIB)
    }

    fn t(s: &str) -> UtcMs {
        UtcMs::parse(s, UtcOffset::WIB).expect("test time parses")
    }

    fn id(s: &str) -> ShiftId {
        match ShiftSelector::parse(s) {
            Ok(ShiftSelector::Id(id)) => id,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn morning_edge_is_exact() {
        let s = wib();
        assert_eq!(
            s.containing(t("2026-11-30 06:59:59.999")).id,
            id("2026-11-29/3")
        );
        assert_eq!(s.containing(t("2026-11-30 07:00")).id, id("2026-11-30/1"));
        assert_eq!(
            s.containing(t("2026-11-30 14:59:59.999")).id,
            id("2026-11-30/1")
        );
        assert_eq!(s.containing(t("2026-11-30 15:00")).id, id("2026-11-30/2"));
    }

    #[test]
    fn night_shift_spans_midnight_and_belongs_to_its_start_date() {
        let s = wib();
        let night = s.span(id("2026-11-30/3")).expect("exists");
        assert_eq!(night.start, t("2026-11-30 23:00"));
        assert_eq!(night.end, t("2026-12-01 07:00"));
        assert_eq!(night.name, "malam");
        for at in [
            "2026-11-30 23:00",
            "2026-12-01 00:00",
            "2026-12-01 03:00",
            "2026-12-01 06:59:59.999",
        ] {
            assert_eq!(s.containing(t(at)).id, night.id, "{at}");
        }
        // In UTC the night shift of the 30th is 16:00Z–24:00Z of the 30th.
        assert_eq!(night.start, t("2026-11-30T16:00Z"));
    }

    #[test]
    fn previous_crosses_dates_months_and_years() {
        let s = wib();
        assert_eq!(s.previous(t("2026-12-01 08:00")).id, id("2026-11-30/3"));
        assert_eq!(s.previous(t("2026-12-01 03:00")).id, id("2026-11-30/2"));
        assert_eq!(s.previous(t("2027-01-01 07:00")).id, id("2026-12-31/3"));
        assert_eq!(s.previous(t("2026-03-01 07:30")).id, id("2026-02-28/3"));
        assert_eq!(s.current(t("2026-12-01 16:00")).id, id("2026-12-01/2"));
    }

    #[test]
    fn selector_parsing() {
        assert_eq!(ShiftSelector::parse("current"), Ok(ShiftSelector::Current));
        assert_eq!(
            ShiftSelector::parse("previous"),
            Ok(ShiftSelector::Previous)
        );
        for bad in [
            "2026-11-30",
            "2026-11-30/0",
            "2026-11-31/1",
            "2026-11-30/x",
            "today",
            "2026-11-30/-1",
        ] {
            assert!(ShiftSelector::parse(bad).is_err(), "{bad}");
        }
        let four = ShiftSelector::parse("2026-11-30/4").expect("syntax ok");
        assert_eq!(
            wib().resolve(four, t("2026-11-30 08:00")),
            Err(ShiftError::NoSuchShift { n: 4, count: 3 })
        );
    }

    #[test]
    fn roster_validation() {
        let d = |n: &str, a: &str, b: &str| ShiftDef::parse(n, a, b).expect("valid times");
        let o = UtcOffset::WIB;
        assert!(Shifts::new(vec![d("a", "08:00", "20:00"), d("b", "20:00", "08:00")], o).is_ok());
        assert!(Shifts::new(vec![d("all", "00:00", "24:00")], o).is_ok());
        assert!(matches!(
            Shifts::new(vec![d("a", "08:00", "20:00"), d("b", "21:00", "08:00")], o),
            Err(ShiftError::NotContiguous { .. })
        ));
        assert!(matches!(
            // Contiguous but wrapping the clock twice: 48 h.
            Shifts::new(
                vec![
                    d("a", "08:00", "20:00"),
                    d("b", "20:00", "08:00"),
                    d("c", "08:00", "20:00"),
                    d("d", "20:00", "08:00")
                ],
                o
            ),
            Err(ShiftError::NotOneDay { minutes: 2880 })
        ));
        assert!(ShiftDef::parse("x", "7:00", "15:00").is_err());
        assert!(ShiftDef::parse("x", "24:30", "15:00").is_err());
        assert_eq!(Shifts::new(vec![], o), Err(ShiftError::Empty));
    }

    #[test]
    fn twelve_hour_roster_at_another_offset() {
        let o = UtcOffset::parse("-03:30").expect("valid");
        let s = Shifts::new(
            vec![
                ShiftDef::parse("day", "08:00", "20:00").expect("valid"),
                ShiftDef::parse("night", "20:00", "08:00").expect("valid"),
            ],
            o,
        )
        .expect("valid roster");
        let at = UtcMs::parse("2026-06-01T07:59:59.999-03:30", o).expect("parses");
        assert_eq!(s.containing(at).id.to_string(), "2026-05-31/2");
        assert_eq!(s.containing(at.plus_ms(1)).id.to_string(), "2026-06-01/1");
    }
}
