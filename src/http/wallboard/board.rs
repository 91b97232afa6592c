//! What the wallboard shows, as one value: built from the last engine snapshot, the
//! config's names and the shift's figures, in one language. The server renders the
//! page from it (`html.rs`) and serves it as JSON (`GET /api/v1/wallboard`) for the
//! script, which draws the same thing again: one model, two renderers.
//!
//! Caller-controlled strings (numbers, display names, pause reasons) stay as sent
//! here, cut to [`MAX_TEXT`] characters so that one caller cannot push the board off
//! the screen; each renderer escapes them for its sink (HTML entities on the server,
//! `textContent` in the browser, JSON by `serde_json`).

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::i18n::{Labels, Lang};
use super::shift::ShiftFigures;
use crate::call::acd::{OperatorStatus, QueueSnapshot};
use crate::call::CallId;
use crate::clock::UtcMs;
use crate::config::Config;
use crate::engine::{LiveCall, Snapshot};
use crate::store::summary::{ClassTotals, RecentCall};

/// A wait past this shows red (NENA: answered within 15 s).
pub(super) const LATE: Duration = Duration::from_secs(15);
/// Callers listed per department (the count stays whole).
pub(super) const CALLERS_SHOWN: usize = 8;
/// Characters of caller-controlled text shown at most.
pub(super) const MAX_TEXT: usize = 40;

/// The order operator states are listed in.
const STATE_ORDER: [OperatorStatus; 6] = [
    OperatorStatus::Available,
    OperatorStatus::Ringing,
    OperatorStatus::OnCall,
    OperatorStatus::WrapUp,
    OperatorStatus::Paused,
    OperatorStatus::Offline,
];

/// The whole board.
#[derive(Debug, Serialize)]
pub(super) struct Board {
    /// `id` or `en`.
    pub lang: &'static str,
    /// The gateway is stopping.
    pub draining: bool,
    /// Every department queue, in the routing plan's order.
    pub departments: Vec<Department>,
    /// Operators per state, every state listed.
    pub operator_counts: Vec<StateCount>,
    /// Every operator, by state then configuration order.
    pub operators: Vec<Operator>,
    /// The current shift; `None` when the records cannot be read.
    pub shift: Option<Shift>,
    /// The shift's last calls, newest first.
    pub recent: Vec<Recent>,
    /// The words.
    pub labels: &'static Labels,
}

/// One department's queue.
#[derive(Debug, Serialize)]
pub(super) struct Department {
    /// The queue id (`fire`).
    pub id: String,
    /// Its name from the config.
    pub name: String,
    /// Callers held: waiting, and being offered.
    pub waiting: usize,
    /// Of them, ringing an operator.
    pub ringing: usize,
    /// The oldest wait, in whole seconds.
    pub longest_wait_s: Option<u64>,
    /// The oldest wait is past [`LATE`].
    pub late: bool,
    /// The callers, in the order they will be offered; at most [`CALLERS_SHOWN`].
    pub callers: Vec<Caller>,
    /// Callers held but not listed.
    pub more: usize,
}

/// A caller held by a queue.
#[derive(Debug, Serialize)]
pub(super) struct Caller {
    /// The number, as sent.
    pub number: String,
    /// The display name, as sent.
    pub name: Option<String>,
    /// Seconds in the queue.
    pub waited_s: u64,
    /// Past [`LATE`].
    pub late: bool,
    /// The operator whose phone rings for it.
    pub ringing_at: Option<String>,
}

/// How many operators are in a state.
#[derive(Debug, Serialize)]
pub(super) struct StateCount {
    /// The state (`paused`).
    pub state: &'static str,
    /// Its word.
    pub label: &'static str,
    /// Operators in it.
    pub count: usize,
}

/// One operator.
#[derive(Debug, Serialize)]
pub(super) struct Operator {
    /// The account id.
    pub id: String,
    /// The name from the config.
    pub name: String,
    /// The state (`paused`).
    pub state: &'static str,
    /// Its word.
    pub state_label: &'static str,
    /// The pause reason.
    pub reason: Option<String>,
    /// The caller's number ringing or bridged to them.
    pub caller: Option<String>,
}

