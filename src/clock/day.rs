//! The length of a day and the one parser for a written time of day.

/// Seconds in a civil day (no leap seconds: the offsets are fixed and UTC is smeared).
pub const SECS_PER_DAY: u32 = 86_400;

/// Milliseconds in a civil day, the unit of stored instants.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `HH:MM` or `HH:MM:SS`, 24-hour, two digits each, to seconds after midnight;
/// `24:00` (the end of the day, [`SECS_PER_DAY`]) only when `allow_24`.
///
/// The text is taken as is: callers that accept surrounding blanks trim first, so a
/// stray space inside a longer timestamp is still refused.
pub fn parse_time_of_day(s: &str, allow_24: bool) -> Option<u32> {
    let mut parts = [0u32; 3];
    let mut count = 0;
    for part in s.split(':') {
        let slot = parts.get_mut(count)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
        count += 1;
    }
    if count < 2 {
        return None;
    }
    let [h, m, sec] = parts;
    if h == 24 && m == 0 && sec == 0 && allow_24 {
        return Some(SECS_PER_DAY);
    }
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_parsing() {
        assert_eq!(parse_time_of_day("07:00", false), Some(25200));
        assert_eq!(parse_time_of_day("23:59:59", false), Some(86399));
        assert_eq!(parse_time_of_day("24:00", true), Some(86400));
        assert_eq!(parse_time_of_day("24:00", false), None);
        assert_eq!(parse_time_of_day("24:00:01", true), None);
        assert_eq!(parse_time_of_day("7:00", false), None);
        assert_eq!(parse_time_of_day("12:60", false), None);
        assert_eq!(parse_time_of_day("12", false), None);
        assert_eq!(parse_time_of_day("12:00:00:00", false), None);
        assert_eq!(parse_time_of_day(" 07:00", false), None);
    }
}
