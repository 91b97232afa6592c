//! Time ranges of the queries: a shift's bounds, the CLI's `--shift`, `--since` and
//! `--until` (`calls`, `report`, `operators history`) and the API's same parameters.

use serde::Serialize;

use super::StoreError;
use crate::clock::UtcMs;
use crate::clock::{ShiftSelector, ShiftSpan, Shifts};

/// `[since, until)` in UTC; either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimeRange {
    /// First instant included; `None`: from the first record.
    #[schema(value_type = Option<i64>)]
    pub since: Option<UtcMs>,
    /// First instant excluded; `None`: up to now.
    #[schema(value_type = Option<i64>)]
    pub until: Option<UtcMs>,
}

impl TimeRange {
    /// Exactly the shift's bounds.
    pub fn of_shift(s: &ShiftSpan) -> TimeRange {
        TimeRange {
            since: Some(s.start),
            until: Some(s.end),
        }
    }

    /// The overlap of two ranges (a `--shift` narrowed by `--since`).
    pub fn intersect(self, other: TimeRange) -> TimeRange {
        let max = |a: Option<UtcMs>, b: Option<UtcMs>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, None) | (None, x) => x,
        };
        let min = |a: Option<UtcMs>, b: Option<UtcMs>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) | (None, x) => x,
        };
        TimeRange {
            since: max(self.since, other.since),
            until: min(self.until, other.until),
        }
    }
}

/// Turns the CLI's `--shift`, `--since` and `--until` into a range. `--since`/`--until`
/// narrow a `--shift` when both are given; with none of the three, the current shift
/// (what the operator on duty asks about). Times are local unless they carry `Z` or an
/// offset (see [`UtcMs::parse`]).
pub fn cli_range(
    shifts: &Shifts,
    shift: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    now: UtcMs,
) -> Result<TimeRange, StoreError> {
    let time = |s: Option<&str>| -> Result<Option<UtcMs>, StoreError> {
        match s {
            None => Ok(None),
            Some(s) => UtcMs::parse(s, shifts.offset())
                .map(Some)
                .ok_or_else(|| StoreError::BadTime(s.to_string())),
        }
    };
    let explicit = TimeRange {
        since: time(since)?,
        until: time(until)?,
    };
    let base = match shift {
        Some(s) => TimeRange::of_shift(&shifts.resolve(ShiftSelector::parse(s)?, now)?),
        None if since.is_none() && until.is_none() => TimeRange::of_shift(&shifts.current(now)),
        None => TimeRange::default(),
    };
    Ok(base.intersect(explicit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UtcOffset;

    #[test]
    fn cli_range_combinations() {
        let o = UtcOffset::WIB;
        let shifts = Shifts::default_at(o);
        let t = |s: &str| UtcMs::parse(s, o).expect("parses");
        let now = t("2026-11-30 16:00");
        let r = |a: &str, b: &str| TimeRange {
            since: Some(t(a)),
            until: Some(t(b)),
        };
        assert_eq!(
            cli_range(&shifts, None, None, None, now).ok(),
            Some(r("2026-11-30 15:00", "2026-11-30 23:00"))
        );
        assert_eq!(
            cli_range(&shifts, Some("previous"), None, None, now).ok(),
            Some(r("2026-11-30 07:00", "2026-11-30 15:00"))
        );
        assert_eq!(
            cli_range(
                &shifts,
                Some("2026-11-29/3"),
                Some("2026-11-30 05:00"),
                None,
                now
            )
            .ok(),
            Some(r("2026-11-30 05:00", "2026-11-30 07:00"))
        );
        assert_eq!(
            cli_range(&shifts, None, Some("2026-11-01"), None, now).ok(),
            Some(TimeRange {
                since: Some(t("2026-11-01 00:00")),
                until: None
            })
        );
        assert!(matches!(
            cli_range(&shifts, None, Some("monday"), None, now),
            Err(StoreError::BadTime(_))
        ));
        assert!(matches!(
            cli_range(&shifts, Some("2026-11-30/9"), None, None, now),
            Err(StoreError::Shift(_))
        ));
    }
}
