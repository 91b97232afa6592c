//! Reading a config: TOML syntax, then the raw tables, then validation, with every
//! problem reported as `{origin}:{line}: {path}: {message}` in one go.
//!
//! A reload goes through the same [`Config::load`] and applies whole or not at all.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::plan::{validate, Config, RawConfig};
use super::problems::{ConfigError, Problems};
use super::problems::span;
use crate::sink::printable;

/// The shipped configuration, compiled in so the binary runs (and `--print-default`
/// style tooling works) without any file on disk.
pub const DEFAULT_TOML: &str = include_str!("../../config/cc112.toml");

/// Origin used in messages about [`DEFAULT_TOML`].
pub const EMBEDDED_ORIGIN: &str = "config/cc112.toml (embedded)";

/// Every problem found in one config file, so the administrator fixes them all in
/// one edit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file name used in messages.
    pub origin: String,
    /// In file order, per-table problems first within the routing tables.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One line per error, `{origin}:{line}: {path}: {message}`, the shape compilers
    /// use so editors can jump to the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            // A message may quote the file (a name with a line break): one printable
            // line per error whatever it says.
            write!(f, "{}:", printable(&self.origin))?;
            if let Some(line) = e.line {
                write!(f, "{line}:")?;
            }
            if !e.path.is_empty() {
                write!(f, " {}:", printable(&e.path))?;
            }
            write!(f, " {}", printable(&e.message))?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    fn single(origin: &str, path: String, line: Option<usize>, message: String) -> Self {
        ConfigErrors {
            origin: origin.to_string(),
            errors: vec![ConfigError {
                path,
                line,
                message,
            }],
        }
    }
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        // Syntax first: without a document tree there is no path to report, only
        // the nearest table header and key.
        let doc = toml::de::DeTable::parse(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            ConfigErrors::single(
                origin,
                at.map(|o| span::path_near(text, o)).unwrap_or_default(),
                at.map(|o| span::line_of(text, o)),
                format!("TOML syntax error: {}", one_line(e.message())),
            )
        })?;
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(|e| deserialize_error(text, origin, &doc, &e))?;
        let mut problems = Problems::new(text);
        let config = validate(raw, version_of(text), &mut problems);
        if !problems.errors.is_empty() {
            return Err(ConfigErrors {
                origin: origin.to_string(),
                errors: problems.errors,
            });
        }
        Ok(config)
    }

    /// Reads and validates a config file; an unreadable file is reported like any
    /// other config problem so `main` has one error path.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(&origin, String::new(), None, format!("cannot read: {e}"))
        })?;
        Config::from_toml(&text, &origin)
    }

    /// The shipped default. It is covered by tests, so failure here means a broken
    /// build, but callers still get an error rather than a panic.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        Config::from_toml(DEFAULT_TOML, EMBEDDED_ORIGIN)
    }
}

fn version_of(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(12);
    hex
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', "; ")
}

/// Rephrases serde's programmer vocabulary ("field", "i64", "sequence") into the
/// words of a TOML file, and attaches the path found from the error span.
fn deserialize_error(
    text: &str,
    origin: &str,
    doc: &toml::Spanned<toml::de::DeTable<'_>>,
    e: &toml::de::Error,
) -> ConfigErrors {
    let (path, line) = match e.span() {
        Some(s) => (
            span::render_path(&span::path_at(doc, &s)),
            Some(span::line_of(text, s.start)),
        ),
        None => (String::new(), None),
    };
    let mut message = one_line(e.message());
    for (from, to) in [
        ("unknown field", "unknown key"),
        ("missing field", "missing key"),
        ("expected i64", "expected an integer"),
        ("expected a sequence", "expected an array"),
        ("a sequence", "an array"),
        ("expected a string", "expected a string in quotes"),
        ("invalid type: map", "invalid type: table"),
    ] {
        message = message.replace(from, to);
    }
    // toml widens integers that overflow i64 to i128 before serde rejects them.
    if let Some(n) = message
        .strip_prefix("invalid type: integer `")
        .and_then(|rest| rest.split_once("` as i128"))
        .map(|(n, _)| n.to_string())
    {
        message = format!("{n} is too large; expected a number in range for this key");
    }
    if message.contains("expected struct") {
        if let Some(i) = message.find("expected struct") {
            message.truncate(i);
            message.push_str("expected a table");
        }
    }
    ConfigErrors::single(origin, path, line, message)
}
