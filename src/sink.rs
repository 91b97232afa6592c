//! A value from the network made safe for the sink it goes to.
//!
//! A caller's number is the unescaped user part of its From URI, and its name the From
//! display name: a stranger writes both, and `%0D%0A` in a URI unescapes to a line
//! break. Such a value is data wherever it goes, never syntax: one function per sink.
//! - [`header_value`]: a SIP header value (our INVITE to an operator carries the
//!   caller's number and name), where a line break would start a header of the caller's
//!   choosing;
//! - [`quoted`]: the inside of a quoted string (the display name we show the operator);
//! - [`printable`]: a log field or a terminal (`cc112 calls list`), where a line break
//!   forges a log line and an escape sequence drives the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` as a header value: every control character (CR, LF, NUL, TAB, DEL...) and `%`
/// itself written as `%XX`, so nothing can end the header and the original stays
/// recoverable; any other character, UTF-8 included (RFC 3261 `TEXT-UTF8char`), as is.
pub fn header_value(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || c == '%') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() || c == '%' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as the inside of a quoted string (RFC 3261 §25.1): a header value in which `"`
/// and `\` are escaped as quoted pairs, so the string ends where we end it.
pub fn quoted(s: &str) -> String {
    let v = header_value(s);
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` for a log field or a terminal: control characters written as Rust escapes
/// (`\r`, `\n`, `\u{1b}`), everything else as is.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "0812\r\nX-Injected: yes\r\nX-CC112-Department: fake\u{1b}[2J\0%";

    #[test]
    fn a_header_value_cannot_start_a_header_and_keeps_what_was_sent() {
        let v = header_value(HOSTILE);
        assert!(!v.chars().any(char::is_control), "{v}");
        assert_eq!(v, "0812%0D%0AX-Injected: yes%0D%0AX-CC112-Department: fake%1B[2J%00%25");
        assert!(matches!(header_value("+62 812 Siti Ünal"), Cow::Borrowed(_)), "ordinary values are not copied");
    }

    #[test]
    fn a_quoted_string_ends_where_we_end_it() {
        assert_eq!(quoted(r#"Medis "112" \ x"#), r#"Medis \"112\" \\ x"#);
        assert_eq!(quoted("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn a_log_field_or_a_terminal_cell_stays_one_line_without_escape_sequences() {
        let p = printable(HOSTILE);
        assert!(!p.chars().any(char::is_control), "{p}");
        assert!(p.contains(r"\r\nX-Injected") && p.contains(r"\u{1b}[2J"), "{p}");
        assert!(matches!(printable("Siti"), Cow::Borrowed(_)));
    }
}
