//! The validated routing plan: languages and prompts, the IVR menu tree, direct
//! numbers and the department queues with their opening hours.
//!
//! A call takes an `Arc<RoutingPlan>` when it starts and keeps it to the end, so a
//! reload never changes the menu under a caller's finger. Everything a call needs is
//! looked up here; validation guarantees that every id the plan mentions exists, so
//! the lookups only fail if the plan was built by hand (and then the IVR falls back
//! to the fallback queue rather than panicking).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::time_rule::{TimeRule, UtcOffset};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_newtype!(
    /// A department queue (`medical`, `fire`, ...): lowercase letters, digits, `_`.
    QueueId
);
id_newtype!(
    /// A menu of the IVR tree (`main`, ...).
    MenuId
);
id_newtype!(
    /// A language code (ISO 639-1/-3, lowercase: `id`, `en`, `jv`); it also names the
    /// prompt directory `config/prompts/<lang>/`.
    Lang
);
id_newtype!(
    /// A prompt (`greeting`, `menu_main`, ...); each language maps it to a WAV file.
    PromptId
);

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
/// Prompts the IVR and the queues themselves play; every language must define them.
pub const SYSTEM_PROMPTS: &[&str] = &[
    PROMPT_INVALID_CHOICE,
    PROMPT_NO_CHOICE,
    PROMPT_HOLD,
    PROMPT_STAY_ON_LINE,
    PROMPT_CONNECTING,
];

/// Everything the IVR and the time rules need for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingPlan {
    /// In order; the first is the language every call starts in.
    pub languages: Vec<Language>,
    /// Played once when the call is answered, before the first menu.
    pub greeting: PromptId,
    /// The root of the menu tree.
    pub root_menu: MenuId,
    pub menus: BTreeMap<MenuId, Menu>,
    /// How long the IVR waits for a key after a menu prompt has finished.
    pub first_digit_timeout: Duration,
    /// How often a menu is played again after a timeout before the fallback.
    pub no_input_repeats: u32,
    /// How many invalid keys are answered with "invalid choice" and the menu again;
    /// the next one goes to the fallback.
    pub retries: u32,
    /// A caller who has pressed no key this long after the call started goes to the
    /// fallback queue, however long the prompts are: the promise to a silent caller
    /// (who may be unable to speak or press) is a human within this time.
    pub no_input_limit: Duration,
    /// Nobody stays in the IVR longer than this, whatever they press (a caller
    /// pressing "repeat" forever, a stuck media layer): then the fallback queue.
    pub max_time: Duration,
    /// If the media layer never reports that a prompt finished (a missing WAV, a
    /// crashed task), the IVR goes on after this long instead of waiting forever.
    pub prompt_timeout: Duration,
    /// A key cuts the prompt being played and is acted on at once.
    pub barge_in: bool,
    /// Where no input, too many invalid keys and anything unexpected ends; always
    /// open (validation refuses time rules on it).
    pub fallback_queue: QueueId,
    /// Dialled numbers that skip the menu and go straight to a queue.
    pub direct: Vec<DirectNumber>,
    pub queues: Vec<Queue>,
    /// Local time for the queues' time rules.
    pub utc_offset: UtcOffset,
}

/// One language and its prompt set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    pub code: Lang,
    /// Prompt id → WAV file name under `config/prompts/<code>/`.
    pub prompts: BTreeMap<PromptId, String>,
}

/// One menu of the IVR tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub id: MenuId,
    pub prompt: PromptId,
    /// Each key at most once.
    pub options: Vec<MenuOption>,
}

impl Menu {
    pub fn option(&self, key: char) -> Option<&MenuAction> {
        self.options
            .iter()
            .find(|o| o.digit == key)
            .map(|o| &o.action)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuOption {
    /// One of `0-9`, `*`, `#`.
    pub digit: char,
    pub action: MenuAction,
}

/// What a key does in a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    Queue(QueueId),
    Submenu(MenuId),
    /// Switch to this language and play the menu again in it; pressed while already
    /// in it, switch back to the first language (so `9` toggles English).
    Language(Lang),
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

/// A legacy number that bypasses the menu (callers who dial 118 want an ambulance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectNumber {
    pub number: String,
    pub queue: QueueId,
}

/// A department queue as routing sees it; the ACD adds its own settings later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
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

/// Where a requested queue leads at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The queue that takes the call.
    pub queue: QueueId,
    /// Closed queues passed over, in order, starting with the requested one.
    pub closed: Vec<QueueId>,
}

impl RoutingPlan {
    pub fn language(&self, code: &Lang) -> Option<&Language> {
        self.languages.iter().find(|l| &l.code == code)
    }

    /// The language calls start in.
    pub fn default_language(&self) -> Option<&Lang> {
        self.languages.first().map(|l| &l.code)
    }

    pub fn menu(&self, id: &MenuId) -> Option<&Menu> {
        self.menus.get(id)
    }

    pub fn queue(&self, id: &QueueId) -> Option<&Queue> {
        self.queues.iter().find(|q| &q.id == id)
    }

    /// The queue a dialled number goes to without the menu, if it is a direct number.
    pub fn direct_queue(&self, number: &str) -> Option<&QueueId> {
        self.direct
            .iter()
            .find(|d| d.number == number)
            .map(|d| &d.queue)
    }

    /// WAV file name of a prompt in a language (relative to `config/prompts/<lang>/`).
    pub fn prompt_file(&self, lang: &Lang, prompt: &PromptId) -> Option<&str> {
        self.language(lang)?.prompts.get(prompt).map(String::as_str)
    }

    /// Follows overflow targets from `requested` until an open queue.
    ///
    /// Validation ensures the chain ends at an open queue; an unknown id or a chain
    /// that still loops (a hand-built plan) ends at the fallback queue, because a
    /// call must land somewhere a human answers.
    pub fn resolve(&self, requested: &QueueId, utc: SystemTime) -> Resolved {
        let mut closed = Vec::new();
        let mut current = requested.clone();
        for _ in 0..=self.queues.len() {
            let Some(queue) = self.queue(&current) else {
                break;
            };
            if queue.is_open_at(utc, self.utc_offset) {
                return Resolved {
                    queue: current,
                    closed,
                };
            }
            let next = queue
                .overflow
                .clone()
                .unwrap_or_else(|| self.fallback_queue.clone());
            closed.push(current);
            current = next;
        }
        Resolved {
            queue: self.fallback_queue.clone(),
            closed,
        }
    }

    /// Every prompt id a language must define: the greeting, every menu's prompt
    /// and the IVR's own prompts.
    pub fn prompts_used(&self) -> Vec<PromptId> {
        let mut used: Vec<PromptId> = vec![self.greeting.clone()];
        used.extend(self.menus.values().map(|m| m.prompt.clone()));
        used.extend(SYSTEM_PROMPTS.iter().map(|p| PromptId::new(*p)));
        used.sort();
        used.dedup();
        used
    }
}
