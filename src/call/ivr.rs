//! The IVR: greeting, menu tree and key presses in; prompts to play and one routing
//! decision out. Sans-IO, with the shape of the SIP transactions: `handle_*(now, …)`
//! feeds it, `poll_action()` drains what it wants done, `poll_timeout()` says when it
//! next needs `handle_timeout(now)`.
//!
//! The machine holds one promise: every call ends in exactly one [`IvrAction::Route`]
//! to a queue, whatever the caller presses or doesn't and whatever the media layer
//! does. No key: the menu once more, then the fallback queue. Invalid keys: "invalid
//! choice" and the menu, then the fallback. A silent caller reaches the fallback
//! within `no_input_limit` however long the prompts are; nobody stays longer than
//! `max_time`; a prompt that is never reported finished is given up after
//! `prompt_timeout`. Queues closed by their time rules overflow at route time.
//!
//! The silent-call procedure (issue 16, modelled on the UK's Silent Solution): a caller
//! who has neither spoken (`handle_speech`, from the voice-activity detector) nor
//! pressed a key when the menu gives up hears `silent_prompt` ("if you cannot speak,
//! press 5 twice") instead of going to the fallback at once. 5 5 routes to the silent
//! queue as [`RouteReason::Silent55`] (the highest priority); anything else, or
//! nothing within `silent_wait` after the prompt, routes to the fallback as
//! [`RouteReason::Silent`] (the lowest priority, rising while it waits). Either way the
//! call reaches a queue: a silent caller is never dropped.
//!
//! Wall-clock time is an input too: `Ivr::new` takes the UTC time at the start and
//! the machine adds the monotonic time elapsed since, so time rules are testable on
//! the same virtual clock as the timers.
//!
//! Contract with the media layer: `handle_prompt_finished` reports a prompt that
//! played to its end (or could not be played at all, e.g. a missing file: report it
//! at once so the caller does not wait for `prompt_timeout`). A prompt stopped by
//! [`IvrAction::StopPrompt`] or replaced by the next `Play` is not reported.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::{
    Lang, MenuAction, MenuId, PromptId, QueueId, RoutingPlan, PROMPT_INVALID_CHOICE,
    PROMPT_NO_CHOICE, PROMPT_SILENT,
};
use crate::call::acd::Priority;

/// At most this many steps are kept on a path: a caller (or a broken phone) that
/// floods keys must not grow a call's memory without bound.
pub const MAX_PATH_EVENTS: usize = 256;

/// How the call reached the IVR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// A dialled emergency number; a direct number skips the menu.
    Number(String),
    /// No number to go by (`urn:service:sos`): the menu.
    Menu,
}

/// A prompt in a language; the media layer finds the file with
/// [`RoutingPlan::prompt_file`] under `config/prompts/<lang>/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PromptRef {
    /// The language folder to look in.
    pub lang: Lang,
    /// Which prompt (`greeting`, a menu's prompt, `invalid_choice`...).
    pub id: PromptId,
}

/// What the IVR asks its owner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrAction {
    /// Start playing this prompt (replacing any prompt still playing).
    Play {
        /// The prompt, in the call's current language.
        prompt: PromptRef,
    },
    /// Cut the prompt being played at once (barge-in, or a routing decision).
    StopPrompt,
    /// The decision; always the last action. The call joins `routing.queue` at once
    /// and hears `routing.announce` (if any) before the queue's own prompts.
    Route(Routing),
}

/// Where the call goes and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// The queue that takes the call (open at route time).
    pub queue: QueueId,
    /// The queue chosen, before closed queues overflowed.
    pub requested: QueueId,
    /// Queues passed over because their time rules had them closed, in order.
    pub closed: Vec<QueueId>,
    /// Why this queue: a key, a direct number, or a fallback.
    pub reason: RouteReason,
    /// Played to the caller in the queue before anything else.
    pub announce: Option<PromptRef>,
}

impl Routing {
    /// True when the chosen queue was closed and the call went to its overflow.
    pub fn overflowed(&self) -> bool {
        !self.closed.is_empty()
    }
}