/// The shift's figures.
#[derive(Debug, Serialize)]
pub(super) struct Shift {
    /// The roster name (`siang`).
    pub name: String,
    /// Local start, `15:00`.
    pub from: String,
    /// Local end, `23:00`.
    pub until: String,
    /// Calls started in it.
    pub calls: u64,
    /// Answered within 15 s.
    pub answered_within: u64,
    /// Calls that asked for an operator.
    pub offered: u64,
    /// The share in whole percent; `None` before any call asked for an operator.
    pub percent: Option<u32>,
    /// At least 90 % (NENA's target), or nothing offered yet.
    pub on_target: bool,
    /// Abandoned in the queue.
    pub abandoned: u64,
    /// Abandoned in the IVR.
    pub abandoned_ivr: u64,
    /// Answer times per priority class, highest first; classes without a call left out.
    pub classes: Vec<ClassFigure>,
}

/// One priority class's answer times this shift.
#[derive(Debug, Serialize)]
pub(super) struct ClassFigure {
    /// `high`, `normal`, `low`.
    pub class: &'static str,
    /// Its word.
    pub label: &'static str,
    /// Answered within 15 s.
    pub answered_within: u64,
    /// Answered, or abandoned in the queue.
    pub offered: u64,
    /// The share in whole percent; `None` when none asked yet.
    pub percent: Option<u32>,
    /// Mean INVITE → operator answer, whole seconds.
    pub avg_answer_s: Option<u64>,
    /// The longest, whole seconds.
    pub max_answer_s: Option<u64>,
}

/// One of the last calls.
#[derive(Debug, Serialize)]
pub(super) struct Recent {
    /// Local time it started, `15:04`.
    pub time: String,
    /// The number, as sent.
    pub number: String,
    /// The display name, as sent.
    pub name: Option<String>,
    /// The department's name.
    pub department: Option<String>,
    /// The operator who answered.
    pub operator: Option<String>,
    /// `answered`, `abandoned_queue`..., `open` in progress.
    pub outcome: &'static str,
    /// Its word.
    pub outcome_label: &'static str,
    /// Seconds from the INVITE to the operator's answer.
    pub answer_s: Option<u64>,
}

/// `s` cut to [`MAX_TEXT`] characters (an ellipsis marks the cut).
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_TEXT - 1).collect();
    out.push('…');
    out
}

/// The board of `snapshot` in `lang`.
pub(super) fn build(snapshot: &Snapshot, config: &Config, figures: &ShiftFigures, lang: Lang) -> Board {
    let labels = lang.labels();
    let calls: HashMap<CallId, &LiveCall> = snapshot.calls.iter().map(|c| (c.id, c)).collect();
    let departments = snapshot.acd.queues.iter().map(|q| department(q, &calls, config)).collect();
    let operator_counts = STATE_ORDER
        .iter()
        .map(|s| StateCount { state: s.as_str(), label: labels.states.get(s.as_str()), count: snapshot.acd.operators.iter().filter(|o| o.state == *s).count() })
        .collect();
    Board {
        lang: lang.code(),
        draining: snapshot.draining,
        departments,
        operator_counts,
        operators: operators(snapshot, &calls, config, labels),
        shift: shift(figures, config, labels),
        recent: figures.recent.iter().map(|c| recent(c, config, labels)).collect(),
        labels,
    }
}

fn queue_name(config: &Config, id: &str) -> String {
    config.routing.queues.iter().find(|q| q.id.as_str() == id).map_or_else(|| id.to_string(), |q| q.name.clone())
}

fn department(q: &QueueSnapshot, calls: &HashMap<CallId, &LiveCall>, config: &Config) -> Department {
    let callers: Vec<Caller> = q
        .callers
        .iter()
        .take(CALLERS_SHOWN)
        .map(|c| {
            let call = calls.get(&c.call);
            Caller {
                number: call.map(|l| clip(&l.caller)).unwrap_or_default(),
                name: call.and_then(|l| l.caller_name.as_deref()).map(clip),
                waited_s: c.waited.as_secs(),
                late: c.waited > LATE,
                ringing_at: c.offered_to.as_ref().map(|o| o.to_string()),
            }
        })
        .collect();
    let held = q.waiting + q.offering;
    Department {
        id: q.id.to_string(),
        name: queue_name(config, q.id.as_str()),
        waiting: held,
        ringing: q.offering,
        longest_wait_s: q.longest_wait.map(|d| d.as_secs()),
        late: q.longest_wait.is_some_and(|d| d > LATE),
        more: held.saturating_sub(callers.len()),
        callers,
    }
}

