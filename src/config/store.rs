//! `[store]`: where call records go and how the day is cut into shifts.
//!
//! Shifts are validated here, with the file's line numbers, so that a roster with a gap
//! or an overlap is refused by `check-config` rather than discovered by a supervisor
//! whose report misses an hour of calls.

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::{int_in, Problems};
use crate::clock::{ShiftDef, Shifts, UtcOffset};

/// `[store]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<S<String>>,
    pub queue_capacity: Option<S<i64>>,
    pub shifts: Option<S<Vec<S<RawShift>>>>,
    pub central: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShift {
    pub name: Option<S<String>>,
    pub start: Option<S<String>>,
    pub end: Option<S<String>>,
}

/// The validated `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The SQLite file, relative to the working directory unless absolute.
    pub path: PathBuf,
    /// Records that may wait for the disk: past half of it timeline events are
    /// dropped, at it new calls are refused with 503 (`store::writer`).
    pub queue_capacity: usize,
    /// `(name, start, end)` in local time; each shift belongs to the date it starts.
    pub shifts: Vec<(String, String, String)>,
    /// `postgres://user@host:port/db` of the central record view the node also ships
    /// its records to (`runtime::central`); `None`: this node's SQLite only.
    pub central: Option<String>,
}

pub(crate) const DEFAULT_PATH: &str = "data/cc112.db";
pub(crate) const DEFAULT_SHIFTS: &[(&str, &str, &str)] = &[("pagi", "07:00", "15:00"), ("siang", "15:00", "23:00"), ("malam", "23:00", "07:00")];

pub(crate) fn default_store() -> StoreConfig {
    StoreConfig {
        path: PathBuf::from(DEFAULT_PATH),
        queue_capacity: 100_000,
        shifts: DEFAULT_SHIFTS.iter().map(|(n, s, e)| (n.to_string(), s.to_string(), e.to_string())).collect(),
        central: None,
    }
}

pub(crate) fn store(raw: Option<S<RawStore>>, offset: UtcOffset, p: &mut Problems<'_>) -> StoreConfig {
    let mut out = default_store();
    let Some(raw) = raw else { return out };
    let raw = raw.into_inner();
    if let Some(path) = raw.path {
        let span = path.span();
        let v = path.into_inner();
        if v.trim().is_empty() || v.contains('\0') {
            p.at("store.path", span, "expected a file path such as \"data/cc112.db\"");
        } else {
            out.path = PathBuf::from(v);
        }
    }
    if let Some(url) = raw.central {
        let span = url.span();
        match central_url(url.into_inner()) {
            Ok(v) => out.central = v,
            Err(why) => p.at("store.central", span, why),
        }
    }
    if let Some(c) = int_in(raw.queue_capacity.as_ref(), "store.queue_capacity", 1_000..=10_000_000, "a number of records from 1000 to 10000000", p) {
        out.queue_capacity = c as usize;
    }
    if let Some(list) = raw.shifts {
        let list_span = list.span();
        let mut defs = Vec::new();
        let mut texts = Vec::new();
        let mut bad = 0;
        for (i, entry) in list.into_inner().into_iter().enumerate() {
            let here = format!("store.shifts[{i}]");
            let span = entry.span();
            let e = entry.into_inner();
            let (Some(name), Some(start), Some(end)) = (e.name, e.start, e.end) else {
                p.at(here, span, "each shift needs name, start and end, like { name = \"pagi\", start = \"07:00\", end = \"15:00\" }");
                bad += 1;
                continue;
            };
            let (n, s, en) = (name.get_ref().clone(), start.get_ref().clone(), end.get_ref().clone());
            match ShiftDef::parse(&n, &s, &en) {
                Ok(d) => {
                    defs.push(d);
                    texts.push((n, s, en));
                }
                Err(err) => {
                    p.at(here, span, err.to_string());
                    bad += 1;
                }
            }
        }
        // The roster as a whole is checked only when every shift in it is readable, so
        // one typo does not also report a gap.
        if bad == 0 {
            if defs.is_empty() {
                p.at("store.shifts", list_span, "at least one shift is needed; the default is three: 07:00, 15:00, 23:00");
            } else {
                match Shifts::new(defs, offset) {
                    Ok(_) => out.shifts = texts,
                    Err(err) => p.at("store.shifts", list_span, err.to_string()),
                }
            }
        }
    }
    out
}

/// The longest `[store] central` URL accepted.
const CENTRAL_URL_MAX: usize = 512;

/// `[store] central`: empty is off; else a `postgres://` URL that the PostgreSQL client
/// itself accepts (so a typo is found by `check-config`, not at the first shipment).
fn central_url(v: String) -> Result<Option<String>, String> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    let form = "expected a PostgreSQL URL such as \"postgres://cc112@10.0.0.5:5432/cc112\", or \"\" for none";
    let printable = v.len() <= CENTRAL_URL_MAX && v.bytes().all(|b| b.is_ascii_graphic());
    if !printable || !(v.starts_with("postgres://") || v.starts_with("postgresql://")) {
        return Err(form.to_string());
    }
    match v.parse::<tokio_postgres::Config>() {
        Ok(_) => Ok(Some(v)),
        Err(e) => Err(format!("{form} ({e})")),
    }
}

impl StoreConfig {
    /// The shift roster in the given local offset (validated at load, so it builds).
    pub fn shifts(&self, offset: UtcOffset) -> Shifts {
        let defs: Option<Vec<ShiftDef>> = self.shifts.iter().map(|(n, s, e)| ShiftDef::parse(n, s, e).ok()).collect();
        defs.and_then(|d| Shifts::new(d, offset).ok()).unwrap_or_else(|| Shifts::default_at(offset))
    }
}