/// Why the IVR routed where it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteReason {
    /// The caller pressed `digit` in `menu`.
    Chosen {
        /// The key, `0`-`9`, `*` or `#`.
        digit: char,
        /// The menu the key was an option of.
        menu: MenuId,
    },
    /// The dialled number is a direct number.
    Direct {
        /// The number as dialled (the Request-URI's user part).
        number: String,
    },
    /// No key: the menu timed out `no_input_repeats + 1` times, or `no_input_limit`.
    NoInput,
    /// More invalid keys than `retries`.
    RetriesExhausted,
    /// The caller was in the IVR for `max_time`.
    TimeLimit,
    /// The plan lacks something validation guarantees (a hand-built plan).
    PlanError,
    /// A silent caller pressed 5 5 after the silent prompt: the highest priority.
    #[serde(rename = "silent_55")]
    Silent55,
    /// A caller who neither spoke nor pressed a key, through the silent prompt too:
    /// the lowest priority (it rises while the call waits).
    Silent,
}

impl RouteReason {
    /// The call's priority class in its queue.
    pub fn priority(&self) -> Priority {
        match self {
            RouteReason::Silent55 => Priority::High,
            RouteReason::Silent => Priority::Low,
            _ => Priority::Normal,
        }
    }

    /// The flag shown to the operator (`X-CC112-Flags`) and kept in the record.
    pub fn flag(&self) -> Option<&'static str> {
        match self {
            RouteReason::Silent55 => Some("silent_55"),
            RouteReason::Silent => Some("silent"),
            _ => None,
        }
    }
}

/// The story of the call in the IVR, kept for the call record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrPath {
    /// How the call reached the IVR.
    pub entry: Entry,
    /// UTC start, milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// The language the call started in.
    pub language: Lang,
    /// The steps, oldest first, at most [`MAX_PATH_EVENTS`] (the outcome always fits).
    pub events: Vec<PathEvent>,
    /// Events after [`MAX_PATH_EVENTS`] were dropped.
    pub truncated: bool,
    /// The routing decision; `None` while in the IVR and for a caller who hung up
    /// there.
    pub outcome: Option<Routing>,
}

/// One step, with its time since the IVR started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEvent {
    /// Milliseconds since the IVR started (monotonic clock).
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub step: PathStep,
}

/// What happened at one step of the IVR (serialised with `"step"` as its tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum PathStep {
    /// A key that was an option of `menu`.
    Digit {
        /// The key pressed.
        key: char,
        /// The menu it was an option of.
        menu: MenuId,
        /// The key cut a prompt still playing.
        barge_in: bool,
    },
    /// A key that is no option of `menu`.
    Invalid {
        /// The key pressed.
        key: char,
        /// The menu that was waiting for a key.
        menu: MenuId,
        /// Invalid keys so far in this call, this one included.
        count: u32,
    },
    /// A key not acted on: pressed during a prompt without barge-in, or not a key.
    Ignored {
        /// The key (or character) received.
        key: char,
    },
    /// A language option switched the prompts' language; choosing the language
    /// already in use switches back to the plan's first one.
    Language {
        /// The language before.
        from: Lang,
        /// The language from now on.
        to: Lang,
    },
    /// No key within `first_digit_timeout` after `menu`.
    Timeout {
        /// The menu that was waiting for a key.
        menu: MenuId,
        /// Silent menus in a row (a valid key starts again), this one included.
        count: u32,
    },
    /// A prompt was not reported finished within `prompt_timeout`.
    PromptTimeout {
        /// The prompt given up on.
        prompt: PromptRef,
    },
    /// No key at all within `no_input_limit`.
    NoInputLimit,
    /// The voice-activity detector heard the caller speak (recorded once).
    Spoke,
    /// The caller had neither spoken nor pressed a key: the silent prompt plays.
    SilentPrompt,
    /// `max_time` in the IVR.
    TimeLimit,
    /// The routing decision (its details are in [`IvrPath::outcome`]).
    Routed {
        /// The queue that takes the call.
        queue: QueueId,
    },
    /// The caller hung up in the IVR.
    Abandoned,
}

/// What happens when the current prompt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Play the menu's prompt (after the greeting or "invalid choice").
    PlayMenu,
    /// Wait for a key (after the menu prompt).
    AwaitKey,
    /// Wait `silent_wait` for 5 5 (after the silent prompt).
    AwaitFives,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Playing {
        menu: MenuId,
        prompt: PromptRef,
        then: Then,
        guard: Instant,
    },
    AwaitingKey {
        menu: MenuId,
        deadline: Instant,
    },
    Routed,
    Abandoned,
}

