//! The built-in routing plan of Command Center 112 Surabaya: what an empty file gives,
//! and exactly what the shipped `config/cc112.toml` shows (a test checks both).
//!
//! Seven departments, the legacy national numbers routed straight to them, Indonesian
//! then English prompts, and one menu. The other tables' defaults (`[sip]`,
//! `[store]`, ...) are short and sit next to their validators.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ids::{MenuId, QueueId};
use super::ivr::{Ivr, Language, PROMPT_SILENT, SYSTEM_PROMPTS};
use super::menus::{Menu, MenuAction, MenuOption};
use super::queues::Queue;
use super::routing::{DirectNumber, RoutingTable};
use super::routing_plan::RoutingPlan;
use crate::clock::UtcOffset;
use crate::media::prompts::{Lang, PromptId};

/// Surabaya's departments, in menu order, with the names operators see.
const QUEUES: &[(&str, &str)] = &[
    ("medical", "Gawat darurat medis dan ambulans"),
    ("fire", "Pemadam kebakaran dan penyelamatan"),
    ("public_order", "Keamanan dan ketertiban umum"),
    ("public_works", "Banjir, pohon tumbang, jalan dan saluran"),
    ("social", "Layanan sosial, anak dan disabilitas"),
    ("transport", "Lalu lintas dan transportasi"),
    ("general", "Operator umum"),
];
const FALLBACK: &str = "general";
/// The legacy national numbers callers still dial, each to its department.
const DIRECT: &[(&str, &str)] = &[
    ("110", "public_order"),
    ("113", "fire"),
    ("115", "fire"),
    ("118", "medical"),
    ("119", "medical"),
];
const LANGUAGES: &[&str] = &["id", "en"];
const GREETING: &str = "greeting";
const ROOT_MENU: &str = "main";
const MENU_PROMPT: &str = "menu_main";

const FIRST_DIGIT_TIMEOUT: Duration = Duration::from_secs(5);
const NO_INPUT_LIMIT: Duration = Duration::from_secs(20);
const MAX_TIME: Duration = Duration::from_secs(120);
const PROMPT_TIMEOUT: Duration = Duration::from_secs(60);
const RETRIES: u32 = 2;
const NO_INPUT_REPEATS: u32 = 1;
const SILENT_WAIT: Duration = Duration::from_secs(8);

/// The plan an empty file gives, which is exactly what `config/cc112.toml` shows.
pub(crate) fn default_routing() -> RoutingPlan {
    RoutingPlan::from_parts(default_ivr(), default_routing_table(), default_queues())
}

fn default_ivr() -> Ivr {
    Ivr {
        languages: LANGUAGES
            .iter()
            .map(|l| Language {
                code: Lang::new(*l),
                prompts: default_prompts(),
            })
            .collect(),
        greeting: PromptId::new(GREETING),
        root_menu: MenuId::new(ROOT_MENU),
        menus: default_menus(),
        first_digit_timeout: FIRST_DIGIT_TIMEOUT,
        no_input_repeats: NO_INPUT_REPEATS,
        retries: RETRIES,
        no_input_limit: NO_INPUT_LIMIT,
        max_time: MAX_TIME,
        prompt_timeout: PROMPT_TIMEOUT,
        barge_in: true,
        silent_procedure: true,
        silent_wait: SILENT_WAIT,
    }
}

fn default_routing_table() -> RoutingTable {
    RoutingTable {
        fallback_queue: QueueId::new(FALLBACK),
        silent_queue: None,
        utc_offset: UtcOffset::WIB,
        direct: DIRECT
            .iter()
            .map(|(n, q)| DirectNumber {
                number: (*n).to_string(),
                queue: QueueId::new(*q),
            })
            .collect(),
    }
}

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
    let id = MenuId::new(ROOT_MENU);
    BTreeMap::from([(
        id.clone(),
        Menu {
            id,
            prompt: PromptId::new(MENU_PROMPT),
            options: default_menu_actions(),
        },
    )])
}

/// The prompt set every default language has: `<id>.wav` for each prompt.
fn default_prompts() -> BTreeMap<PromptId, String> {
    [GREETING, MENU_PROMPT, PROMPT_SILENT]
        .iter()
        .chain(SYSTEM_PROMPTS)
        .map(|id| (PromptId::new(*id), format!("{id}.wav")))
        .collect()
}

/// The departments; their overflow targets are filled in with the fallback queue
/// when the plan is assembled.
fn default_queues() -> Vec<Queue> {
    QUEUES
        .iter()
        .map(|(id, name)| Queue {
            id: QueueId::new(*id),
            name: (*name).to_string(),
            overflow: None,
            open: None,
        })
        .collect()
}
