//! `[ivr.menus.<id>]`: the menus of the IVR tree, each a prompt and the keys a caller
//! can press.
//!
//! The raw tables, the typed [`Menu`] and its options, and the validator of one menu.
//! Whether the queues, submenus and languages an option names exist, and whether the
//! tree is a tree, is checked in `cross_refs.rs` once every table is read.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;

use super::ids::{MenuId, QueueId};
use super::problems::{id_problem, lang_problem, Problems};
use super::problems::span::{Origin, S};
use crate::media::prompts::{Lang, PromptId};

/// One menu as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMenu {
    pub prompt: Option<S<String>>,
    pub options: Option<S<Vec<S<RawOption>>>>,
}

/// One key of a menu; exactly one of the action keys must be given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOption {
    /// Any value: `digit = 1` (an integer) gets a hint instead of a type error.
    pub digit: Option<S<toml::Value>>,
    pub queue: Option<S<String>>,
    pub menu: Option<S<String>>,
    pub language: Option<S<String>>,
    pub repeat: Option<S<bool>>,
    pub back: Option<S<bool>>,
}

/// One menu of the IVR tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    /// Its key in `[ivr.menus]`.
    pub id: MenuId,
    /// What is played to read the menu out.
    pub prompt: PromptId,
    /// Each key at most once.
    pub options: Vec<MenuOption>,
}

impl Menu {
    /// What pressing `key` does here, if it is an option.
    pub fn option(&self, key: char) -> Option<&MenuAction> {
        self.options
            .iter()
            .find(|o| o.digit == key)
            .map(|o| &o.action)
    }
}

/// One key of a menu and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuOption {
    /// One of `0-9`, `*`, `#`.
    pub digit: char,
    /// What pressing it does.
    pub action: MenuAction,
}

/// What a key does in a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// Put the call in this queue.
    Queue(QueueId),
    /// Play this menu next.
    Submenu(MenuId),
    /// Switch to this language and play the menu again in it; pressed while already
    /// in it, switch back to the first language (so `9` toggles English).
    Language(Lang),
    /// Play the menu again.
    Repeat,
    /// Back to the menu this one was entered from (the root repeats itself).
    Back,
}

impl fmt::Display for MenuAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MenuAction::Queue(q) => write!(f, "{q}"),
            MenuAction::Submenu(m) => write!(f, "menu {m}"),
            MenuAction::Language(l) => write!(f, "language {l}"),
            MenuAction::Repeat => f.write_str("repeat"),
            MenuAction::Back => f.write_str("back"),
        }
    }
}

/// A validated menu with where it and its options were written.
pub(crate) struct MenuAt {
    pub menu: Menu,
    /// `ivr.menus.<id>`.
    pub path: String,
    /// The table; `None` for the default menu.
    pub origin: Origin,
    /// Per option: its path and where its action value was written.
    pub options: Vec<(String, Origin)>,
}

/// Validates the menu `id` written at `path`; `None` when its prompt is unusable.
pub(crate) fn menu(id: &str, raw: &S<RawMenu>, path: &str, p: &mut Problems<'_>) -> Option<MenuAt> {
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
    let (options, option_at) = match &m.options {
        None => {
            p.at(
                path,
                raw.span(),
                "missing key `options`; expected a list like options = [{ digit = \"1\", queue = \"medical\" }]",
            );
            (Vec::new(), Vec::new())
        }
        Some(list) if list.get_ref().is_empty() => {
            p.at(
                format!("{path}.options"),
                list.span(),
                "a menu without options leads nowhere; expected at least one option",
            );
            (Vec::new(), Vec::new())
        }
        Some(list) => options(list, path, p),
    };
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

/// The valid options of a menu, each key once, with their paths and origins.
fn options(
    list: &S<Vec<S<RawOption>>>,
    path: &str,
    p: &mut Problems<'_>,
) -> (Vec<MenuOption>, Vec<(String, Origin)>) {
    let mut options: Vec<MenuOption> = Vec::new();
    let mut option_at: Vec<(String, Origin)> = Vec::new();
    for (i, o) in list.get_ref().iter().enumerate() {
        let here = format!("{path}.options[{i}]");
        let Some((opt, origin)) = option(o, &here, p) else {
            continue;
        };
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
    (options, option_at)
}

/// One option at `here`, with where its action was written.
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
    let (key, span) = action_key(raw, here, p)?;
    let action = action(o, key, here, span.clone(), p)?;
    Some((
        MenuOption {
            digit: digit?,
            action,
        },
        Some(span),
    ))
}

/// The one action key an option has (`queue`, `menu`, `language`, `repeat`, `back`)
/// and where it was written; none or several is a problem.
fn action_key(
    raw: &S<RawOption>,
    here: &str,
    p: &mut Problems<'_>,
) -> Option<(&'static str, Range<usize>)> {
    let o = raw.get_ref();
    let mut actions: Vec<(&'static str, Range<usize>)> = Vec::new();
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
    match actions.as_slice() {
        [] => {
            p.at(
                here,
                raw.span(),
                "no action for this key; expected one of queue = \"...\", menu = \"...\", \
                 language = \"...\", repeat = true or back = true",
            );
            None
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
            None
        }
        [one] => Some(one.clone()),
    }
}

/// The action of the option's single action `key`, its value checked.
fn action(
    o: &RawOption,
    key: &str,
    here: &str,
    span: Range<usize>,
    p: &mut Problems<'_>,
) -> Option<MenuAction> {
    let text = |v: &Option<S<String>>| v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default();
    let (problem, action) = match key {
        "queue" => {
            let q = text(&o.queue);
            (
                id_problem("queue", &q, "medical"),
                MenuAction::Queue(QueueId::new(q)),
            )
        }
        "menu" => {
            let m = text(&o.menu);
            (
                id_problem("menu", &m, "main"),
                MenuAction::Submenu(MenuId::new(m)),
            )
        }
        "language" => {
            let l = text(&o.language);
            (lang_problem(&l), MenuAction::Language(Lang::new(l)))
        }
        "repeat" => (None, MenuAction::Repeat),
        _ => (None, MenuAction::Back),
    };
    match problem {
        Some(msg) => {
            p.at(format!("{here}.{key}"), span, msg);
            None
        }
        None => Some(action),
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
