//! `[ivr]`: the languages and their prompt files, the greeting, the root menu and the
//! IVR's timers; the menus themselves are `menus.rs`'.
//!
//! The raw table, the typed [`Ivr`] (whose fields the routing plan copies), the
//! prompts the IVR itself plays, and the validator. That every language has every
//! prompt in use, and that the menu tree holds together, is checked in
//! `cross_refs.rs` once every table is read.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::ids::MenuId;
use super::menus::{menu, Menu, MenuAt, RawMenu};
use super::problems::{duration_in, id_problem, int_in, lang_problem, Problems};
use super::problems::span::{key_path, Origin, S};
use crate::media::prompts::{Lang, PromptId};

/// `[ivr]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIvr {
    pub languages: Option<S<Vec<S<String>>>>,
    pub greeting: Option<S<String>>,
    pub menu: Option<S<String>>,
    pub first_digit_timeout: Option<S<toml::Value>>,
    pub no_input_repeats: Option<S<i64>>,
    pub retries: Option<S<i64>>,
    pub no_input_limit: Option<S<toml::Value>>,
    pub max_time: Option<S<toml::Value>>,
    pub prompt_timeout: Option<S<toml::Value>>,
    pub barge_in: Option<S<bool>>,
    pub silent_procedure: Option<S<bool>>,
    pub silent_wait: Option<S<toml::Value>>,
    /// Language → prompt id → WAV file name.
    pub prompts: Option<S<RawPromptTables>>,
    /// Menu id → menu.
    pub menus: Option<S<BTreeMap<String, S<RawMenu>>>>,
}

/// Language → prompt id → WAV file name, as written. Keyed by names the admin
/// chooses, so a map: a stray key is refused by validation (an unused prompt id).
pub(crate) type RawPromptTables = BTreeMap<String, S<BTreeMap<String, S<String>>>>;

/// Prompt the IVR plays after a key that is not an option of the menu.
pub const PROMPT_INVALID_CHOICE: &str = "invalid_choice";
/// Prompt announced when a caller pressed nothing and goes to the fallback queue
/// ("we did not hear a choice, connecting you to an operator").
pub const PROMPT_NO_CHOICE: &str = "no_choice";
/// Prompt played while a call waits in a queue ("please hold").
pub const PROMPT_HOLD: &str = "hold";
/// Prompt repeated to a caller who has waited a while ("please stay on the line, an
/// operator will answer you"): a silent line makes callers hang up and redial.
pub const PROMPT_STAY_ON_LINE: &str = "stay_on_line";
/// Prompt played when an operator has been found ("connecting you now").
pub const PROMPT_CONNECTING: &str = "connecting";
/// Prompt played to a caller who has neither spoken nor pressed a key when the menu
/// gives up: "if you cannot speak, press 5 twice" (issue 16).
pub const PROMPT_SILENT: &str = "silent_prompt";
/// Prompts the IVR and the queues themselves play; every language must define them
/// (and [`PROMPT_SILENT`] too while `silent_procedure` is on).
pub const SYSTEM_PROMPTS: &[&str] = &[
    PROMPT_INVALID_CHOICE,
    PROMPT_NO_CHOICE,
    PROMPT_HOLD,
    PROMPT_STAY_ON_LINE,
    PROMPT_CONNECTING,
];

/// One language and its prompt set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    /// Also the folder of its prompt files.
    pub code: Lang,
    /// Prompt id → WAV file name under `config/prompts/<code>/`.
    pub prompts: BTreeMap<PromptId, String>,
}

/// The validated `[ivr]` table (menus included); see [`super::RoutingPlan`] for what
/// each field means to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ivr {
    pub languages: Vec<Language>,
    pub greeting: PromptId,
    pub root_menu: MenuId,
    pub menus: BTreeMap<MenuId, Menu>,
    pub first_digit_timeout: Duration,
    pub no_input_repeats: u32,
    pub retries: u32,
    pub no_input_limit: Duration,
    pub max_time: Duration,
    pub prompt_timeout: Duration,
    pub barge_in: bool,
    pub silent_procedure: bool,
    pub silent_wait: Duration,
}

/// A prompt table: its path and origin, and each prompt id's path and origin.
pub(crate) type PromptTableAt = (String, Origin, BTreeMap<String, (String, Origin)>);

/// The validated `[ivr]` with where each cross-referenced value was written.
pub(crate) struct IvrAt {
    /// Each language with where it was named (`ivr.languages[i]`).
    pub languages: Vec<(Language, (String, Origin))>,
    /// Prompt tables as written: language → (table path/origin, prompt → (path, origin)).
    pub prompt_tables: BTreeMap<String, PromptTableAt>,
    pub greeting: (PromptId, Origin),
    pub root: (MenuId, Origin),
    pub menus: BTreeMap<MenuId, MenuAt>,
    pub first_digit_timeout: Duration,
    pub no_input_repeats: u32,
    pub retries: u32,
    pub no_input_limit: Duration,
    pub max_time: Duration,
    pub prompt_timeout: Duration,
    pub barge_in: bool,
    pub silent_procedure: bool,
    pub silent_wait: Duration,
}

