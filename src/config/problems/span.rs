//! Turning byte offsets into what an administrator can act on: a line number and a
//! TOML path (`emergency.numbers[2].label`).
//!
//! The toml deserializer reports *where* an error is (a byte span) but keeps the key
//! path to itself, so we recover the path by walking the spanned document tree that
//! `toml::de::DeTable` gives us and finding the key or value that the span points at.
//!
//! A leaf of `config`: it imports nothing else from it, so every table file can use it.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A value with where it was written, so validation errors carry a line number.
pub(crate) type S<T> = Spanned<T>;

/// Where a value came from: a span in the file, or `None` for a default.
pub(crate) type Origin = Option<Range<usize>>;

/// 1-based line of a byte offset, because editors and `vim +N` count from one.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .iter()
        .take(end)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step of a TOML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A table key (`listen_udp`).
    Key(String),
    /// An array position (`[1]`).
    Index(usize),
}

/// Renders a path the way an administrator would type it in TOML, so that an error
/// can be matched against the file by eye (`sip.listen_udp[1]`, `a."odd key"`).
pub(crate) fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    out.push_str(key);
                } else {
                    out.push('"');
                    out.push_str(&key.escape_default().to_string());
                    out.push('"');
                }
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// `prefix.key`, quoting the key when TOML would need quotes.
pub(crate) fn key_path(prefix: &str, key: &str) -> String {
    format!("{prefix}.{}", render_path(&[Segment::Key(key.to_string())]))
}

/// How well a node's span matches the error span; an exact hit beats containment,
/// and among containing nodes the deepest wins (it is the most specific).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Contains(usize),
    Exact,
}

fn fit(node: &Range<usize>, err: &Range<usize>, depth: usize) -> Option<Fit> {
    if node == err {
        Some(Fit::Exact)
    } else if node.start <= err.start && err.end <= node.end && node.start < node.end {
        Some(Fit::Contains(depth))
    } else {
        None
    }
}

/// Finds the TOML path that a deserializer error span points at.
///
/// Returns an empty path when the span is the whole document (e.g. a missing
/// top-level key), which callers render as the document itself.
pub(crate) fn path_at(root: &Spanned<DeTable<'_>>, err: &Range<usize>) -> Vec<Segment> {
    let mut best: Option<(Fit, Vec<Segment>)> = None;
    let mut prefix = Vec::new();
    walk_table(root.get_ref(), err, &mut prefix, &mut best);
    best.map(|(_, path)| path).unwrap_or_default()
}

fn consider(best: &mut Option<(Fit, Vec<Segment>)>, candidate: Fit, path: &[Segment]) {
    let better = match best {
        Some((current, _)) => candidate > *current,
        None => true,
    };
    if better {
        *best = Some((candidate, path.to_vec()));
    }
}

fn walk_table(
    table: &DeTable<'_>,
    err: &Range<usize>,
    prefix: &mut Vec<Segment>,
    best: &mut Option<(Fit, Vec<Segment>)>,
) {
    let depth = prefix.len() + 1;
    for (key, value) in table.iter() {
        prefix.push(Segment::Key(key.get_ref().to_string()));
        if let Some(f) = fit(&key.span(), err, depth) {
            consider(best, f, prefix);
        }
        walk_value(value, err, prefix, best);
        prefix.pop();
    }
}

fn walk_value(
    value: &Spanned<DeValue<'_>>,
    err: &Range<usize>,
    prefix: &mut Vec<Segment>,
    best: &mut Option<(Fit, Vec<Segment>)>,
) {
    if let Some(f) = fit(&value.span(), err, prefix.len()) {
        consider(best, f, prefix);
    }
    match value.get_ref() {
        DeValue::Table(table) => walk_table(table, err, prefix, best),
        DeValue::Array(array) => {
            for (i, item) in array.into_iter().enumerate() {
                prefix.push(Segment::Index(i));
                walk_value(item, err, prefix, best);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// Best-effort path for a syntax error, where no document tree exists: the table
/// header in force at that line, plus the key written on the line if there is one.
pub(crate) fn path_near(text: &str, offset: usize) -> String {
    let end = offset.min(text.len());
    let before = text.get(..end).unwrap_or(text);
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_text = text
        .get(line_start..)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .trim();
    // The header on the error's own line counts too: `[sip]` written twice.
    let upto = text
        .get(..line_start)
        .unwrap_or("")
        .lines()
        .chain([line_text]);
    let mut table = String::new();
    for line in upto {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[');
            if let Some((inside, _)) = name.split_once(']') {
                table = inside.trim().to_string();
            }
        }
    }
    let key = match line_text.split_once('=') {
        Some((k, _)) if !line_text.starts_with('[') && !line_text.starts_with('#') => {
            k.trim().to_string()
        }
        _ => String::new(),
    };
    match (table.is_empty(), key.is_empty()) {
        (true, true) => String::new(),
        (true, false) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        let text = "a = 1\nb = 2\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 999), 3);
    }

    #[test]
    fn paths_render_like_toml() {
        let p = [
            Segment::Key("sip".into()),
            Segment::Key("listen_udp".into()),
            Segment::Index(1),
        ];
        assert_eq!(render_path(&p), "sip.listen_udp[1]");
        assert_eq!(render_path(&[Segment::Key("a b".into())]), "\"a b\"");
    }

    #[test]
    fn span_finds_key_in_array_of_tables() {
        let text = "[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"x\"\n\n[[emergency.numbers]]\nnumber = \"113\"\nlabel = \"y\"\n";
        let doc = DeTable::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let at = text.rfind("label").unwrap_or(0);
        let path = path_at(&doc, &(at..at + 5));
        assert_eq!(render_path(&path), "emergency.numbers[1].label");
    }

    #[test]
    fn syntax_path_uses_header_and_key() {
        let text = "[sip]\nuser_agent = \"x\n";
        assert_eq!(
            path_near(text, text.find("\"x").unwrap_or(0)),
            "sip.user_agent"
        );
        assert_eq!(path_near("[media\n", 0), "");
    }
}
