//! Validation of the routing tables (`[routing]`, `[ivr]`, `[[queues]]`) into a
//! [`RoutingPlan`], in the style of `validate.rs`: every problem is collected with
//! its path, a bad value falls back to the default so validation goes on, and
//! cross-references are checked only between values that are themselves valid.
//!
//! The rules all serve one promise: whatever a caller presses, or doesn't, the call
//! ends with a human. So every queue the menu names must exist, the fallback queue
//! must always be open, closed queues must overflow somewhere that ends open, and the
//! menu tree must be finite (no submenu cycles) and fully speakable (every language
//! has every prompt).
//!
//! Values an administrator did not write come from the default plan; a
//! cross-reference error in such a value has no line and says where it came from
//! (e.g. the default menu still names `medical` after `[[queues]]` dropped it).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use super::raw::{RawDirect, RawIvr, RawMenu, RawOption, RawQueue, RawRouting, RawTimeRule, S};
use super::routing::{
    DirectNumber, Lang, Language, Menu, MenuAction, MenuId, MenuOption, PromptId, Queue, QueueId,
    RoutingPlan, SYSTEM_PROMPTS,
};
use super::span::{render_path, Segment};
use super::time_rule::{parse_clock, Days, TimeRule, UtcOffset};
use super::validate::{duration_in, int_in, number_problem, Problems};
use super::EmergencyConfig;

/// The routing-related tables of the file, as written.
pub(crate) struct RawRoutingTables {
    pub routing: Option<S<RawRouting>>,
    pub ivr: Option<S<RawIvr>>,
    pub queues: Option<S<Vec<S<RawQueue>>>>,
}

// ------------------------------------------------------------------------ defaults

/// Surabaya's departments, in menu order, with the names operators see.
pub(crate) const DEFAULT_QUEUES: &[(&str, &str)] = &[
    ("medical", "Gawat darurat medis dan ambulans"),
    ("fire", "Pemadam kebakaran dan penyelamatan"),
    ("public_order", "Keamanan dan ketertiban umum"),
    ("public_works", "Banjir, pohon tumbang, jalan dan saluran"),
    ("social", "Layanan sosial, anak dan disabilitas"),
    ("transport", "Lalu lintas dan transportasi"),
    ("general", "Operator umum"),
];
pub(crate) const DEFAULT_FALLBACK: &str = "general";
pub(crate) const DEFAULT_DIRECT: &[(&str, &str)] = &[
    ("110", "public_order"),
    ("113", "fire"),
    ("115", "fire"),
    ("118", "medical"),
    ("119", "medical"),
];
pub(crate) const DEFAULT_LANGUAGES: &[&str] = &["id", "en"];
pub(crate) const DEFAULT_GREETING: &str = "greeting";
pub(crate) const DEFAULT_ROOT_MENU: &str = "main";
pub(crate) const DEFAULT_MENU_PROMPT: &str = "menu_main";

const FIRST_DIGIT_TIMEOUT: Duration = Duration::from_secs(5);
const NO_INPUT_LIMIT: Duration = Duration::from_secs(20);
const MAX_TIME: Duration = Duration::from_secs(120);
const PROMPT_TIMEOUT: Duration = Duration::from_secs(60);
const RETRIES: u32 = 2;
const NO_INPUT_REPEATS: u32 = 1;

fn default_menu_actions() -> Vec<MenuOption> {
    let q = |d: char, id: &str| MenuOption {
        digit: d,
        action: MenuAction::Queue(QueueId::new(id)),
    };
    vec![
        q('1', "medical"),
        q('2', "fire"),
        q('3', "public_order"),
        q('4', "public_works"),
        q('5', "social"),
        q('6', "transport"),
        MenuOption {
            digit: '9',
            action: MenuAction::Language(Lang::new("en")),
        },
        q('0', "general"),
        MenuOption {
            digit: '*',
            action: MenuAction::Repeat,
        },
    ]
}

fn default_menus() -> BTreeMap<MenuId, Menu> {
    let id = MenuId::new(DEFAULT_ROOT_MENU);
    BTreeMap::from([(
        id.clone(),
        Menu {
            id,
            prompt: PromptId::new(DEFAULT_MENU_PROMPT),
            options: default_menu_actions(),
        },
    )])
}

