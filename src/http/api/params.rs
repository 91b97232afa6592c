//! The API's parameters, checked before anything is read or sent (pure, unit-tested):
//! every string bounded in length, the page size bounded, the page cursor parsed
//! strictly, a pause reason made printable and bounded, a report's range bounded.
//! Nothing the client sends sizes an allocation past these bounds.

use crate::clock::UtcMs;
use crate::store::query::{CallRow, TimeRange};

/// Calls a page holds when the client does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// The most calls a page holds.
pub const MAX_LIMIT: usize = 500;
/// The longest text parameter accepted (a shift, a time, a department, a number, an
/// id): longer is refused with 400, not truncated.
pub const MAX_PARAM: usize = 256;
/// The longest pause reason, in characters.
pub const MAX_REASON: usize = 200;
/// The longest range a report covers: a quarter. The report holds 8 bytes per
/// answered call of the range, never the rows, but its time grows with the range.
pub const MAX_REPORT_DAYS: i64 = 93;
/// The longest record id in a cursor (a ULID is 26 characters).
const MAX_CURSOR_ID: usize = 64;

/// The page size asked for: [`DEFAULT_LIMIT`] when absent; 1 to [`MAX_LIMIT`].
pub fn limit(asked: Option<usize>) -> Result<usize, String> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!("limit {n} is not within 1..={MAX_LIMIT}")),
    }
}

/// `Err` naming the first parameter longer than [`MAX_PARAM`].
pub fn bounded<'a>(params: impl IntoIterator<Item = (&'static str, Option<&'a str>)>) -> Result<(), String> {
    for (name, v) in params {
        if v.is_some_and(|v| v.len() > MAX_PARAM) {
            return Err(format!("{name} is longer than {MAX_PARAM} bytes"));
        }
    }
    Ok(())
}

/// The cursor that continues a list after `row`: `<started_at ms>.<record id>`.
pub fn cursor_after(row: &CallRow) -> String {
    format!("{}.{}", row.started_at.millis(), row.id)
}

/// A cursor made by [`cursor_after`]; `None` for anything else.
pub fn parse_cursor(s: &str) -> Option<(UtcMs, String)> {
    let (ms, id) = s.split_once('.')?;
    let valid_ms = !ms.is_empty() && ms.len() <= 19 && ms.bytes().all(|b| b.is_ascii_digit());
    let valid_id = !id.is_empty() && id.len() <= MAX_CURSOR_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(valid_ms && valid_id) {
        return None;
    }
    Some((UtcMs(ms.parse().ok()?), id.to_string()))
}

/// A pause reason as kept in the history: trimmed, at most [`MAX_REASON`] characters,
/// control characters escaped; `supervisor` (as the CLI's default) when empty.
pub fn reason(asked: Option<&str>) -> Result<String, String> {
    let r = asked.unwrap_or("").trim();
    if r.chars().count() > MAX_REASON {
        return Err(format!("reason is longer than {MAX_REASON} characters"));
    }
    if r.is_empty() {
        return Ok("supervisor".into());
    }
    Ok(crate::sink::printable(r).into_owned())
}

/// A report's range must start somewhere and span at most [`MAX_REPORT_DAYS`].
pub fn report_range(range: TimeRange, now: UtcMs) -> Result<TimeRange, String> {
    let Some(since) = range.since else {
        return Err("a report needs a start: give shift or since".into());
    };
    let until = range.until.unwrap_or(now);
    if until.millis().saturating_sub(since.millis()) > MAX_REPORT_DAYS * 86_400_000 {
        return Err(format!("a report covers at most {MAX_REPORT_DAYS} days"));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_size_is_bounded() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some(1)), Ok(1));
        assert_eq!(limit(Some(MAX_LIMIT)), Ok(MAX_LIMIT));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(MAX_LIMIT + 1)).is_err());
        assert!(limit(Some(usize::MAX)).is_err());
    }

    #[test]
    fn a_cursor_reads_back_and_nothing_else_parses() {
        let row = CallRow {
            id: "01JDZ8Q3R7M2W4X6Y8Z0A1B2C3".into(),
            sip_call_id: String::new(),
            caller: String::new(),
            caller_name: None,
            dialed: String::new(),
            identity: String::new(),
            started_at: UtcMs(1_764_000_000_123),
            answered_at: None,
            language: None,
            ivr_digits: None,
            ivr_path: None,
            department: None,
            queue_entered_at: None,
            operator: None,
            operator_answered_at: None,
            ended_at: None,
            outcome: None,
            hangup_by: None,
            end_reason: None,
            config_version: None,
            flags: None,
            direction: None,
            voice: None,
            voice_first_speech_ms: None,
            voice_noise_ms: None,
            voice_silence_ms: None,
        };
        let c = cursor_after(&row);
        assert_eq!(parse_cursor(&c), Some((row.started_at, row.id.clone())));
        for bad in ["", ".", "1.", ".abc", "x.abc", "1.a b", "1.a'--", "99999999999999999999.a", &format!("1.{}", "a".repeat(65)), "1.abc.def", "-1.abc"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reasons_are_bounded_and_printable() {
        assert_eq!(reason(None).as_deref(), Ok("supervisor"));
        assert_eq!(reason(Some("  ")).as_deref(), Ok("supervisor"));
        assert_eq!(reason(Some(" break ")).as_deref(), Ok("break"));
        assert_eq!(reason(Some("a\u{1b}[31mb\nc")).as_deref(), Ok("a\\u{1b}[31mb\\nc"));
        assert_eq!(reason(Some(&"é".repeat(MAX_REASON))).map(|r| r.chars().count()), Ok(MAX_REASON));
        assert!(reason(Some(&"x".repeat(MAX_REASON + 1))).is_err());
    }

    #[test]
    fn long_parameters_are_refused() {
        assert!(bounded([("a", Some("x")), ("b", None)]).is_ok());
        let long = "x".repeat(MAX_PARAM + 1);
        assert_eq!(bounded([("a", Some("x")), ("caller", Some(long.as_str()))]), Err(format!("caller is longer than {MAX_PARAM} bytes")));
    }

    #[test]
    fn a_report_range_starts_somewhere_and_is_bounded() {
        let day = 86_400_000;
        let now = UtcMs(1_000 * day);
        let r = |a: Option<i64>, b: Option<i64>| TimeRange { since: a.map(UtcMs), until: b.map(UtcMs) };
        assert!(report_range(r(None, Some(5)), now).is_err());
        assert!(report_range(r(Some(990 * day), None), now).is_ok());
        assert!(report_range(r(Some(800 * day), None), now).is_err());
        assert!(report_range(r(Some(0), Some(MAX_REPORT_DAYS * day)), now).is_ok());
        assert!(report_range(r(Some(0), Some(MAX_REPORT_DAYS * day + 1)), now).is_err());
    }
}
