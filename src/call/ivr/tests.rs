//! IVR scenarios on a virtual clock: a small simulated media layer plays each prompt
//! for a fixed length and reports it finished, the way the real one will.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;
use crate::config::Config;

const TIME_RULES: &str = include_str!("../../../fixtures/config/valid_time_rules.toml");
const SUBMENU: &str = include_str!("../../../fixtures/config/valid_submenu.toml");

fn plan_from(text: &str) -> Arc<RoutingPlan> {
    match Config::from_toml(text, "test.toml") {
        Ok(c) => c.routing,
        Err(e) => panic!("{e}"),
    }
}

fn default_plan() -> Arc<RoutingPlan> {
    plan_from("")
}

/// Monday 2024-01-01 00:00 WIB is 2023-12-31 17:00 UTC; `day` 0 is that Monday.
fn wib(day: u64, h: u64, m: u64, s: u64) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs(1_704_067_200 - 7 * 3600 + day * 86_400 + h * 3600 + m * 60 + s)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The IVR with a simulated media layer and a virtual clock.
struct Sim {
    ivr: Ivr,
    t0: Instant,
    now: Instant,
    /// Prompt lengths by id; `None` means the media layer never reports the end.
    lengths: HashMap<&'static str, Option<Duration>>,
    playing: Option<(PromptRef, Option<Instant>)>,
    /// Every action with its time in seconds (as f64 for readable asserts).
    log: Vec<(Duration, IvrAction)>,
}

impl Sim {
    fn start(plan: Arc<RoutingPlan>, utc: SystemTime, entry: Entry) -> Sim {
        let t0 = Instant::now();
        let mut sim = Sim {
            ivr: Ivr::new(plan, t0, utc, entry),
            t0,
            now: t0,
            lengths: HashMap::from([
                ("greeting", Some(secs(4))),
                ("menu_main", Some(secs(3))),
                ("menu_infra", Some(secs(3))),
                ("invalid_choice", Some(secs(2))),
            ]),
            playing: None,
            log: Vec::new(),
        };
        sim.drain();
        sim
    }

    fn menu_call() -> Sim {
        Sim::start(
            default_plan(),
            wib(0, 12, 0, 0),
            Entry::Number("112".into()),
        )
    }

    /// The caller speaks at the start (voice activity): not a silent caller, so the
    /// menu's no-input path goes straight to the fallback.
    fn spoke(mut self) -> Sim {
        self.ivr.handle_speech(self.t0);
        self
    }