impl IvrAt {
    /// The typed table, positions dropped.
    pub(crate) fn ivr(&self) -> Ivr {
        Ivr {
            languages: self.languages.iter().map(|(l, _)| l.clone()).collect(),
            greeting: self.greeting.0.clone(),
            root_menu: self.root.0.clone(),
            menus: self
                .menus
                .iter()
                .map(|(k, m)| (k.clone(), m.menu.clone()))
                .collect(),
            first_digit_timeout: self.first_digit_timeout,
            no_input_repeats: self.no_input_repeats,
            retries: self.retries,
            no_input_limit: self.no_input_limit,
            max_time: self.max_time,
            prompt_timeout: self.prompt_timeout,
            barge_in: self.barge_in,
            silent_procedure: self.silent_procedure,
            silent_wait: self.silent_wait,
        }
    }
}

/// The IVR's four timers, validated together because one bounds another.
struct Timers {
    first_digit_timeout: Duration,
    no_input_limit: Duration,
    max_time: Duration,
    prompt_timeout: Duration,
}

/// Validates `[ivr]`; a key not written (or unusable) keeps the default `d`.
pub(crate) fn ivr(raw: Option<S<RawIvr>>, d: &Ivr, p: &mut Problems<'_>) -> IvrAt {
    let raw = raw.map(S::into_inner).unwrap_or_default();
    let languages = languages(raw.languages.as_ref(), d, p);
    let (prompt_tables, mut prompt_maps) = prompt_tables(raw.prompts.as_ref(), &languages, d, p);
    let languages = languages
        .into_iter()
        .map(|(code, at)| {
            let prompts = prompt_maps.remove(code.as_str()).unwrap_or_default();
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
    let timers = timers(&raw, d, p);
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
    let silent_procedure = raw.silent_procedure.as_ref().map_or(d.silent_procedure, |b| *b.get_ref());
    let silent_wait = duration_in(raw.silent_wait.as_ref(), "ivr.silent_wait", d.silent_wait, Duration::from_secs(3)..=Duration::from_secs(60), "between 3s and 1m", p);
    let menus = menus(raw.menus, d, p);
    IvrAt {
        languages,
        prompt_tables,
        greeting,
        root,
        menus,
        first_digit_timeout: timers.first_digit_timeout,
        no_input_repeats,
        retries,
        no_input_limit: timers.no_input_limit,
        max_time: timers.max_time,
        prompt_timeout: timers.prompt_timeout,
        barge_in,
        silent_procedure,
        silent_wait,
    }
}

/// `ivr.languages`: each valid code once, with its path and origin.
fn languages(
    raw: Option<&S<Vec<S<String>>>>,
    d: &Ivr,
    p: &mut Problems<'_>,
) -> Vec<(Lang, (String, Origin))> {
    let Some(list) = raw else {
        return d
            .languages
            .iter()
            .enumerate()
            .map(|(i, l)| (l.code.clone(), (format!("ivr.languages[{i}]"), None)))
            .collect();
    };
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

/// Prompt tables as written, or the defaults of the listed languages: their positions
/// and, per language, prompt id → file.
fn prompt_tables(
    raw: Option<&S<RawPromptTables>>,
    languages: &[(Lang, (String, Origin))],
    d: &Ivr,
    p: &mut Problems<'_>,
) -> (
    BTreeMap<String, PromptTableAt>,
    BTreeMap<String, BTreeMap<PromptId, String>>,
) {
    let mut prompt_tables = BTreeMap::new();
    let mut prompt_maps: BTreeMap<String, BTreeMap<PromptId, String>> = BTreeMap::new();
    let Some(tables) = raw else {
        for (code, _) in languages {
            if let Some(l) = d.languages.iter().find(|l| &l.code == code) {
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
        return (prompt_tables, prompt_maps);
    };
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
    (prompt_tables, prompt_maps)
}

fn timers(raw: &RawIvr, d: &Ivr, p: &mut Problems<'_>) -> Timers {
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
    Timers {
        first_digit_timeout,
        no_input_limit,
        max_time,
        prompt_timeout,
    }
}

/// `[ivr.menus]` as written (each validated by `menus.rs`), or the default menus.
fn menus(
    raw: Option<S<BTreeMap<String, S<RawMenu>>>>,
    d: &Ivr,
    p: &mut Problems<'_>,
) -> BTreeMap<MenuId, MenuAt> {
    let Some(menus) = raw else {
        return d
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
            .collect();
    };
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
