//! Priority classes in the records (issue 16): the class a call waited in, worked out
//! from its flags as the engine chose it (a caller calling back or a silent caller who
//! pressed 5 5: `high`; a silent caller, or a repeat silent caller lowered by
//! `[routing.nuisance]` (`nuisance`): `low`; everyone else `normal`), and the answer
//! times per class that the shift report gives, so a centre sees whether its silent
//! callers wait too long.
//!
//! Why from the flags and not a column of its own: the flags are what decided the class
//! (`engine::operator_side::enqueue`), and they are in every record since migration
//! 0003, so old shifts are reported too.

use std::collections::BTreeMap;

use serde::Serialize;

/// The class a call with these flags (comma-separated) joined its queue with.
pub fn class_of(flags: Option<&str>) -> &'static str {
    let has = |f: &str| flags.is_some_and(|all| all.split(',').any(|x| x.trim() == f));
    if has("callback") || has("silent_55") {
        "high"
    } else if has("silent") || has("nuisance") {
        "low"
    } else {
        "normal"
    }
}

/// [`class_of`] in SQL over the `calls.flags` column (stored comma-separated, no
/// spaces), for queries that group by class without loading rows (the wallboard's
/// [`super::summary::Summary::classes`]); a test checks the two agree.
pub const CLASS_SQL: &str = "CASE \
    WHEN instr(',' || IFNULL(flags, '') || ',', ',callback,') > 0 \
      OR instr(',' || IFNULL(flags, '') || ',', ',silent_55,') > 0 THEN 'high' \
    WHEN instr(',' || IFNULL(flags, '') || ',', ',silent,') > 0 \
      OR instr(',' || IFNULL(flags, '') || ',', ',nuisance,') > 0 THEN 'low' \
    ELSE 'normal' END";

/// The classes, highest first, as `'static` names.
pub const CLASSES: [&str; 3] = ["high", "normal", "low"];

/// Answer times of one class in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClassLine {
    /// `high`, `normal` or `low`.
    pub class: &'static str,
    /// Calls of this class an operator answered.
    pub answered: usize,
    /// Calls of this class whose caller hung up in the queue.
    pub abandoned_queue: u64,
    /// INVITE to operator answer: median, 90th percentile, longest (ms); `null` when
    /// none was answered.
    pub p50_ms: Option<i64>,
    /// 90th percentile.
    pub p90_ms: Option<i64>,
    /// The longest.
    pub max_ms: Option<i64>,
}

/// The calls of a report that reached a queue, gathered per class.
#[derive(Default)]
pub(crate) struct ClassTally {
    answers: BTreeMap<&'static str, Vec<i64>>,
    abandoned: BTreeMap<&'static str, u64>,
}

impl ClassTally {
    /// A call routed to a queue: answered after `answer_ms`, or abandoned there.
    pub(crate) fn add(&mut self, flags: Option<&str>, answer_ms: Option<i64>, abandoned_queue: bool) {
        let class = class_of(flags);
        if let Some(ms) = answer_ms {
            self.answers.entry(class).or_default().push(ms);
        } else if abandoned_queue {
            *self.abandoned.entry(class).or_default() += 1;
        }
    }

    /// One line per class that had a call, highest class first.
    pub(crate) fn lines(mut self) -> Vec<ClassLine> {
        CLASSES
            .into_iter()
            .filter_map(|class| {
                let mut ms = self.answers.remove(class).unwrap_or_default();
                let abandoned_queue = self.abandoned.remove(class).unwrap_or(0);
                if ms.is_empty() && abandoned_queue == 0 {
                    return None;
                }
                ms.sort_unstable();
                Some(ClassLine { class, answered: ms.len(), abandoned_queue, p50_ms: percentile(&ms, 50), p90_ms: percentile(&ms, 90), max_ms: ms.last().copied() })
            })
            .collect()
    }
}

/// The nearest-rank percentile `p` of `sorted`; `None` if empty.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (u64::from(p) * n as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_come_from_the_flags_and_answer_times_are_per_class() {
        assert_eq!(class_of(None), "normal");
        assert_eq!(class_of(Some("silent")), "low");
        assert_eq!(class_of(Some("silent_55")), "high");
        assert_eq!(class_of(Some("callback,silent")), "high", "a caller calling back is served first");
        let mut t = ClassTally::default();
        for (flags, ms, abandoned) in [(None, Some(4_000), false), (None, Some(2_000), false), (Some("silent"), Some(30_000), false), (Some("silent"), None, true), (Some("silent_55"), Some(1_000), false)] {
            t.add(flags, ms, abandoned);
        }
        let lines = t.lines();
        let got: Vec<String> = lines.iter().map(|l| format!("{} {} {} {:?} {:?}", l.class, l.answered, l.abandoned_queue, l.p50_ms, l.max_ms)).collect();
        assert_eq!(got, ["high 1 0 Some(1000) Some(1000)", "normal 2 0 Some(2000) Some(4000)", "low 1 1 Some(30000) Some(30000)"]);
    }

    #[test]
    fn the_sql_class_agrees_with_class_of() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let flags = [None, Some(""), Some("silent"), Some("silent_55"), Some("callback"), Some("callback,silent"), Some("silent,callback"), Some("silent_55,x"), Some("x,silent"), Some("silently"), Some("no_silent"), Some("callbacks"), Some("nuisance"), Some("x,nuisance")];
        for f in flags {
            let sql: String = conn.query_row(&format!("SELECT {CLASS_SQL} FROM (SELECT ?1 AS flags)"), [f], |r| r.get(0)).unwrap();
            assert_eq!(sql, class_of(f), "flags {f:?}");
        }
    }
}
