//! Wall-clock time as the command center reads it: UTC instants, a fixed local
//! offset, civil dates, times of day and the shift roster.
//!
//! This module sits under everything else (it imports nothing from the crate) because
//! configuration, the IVR's opening hours and the call records all speak of the same
//! times. Nothing here reads the clock except [`UtcMs::now`], which only the shell
//! calls: every other function takes the instant as an argument, so a test can check
//! 06:59:59.999 and 07:00 without waiting for the morning.
//!
//! - `day`: the length of a day and the one `HH:MM[:SS]` parser.
//! - `offset`: [`UtcOffset`] (WIB has no DST, so a fixed offset is exact), weekdays
//!   and the local [`LocalTime`] the opening hours are checked against.
//! - `utc`: [`UtcMs`], the stored form of an instant, and civil dates.
//! - `shift`: the roster ([`Shifts`]) that reports and `calls list` are cut by.
//! - `histogram`: durations counted into fixed buckets ([`Histogram`]), for metrics.

mod day;
mod histogram;
mod offset;
pub mod shift;
mod utc;

pub use histogram::{Histogram, MAX_BOUNDS as HISTOGRAM_MAX_BOUNDS};
pub use day::{parse_time_of_day, MS_PER_DAY, SECS_PER_DAY};
pub use offset::{LocalTime, UtcOffset, Weekday};
pub use shift::{ShiftDef, ShiftError, ShiftId, ShiftSelector, ShiftSpan, Shifts};
pub use utc::{LocalDate, LocalDateTime, UtcMs, wall_clock_at};
