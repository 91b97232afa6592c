//! Checks between tables, run once every table is read: the promise that whatever
//! a caller presses, or doesn't, the call ends with a human.
//!
//! So every queue the menu names must exist, the fallback queue must always be open,
//! closed queues must overflow somewhere that ends open, and the menu tree must be
//! finite (no submenu cycles) and fully speakable (every language has every prompt).
//! Each check compares values that are themselves valid, using the positions the
//! table validators kept (`QueueAt`, `MenuAt`, ...); a value an administrator did not
//! write comes from the default plan, and an error in it has no line and says so.

use std::collections::{BTreeMap, BTreeSet};

use super::emergency::EmergencyConfig;
use super::ids::{MenuId, QueueId};
use super::ivr::IvrAt;
use super::menus::MenuAction;
use super::problems::{from_default, lang_problem, Problems};
use super::queues::QueueAt;
use super::routing::{DirectAt, FallbackAt};
use super::routing_plan::RoutingPlan;
use crate::media::prompts::PromptId;

/// `[routing] silent_queue`, when written, names a defined queue.
pub(crate) fn check_silent_queue(queues: &[QueueAt], silent: Option<&FallbackAt>, p: &mut Problems<'_>) {
    let Some((id, origin, path)) = silent else { return };
    if !queues.iter().any(|q| &q.queue.id == id) {
        p.maybe_at(path, origin.clone(), format!("silent queue {id} is not defined in [[queues]]; expected the id of a queue (silent callers who press 5 5 go there)"));
    }
}

/// The fallback queue exists and is always open; overflow targets exist and chains
/// of closable queues end at an open one.
pub(crate) fn check_queues(queues: &[QueueAt], fallback: &FallbackAt, p: &mut Problems<'_>) {
    let find = |id: &QueueId| queues.iter().find(|q| &q.queue.id == id);
    let queues_written = queues.iter().any(|q| q.origin.is_some());
    match find(&fallback.0) {
        None if queues_written || fallback.1.is_some() => p.maybe_at(
            &fallback.2,
            fallback.1.clone(),
            format!(
                "fallback queue {} is not defined in [[queues]]{}; expected the id of a \
                 queue, because every call that makes no valid choice ends there",
                fallback.0,
                from_default(&fallback.1, "fallback queue \"general\"")
            ),
        ),
        None => {}
        Some(q) if q.queue.open.is_some() => {
            p.maybe_at(
                format!("{}.open", q.path),
                q.open_origin.clone(),
                format!(
                    "{} is the fallback queue and must always be open (an emergency call \
                         must always reach a human); expected no time rules on it",
                    q.queue.id
                ),
            );
        }
        Some(_) => {}
    }
    for q in queues {
        let Some(target) = &q.queue.overflow else {
            continue;
        };
        if target == &q.queue.id {
            p.maybe_at(
                format!("{}.overflow", q.path),
                q.overflow_origin.clone(),
                format!(
                    "queue {} overflows to itself; expected another queue, such as the \
                     fallback queue {}",
                    q.queue.id, fallback.0
                ),
            );
        } else if find(target).is_none() {
            p.maybe_at(
                format!("{}.overflow", q.path),
                q.overflow_origin.clone(),
                format!(
                    "overflow queue {target} is not defined in [[queues]]; expected the id \
                     of a queue"
                ),
            );
        }
    }
    overflow_cycles(queues, fallback, p);
}

/// A chain of closed queues must end at an open one. Only time-ruled queues can
/// be closed, so a cycle of time-ruled queues could leave a call with no queue.
fn overflow_cycles(queues: &[QueueAt], fallback: &FallbackAt, p: &mut Problems<'_>) {
    let find = |id: &QueueId| queues.iter().find(|q| &q.queue.id == id);
    for (i, start) in queues.iter().enumerate() {
        let mut seen: Vec<&QueueId> = vec![&start.queue.id];
        let mut cur = start;
        while cur.queue.open.is_some() {
            let next_id = cur.queue.overflow.as_ref().unwrap_or(&fallback.0);
            let Some(next) = find(next_id) else { break };
            if next.queue.id == start.queue.id && seen.len() > 1 {
                // Report each cycle once, at its first queue in file order.
                let first_in_cycle = seen
                    .iter()
                    .filter_map(|id| queues.iter().position(|q| &q.queue.id == *id))
                    .min();
                if first_in_cycle == Some(i) {
                    let names: Vec<String> = seen.iter().map(|q| q.to_string()).collect();
                    p.maybe_at(
                        format!("{}.overflow", start.path),
                        start.overflow_origin.clone(),
                        format!(
                            "queues with time rules overflow in a circle ({} -> {}): when all \
                             are closed a call has nowhere to go; expected the chain to end \
                             at a queue that is always open, such as {}",
                            names.join(" -> "),
                            start.queue.id,
                            fallback.0
                        ),
                    );
                }
                break;
            }
            if seen.contains(&&next.queue.id) {
                break;
            }
            seen.push(&next.queue.id);
            cur = next;
        }
    }
}