/// The IVR of one call.
#[derive(Debug)]
pub struct Ivr {
    plan: Arc<RoutingPlan>,
    started: Instant,
    started_utc: SystemTime,
    lang: Lang,
    state: State,
    /// Menus this one was entered from, for `back`.
    stack: Vec<MenuId>,
    invalid: u32,
    /// Timeouts in a row since the last valid key.
    silences: u32,
    /// Cleared by the first key.
    no_input_deadline: Option<Instant>,
    /// The caller spoke (voice activity) or pressed a key: not a silent caller.
    heard: bool,
    /// In the silent-call stage: the fives pressed so far.
    fives: Option<u8>,
    max_deadline: Instant,
    actions: VecDeque<IvrAction>,
    path: IvrPath,
}

impl Ivr {
    /// Starts the IVR for an answered call: a direct number routes at once, anything
    /// else plays the greeting. `now_utc` is the wall-clock time at `now`.
    pub fn new(plan: Arc<RoutingPlan>, now: Instant, now_utc: SystemTime, entry: Entry) -> Ivr {
        let lang = plan
            .default_language()
            .cloned()
            .unwrap_or_else(|| Lang::new(""));
        let started_unix_ms = match now_utc.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        let mut ivr = Ivr {
            started: now,
            started_utc: now_utc,
            state: State::Routed,
            stack: Vec::new(),
            invalid: 0,
            silences: 0,
            no_input_deadline: Some(now + plan.no_input_limit),
            heard: false,
            fives: None,
            max_deadline: now + plan.max_time,
            actions: VecDeque::new(),
            path: IvrPath {
                entry: entry.clone(),
                started_unix_ms,
                language: lang.clone(),
                events: Vec::new(),
                truncated: false,
                outcome: None,
            },
            lang,
            plan,
        };
        let direct = match &entry {
            Entry::Number(n) => ivr.plan.direct_queue(n).cloned().map(|q| (n.clone(), q)),
            Entry::Menu => None,
        };
        let root = ivr.plan.root_menu.clone();
        if let Some((number, queue)) = direct {
            ivr.route(now, queue, RouteReason::Direct { number }, None);
        } else if ivr.plan.menu(&root).is_none() || ivr.plan.default_language().is_none() {
            let fallback = ivr.plan.fallback_queue.clone();
            ivr.route(now, fallback, RouteReason::PlanError, None);
        } else {
            let greeting = ivr.plan.greeting.clone();
            ivr.play(now, root, greeting, Then::PlayMenu);
        }
        ivr
    }

    /// The voice-activity detector heard the caller speak: not a silent caller.
    pub fn handle_speech(&mut self, now: Instant) {
        if self.heard || matches!(self.state, State::Routed | State::Abandoned) {
            self.heard = true;
            return;
        }
        self.heard = true;
        self.record(now, PathStep::Spoke);
    }

    /// A key from the caller (RFC 4733 event or in-band), already de-duplicated.
    pub fn handle_digit(&mut self, now: Instant, key: char) {
        let key = key.to_ascii_uppercase();
        let is_key = key.is_ascii_digit() || matches!(key, '*' | '#' | 'A'..='D');
        if is_key && self.fives.is_some() && !matches!(self.state, State::Routed | State::Abandoned) {
            self.silent_key(now, key);
            return;
        }
        if is_key {
            self.heard = true;
        }
        let (menu, barge_in) = match &self.state {
            State::Routed | State::Abandoned => return,
            _ if !is_key => {
                self.record(now, PathStep::Ignored { key });
                return;
            }
            State::Playing { .. } if !self.plan.barge_in => {
                self.record(now, PathStep::Ignored { key });
                return;
            }
            State::Playing { menu, .. } => (menu.clone(), true),
            State::AwaitingKey { menu, .. } => (menu.clone(), false),
        };
        if barge_in {
            self.actions.push_back(IvrAction::StopPrompt);
        }
        self.no_input_deadline = None;
        let action = self.plan.menu(&menu).and_then(|m| m.option(key)).cloned();
        let Some(action) = action else {
            self.invalid_key(now, menu, key);
            return;
        };
        self.record(
            now,
            PathStep::Digit {
                key,
                menu: menu.clone(),
                barge_in,
            },
        );
        self.silences = 0;
        match action {
            MenuAction::Queue(queue) => {
                self.route(now, queue, RouteReason::Chosen { digit: key, menu }, None);
            }
            MenuAction::Submenu(next) => {
                self.stack.push(menu);
                self.play_menu(now, next);
            }
            MenuAction::Language(to) => {
                let first = self.plan.default_language().cloned();
                let to = match first {
                    Some(first) if self.lang == to => first,
                    _ => to,
                };
                let from = std::mem::replace(&mut self.lang, to.clone());
                self.record(now, PathStep::Language { from, to });
                self.play_menu(now, menu);
            }
            MenuAction::Repeat => self.play_menu(now, menu),
            MenuAction::Back => {
                let parent = self.stack.pop().unwrap_or(menu);
                self.play_menu(now, parent);
            }
        }
    }

