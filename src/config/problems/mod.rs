//! How validation reports: [`Problems`] gathers every [`ConfigError`] with its TOML
//! path and line, and the typed readers here (`int_in`, `duration_in`, the id and
//! number checks) turn one raw value into a typed one or into one problem.
//!
//! Each table file validates with these and always returns a usable value (falling
//! back to the default for a bad key), so validation goes on and the administrator
//! sees every mistake in one run instead of fixing them one restart at a time. It imports
//! nothing else from `config` (its child [`span`] turns byte offsets into lines and TOML
//! paths): every table file can use it, it uses none of them.

use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

pub(super) mod span;

use self::span::{line_of, Origin, S};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// TOML path such as `sip.listen_udp[1]`; empty when the problem is the file
    /// itself (unreadable, or a syntax error outside any table).
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "{line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Where validation problems are gathered, with the source text to turn spans into
/// line numbers.
pub(crate) struct Problems<'a> {
    text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Problems {
            text,
            errors: Vec::new(),
        }
    }

    /// A problem with a value written in the file.
    pub(crate) fn at(
        &mut self,
        path: impl Into<String>,
        span: Range<usize>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            path: path.into(),
            line: Some(line_of(self.text, span.start)),
            message: message.into(),
        });
    }

    /// For cross-key problems whose table may be absent from the file altogether.
    pub(crate) fn maybe_at(
        &mut self,
        path: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            path: path.into(),
            line: span.map(|s| line_of(self.text, s.start)),
            message: message.into(),
        });
    }

    /// Whether a problem was already reported under `prefix` (a table or key path),
    /// so a check that depends on it can stay quiet rather than report a derived error.
    pub(crate) fn any_under(&self, prefix: &str) -> bool {
        self.errors.iter().any(|e| e.path.starts_with(prefix))
    }
}

/// A default value's note in cross-reference messages.
pub(crate) fn from_default(origin: &Origin, table: &str) -> String {
    if origin.is_some() {
        String::new()
    } else {
        format!(" (this is the default {table}, not written in the file; write it to change it)")
    }
}

/// An integer key within `range`; `expected` says the range in the admin's words.
pub(crate) fn int_in(
    raw: Option<&S<i64>>,
    path: &str,
    range: RangeInclusive<i64>,
    expected: &str,
    p: &mut Problems<'_>,
) -> Option<i64> {
    let raw = raw?;
    let v = *raw.get_ref();
    if range.contains(&v) {
        Some(v)
    } else {
        p.at(
            path,
            raw.span(),
            format!("{v} is out of range; expected {expected}"),
        );
        None
    }
}

/// A duration key with its own bounds; `range_text` says them in the admin's words.
pub(crate) fn duration_in(
    raw: Option<&S<toml::Value>>,
    path: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
    range_text: &str,
    p: &mut Problems<'_>,
) -> Duration {
    let Some(raw) = raw else { return default };
    let parsed = match raw.get_ref() {
        toml::Value::String(s) => parse_duration(s),
        toml::Value::Integer(n) => Err(format!(
            "{n} has no unit; expected a duration string like \"{n}s\" or \"500ms\""
        )),
        other => Err(format!(
            "found a {}; expected a duration string like \"20s\", \"500ms\" or \"2m\"",
            other.type_str()
        )),
    };
    match parsed {
        Ok(d) if range.contains(&d) => d,
        Ok(d) => {
            p.at(
                path,
                raw.span(),
                format!("{d:?} is out of range; expected {range_text}"),
            );
            default
        }
        Err(msg) => {
            p.at(path, raw.span(), msg);
            default
        }
    }
}

/// Durations are written with a unit because a bare number invites the classic
/// seconds-versus-milliseconds mistake.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let bad = || {
        format!("{s:?} is not a duration; expected a whole number with a unit: \"500ms\", \"20s\", \"2m\" or \"1h\"")
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    };
    Ok(d)
}

/// The `number` key of an entry (an emergency number, a direct number): checked with
/// [`number_problem`], or reported missing at the entry with `missing` as the hint.
pub(crate) fn entry_number(
    number: Option<&S<toml::Value>>,
    here: &str,
    entry: Range<usize>,
    missing: &str,
    p: &mut Problems<'_>,
) -> Option<String> {
    let Some(v) = number else {
        p.at(here, entry, missing);
        return None;
    };
    match number_problem(v.get_ref()) {
        Ok(n) => Some(n),
        Err(msg) => {
            p.at(format!("{here}.number"), v.span(), msg);
            None
        }
    }
}

/// A dialled number (emergency or direct). Numbers are strings because leading zeros
/// matter in dial strings and an integer would silently drop them.
pub(crate) fn number_problem(v: &toml::Value) -> Result<String, String> {
    let s = match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(n) => {
            return Err(format!(
                "{n} is a TOML integer; expected the number as a string: \"{n}\""
            ))
        }
        other => {
            return Err(format!(
                "found a {}; expected a string of 2 to 6 digits like \"112\"",
                other.type_str()
            ))
        }
    };
    if !s.chars().all(|c| c.is_ascii_digit()) || s.is_empty() {
        Err(format!(
            "{s:?} is not a dialable number; expected digits only (2 to 6), like \"112\""
        ))
    } else if !(2..=6).contains(&s.len()) {
        Err(format!(
            "{s:?} has {} digits; expected 2 to 6 digits, like \"112\"",
            s.len()
        ))
    } else {
        Ok(s.clone())
    }
}

/// Ids (queues, menus, prompts) are written in configs, logs, URLs and file names, so
/// they stay plain.
pub(crate) fn id_problem(kind: &str, s: &str, example: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!ok).then(|| {
        format!(
            "{s:?} is not a valid {kind} id; expected lowercase letters, digits and _ \
             (starting with a letter, at most 32), like {example:?}"
        )
    })
}

/// A language code, which also names the prompt folder.
pub(crate) fn lang_problem(s: &str) -> Option<String> {
    let ok = (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase());
    (!ok).then(|| {
        format!(
            "{s:?} is not a language code; expected a lowercase ISO 639 code of 2 or 3 \
             letters, like \"id\" or \"en\" (it also names the folder config/prompts/<code>/)"
        )
    })
}
