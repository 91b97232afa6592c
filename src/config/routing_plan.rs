//! The validated routing plan: languages and prompts, the IVR menu tree, direct
//! numbers and the department queues with their opening hours.
//!
//! A call takes an `Arc<RoutingPlan>` when it starts and keeps it to the end, so a
//! reload never changes the menu under a caller's finger. Everything a call needs is
//! looked up here; validation guarantees that every id the plan mentions exists, so
//! the lookups only fail if the plan was built by hand (and then the IVR falls back
//! to the fallback queue rather than panicking).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::ids::{MenuId, QueueId};
use super::ivr::{Ivr, Language, PROMPT_SILENT, SYSTEM_PROMPTS};
use super::menus::Menu;
use super::queues::{overflow_to_fallback, Queue};
use super::routing::{DirectNumber, RoutingTable};
use crate::clock::UtcOffset;
use crate::media::prompts::{Lang, PromptId, PromptPlan};

/// Everything the IVR and the time rules need for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingPlan {
    /// In order; the first is the language every call starts in.
    pub languages: Vec<Language>,
    /// Played once when the call is answered, before the first menu.
    pub greeting: PromptId,
    /// The root of the menu tree.
    pub root_menu: MenuId,
    /// Every menu of the tree, by id.
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
    /// Where a silent caller who pressed 5 5 goes, at the highest priority (issue 16);
    /// `None`: the fallback queue.
    pub silent_queue: Option<QueueId>,
    /// `[routing.nuisance]`: a repeat silent caller's class lowered (off by default).
    pub nuisance: super::NuisanceRule,
    /// A caller who has neither spoken nor pressed a key when the menu gives up hears
    /// `silent_prompt` ("if you cannot speak, press 5 twice") before the fallback.
    pub silent_procedure: bool,
    /// How long the IVR waits for 5 5 after the silent prompt has finished.
    pub silent_wait: Duration,
    /// Dialled numbers that skip the menu and go straight to a queue.
    pub direct: Vec<DirectNumber>,
    /// The department queues, in file order; every one but the fallback queue has an
    /// overflow target.
    pub queues: Vec<Queue>,
    /// Local time for the queues' time rules.
    pub utc_offset: UtcOffset,
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
    /// The plan of three validated tables; queues without an overflow target get the
    /// fallback queue.
    pub(crate) fn from_parts(ivr: Ivr, routing: RoutingTable, queues: Vec<Queue>) -> RoutingPlan {
        RoutingPlan {
            languages: ivr.languages,
            greeting: ivr.greeting,
            root_menu: ivr.root_menu,
            menus: ivr.menus,
            first_digit_timeout: ivr.first_digit_timeout,
            no_input_repeats: ivr.no_input_repeats,
            retries: ivr.retries,
            no_input_limit: ivr.no_input_limit,
            max_time: ivr.max_time,
            prompt_timeout: ivr.prompt_timeout,
            barge_in: ivr.barge_in,
            silent_procedure: ivr.silent_procedure,
            silent_wait: ivr.silent_wait,
            queues: overflow_to_fallback(queues, &routing.fallback_queue),
            fallback_queue: routing.fallback_queue,
            silent_queue: routing.silent_queue,
            nuisance: super::NuisanceRule::default(),
            direct: routing.direct,
            utc_offset: routing.utc_offset,
        }
    }

    /// The `[ivr]` part, for validating a file against these defaults.
    pub(crate) fn ivr(&self) -> Ivr {
        Ivr {
            languages: self.languages.clone(),
            greeting: self.greeting.clone(),
            root_menu: self.root_menu.clone(),
            menus: self.menus.clone(),
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

    /// The `[routing]` part, for validating a file against these defaults.
    pub(crate) fn routing_table(&self) -> RoutingTable {
        RoutingTable {
            fallback_queue: self.fallback_queue.clone(),
            silent_queue: self.silent_queue.clone(),
            utc_offset: self.utc_offset,
            direct: self.direct.clone(),
        }
    }

    /// A language of the plan by code.
    pub fn language(&self, code: &Lang) -> Option<&Language> {
        self.languages.iter().find(|l| &l.code == code)
    }

    /// The language calls start in.
    pub fn default_language(&self) -> Option<&Lang> {
        self.languages.first().map(|l| &l.code)
    }

    /// A menu by id.
    pub fn menu(&self, id: &MenuId) -> Option<&Menu> {
        self.menus.get(id)
    }

    /// A queue by id.
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
    /// and the IVR's own prompts (the silent prompt while the procedure is on).
    pub fn prompts_used(&self) -> Vec<PromptId> {
        let mut used: Vec<PromptId> = vec![self.greeting.clone()];
        used.extend(self.menus.values().map(|m| m.prompt.clone()));
        used.extend(SYSTEM_PROMPTS.iter().map(|p| PromptId::new(*p)));
        if self.silent_procedure {
            used.push(PromptId::new(PROMPT_SILENT));
        }
        used.sort();
        used.dedup();
        used
    }
}

impl PromptPlan for RoutingPlan {
    fn prompt_files(&self) -> Vec<(Lang, PromptId, String)> {
        self.languages
            .iter()
            .flat_map(|language| {
                language
                    .prompts
                    .iter()
                    .map(|(id, file)| (language.code.clone(), id.clone(), file.clone()))
            })
            .collect()
    }
}
