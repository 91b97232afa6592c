//! `[[queues]]`: the department queues a call can wait in, with their opening hours
//! and where calls go while a queue is closed.
//!
//! The raw table, the typed [`Queue`] the routing plan holds, and the validator. The
//! checks between queues (the fallback queue exists and is always open, overflow
//! chains end open) need the `[routing]` table too, so they are in `cross_refs.rs`.

use std::time::SystemTime;

use serde::Deserialize;

use super::ids::QueueId;
use super::problems::{id_problem, Problems};
use super::problems::span::{Origin, S};
use super::time_rule::{time_rule, RawTimeRule, TimeRule};
use crate::clock::UtcOffset;

/// One `[[queues]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub id: Option<S<String>>,
    pub name: Option<S<String>>,
    pub overflow: Option<S<String>>,
    pub open: Option<S<Vec<S<RawTimeRule>>>>,
}

/// A department queue as routing sees it; the ACD adds its own settings later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// The id menus, direct numbers and operators' departments name.
    pub id: QueueId,
    /// What operators and the wallboard show.
    pub name: String,
    /// Where calls go while this queue is closed (and, for the ACD, after the
    /// overflow wait). `None` only for the fallback queue, which is always open.
    pub overflow: Option<QueueId>,
    /// `None`: open around the clock. Otherwise open while any rule matches.
    pub open: Option<Vec<TimeRule>>,
}

impl Queue {
    /// Whether the queue takes calls at `utc`, its rules read at local `offset`.
    pub fn is_open_at(&self, utc: SystemTime, offset: UtcOffset) -> bool {
        match &self.open {
            None => true,
            Some(rules) => {
                let local = offset.local(utc);
                rules.iter().any(|r| r.is_open(local))
            }
        }
    }
}

/// A queue without an `overflow` key overflows to the fallback queue, whichever
/// that is; the fallback queue itself overflows nowhere (it is always open).
pub(crate) fn overflow_to_fallback(mut queues: Vec<Queue>, fallback: &QueueId) -> Vec<Queue> {
    for q in &mut queues {
        if q.overflow.is_none() && &q.id != fallback {
            q.overflow = Some(fallback.clone());
        }
    }
    queues
}

/// A validated queue with where it was written, for the cross-reference messages.
pub(crate) struct QueueAt {
    pub queue: Queue,
    /// `queues[i]`.
    pub path: String,
    /// The entry; `None` for a default queue.
    pub origin: Origin,
    pub overflow_origin: Origin,
    pub open_origin: Origin,
}

/// Validates `[[queues]]`; without the table, the `defaults` (with no line).
pub(crate) fn queues(
    raw: Option<S<Vec<S<RawQueue>>>>,
    defaults: &[Queue],
    p: &mut Problems<'_>,
) -> Vec<QueueAt> {
    let Some(raw) = raw else {
        return defaults
            .iter()
            .enumerate()
            .map(|(i, q)| QueueAt {
                queue: q.clone(),
                path: format!("queues[{i}]"),
                origin: None,
                overflow_origin: None,
                open_origin: None,
            })
            .collect();
    };
    let list_span = raw.span();
    let mut out: Vec<QueueAt> = Vec::new();
    for (i, entry) in raw.into_inner().into_iter().enumerate() {
        if let Some(q) = queue(entry, format!("queues[{i}]"), &out, p) {
            out.push(q);
        }
    }
    if out.is_empty() && !p.any_under("queues") {
        p.at(
            "queues",
            list_span,
            "no queue: calls would have nowhere to go; expected at least the fallback \
             queue, like [[queues]] id = \"general\" name = \"Operator umum\"",
        );
    }
    out
}

/// One entry at `here`; `seen` are the valid queues before it (for duplicates).
fn queue(
    entry: S<RawQueue>,
    here: String,
    seen: &[QueueAt],
    p: &mut Problems<'_>,
) -> Option<QueueAt> {
    let span = entry.span();
    let q = entry.into_inner();
    let id = match &q.id {
        None => {
            p.at(
                &here,
                span.clone(),
                "missing key `id`; expected id = \"medical\" and name = \"...\"",
            );
            None
        }
        Some(id) => queue_id(id, &here, seen, p),
    };
    let name = match &q.name {
        None => {
            p.at(
                &here,
                span.clone(),
                "missing key `name`; expected the name operators see, like name = \"Operator umum\"",
            );
            None
        }
        Some(n) => match queue_name_problem(n.get_ref()) {
            Some(msg) => {
                p.at(format!("{here}.name"), n.span(), msg);
                None
            }
            None => Some(n.get_ref().trim().to_string()),
        },
    };
    let overflow =
        q.overflow
            .as_ref()
            .and_then(|o| match id_problem("queue", o.get_ref(), "general") {
                Some(msg) => {
                    p.at(format!("{here}.overflow"), o.span(), msg);
                    None
                }
                None => Some(QueueId::new(o.get_ref().as_str())),
            });
    let open = q.open.as_ref().map(|rules| open_rules(rules, &here, p));
    let (id, name) = (id?, name?);
    Some(QueueAt {
        queue: Queue {
            id,
            name,
            overflow,
            open,
        },
        path: here,
        origin: Some(span),
        overflow_origin: q.overflow.as_ref().map(|o| o.span()),
        open_origin: q.open.as_ref().map(|o| o.span()),
    })
}

/// The `id` of the entry at `here`, unless malformed or already used.
fn queue_id(id: &S<String>, here: &str, seen: &[QueueAt], p: &mut Problems<'_>) -> Option<QueueId> {
    if let Some(msg) = id_problem("queue", id.get_ref(), "public_works") {
        p.at(format!("{here}.id"), id.span(), msg);
        return None;
    }
    if let Some(other) = seen.iter().find(|o| o.queue.id == id.get_ref().as_str()) {
        p.at(
            format!("{here}.id"),
            id.span(),
            format!(
                "queue {} is defined twice (also at {}); expected each id once",
                id.get_ref(),
                other.path
            ),
        );
        return None;
    }
    Some(QueueId::new(id.get_ref().as_str()))
}

/// `open = [...]`: the rules that validated (an empty list is refused).
fn open_rules(rules: &S<Vec<S<RawTimeRule>>>, here: &str, p: &mut Problems<'_>) -> Vec<TimeRule> {
    if rules.get_ref().is_empty() {
        p.at(
            format!("{here}.open"),
            rules.span(),
            "open = [] would close the queue for good; expected at least one \
             rule like { days = [\"mon-fri\"], from = \"07:00\", until = \"15:00\" }, \
             or no `open` key for a queue open around the clock",
        );
    }
    rules
        .get_ref()
        .iter()
        .enumerate()
        .filter_map(|(j, r)| time_rule(r, &format!("{here}.open[{j}]"), p))
        .collect()
}

fn queue_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("name is empty; expected the name operators see, like \"Operator umum\"".into())
    } else if name.chars().any(char::is_control) {
        Some(format!(
            "{name:?} contains control characters; expected plain text (it is sent in SIP headers)"
        ))
    } else if name.chars().count() > 64 {
        Some(format!(
            "name is {} characters long; expected at most 64",
            name.chars().count()
        ))
    } else {
        None
    }
}