/// Direct numbers are emergency numbers and name queues that exist.
pub(crate) fn check_direct(
    direct: &[DirectAt],
    queues: &[QueueAt],
    emergency: Option<&EmergencyConfig>,
    p: &mut Problems<'_>,
) {
    let queues_written = queues.iter().any(|q| q.origin.is_some());
    for (n, path, origin) in direct {
        if let Some(e) = emergency {
            if !e.numbers.iter().any(|x| x.number == n.number) {
                p.maybe_at(
                    format!("{path}.number"),
                    origin.clone(),
                    format!(
                        "{} is not an emergency number, so no call to it reaches the IVR{}; \
                         expected one of the [[emergency.numbers]]: {}",
                        n.number,
                        from_default(origin, "direct number"),
                        e.numbers
                            .iter()
                            .map(|x| x.number.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            }
        }
        let known = queues.iter().any(|q| q.queue.id == n.queue);
        if !known && (origin.is_some() || queues_written) {
            p.maybe_at(
                format!("{path}.queue"),
                origin.clone(),
                format!(
                    "queue {} is not defined in [[queues]]{}; expected one of: {}",
                    n.queue,
                    from_default(origin, "direct number"),
                    queue_list(queues)
                ),
            );
        }
    }
}

fn queue_list(queues: &[QueueAt]) -> String {
    queues
        .iter()
        .map(|q| q.queue.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The root menu exists, every option names something that exists, and the
/// submenus form a tree.
pub(crate) fn check_menus(ivr: &IvrAt, queues: &[QueueAt], p: &mut Problems<'_>) {
    root_menu(ivr, p);
    option_targets(ivr, queues, p);
    submenu_cycles(ivr, p);
}

fn root_menu(ivr: &IvrAt, p: &mut Problems<'_>) {
    let menus_written = ivr.menus.values().any(|m| m.origin.is_some());
    if !ivr.menus.contains_key(&ivr.root.0) && (ivr.root.1.is_some() || menus_written) {
        let known: Vec<&str> = ivr.menus.keys().map(MenuId::as_str).collect();
        p.maybe_at(
            "ivr.menu",
            ivr.root.1.clone(),
            format!(
                "root menu {} is not defined{}; expected one of the [ivr.menus.<id>] \
                     tables: {}",
                ivr.root.0,
                from_default(&ivr.root.1, "root menu \"main\""),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
}

/// Every queue, submenu and language an option names exists.
fn option_targets(ivr: &IvrAt, queues: &[QueueAt], p: &mut Problems<'_>) {
    let queues_written = queues.iter().any(|q| q.origin.is_some());
    let langs_written = ivr.languages.iter().any(|(_, (_, o))| o.is_some());
    for m in ivr.menus.values() {
        for (opt, (path, origin)) in m.menu.options.iter().zip(&m.options) {
            let note = from_default(origin, "menu");
            match &opt.action {
                MenuAction::Queue(q) => {
                    if !queues.iter().any(|x| &x.queue.id == q)
                        && (origin.is_some() || queues_written)
                    {
                        p.maybe_at(
                            format!("{path}.queue"),
                            origin.clone(),
                            format!(
                                "queue {q} is not defined in [[queues]]{note}; expected one of: {}",
                                queue_list(queues)
                            ),
                        );
                    }
                }
                MenuAction::Submenu(target) => {
                    if !ivr.menus.contains_key(target) {
                        p.maybe_at(
                            format!("{path}.menu"),
                            origin.clone(),
                            format!(
                                "menu {target} is not defined; expected a table [ivr.menus.{target}] \
                                 or another menu id"
                            ),
                        );
                    }
                }
                MenuAction::Language(l) => {
                    let known = ivr.languages.iter().any(|(x, _)| &x.code == l);
                    if !known && (origin.is_some() || langs_written) {
                        p.maybe_at(
                            format!("{path}.language"),
                            origin.clone(),
                            format!(
                                "language {l} is not in ivr.languages{note}; expected one of: {}",
                                ivr.languages
                                    .iter()
                                    .map(|(x, _)| x.code.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                MenuAction::Repeat | MenuAction::Back => {}
            }
        }
    }
}

/// Submenu cycles: depth-first from every menu, reporting the option that closes a
/// cycle. A caller could otherwise walk in circles until max_time.
fn submenu_cycles(ivr: &IvrAt, p: &mut Problems<'_>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        id: &MenuId,
        ivr: &IvrAt,
        marks: &mut BTreeMap<MenuId, Mark>,
        stack: &mut Vec<MenuId>,
        p: &mut Problems<'_>,
    ) {
        let Some(m) = ivr.menus.get(id) else { return };
        marks.insert(id.clone(), Mark::Open);
        stack.push(id.clone());
        for (opt, (path, origin)) in m.menu.options.iter().zip(&m.options) {
            let MenuAction::Submenu(target) = &opt.action else {
                continue;
            };
            match marks.get(target) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|s| s == target).unwrap_or(0);
                    let cycle: Vec<&str> = stack.iter().skip(from).map(MenuId::as_str).collect();
                    p.maybe_at(
                        format!("{path}.menu"),
                        origin.clone(),
                        format!(
                            "submenus form a cycle ({} -> {target}); expected a tree: use \
                             back = true to return to the previous menu",
                            cycle.join(" -> ")
                        ),
                    );
                }
                Some(Mark::Done) => {}
                None => visit(target, ivr, marks, stack, p),
            }
        }
        stack.pop();
        marks.insert(id.clone(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut stack = Vec::new();
    visit(&ivr.root.0, ivr, &mut marks, &mut stack, p);
    if ivr.menus.contains_key(&ivr.root.0) {
        for m in ivr.menus.values() {
            if !marks.contains_key(&m.menu.id) {
                p.maybe_at(
                    &m.path,
                    m.origin.clone(),
                    format!(
                        "menu {} cannot be reached from the root menu {}; expected every menu \
                         to be an option of another (or remove it)",
                        m.menu.id, ivr.root.0
                    ),
                );
                visit(&m.menu.id, ivr, &mut marks, &mut stack, p);
            }
        }
    }
}

/// Every language has every prompt in use, and no table names an unknown language
/// or an unused prompt.
pub(crate) fn check_prompts(ivr: &IvrAt, plan: &RoutingPlan, p: &mut Problems<'_>) {
    let used = plan.prompts_used();
    for (lang, (lang_path, lang_origin)) in &ivr.languages {
        let Some((tpath, torigin, _)) = ivr.prompt_tables.get(lang.code.as_str()) else {
            p.maybe_at(
                lang_path,
                lang_origin.clone(),
                format!(
                    "language {} has no prompts; expected a table [ivr.prompts.{}] naming a \
                     WAV file for each of: {}",
                    lang.code,
                    lang.code,
                    used.iter()
                        .map(PromptId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        let missing: Vec<&str> = used
            .iter()
            .filter(|id| !lang.prompts.contains_key(*id))
            .map(PromptId::as_str)
            .collect();
        if let Some(first) = missing.first() {
            p.maybe_at(
                tpath,
                torigin.clone(),
                format!(
                    "language {} lacks the prompt{} {}; expected a WAV file name for every \
                     prompt the IVR plays, like {} = \"{}.wav\"{}",
                    lang.code,
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    first,
                    first,
                    if missing.contains(&crate::config::PROMPT_SILENT) {
                        " (silent_prompt: \"if you cannot speak, press 5 twice\"; or turn the silent-call procedure off with [ivr] silent_procedure = false)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    let listed: BTreeSet<&str> = ivr.languages.iter().map(|(l, _)| l.code.as_str()).collect();
    for (lang, (tpath, torigin, entries)) in &ivr.prompt_tables {
        if !listed.contains(lang.as_str()) {
            if let Some(msg) = lang_problem(lang) {
                p.maybe_at(tpath, torigin.clone(), msg);
            } else {
                p.maybe_at(
                    tpath,
                    torigin.clone(),
                    format!(
                        "prompts for language {lang}, which is not in ivr.languages; expected \
                         it listed there, or this table removed"
                    ),
                );
            }
            continue;
        }
        for (id, (path, origin)) in entries {
            if !used.iter().any(|u| u.as_str() == id) && id != crate::config::PROMPT_SILENT {
                p.maybe_at(
                    path,
                    origin.clone(),
                    format!(
                        "prompt {id} is not used by the greeting, any menu or the IVR; \
                         expected one of: {} (a misspelt id would leave the real one missing)",
                        used.iter()
                            .map(PromptId::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
}