    fn with_lengths(mut self, lengths: &[(&'static str, Option<u64>)]) -> Sim {
        for (id, len) in lengths {
            self.lengths.insert(id, len.map(secs));
        }
        // Reschedule the prompt already playing (the greeting) with its new length.
        if let Some((p, _)) = self.playing.take() {
            let end = self.end_of(&p);
            self.playing = Some((p, end));
        }
        self
    }

    fn end_of(&self, p: &PromptRef) -> Option<Instant> {
        let len = self
            .lengths
            .get(p.id.as_str())
            .copied()
            .unwrap_or(Some(secs(2)));
        len.map(|l| self.now + l)
    }

    fn drain(&mut self) {
        while let Some(a) = self.ivr.poll_action() {
            match &a {
                IvrAction::Play { prompt } => {
                    let end = self.end_of(prompt);
                    self.playing = Some((prompt.clone(), end));
                }
                IvrAction::StopPrompt => self.playing = None,
                IvrAction::Route(_) => self.playing = None,
            }
            self.log.push((self.now - self.t0, a));
        }
    }

    /// Runs prompt ends and timers up to `t` seconds after the start.
    fn run_until(&mut self, t: Duration) {
        let until = self.t0 + t;
        loop {
            let prompt_end = self.playing.as_ref().and_then(|(_, end)| *end);
            let timer = self.ivr.poll_timeout();
            let next = match (prompt_end, timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(n) => n,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = next;
            if prompt_end == Some(next) {
                if let Some((p, _)) = self.playing.take() {
                    self.ivr.handle_prompt_finished(next, &p);
                }
            } else {
                self.ivr.handle_timeout(next);
            }
            self.drain();
        }
        self.now = until.max(self.now);
    }

    fn press(&mut self, t: u64, key: char) {
        self.press_at(secs(t), key);
    }

    fn press_at(&mut self, t: Duration, key: char) {
        self.run_until(t);
        self.ivr.handle_digit(self.now, key);
        self.drain();
    }

    /// Runs until routed (at most 10 minutes) and returns the decision and its time.
    fn routed(&mut self) -> (Routing, Duration) {
        self.run_until(secs(600));
        for (t, a) in &self.log {
            if let IvrAction::Route(r) = a {
                return (r.clone(), *t);
            }
        }
        panic!("not routed: {:#?}", self.log);
    }

    /// Actions after `t` seconds, without times.
    fn actions_from(&self, t: Duration) -> Vec<IvrAction> {
        self.log
            .iter()
            .filter(|(at, _)| *at >= t)
            .map(|(_, a)| a.clone())
            .collect()
    }

    fn plays(&self) -> Vec<(u64, String)> {
        self.log
            .iter()
            .filter_map(|(t, a)| match a {
                IvrAction::Play { prompt } => {
                    Some((t.as_secs(), format!("{}/{}", prompt.lang, prompt.id)))
                }
                _ => None,
            })
            .collect()
    }

    fn steps(&self) -> Vec<(u64, PathStep)> {
        self.ivr
            .path()
            .events
            .iter()
            .map(|e| (e.at_ms, e.step.clone()))
            .collect()
    }
}

fn play(lang: &str, id: &str) -> IvrAction {
    IvrAction::Play {
        prompt: PromptRef {
            lang: Lang::new(lang),
            id: PromptId::new(id),
        },
    }
}

fn chosen(digit: char, menu: &str) -> RouteReason {
    RouteReason::Chosen {
        digit,
        menu: MenuId::new(menu),
    }
}

// ------------------------------------------------------------------ default menu

#[test]
fn greeting_then_menu_in_indonesian() {
    let mut sim = Sim::menu_call();
    sim.run_until(secs(8));
    assert_eq!(
        sim.plays(),
        [
            (0, "id/greeting".to_string()),
            (4, "id/menu_main".to_string())
        ]
    );
    assert_eq!(sim.ivr.state_name(), "awaiting_key");
    // Greeting guard, key deadline (7 + 5 s) and the 20 s no-input limit: the key
    // deadline is next.
    assert_eq!(sim.ivr.poll_timeout(), Some(sim.t0 + secs(12)));
}

#[test]
fn every_digit_of_the_default_menu_reaches_its_queue() {
    for (key, queue) in [
        ('1', "medical"),
        ('2', "fire"),
        ('3', "public_order"),
        ('4', "public_works"),
        ('5', "social"),
        ('6', "transport"),
        ('0', "general"),
    ] {
        let mut sim = Sim::menu_call();
        sim.press(8, key);
        assert_eq!(
            sim.actions_from(secs(8)),
            [IvrAction::Route(Routing {
                queue: QueueId::new(queue),
                requested: QueueId::new(queue),
                closed: vec![],
                reason: chosen(key, "main"),
                announce: None,
            })],
            "key {key}"
        );
        assert!(sim.ivr.is_done());
        assert_eq!(sim.ivr.poll_timeout(), None);
        assert_eq!(sim.ivr.outcome().map(|r| r.queue.as_str()), Some(queue));
    }
}

#[test]
fn star_repeats_the_menu() {
    let mut sim = Sim::menu_call();
    sim.press(8, '*');
    assert_eq!(sim.actions_from(secs(8)), [play("id", "menu_main")]);
    sim.press(12, '1');
    assert_eq!(sim.routed().0.queue, "medical");
}

// ----------------------------------------------------------------------- no input

#[test]
fn a_caller_who_speaks_but_presses_nothing_hears_the_menu_twice_then_general_by_twenty_seconds() {
    // Greeting 3 s, menu 3 s: menu at 3, timeout at 11, menu again 11-14, timeout
    // at 19: "no choice" and general, within the 20 s promise.
    let mut sim = Sim::menu_call().spoke().with_lengths(&[("greeting", Some(3))]);
    let (r, at) = sim.routed();
    assert_eq!(at, secs(19));
    assert_eq!(r.queue, "general");
    assert_eq!(r.reason, RouteReason::NoInput);
    assert_eq!(
        r.announce,
        Some(PromptRef {
            lang: Lang::new("id"),
            id: PromptId::new("no_choice")
        })
    );
    assert_eq!(
        sim.plays(),
        [
            (0, "id/greeting".to_string()),
            (3, "id/menu_main".to_string()),
            (11, "id/menu_main".to_string()),
        ]
    );
    let timeouts: Vec<(u64, u32)> = sim
        .steps()
        .into_iter()
        .filter_map(|(t, s)| match s {
            PathStep::Timeout { count, .. } => Some((t, count)),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, [(11_000, 1), (19_000, 2)]);
}

#[test]
fn long_prompts_are_cut_at_the_no_input_limit() {
    // Greeting 6 s, menu 8 s: the repeat would end at 27 s; the caller is routed at
    // exactly 20 s, mid-prompt.
    let mut sim = Sim::menu_call().spoke().with_lengths(&[("greeting", Some(6)), ("menu_main", Some(8))]);
    let (r, at) = sim.routed();
    assert_eq!(at, secs(20));
    assert_eq!(
        (r.queue.as_str(), &r.reason),
        ("general", &RouteReason::NoInput)
    );
    assert_eq!(
        sim.actions_from(secs(20)),
        [IvrAction::StopPrompt, IvrAction::Route(r)]
    );
    assert!(sim.steps().contains(&(20_000, PathStep::NoInputLimit)));
}

#[test]
fn a_speaking_caller_reaches_general_even_if_media_never_reports() {
    let mut sim = Sim::menu_call().spoke().with_lengths(&[("greeting", None)]);
    let (r, at) = sim.routed();
    assert_eq!((r.queue.as_str(), at), ("general", secs(20)));
}

#[test]
fn no_input_limit_is_configurable() {
    let plan = plan_from("[ivr]\nno_input_limit = \"8s\"\n");
    let mut sim = Sim::start(plan, wib(0, 12, 0, 0), Entry::Menu).spoke();
    let (r, at) = sim.routed();
    assert_eq!((r.queue.as_str(), at), ("general", secs(8)));
}

#[test]
fn a_stuck_prompt_is_given_up_after_prompt_timeout() {
    // After a key the no-input limit no longer applies; the prompt guard does.
    let plan = plan_from("[ivr]\nprompt_timeout = \"10s\"\n");
    let mut sim =
        Sim::start(plan, wib(0, 12, 0, 0), Entry::Menu).with_lengths(&[("invalid_choice", None)]);
    sim.press(8, '7');
    sim.run_until(secs(18));
    assert_eq!(
        sim.actions_from(secs(8)),
        [
            play("id", "invalid_choice"),
            IvrAction::StopPrompt,
            play("id", "menu_main")
        ]
    );
    assert!(sim.steps().iter().any(|(t, s)| *t == 18_000
        && matches!(s, PathStep::PromptTimeout { prompt } if prompt.id == "invalid_choice")));
}

#[test]
fn nobody_stays_longer_than_max_time() {
    let mut sim = Sim::menu_call();
    // A caller who keeps asking for the menu again.
    for t in (8..200).step_by(4) {
        sim.press(t, '*');
    }
    let (r, at) = sim.routed();
    assert_eq!(
        (r.queue.as_str(), &r.reason, at),
        ("general", &RouteReason::TimeLimit, secs(120))
    );
}

// ------------------------------------------------------------------- invalid keys

#[test]
fn invalid_key_plays_invalid_choice_then_the_menu_again() {
    let mut sim = Sim::menu_call();
    sim.press(8, '7');
    assert_eq!(sim.actions_from(secs(8)), [play("id", "invalid_choice")]);
    sim.run_until(secs(11));
    assert_eq!(
        sim.actions_from(secs(8)),
        [play("id", "invalid_choice"), play("id", "menu_main")]
    );
    assert!(sim.steps().contains(&(
        8_000,
        PathStep::Invalid {
            key: '7',
            menu: MenuId::new("main"),
            count: 1
        }
    )));
    sim.press(14, '6');
    assert_eq!(sim.routed().0.queue, "transport");
}

#[test]
fn retries_exhausted_goes_to_fallback() {
    let mut sim = Sim::menu_call();
    sim.press(8, '7'); // invalid 1: invalid_choice 8-10, menu 10-13
    sim.press(14, '#'); // invalid 2: invalid_choice 14-16, menu 16-19
    sim.press(20, 'A'); // invalid 3 > retries (2)
    let (r, at) = sim.routed();
    assert_eq!(at, secs(20));
    assert_eq!(
        (r.queue.as_str(), &r.reason),
        ("general", &RouteReason::RetriesExhausted)
    );
    assert_eq!(
        sim.plays()
            .iter()
            .filter(|(_, p)| p == "id/invalid_choice")
            .count(),
        2
    );
}

#[test]
fn non_keys_are_ignored_and_the_path_stays_bounded() {
    let mut sim = Sim::menu_call();
    for _ in 0..1000 {
        sim.ivr.handle_digit(sim.now, 'x');
    }
    assert!(sim.ivr.path().truncated);
    assert_eq!(sim.ivr.path().events.len(), MAX_PATH_EVENTS);
    assert!(!sim.ivr.is_done());
    // The outcome is still recorded on a full path.
    sim.press(8, '1');
    assert_eq!(
        sim.ivr.path().events.last().map(|e| &e.step),
        Some(&PathStep::Routed {
            queue: QueueId::new("medical")
        })
    );
}

// ---------------------------------------------------------------------- barge-in

#[test]
fn a_key_during_the_greeting_cuts_it_and_routes() {
    let mut sim = Sim::menu_call();
    sim.press(1, '2');
    let actions = sim.actions_from(secs(1));
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0], IvrAction::StopPrompt);
    assert!(matches!(&actions[1], IvrAction::Route(r) if r.queue == "fire"));
    assert!(sim.steps().contains(&(
        1_000,
        PathStep::Digit {
            key: '2',
            menu: MenuId::new("main"),
            barge_in: true
        }
    )));
}

#[test]
fn a_key_during_the_menu_prompt_cuts_it() {
    let mut sim = Sim::menu_call();
    sim.press_at(Duration::from_millis(5500), '5');
    let actions = sim.actions_from(Duration::from_millis(5500));
    assert_eq!(actions[0], IvrAction::StopPrompt);
    assert!(matches!(&actions[1], IvrAction::Route(r) if r.queue == "social"));
}

#[test]
fn without_barge_in_keys_during_prompts_are_ignored() {
    let mut sim = Sim::start(plan_from(SUBMENU), wib(0, 12, 0, 0), Entry::Menu);
    sim.press(1, '1');
    assert!(sim.actions_from(secs(1)).is_empty());
    assert!(sim
        .steps()
        .contains(&(1_000, PathStep::Ignored { key: '1' })));
    sim.press(8, '1');
    assert_eq!(sim.routed().0.queue, "medical");
}

// ---------------------------------------------------------------- language switch

#[test]
fn nine_switches_to_english_and_back() {
    let mut sim = Sim::menu_call();
    sim.press(8, '9');
    assert_eq!(sim.actions_from(secs(8)), [play("en", "menu_main")]);
    assert_eq!(sim.ivr.language(), &Lang::new("en"));
    sim.press(12, '9');
    assert_eq!(sim.actions_from(secs(12)), [play("id", "menu_main")]);
    sim.press(16, '9');
    sim.run_until(secs(19));
    // In English an invalid key gets the English prompts.
    sim.press(20, '8');
    sim.run_until(secs(22));
    assert_eq!(
        sim.actions_from(secs(16)),
        [
            play("en", "menu_main"),
            play("en", "invalid_choice"),
            play("en", "menu_main")
        ]
    );
    sim.press(26, '1');
    assert_eq!(sim.routed().0.queue, "medical");
    let langs: Vec<(String, String)> = sim
        .steps()
        .into_iter()
        .filter_map(|(_, s)| match s {
            PathStep::Language { from, to } => Some((from.0, to.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        langs,
        [
            ("id".into(), "en".into()),
            ("en".into(), "id".into()),
            ("id".into(), "en".into())
        ]
    );
    assert_eq!(sim.ivr.path().language, "id");
}

#[test]
fn silent_english_caller_hears_no_choice_in_english() {
    let mut sim = Sim::menu_call();
    sim.press(1, '9'); // barge-in on the greeting: English menu 1-4
    let (r, at) = sim.routed();
    // A key was pressed, so the no-input limit is off: timeout 9, menu 9-12,
    // timeout 17.
    assert_eq!(at, secs(17));
    assert_eq!(r.queue, "general");
    assert_eq!(r.announce.map(|p| p.lang), Some(Lang::new("en")));
}

// ----------------------------------------------------------------- direct numbers

#[test]
fn direct_numbers_skip_the_menu() {
    for (number, queue) in [
        ("110", "public_order"),
        ("113", "fire"),
        ("115", "fire"),
        ("118", "medical"),
        ("119", "medical"),
    ] {
        let sim = Sim::start(
            default_plan(),
            wib(0, 3, 0, 0),
            Entry::Number(number.into()),
        );
        assert_eq!(
            sim.actions_from(secs(0)),
            [IvrAction::Route(Routing {
                queue: QueueId::new(queue),
                requested: QueueId::new(queue),
                closed: vec![],
                reason: RouteReason::Direct {
                    number: number.into()
                },
                announce: None,
            })],
            "{number}"
        );
        assert!(sim.ivr.is_done());
    }
}

#[test]
fn one_one_two_and_urns_get_the_menu() {
    for entry in [
        Entry::Number("112".into()),
        Entry::Menu,
        Entry::Number("999".into()),
    ] {
        let sim = Sim::start(default_plan(), wib(0, 3, 0, 0), entry.clone());
        assert_eq!(
            sim.actions_from(secs(0)),
            [play("id", "greeting")],
            "{entry:?}"
        );
    }
}

// --------------------------------------------------------------------- time rules

/// Routes a call to a direct number (113 → public_works in the fixture) starting at
/// `utc` and returns the queue that took it.
fn direct_at(number: &str, utc: SystemTime) -> Routing {
    let mut sim = Sim::start(plan_from(TIME_RULES), utc, Entry::Number(number.into()));
    sim.routed().0
}

#[test]
fn day_shift_edges() {
    let open = |utc| direct_at("113", utc).queue == "public_works";
    assert!(!open(wib(0, 6, 59, 59)), "06:59:59 closed");
    assert!(open(wib(0, 7, 0, 0)), "07:00:00 open");
    assert!(open(wib(0, 14, 59, 59)), "14:59:59 open");
    assert!(!open(wib(0, 15, 0, 0)), "15:00:00 closed");
    let r = direct_at("113", wib(0, 15, 0, 0));
    assert_eq!(
        (r.queue.as_str(), r.requested.as_str(), r.closed.clone()),
        (
            "general",
            "public_works",
            vec![QueueId::new("public_works")]
        )
    );
    assert!(r.overflowed());
}

#[test]
fn day_shift_days_of_week() {
    let open = |day| direct_at("113", wib(day, 10, 0, 0)).queue == "public_works";
    // Monday to Friday open, Saturday and Sunday closed.
    assert_eq!(
        (0..7).map(open).collect::<Vec<_>>(),
        [true, true, true, true, true, false, false]
    );
}

#[test]
fn time_is_evaluated_when_the_key_is_pressed() {
    // The call starts at 06:59:52; greeting and menu take 7 s. A key at 7 s is
    // pressed at 06:59:59 (closed), at 8 s at 07:00:00 (open).
    let start = wib(0, 6, 59, 52);
    let mut sim = Sim::start(plan_from(TIME_RULES), start, Entry::Menu);
    sim.press(7, '4');
    let r = sim.routed().0;
    assert_eq!(
        (r.queue.as_str(), r.reason),
        ("general", chosen('4', "main"))
    );
    let mut sim = Sim::start(plan_from(TIME_RULES), start, Entry::Menu);
    sim.press(8, '4');
    assert_eq!(sim.routed().0.queue, "public_works");
}

#[test]
fn night_desk_spans_midnight() {
    let at = |day, h, m, s| {
        let mut sim = Sim::start(plan_from(TIME_RULES), wib(day, h, m, s), Entry::Menu);
        sim.press(8, '8');
        sim.routed().0.queue.to_string()
    };
    // The window is 23:00-07:00 on the nights starting Monday to Friday; the key
    // comes 8 s after the start.
    assert_eq!(at(0, 22, 59, 51), "general"); // Mon 22:59:59
    assert_eq!(at(0, 22, 59, 52), "night_desk"); // Mon 23:00:00
    assert_eq!(at(1, 6, 59, 51), "night_desk"); // Tue 06:59:59
    assert_eq!(at(1, 6, 59, 52), "general"); // Tue 07:00:00
    assert_eq!(at(5, 6, 0, 0), "night_desk"); // Sat morning: Friday's night
    assert_eq!(at(6, 6, 0, 0), "general"); // Sun morning: Saturday's night is off
    assert_eq!(at(0, 6, 0, 0), "general"); // Mon morning: Sunday's night is off
    assert_eq!(at(6, 23, 30, 0), "general"); // Sunday night not in sen-jum
}

#[test]
fn closed_queues_overflow_along_the_chain() {
    let social = |utc| {
        let mut sim = Sim::start(plan_from(TIME_RULES), utc, Entry::Menu);
        sim.press(8, '5');
        sim.routed().0
    };
    // Monday 09:00: social open.
    assert_eq!(social(wib(0, 9, 0, 0)).queue, "social");
    // Tuesday 23:30: social closed, night desk open.
    let r = social(wib(1, 23, 30, 0));
    assert_eq!((r.queue.as_str(), r.closed.len()), ("night_desk", 1));
    // Tuesday 16:00: both closed, general.
    let r = social(wib(1, 16, 0, 0));
    assert_eq!(r.queue, "general");
    assert_eq!(
        r.closed,
        [QueueId::new("social"), QueueId::new("night_desk")]
    );
    // Sunday until 24:00 open, Sunday 23:59:59 included.
    assert_eq!(social(wib(6, 23, 59, 51)).queue, "social");
}

#[test]
fn shipped_queues_are_always_open() {
    for (day, h) in [(0, 3), (2, 12), (5, 23), (6, 0)] {
        let r = Sim::start(
            default_plan(),
            wib(day, h, 0, 0),
            Entry::Number("113".into()),
        )
        .routed()
        .0;
        assert!(!r.overflowed(), "{r:?}");
    }
}

// -------------------------------------------------------------------- submenus

#[test]
fn submenu_and_back() {
    let mut sim = Sim::start(plan_from(SUBMENU), wib(0, 12, 0, 0), Entry::Menu);
    sim.press(8, '4');
    assert_eq!(sim.actions_from(secs(8)), [play("id", "menu_infra")]);
    sim.press(12, '*');
    assert_eq!(sim.actions_from(secs(12)), [play("id", "menu_main")]);
    sim.press(16, '4');
    sim.press(20, '1');
    let r = sim.routed().0;
    assert_eq!(
        (r.queue.as_str(), r.reason),
        ("public_works", chosen('1', "infra"))
    );
}

#[test]
fn three_languages_toggle_to_each_and_back_to_the_first() {
    let mut sim = Sim::start(plan_from(SUBMENU), wib(0, 12, 0, 0), Entry::Menu);
    sim.press(8, '7');
    assert_eq!(sim.actions_from(secs(8)), [play("jv", "menu_main")]);
    sim.press(12, '9');
    assert_eq!(sim.actions_from(secs(12)), [play("en", "menu_main")]);
    sim.press(16, '9');
    assert_eq!(sim.actions_from(secs(16)), [play("id", "menu_main")]);
}

#[test]
fn fallback_is_configurable() {
    let mut sim = Sim::start(plan_from(SUBMENU), wib(0, 12, 0, 0), Entry::Menu);
    sim.press(8, '5'); // invalid 1 of retries = 1
    sim.press(14, '5'); // invalid 2: exhausted
    let r = sim.routed().0;
    assert_eq!(
        (r.queue.as_str(), r.reason),
        ("operators", RouteReason::RetriesExhausted)
    );
}

// ------------------------------------------------------------------- the record

#[test]
fn stale_prompt_reports_are_ignored() {
    let mut sim = Sim::menu_call();
    let greeting = PromptRef {
        lang: Lang::new("id"),
        id: PromptId::new("greeting"),
    };
    sim.run_until(secs(5)); // menu playing
    sim.ivr.handle_prompt_finished(sim.now, &greeting);
    assert_eq!(sim.ivr.state_name(), "playing");
    assert_eq!(sim.ivr.poll_action(), None);
}

#[test]
fn hang_up_in_the_ivr_is_recorded() {
    let mut sim = Sim::menu_call();
    sim.run_until(secs(5));
    sim.ivr.abandon(sim.now);
    assert!(sim.ivr.is_done());
    assert_eq!(sim.ivr.state_name(), "abandoned");
    assert_eq!(sim.ivr.poll_timeout(), None);
    assert_eq!(sim.ivr.outcome(), None);
    assert_eq!(
        sim.ivr.path().events.last().map(|e| (e.at_ms, &e.step)),
        Some((5_000, &PathStep::Abandoned))
    );
    sim.ivr.handle_digit(sim.now, '1');
    assert_eq!(sim.ivr.poll_action(), None);
}

#[test]
fn path_keeps_the_whole_story_and_serializes() {
    let mut sim = Sim::menu_call();
    sim.press(8, '9');
    sim.run_until(secs(16)); // timeout at 16
    sim.press(17, '3');
    let path = sim.ivr.path().clone();
    assert_eq!(path.entry, Entry::Number("112".into()));
    assert_eq!(
        path.started_unix_ms,
        1_704_067_200_000 - 7 * 3_600_000 + 12 * 3_600_000
    );
    let steps: Vec<(u64, &'static str)> = path
        .events
        .iter()
        .map(|e| {
            let name = match e.step {
                PathStep::Digit { .. } => "digit",
                PathStep::Language { .. } => "language",
                PathStep::Timeout { .. } => "timeout",
                PathStep::Routed { .. } => "routed",
                _ => "other",
            };
            (e.at_ms, name)
        })
        .collect();
    assert_eq!(
        steps,
        [
            (8_000, "digit"),
            (8_000, "language"),
            (16_000, "timeout"),
            (17_000, "digit"),
            (17_000, "routed")
        ]
    );
    assert_eq!(
        path.outcome.as_ref().map(|r| r.queue.as_str()),
        Some("public_order")
    );
    // The store will keep it as text; it must survive a round trip.
    let text = match toml::to_string(&path) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert!(text.contains("step = \"language\""), "{text}");
    assert!(text.contains("kind = \"chosen\""), "{text}");
    let back: IvrPath = match toml::from_str(&text) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    };
    assert_eq!(back, path);
}

#[test]
fn calls_keep_the_plan_they_started_with() {
    let old = default_plan();
    let mut sim = Sim::start(old.clone(), wib(0, 12, 0, 0), Entry::Menu);
    // A reload installs a plan where 1 goes elsewhere; the call in progress still
    // uses its own.
    let new = plan_from(
        "[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", queue = \"general\" }]\n",
    );
    assert_ne!(old, new);
    sim.press(8, '1');
    assert_eq!(sim.routed().0.queue, "medical");
    assert!(Arc::ptr_eq(sim.ivr.plan(), &old));
}

mod silent;