/// The prompt set every default language has: `<id>.wav` for each prompt.
fn default_prompts() -> BTreeMap<PromptId, String> {
    [DEFAULT_GREETING, DEFAULT_MENU_PROMPT]
        .iter()
        .chain(SYSTEM_PROMPTS)
        .map(|id| (PromptId::new(*id), format!("{id}.wav")))
        .collect()
}

fn default_queues() -> Vec<Queue> {
    DEFAULT_QUEUES
        .iter()
        .map(|(id, name)| Queue {
            id: QueueId::new(*id),
            name: (*name).to_string(),
            // Filled in with the fallback queue by `overflow_to_fallback`.
            overflow: None,
            open: None,
        })
        .collect()
}

/// The plan an empty file gives, which is exactly what `config/cc112.toml` shows.
pub(crate) fn default_routing() -> RoutingPlan {
    RoutingPlan {
        languages: DEFAULT_LANGUAGES
            .iter()
            .map(|l| Language {
                code: Lang::new(*l),
                prompts: default_prompts(),
            })
            .collect(),
        greeting: PromptId::new(DEFAULT_GREETING),
        root_menu: MenuId::new(DEFAULT_ROOT_MENU),
        menus: default_menus(),
        first_digit_timeout: FIRST_DIGIT_TIMEOUT,
        no_input_repeats: NO_INPUT_REPEATS,
        retries: RETRIES,
        no_input_limit: NO_INPUT_LIMIT,
        max_time: MAX_TIME,
        prompt_timeout: PROMPT_TIMEOUT,
        barge_in: true,
        fallback_queue: QueueId::new(DEFAULT_FALLBACK),
        direct: DEFAULT_DIRECT
            .iter()
            .map(|(n, q)| DirectNumber {
                number: (*n).to_string(),
                queue: QueueId::new(*q),
            })
            .collect(),
        queues: overflow_to_fallback(default_queues(), &QueueId::new(DEFAULT_FALLBACK)),
        utc_offset: UtcOffset::WIB,
    }
}

/// A queue without an `overflow` key overflows to the fallback queue, whichever
/// that is; the fallback queue itself overflows nowhere (it is always open).
fn overflow_to_fallback(mut queues: Vec<Queue>, fallback: &QueueId) -> Vec<Queue> {
    for q in &mut queues {
        if q.overflow.is_none() && &q.id != fallback {
            q.overflow = Some(fallback.clone());
        }
    }
    queues
}

// ------------------------------------------------------------------------- helpers

/// Where a value came from: a span in the file, or `None` for a default.
type Origin = Option<Range<usize>>;
/// The fallback queue id, where it was written and its path.
type FallbackAt = (QueueId, Origin, String);
/// A direct number, its path and where it was written.
type DirectAt = (DirectNumber, String, Origin);
/// A prompt table: its path and origin, and each prompt id's path and origin.
type PromptTableAt = (String, Origin, BTreeMap<String, (String, Origin)>);

/// A default value's note in cross-reference messages.
fn from_default(origin: &Origin, table: &str) -> String {
    if origin.is_some() {
        String::new()
    } else {
        format!(" (this is the default {table}, not written in the file; write it to change it)")
    }
}

/// `prefix.key`, quoting the key when TOML would need quotes.
fn key_path(prefix: &str, key: &str) -> String {
    format!("{prefix}.{}", render_path(&[Segment::Key(key.to_string())]))
}