/// Every operator, by state (in [`STATE_ORDER`]) then configuration order.
fn operators(snapshot: &Snapshot, calls: &HashMap<CallId, &LiveCall>, config: &Config, labels: &'static Labels) -> Vec<Operator> {
    let rank = |s: OperatorStatus| STATE_ORDER.iter().position(|x| *x == s).unwrap_or(STATE_ORDER.len());
    let mut ops: Vec<_> = snapshot.acd.operators.iter().enumerate().collect();
    ops.sort_by_key(|(i, o)| (rank(o.state), *i));
    ops.into_iter()
        .map(|(_, o)| Operator {
            id: o.id.to_string(),
            name: config.operators.iter().find(|c| c.id == o.id).map_or_else(|| o.id.to_string(), |c| c.name.clone()),
            state: o.state.as_str(),
            state_label: labels.states.get(o.state.as_str()),
            reason: o.reason.as_deref().map(clip),
            caller: o.call.and_then(|c| calls.get(&c)).map(|l| clip(&l.caller)),
        })
        .collect()
}

/// `HH:MM:SS` local (`len` 5: `HH:MM`).
fn local(t: UtcMs, config: &Config, len: usize) -> String {
    t.local(config.routing.utc_offset).clock().chars().take(len).collect()
}

fn shift(figures: &ShiftFigures, config: &Config, labels: &'static Labels) -> Option<Shift> {
    figures.totals.map(|t| {
        let percent = t.percent().map(|p| p.floor() as u32);
        Shift {
            name: figures.span.name.clone(),
            from: local(figures.span.start, config, 5),
            until: local(figures.span.end, config, 5),
            calls: t.calls,
            answered_within: t.answered_within,
            offered: t.offered(),
            percent,
            on_target: percent.is_none_or(|p| p >= 90),
            abandoned: t.abandoned_queue,
            abandoned_ivr: t.abandoned_ivr,
            classes: figures.classes.iter().map(|c| class_figure(c, labels)).collect(),
        }
    })
}

fn class_figure(c: &ClassTotals, labels: &'static Labels) -> ClassFigure {
    let offered = c.answered + c.abandoned_queue;
    let secs = |ms: Option<i64>| ms.map(|ms| u64::try_from(ms.max(0) / 1000).unwrap_or(0));
    ClassFigure {
        class: c.class,
        label: labels.classes.get(c.class),
        answered_within: c.answered_within,
        offered,
        percent: (offered > 0).then(|| (c.answered_within * 100 / offered) as u32),
        avg_answer_s: secs(c.avg_answer_ms),
        max_answer_s: secs(c.max_answer_ms),
    }
}

fn recent(c: &RecentCall, config: &Config, labels: &'static Labels) -> Recent {
    let outcome = c.outcome.map_or("open", |o| o.as_str());
    Recent {
        time: local(c.started_at, config, 5),
        number: clip(&c.caller),
        name: c.caller_name.as_deref().map(clip),
        department: c.department.as_deref().map(|d| queue_name(config, d)),
        operator: c.operator.clone(),
        outcome,
        outcome_label: labels.outcomes.get(outcome),
        answer_s: c.answer_ms.map(|ms| u64::try_from(ms / 1000).unwrap_or(0)),
    }
}

/// `m:ss` (or `h:mm:ss` past an hour).
pub(super) fn duration(s: u64) -> String {
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_and_durations_read_like_a_clock() {
        assert_eq!(clip("0812"), "0812");
        let long = "x".repeat(100);
        assert_eq!(clip(&long).chars().count(), MAX_TEXT);
        assert!(clip(&long).ends_with('…'));
        assert_eq!(clip(&"é".repeat(50)).chars().count(), MAX_TEXT);
        assert_eq!(duration(0), "0:00");
        assert_eq!(duration(75), "1:15");
        assert_eq!(duration(3725), "1:02:05");
    }
}