    /// The media layer finished playing `prompt` (see the module doc for the contract).
    pub fn handle_prompt_finished(&mut self, now: Instant, prompt: &PromptRef) {
        if let State::Playing {
            prompt: current, ..
        } = &self.state
        {
            if current == prompt {
                self.prompt_done(now);
            }
        }
    }

    /// Acts on whatever deadline passed by `now`: `max_time`, `no_input_limit`, a
    /// prompt never reported finished, or a menu waiting for a key.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Routed | State::Abandoned) {
            return;
        }
        let fallback = self.plan.fallback_queue.clone();
        if now >= self.max_deadline {
            self.record(now, PathStep::TimeLimit);
            self.stop_if_playing();
            self.route(now, fallback, RouteReason::TimeLimit, None);
            return;
        }
        if self.no_input_deadline.is_some_and(|d| now >= d) {
            self.record(now, PathStep::NoInputLimit);
            self.stop_if_playing();
            self.no_input(now);
            return;
        }
        match self.state.clone() {
            State::Playing { prompt, guard, .. } if now >= guard => {
                self.record(now, PathStep::PromptTimeout { prompt });
                // The media layer may still be playing it; the next prompt must not
                // be mixed with it.
                self.actions.push_back(IvrAction::StopPrompt);
                self.prompt_done(now);
            }
            State::AwaitingKey { menu, deadline } if now >= deadline => {
                self.silences += 1;
                self.record(
                    now,
                    PathStep::Timeout {
                        menu: menu.clone(),
                        count: self.silences,
                    },
                );
                if self.fives.is_some() {
                    let announce = self.prompt_ref(PROMPT_NO_CHOICE);
                    self.route(now, fallback, RouteReason::Silent, Some(announce));
                } else if self.silences > self.plan.no_input_repeats {
                    self.no_input(now);
                } else {
                    self.play_menu(now, menu);
                }
            }
            _ => {}
        }
    }

    /// The caller hung up: no more actions, the path records it.
    pub fn abandon(&mut self, now: Instant) {
        if matches!(self.state, State::Routed | State::Abandoned) {
            return;
        }
        self.record(now, PathStep::Abandoned);
        self.state = State::Abandoned;
        self.actions.clear();
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due; `None` once routed
    /// or abandoned.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state_timer = match &self.state {
            State::Routed | State::Abandoned => return None,
            State::Playing { guard, .. } => *guard,
            State::AwaitingKey { deadline, .. } => *deadline,
        };
        let mut t = state_timer.min(self.max_deadline);
        if let Some(d) = self.no_input_deadline {
            t = t.min(d);
        }
        Some(t)
    }

    /// The next thing to do, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<IvrAction> {
        self.actions.pop_front()
    }

    /// The story so far, for the call record.
    pub fn path(&self) -> &IvrPath {
        &self.path
    }

    /// The routing decision, once made.
    pub fn outcome(&self) -> Option<&Routing> {
        self.path.outcome.as_ref()
    }

    /// True once the call is routed or abandoned: the IVR needs no more input.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Routed | State::Abandoned)
    }

    /// The language the caller hears now.
    pub fn language(&self) -> &Lang {
        &self.lang
    }

    /// The plan this call runs on (the one current when it started).
    pub fn plan(&self) -> &Arc<RoutingPlan> {
        &self.plan
    }

    /// For logs and tests.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Playing { .. } => "playing",
            State::AwaitingKey { .. } => "awaiting_key",
            State::Routed => "routed",
            State::Abandoned => "abandoned",
        }
    }

    /// The menu gives up on a caller who pressed nothing: the fallback, or first the
    /// silent prompt for a caller who has not spoken either.
    fn no_input(&mut self, now: Instant) {
        let menu = match &self.state {
            State::Playing { menu, .. } | State::AwaitingKey { menu, .. } => menu.clone(),
            State::Routed | State::Abandoned => return,
        };
        if self.plan.silent_procedure && !self.heard && self.fives.is_none() {
            self.fives = Some(0);
            self.no_input_deadline = None;
            self.record(now, PathStep::SilentPrompt);
            self.play(now, menu, PromptId::new(PROMPT_SILENT), Then::AwaitFives);
            return;
        }
        let fallback = self.plan.fallback_queue.clone();
        let announce = self.prompt_ref(PROMPT_NO_CHOICE);
        self.route(now, fallback, RouteReason::NoInput, Some(announce));
    }

    /// A key in the silent-call stage: 5 5 routes to the silent queue; any other key
    /// starts the count again (the caller can press keys: the menu's promise of a
    /// human holds either way).
    fn silent_key(&mut self, now: Instant, key: char) {
        if matches!(self.state, State::Playing { .. }) {
            self.actions.push_back(IvrAction::StopPrompt);
            if let State::Playing { menu, .. } = self.state.clone() {
                self.state = State::AwaitingKey { menu, deadline: now + self.plan.silent_wait };
            }
        }
        let n = if key == '5' { self.fives.unwrap_or(0).saturating_add(1) } else { 0 };
        self.fives = Some(n);
        self.record(now, PathStep::Ignored { key });
        if n >= 2 {
            let queue = self.plan.silent_queue.clone().unwrap_or_else(|| self.plan.fallback_queue.clone());
            self.route(now, queue, RouteReason::Silent55, None);
        }
    }

    fn invalid_key(&mut self, now: Instant, menu: MenuId, key: char) {
        self.invalid += 1;
        self.record(
            now,
            PathStep::Invalid {
                key,
                menu: menu.clone(),
                count: self.invalid,
            },
        );
        if self.invalid > self.plan.retries {
            let fallback = self.plan.fallback_queue.clone();
            self.route(now, fallback, RouteReason::RetriesExhausted, None);
        } else {
            self.play(
                now,
                menu,
                PromptId::new(PROMPT_INVALID_CHOICE),
                Then::PlayMenu,
            );
        }
    }

    fn prompt_done(&mut self, now: Instant) {
        let State::Playing { menu, then, .. } = self.state.clone() else {
            return;
        };
        match then {
            Then::PlayMenu => self.play_menu(now, menu),
            Then::AwaitKey => {
                self.state = State::AwaitingKey {
                    menu,
                    deadline: now + self.plan.first_digit_timeout,
                };
            }
            Then::AwaitFives => {
                self.state = State::AwaitingKey { menu, deadline: now + self.plan.silent_wait };
            }
        }
    }

    fn play_menu(&mut self, now: Instant, menu: MenuId) {
        match self.plan.menu(&menu).map(|m| m.prompt.clone()) {
            Some(prompt) => self.play(now, menu, prompt, Then::AwaitKey),
            None => {
                let fallback = self.plan.fallback_queue.clone();
                self.route(now, fallback, RouteReason::PlanError, None);
            }
        }
    }

    fn play(&mut self, now: Instant, menu: MenuId, prompt: PromptId, then: Then) {
        let prompt = PromptRef {
            lang: self.lang.clone(),
            id: prompt,
        };
        self.actions.push_back(IvrAction::Play {
            prompt: prompt.clone(),
        });
        self.state = State::Playing {
            menu,
            prompt,
            then,
            guard: now + self.plan.prompt_timeout,
        };
    }

    fn stop_if_playing(&mut self) {
        if matches!(self.state, State::Playing { .. }) {
            self.actions.push_back(IvrAction::StopPrompt);
        }
    }

    fn prompt_ref(&self, id: &str) -> PromptRef {
        PromptRef {
            lang: self.lang.clone(),
            id: PromptId::new(id),
        }
    }

    /// Time rules are evaluated now, at the moment of the decision, on the wall
    /// clock derived from the start time plus the monotonic time elapsed.
    fn route(
        &mut self,
        now: Instant,
        requested: QueueId,
        reason: RouteReason,
        announce: Option<PromptRef>,
    ) {
        let utc = self.started_utc + now.saturating_duration_since(self.started);
        let resolved = self.plan.resolve(&requested, utc);
        let routing = Routing {
            queue: resolved.queue,
            requested,
            closed: resolved.closed,
            reason,
            announce,
        };
        self.record(
            now,
            PathStep::Routed {
                queue: routing.queue.clone(),
            },
        );
        self.path.outcome = Some(routing.clone());
        self.state = State::Routed;
        self.actions.push_back(IvrAction::Route(routing));
    }

    fn record(&mut self, now: Instant, step: PathStep) {
        // The outcome is always recorded, even on a full path.
        let last = matches!(step, PathStep::Routed { .. } | PathStep::Abandoned);
        if self.path.events.len() >= MAX_PATH_EVENTS && !last {
            self.path.truncated = true;
            return;
        }
        let at = now.saturating_duration_since(self.started);
        self.path.events.push(PathEvent {
            at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
            step,
        });
    }
}

#[cfg(test)]
mod tests;