/// Ids are written in configs, logs, URLs and file names, so they stay plain.
fn id_problem(kind: &str, s: &str, example: &str) -> Option<String> {
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

fn lang_problem(s: &str) -> Option<String> {
    let ok = (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase());
    (!ok).then(|| {
        format!(
            "{s:?} is not a language code; expected a lowercase ISO 639 code of 2 or 3 \
             letters, like \"id\" or \"en\" (it also names the folder config/prompts/<code>/)"
        )
    })
}

/// The file is looked up under `config/prompts/<lang>/`, so a name must not climb
/// out of that folder or hide as a dot file.
fn wav_problem(s: &str) -> Option<String> {
    let ok = s.len() <= 64
        && s.len() > 4
        && s.to_ascii_lowercase().ends_with(".wav")
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (!ok).then(|| {
        format!(
            "{s:?} is not a prompt file name; expected a plain .wav file name (letters, \
             digits, _ - and ., no folders), like \"greeting.wav\""
        )
    })
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

fn digit_of(v: &toml::Value) -> Result<char, String> {
    match v {
        toml::Value::String(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Ok(c),
                _ => Err(format!(
                    "{s:?} is not a key; expected one key of the phone pad: \"0\" to \"9\", \
                     \"*\" or \"#\""
                )),
            }
        }
        toml::Value::Integer(n) if (0..=9).contains(n) => Err(format!(
            "{n} is a TOML integer; expected the key as a string: digit = \"{n}\""
        )),
        other => Err(format!(
            "found {}; expected one key of the phone pad: \"0\" to \"9\", \"*\" or \"#\"",
            match other {
                toml::Value::Integer(n) => n.to_string(),
                o => format!("a {}", o.type_str()),
            }
        )),
    }
}

fn clock_of(v: &toml::Value, end: bool) -> Result<u32, String> {
    let expected = if end {
        "a time of day like \"15:00\" (00:00 to 24:00)"
    } else {
        "a time of day like \"07:00\" (00:00 to 23:59)"
    };
    match v {
        toml::Value::String(s) => {
            parse_clock(s, end).ok_or_else(|| format!("{s:?} is not a time; expected {expected}"))
        }
        toml::Value::Datetime(dt) if dt.date.is_none() && dt.offset.is_none() => match dt.time {
            Some(t) => parse_clock(
                &format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
                end,
            )
            .ok_or_else(|| format!("{dt} is not a time; expected {expected}")),
            None => Err(format!("{dt} is not a time; expected {expected}")),
        },
        other => Err(format!("found a {}; expected {expected}", other.type_str())),
    }
}

// --------------------------------------------------------------------------- entry

pub(crate) fn routing(
    raw: RawRoutingTables,
    emergency: Option<&EmergencyConfig>,
    p: &mut Problems<'_>,
) -> RoutingPlan {
    let first = p.errors.len();
    let d = default_routing();

    let queues = queues(raw.queues, &d, p);
    let (fallback, utc_offset, mut direct) = routing_table(raw.routing, &d, p);
    // The default direct numbers are the legacy national numbers; a deployment that
    // does not answer one of them simply has no direct route for it. Numbers the
    // admin wrote are checked strictly instead (check_direct).
    if let Some(e) = emergency {
        direct.retain(|(n, _, origin)| {
            origin.is_some() || e.numbers.iter().any(|x| x.number == n.number)
        });
    }
    let ivr = ivr(raw.ivr, &d, p);

    let plan = RoutingPlan {
        languages: ivr.languages.iter().map(|(l, _)| l.clone()).collect(),
        greeting: ivr.greeting.0.clone(),
        root_menu: ivr.root.0.clone(),
        menus: ivr
            .menus
            .iter()
            .map(|(k, m)| (k.clone(), m.menu.clone()))
            .collect(),
        first_digit_timeout: ivr.first_digit_timeout,
        no_input_repeats: ivr.no_input_repeats,
        retries: ivr.retries,
        no_input_limit: ivr.no_input_limit,
        max_time: ivr.max_time,
        prompt_timeout: ivr.prompt_timeout,
        barge_in: ivr.barge_in,
        fallback_queue: fallback.0.clone(),
        direct: direct.iter().map(|(n, _, _)| n.clone()).collect(),
        queues: overflow_to_fallback(
            queues.iter().map(|q| q.queue.clone()).collect(),
            &fallback.0,
        ),
        utc_offset,
    };

    check_queues(&queues, &fallback, p);
    check_direct(&direct, &queues, emergency, p);
    check_menus(&ivr, &queues, p);
    check_prompts(&ivr, &plan, p);

    // Cross-checks run after the per-table ones; sorting by line puts each error
    // next to its neighbours in the file, which is how an admin reads the list.
    p.errors[first..].sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    plan
}

// -------------------------------------------------------------------------- queues

struct QueueAt {
    queue: Queue,
    path: String,
    origin: Origin,
    overflow_origin: Origin,
    open_origin: Origin,
}

fn queues(raw: Option<S<Vec<S<RawQueue>>>>, d: &RoutingPlan, p: &mut Problems<'_>) -> Vec<QueueAt> {
    let Some(raw) = raw else {
        return d
            .queues
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
        let here = format!("queues[{i}]");
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
            Some(id) => match id_problem("queue", id.get_ref(), "public_works") {
                Some(msg) => {
                    p.at(format!("{here}.id"), id.span(), msg);
                    None
                }
                None => {
                    if let Some(seen) = out.iter().find(|o| o.queue.id == id.get_ref().as_str()) {
                        p.at(
                            format!("{here}.id"),
                            id.span(),
                            format!(
                                "queue {} is defined twice (also at {}); expected each id once",
                                id.get_ref(),
                                seen.path
                            ),
                        );
                        None
                    } else {
                        Some(QueueId::new(id.get_ref().as_str()))
                    }
                }
            },
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
        let open = q.open.as_ref().map(|rules| {
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
                .collect::<Vec<_>>()
        });
        if let (Some(id), Some(name)) = (id, name) {
            out.push(QueueAt {
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
            });
        }
    }
    if out.is_empty() && !p.errors.iter().any(|e| e.path.starts_with("queues")) {
        p.at(
            "queues",
            list_span,
            "no queue: calls would have nowhere to go; expected at least the fallback \
             queue, like [[queues]] id = \"general\" name = \"Operator umum\"",
        );
    }
    out
}

fn time_rule(raw: &S<RawTimeRule>, here: &str, p: &mut Problems<'_>) -> Option<TimeRule> {
    let r = raw.get_ref();
    let days = match &r.days {
        None => Some(Days::EVERY_DAY),
        Some(list) => {
            let mut days = Days::NONE;
            let mut bad = false;
            for (k, item) in list.get_ref().iter().enumerate() {
                match Days::parse_item(item.get_ref()) {
                    Some(more) => {
                        for d in super::time_rule::Weekday::ALL {
                            if more.contains(d) {
                                days = days.with(d);
                            }
                        }
                    }
                    None => {
                        bad = true;
                        p.at(
                            format!("{here}.days[{k}]"),
                            item.span(),
                            format!(
                                "{:?} is not a day; expected mon, tue, wed, thu, fri, sat, sun \
                                 (or sen..min) or a range like \"mon-fri\"",
                                item.get_ref()
                            ),
                        );
                    }
                }
            }
            if days.is_empty() && !bad {
                p.at(
                    format!("{here}.days"),
                    list.span(),
                    "days = [] matches no day; expected days like [\"mon-fri\"], or no \
                     `days` key for every day",
                );
                bad = true;
            }
            (!bad).then_some(days)
        }
    };
    let mut clock = |key: &str, v: &Option<S<toml::Value>>, end: bool| match v {
        None => {
            p.at(
                here,
                raw.span(),
                format!(
                    "missing key `{key}`; expected from = \"07:00\" and until = \"15:00\" \
                     (local time)"
                ),
            );
            None
        }
        Some(v) => match clock_of(v.get_ref(), end) {
            Ok(s) => Some(s),
            Err(msg) => {
                p.at(format!("{here}.{key}"), v.span(), msg);
                None
            }
        },
    };
    let from = clock("from", &r.from, false);
    let until = clock("until", &r.until, true);
    let (days, from, until) = (days?, from?, until?);
    if from == until || (from == 0 && until == super::time_rule::SECS_PER_DAY) {
        let at = r.until.as_ref().map_or(raw.span(), |u| u.span());
        p.at(
            format!("{here}.until"),
            at,
            "the rule covers the whole day; expected a shorter window, or no `open` key \
             for a queue open around the clock",
        );
        return None;
    }
    Some(TimeRule { days, from, until })
}

fn check_queues(queues: &[QueueAt], fallback: &FallbackAt, p: &mut Problems<'_>) {
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
    // A chain of closed queues must end at an open one. Only time-ruled queues can
    // be closed, so a cycle of time-ruled queues could leave a call with no queue.
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

// ------------------------------------------------------------------------- routing

fn routing_table(
    raw: Option<S<RawRouting>>,
    d: &RoutingPlan,
    p: &mut Problems<'_>,
) -> (FallbackAt, UtcOffset, Vec<DirectAt>) {
    let default_direct = || {
        d.direct
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), format!("routing.direct[{i}]"), None))
            .collect::<Vec<_>>()
    };
    let fallback_path = "routing.fallback_queue".to_string();
    let Some(raw) = raw else {
        return (
            (d.fallback_queue.clone(), None, fallback_path),
            d.utc_offset,
            default_direct(),
        );
    };
    let raw = raw.into_inner();
    let fallback = match &raw.fallback_queue {
        None => (d.fallback_queue.clone(), None, fallback_path),
        Some(f) => match id_problem("queue", f.get_ref(), "general") {
            None => (
                QueueId::new(f.get_ref().as_str()),
                Some(f.span()),
                fallback_path,
            ),
            Some(msg) => {
                p.at(&fallback_path, f.span(), msg);
                // An unusable name keeps the default so no derived error follows.
                (d.fallback_queue.clone(), None, fallback_path)
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
        None => default_direct(),
        Some(list) => {
            let mut out: Vec<DirectAt> = Vec::new();
            for (i, entry) in list.get_ref().iter().enumerate() {
                let here = format!("routing.direct[{i}]");
                if let Some(n) = direct_number(entry, &here, p) {
                    if let Some((_, seen, _)) =
                        out.iter().find(|(seen, _, _)| seen.number == n.number)
                    {
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
            }
            out
        }
    };
    (fallback, offset, direct)
}

fn direct_number(entry: &S<RawDirect>, here: &str, p: &mut Problems<'_>) -> Option<DirectNumber> {
    let raw = entry.get_ref();
    let number = match &raw.number {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key `number`; expected number = \"118\" and queue = \"medical\"",
            );
            None
        }
        Some(v) => match number_problem(v.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                p.at(format!("{here}.number"), v.span(), msg);
                None
            }
        },
    };
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

fn check_direct(
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

// ----------------------------------------------------------------------------- ivr

struct MenuAt {
    menu: Menu,
    path: String,
    origin: Origin,
    /// Per option: its path and where its action value was written.
    options: Vec<(String, Origin)>,
}

struct IvrAt {
    /// Each language with where it was named (`ivr.languages[i]`).
    languages: Vec<(Language, (String, Origin))>,
    /// Prompt tables as written: language → (table path/origin, prompt → (path, origin)).
    prompt_tables: BTreeMap<String, PromptTableAt>,
    greeting: (PromptId, Origin),
    root: (MenuId, Origin),
    menus: BTreeMap<MenuId, MenuAt>,
    first_digit_timeout: Duration,
    no_input_repeats: u32,
    retries: u32,
    no_input_limit: Duration,
    max_time: Duration,
    prompt_timeout: Duration,
    barge_in: bool,
}

fn ivr(raw: Option<S<RawIvr>>, d: &RoutingPlan, p: &mut Problems<'_>) -> IvrAt {
    let raw = raw.map(S::into_inner).unwrap_or_default();

    let languages: Vec<(Lang, (String, Origin))> = match &raw.languages {
        None => d
            .languages
            .iter()
            .enumerate()
            .map(|(i, l)| (l.code.clone(), (format!("ivr.languages[{i}]"), None)))
            .collect(),
        Some(list) => {
            let mut out: Vec<(Lang, (String, Origin))> = Vec::new();
            for (i, l) in list.get_ref().iter().enumerate() {
                let here = format!("ivr.languages[{i}]");
                if let Some(msg) = lang_problem(l.get_ref()) {
                    p.at(here, l.span(), msg);
                } else if let Some((_, (seen, _))) =
                    out.iter().find(|(seen, _)| seen == l.get_ref().as_str())
                {
                    p.at(
                        here,
                        l.span(),
                        format!(
                            "{} is listed twice (also at {seen}); expected each language once",
                            l.get_ref()
                        ),
                    );
                } else {
                    out.push((Lang::new(l.get_ref().as_str()), (here, Some(l.span()))));
                }
            }
            if list.get_ref().is_empty() {
                p.at(
                    "ivr.languages",
                    list.span(),
                    "no language: the IVR could not say anything; expected at least one, \
                     like [\"id\"]; the first is the one every call starts in",
                );
            }
            out
        }
    };

    // Prompt tables: as written, or the defaults of the listed languages.
    let mut prompt_tables = BTreeMap::new();
    let mut prompt_maps: BTreeMap<String, BTreeMap<PromptId, String>> = BTreeMap::new();
    match &raw.prompts {
        None => {
            for (code, _) in &languages {
                if let Some(l) = d.language(code) {
                    prompt_maps.insert(code.to_string(), l.prompts.clone());
                    let entries = l
                        .prompts
                        .keys()
                        .map(|k| {
                            let path = key_path(&format!("ivr.prompts.{code}"), k.as_str());
                            (k.to_string(), (path, None))
                        })
                        .collect();
                    prompt_tables.insert(
                        code.to_string(),
                        (format!("ivr.prompts.{code}"), None, entries),
                    );
                }
            }
        }
        Some(tables) => {
            for (lang, table) in tables.get_ref() {
                let tpath = key_path("ivr.prompts", lang);
                let mut map = BTreeMap::new();
                let mut entries = BTreeMap::new();
                for (id, file) in table.get_ref() {
                    let path = key_path(&tpath, id);
                    if let Some(msg) = id_problem("prompt", id, "menu_main") {
                        p.at(&path, file.span(), msg);
                        continue;
                    }
                    if let Some(msg) = wav_problem(file.get_ref()) {
                        p.at(&path, file.span(), msg);
                    }
                    // Kept even with a bad file name, so it does not also count as missing.
                    map.insert(PromptId::new(id.as_str()), file.get_ref().clone());
                    entries.insert(id.clone(), (path, Some(file.span())));
                }
                prompt_maps.insert(lang.clone(), map);
                prompt_tables.insert(lang.clone(), (tpath, Some(table.span()), entries));
            }
        }
    }
    let languages = languages
        .into_iter()
        .map(|(code, at)| {
            let prompts = prompt_maps.get(code.as_str()).cloned().unwrap_or_default();
            (Language { code, prompts }, at)
        })
        .collect();

    let greeting = match &raw.greeting {
        None => (d.greeting.clone(), None),
        Some(g) => match id_problem("prompt", g.get_ref(), "greeting") {
            Some(msg) => {
                p.at("ivr.greeting", g.span(), msg);
                (d.greeting.clone(), None)
            }
            None => (PromptId::new(g.get_ref().as_str()), Some(g.span())),
        },
    };
    let root = match &raw.menu {
        None => (d.root_menu.clone(), None),
        Some(m) => match id_problem("menu", m.get_ref(), "main") {
            Some(msg) => {
                p.at("ivr.menu", m.span(), msg);
                (d.root_menu.clone(), None)
            }
            None => (MenuId::new(m.get_ref().as_str()), Some(m.span())),
        },
    };
    let first_digit_timeout = duration_in(
        raw.first_digit_timeout.as_ref(),
        "ivr.first_digit_timeout",
        d.first_digit_timeout,
        Duration::from_secs(1)..=Duration::from_secs(30),
        "between 1s and 30s",
        p,
    );
    let no_input_limit = duration_in(
        raw.no_input_limit.as_ref(),
        "ivr.no_input_limit",
        d.no_input_limit,
        Duration::from_secs(5)..=Duration::from_secs(120),
        "between 5s and 2m (a silent caller waits this long for a human)",
        p,
    );
    let max_time = duration_in(
        raw.max_time.as_ref(),
        "ivr.max_time",
        d.max_time,
        Duration::from_secs(10)..=Duration::from_secs(600),
        "between 10s and 10m",
        p,
    );
    let prompt_timeout = duration_in(
        raw.prompt_timeout.as_ref(),
        "ivr.prompt_timeout",
        d.prompt_timeout,
        Duration::from_secs(1)..=Duration::from_secs(300),
        "between 1s and 5m",
        p,
    );
    if max_time < no_input_limit {
        let at = raw.max_time.as_ref().map(|m| m.span());
        let path = if at.is_some() {
            "ivr.max_time"
        } else {
            "ivr.no_input_limit"
        };
        let at = at.or_else(|| raw.no_input_limit.as_ref().map(|m| m.span()));
        p.maybe_at(
            path,
            at,
            format!(
                "max_time ({max_time:?}) is shorter than no_input_limit ({no_input_limit:?}); \
                 expected max_time at least as long, since it bounds every caller's time in \
                 the IVR"
            ),
        );
    }
    let count = |v: &Option<S<i64>>, path: &str, default: u32, p: &mut Problems<'_>| {
        int_in(v.as_ref(), path, 0..=5, "a count between 0 and 5", p).map_or(default, |n| n as u32)
    };
    let no_input_repeats = count(
        &raw.no_input_repeats,
        "ivr.no_input_repeats",
        d.no_input_repeats,
        p,
    );
    let retries = count(&raw.retries, "ivr.retries", d.retries, p);
    let barge_in = raw.barge_in.as_ref().map_or(d.barge_in, |b| *b.get_ref());

    let menus = match raw.menus {
        None => d
            .menus
            .iter()
            .map(|(id, m)| {
                let path = key_path("ivr.menus", id.as_str());
                let options = (0..m.options.len())
                    .map(|i| (format!("{path}.options[{i}]"), None))
                    .collect();
                (
                    id.clone(),
                    MenuAt {
                        menu: m.clone(),
                        path,
                        origin: None,
                        options,
                    },
                )
            })
            .collect(),
        Some(menus) => {
            let mut out = BTreeMap::new();
            for (id, m) in menus.into_inner() {
                let path = key_path("ivr.menus", &id);
                if let Some(msg) = id_problem("menu", &id, "main") {
                    p.at(&path, m.span(), msg);
                    continue;
                }
                if let Some(menu) = menu(&id, &m, &path, p) {
                    out.insert(MenuId::new(id.as_str()), menu);
                }
            }
            out
        }
    };

    IvrAt {
        languages,
        prompt_tables,
        greeting,
        root,
        menus,
        first_digit_timeout,
        no_input_repeats,
        retries,
        no_input_limit,
        max_time,
        prompt_timeout,
        barge_in,
    }
}

fn menu(id: &str, raw: &S<RawMenu>, path: &str, p: &mut Problems<'_>) -> Option<MenuAt> {
    let m = raw.get_ref();
    let prompt = match &m.prompt {
        None => {
            p.at(
                path,
                raw.span(),
                format!("missing key `prompt`; expected the prompt id that reads this menu, like prompt = \"menu_{id}\""),
            );
            None
        }
        Some(pr) => match id_problem("prompt", pr.get_ref(), "menu_main") {
            Some(msg) => {
                p.at(format!("{path}.prompt"), pr.span(), msg);
                None
            }
            None => Some(PromptId::new(pr.get_ref().as_str())),
        },
    };
    let mut options: Vec<MenuOption> = Vec::new();
    let mut option_at: Vec<(String, Origin)> = Vec::new();
    match &m.options {
        None => p.at(
            path,
            raw.span(),
            "missing key `options`; expected a list like options = [{ digit = \"1\", queue = \"medical\" }]",
        ),
        Some(list) if list.get_ref().is_empty() => p.at(
            format!("{path}.options"),
            list.span(),
            "a menu without options leads nowhere; expected at least one option",
        ),
        Some(list) => {
            for (i, o) in list.get_ref().iter().enumerate() {
                let here = format!("{path}.options[{i}]");
                if let Some((opt, origin)) = option(o, &here, p) {
                    if let Some(j) = options.iter().position(|seen| seen.digit == opt.digit) {
                        let at = o.get_ref().digit.as_ref().map_or(o.span(), |d| d.span());
                        p.at(
                            format!("{here}.digit"),
                            at,
                            format!(
                                "key {} is used twice in this menu (also at {path}.options[{j}]); \
                                 expected each key once",
                                opt.digit
                            ),
                        );
                    } else {
                        options.push(opt);
                        option_at.push((here, origin));
                    }
                }
            }
        }
    }
    Some(MenuAt {
        menu: Menu {
            id: MenuId::new(id),
            prompt: prompt?,
            options,
        },
        path: path.to_string(),
        origin: Some(raw.span()),
        options: option_at,
    })
}

fn option(raw: &S<RawOption>, here: &str, p: &mut Problems<'_>) -> Option<(MenuOption, Origin)> {
    let o = raw.get_ref();
    let digit = match &o.digit {
        None => {
            p.at(
                here,
                raw.span(),
                "missing key `digit`; expected the key the caller presses, like digit = \"1\"",
            );
            None
        }
        Some(v) => match digit_of(v.get_ref()) {
            Ok(c) => Some(c),
            Err(msg) => {
                p.at(format!("{here}.digit"), v.span(), msg);
                None
            }
        },
    };
    let mut actions: Vec<(&str, Range<usize>)> = Vec::new();
    if let Some(q) = &o.queue {
        actions.push(("queue", q.span()));
    }
    if let Some(m) = &o.menu {
        actions.push(("menu", m.span()));
    }
    if let Some(l) = &o.language {
        actions.push(("language", l.span()));
    }
    for (key, flag) in [("repeat", &o.repeat), ("back", &o.back)] {
        if let Some(f) = flag {
            if *f.get_ref() {
                actions.push((key, f.span()));
            } else {
                p.at(
                    format!("{here}.{key}"),
                    f.span(),
                    format!("{key} = false does nothing; expected {key} = true, or leave it out"),
                );
                return None;
            }
        }
    }
    let action = match actions.as_slice() {
        [] => {
            p.at(
                here,
                raw.span(),
                "no action for this key; expected one of queue = \"...\", menu = \"...\", \
                 language = \"...\", repeat = true or back = true",
            );
            return None;
        }
        [_, second, ..] => {
            let names: Vec<&str> = actions.iter().map(|(k, _)| *k).collect();
            p.at(
                format!("{here}.{}", second.0),
                second.1.clone(),
                format!(
                    "one key can do one thing, but this option has {}; expected exactly one",
                    names.join(" and ")
                ),
            );
            return None;
        }
        [(key, span)] => {
            let (key, span) = (*key, span.clone());
            let text =
                |v: &Option<S<String>>| v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default();
            let bad = |p: &mut Problems<'_>, msg: String| {
                p.at(format!("{here}.{key}"), span.clone(), msg);
            };
            match key {
                "queue" => {
                    let q = text(&o.queue);
                    match id_problem("queue", &q, "medical") {
                        Some(msg) => {
                            bad(p, msg);
                            return None;
                        }
                        None => (MenuAction::Queue(QueueId::new(q)), span),
                    }
                }
                "menu" => {
                    let m = text(&o.menu);
                    match id_problem("menu", &m, "main") {
                        Some(msg) => {
                            bad(p, msg);
                            return None;
                        }
                        None => (MenuAction::Submenu(MenuId::new(m)), span),
                    }
                }
                "language" => {
                    let l = text(&o.language);
                    match lang_problem(&l) {
                        Some(msg) => {
                            bad(p, msg);
                            return None;
                        }
                        None => (MenuAction::Language(Lang::new(l)), span),
                    }
                }
                "repeat" => (MenuAction::Repeat, span),
                _ => (MenuAction::Back, span),
            }
        }
    };
    Some((
        MenuOption {
            digit: digit?,
            action: action.0,
        },
        Some(action.1),
    ))
}

fn check_menus(ivr: &IvrAt, queues: &[QueueAt], p: &mut Problems<'_>) {
    let queues_written = queues.iter().any(|q| q.origin.is_some());
    let menus_written = ivr.menus.values().any(|m| m.origin.is_some());
    if !ivr.menus.contains_key(&ivr.root.0) && (ivr.root.1.is_some() || menus_written) {
        {
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

    // Submenu cycles: depth-first from every menu, reporting the option that closes a
    // cycle. A caller could otherwise walk in circles until max_time.
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
                    let cycle: Vec<&str> = stack[from..].iter().map(MenuId::as_str).collect();
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

fn check_prompts(ivr: &IvrAt, plan: &RoutingPlan, p: &mut Problems<'_>) {
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
        if !missing.is_empty() {
            p.maybe_at(
                tpath,
                torigin.clone(),
                format!(
                    "language {} lacks the prompt{} {}; expected a WAV file name for every \
                     prompt the IVR plays, like {} = \"{}.wav\"",
                    lang.code,
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    missing[0],
                    missing[0]
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
            if !used.iter().any(|u| u.as_str() == id) {
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
