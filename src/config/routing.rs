//! `[routing]`: the fallback queue, the local UTC offset for opening hours, and the
//! direct numbers that skip the menu.
//!
//! The raw table, the typed [`RoutingTable`] and the validator. Whether the queues it
//! names exist, and whether a direct number is an emergency number at all, is checked
//! in `cross_refs.rs` once every table is read.

use serde::Deserialize;

use super::ids::QueueId;
use super::problems::{entry_number, id_problem, Problems};
use super::problems::span::{Origin, S};
use crate::clock::UtcOffset;

/// `[routing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub fallback_queue: Option<S<String>>,
    pub silent_queue: Option<S<String>>,
    pub utc_offset: Option<S<String>>,
    pub direct: Option<S<Vec<S<RawDirect>>>>,
    /// `[routing.nuisance]`, taken out before the rest is validated (`plan.rs`).
    pub nuisance: Option<S<super::nuisance::RawNuisance>>,
}

/// One `[[routing.direct]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirect {
    /// Any value, for the same integer-hint reason as an emergency number.
    pub number: Option<S<toml::Value>>,
    pub queue: Option<S<String>>,
}

/// A legacy number that bypasses the menu (callers who dial 118 want an ambulance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectNumber {
    /// The dialled number, digits only.
    pub number: String,
    /// Where its calls go.
    pub queue: QueueId,
}

/// The validated `[routing]` table, whose fields the [`super::RoutingPlan`] copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoutingTable {
    pub fallback_queue: QueueId,
    /// Where a silent caller who pressed 5 5 goes (`None`: the fallback queue).
    pub silent_queue: Option<QueueId>,
    pub utc_offset: UtcOffset,
    pub direct: Vec<DirectNumber>,
}

/// The fallback queue id, where it was written and its path.
pub(crate) type FallbackAt = (QueueId, Origin, String);
/// A direct number, its path and where it was written.
pub(crate) type DirectAt = (DirectNumber, String, Origin);

const FALLBACK_PATH: &str = "routing.fallback_queue";
const SILENT_PATH: &str = "routing.silent_queue";

/// Validates `[routing]`; a key not written (or unusable) keeps the default `d`.
pub(crate) fn routing_table(
    raw: Option<S<RawRouting>>,
    d: &RoutingTable,
    p: &mut Problems<'_>,
) -> (FallbackAt, UtcOffset, Vec<DirectAt>, Option<FallbackAt>) {
    let Some(raw) = raw else {
        return (
            (d.fallback_queue.clone(), None, FALLBACK_PATH.to_string()),
            d.utc_offset,
            default_direct(d),
            d.silent_queue.clone().map(|q| (q, None, SILENT_PATH.to_string())),
        );
    };
    let raw = raw.into_inner();
    let fallback = fallback_queue(raw.fallback_queue.as_ref(), d, p);
    let silent = match &raw.silent_queue {
        None => d.silent_queue.clone().map(|q| (q, None, SILENT_PATH.to_string())),
        Some(f) => match id_problem("queue", f.get_ref(), "general") {
            None => Some((QueueId::new(f.get_ref().as_str()), Some(f.span()), SILENT_PATH.to_string())),
            Some(msg) => {
                p.at(SILENT_PATH, f.span(), msg);
                None
            }
        },
    };
    let offset = match &raw.utc_offset {
        None => d.utc_offset,
        Some(o) => match UtcOffset::parse(o.get_ref()) {
            Some(off) => off,
            None => {
                p.at(
                    "routing.utc_offset",
                    o.span(),
                    format!(
                        "{:?} is not a UTC offset; expected a signed offset between -12:00 \
                         and +14:00 like \"+07:00\" (WIB, Asia/Jakarta)",
                        o.get_ref()
                    ),
                );
                d.utc_offset
            }
        },
    };
    let direct = match &raw.direct {
        None => default_direct(d),
        Some(list) => direct_numbers(list, p),
    };
    (fallback, offset, direct, silent)
}

fn default_direct(d: &RoutingTable) -> Vec<DirectAt> {
    d.direct
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), format!("routing.direct[{i}]"), None))
        .collect()
}

fn fallback_queue(raw: Option<&S<String>>, d: &RoutingTable, p: &mut Problems<'_>) -> FallbackAt {
    let path = FALLBACK_PATH.to_string();
    match raw {
        None => (d.fallback_queue.clone(), None, path),
        Some(f) => match id_problem("queue", f.get_ref(), "general") {
            None => (QueueId::new(f.get_ref().as_str()), Some(f.span()), path),
            Some(msg) => {
                p.at(&path, f.span(), msg);
                // An unusable name keeps the default so no derived error follows.
                (d.fallback_queue.clone(), None, path)
            }
        },
    }
}

/// `[[routing.direct]]` as written: each valid number once.
fn direct_numbers(list: &S<Vec<S<RawDirect>>>, p: &mut Problems<'_>) -> Vec<DirectAt> {
    let mut out: Vec<DirectAt> = Vec::new();
    for (i, entry) in list.get_ref().iter().enumerate() {
        let here = format!("routing.direct[{i}]");
        let Some(n) = direct_number(entry, &here, p) else {
            continue;
        };
        if let Some((_, seen, _)) = out.iter().find(|(seen, _, _)| seen.number == n.number) {
            let at = entry
                .get_ref()
                .number
                .as_ref()
                .map_or(entry.span(), |v| v.span());
            p.at(
                format!("{here}.number"),
                at,
                format!(
                    "{} is listed twice (also at {seen}); expected each direct \
                     number once",
                    n.number
                ),
            );
        } else {
            out.push((n, here, Some(entry.span())));
        }
    }
    out
}

fn direct_number(entry: &S<RawDirect>, here: &str, p: &mut Problems<'_>) -> Option<DirectNumber> {
    let raw = entry.get_ref();
    let number = entry_number(raw.number.as_ref(), here, entry.span(), "missing key `number`; expected number = \"118\" and queue = \"medical\"", p);
    let queue = match &raw.queue {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key `queue`; expected number = \"118\" and queue = \"medical\"",
            );
            None
        }
        Some(q) => match id_problem("queue", q.get_ref(), "medical") {
            Some(msg) => {
                p.at(format!("{here}.queue"), q.span(), msg);
                None
            }
            None => Some(QueueId::new(q.get_ref().as_str())),
        },
    };
    Some(DirectNumber {
        number: number?,
        queue: queue?,
    })
}
