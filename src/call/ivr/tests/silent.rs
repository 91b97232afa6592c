//! The silent-call procedure (issue 16) on the virtual clock: a caller who neither
//! speaks nor presses a key hears the silent prompt; 5 5 sends them to the silent
//! queue at the highest priority, anything else to the fallback at the lowest; a
//! caller who spoke or pressed a key never hears it.

use super::*;

fn silent_plays(sim: &Sim) -> Vec<u64> {
    sim.plays().into_iter().filter(|(_, p)| p.ends_with("/silent_prompt")).map(|(t, _)| t).collect()
}

#[test]
fn a_silent_caller_hears_the_silent_prompt_and_five_five_routes_at_the_highest_priority() {
    // Greeting 3 s, menu 3 s: the menu gives up at 19 s; the silent prompt (2 s) plays
    // 19-21; 5 at 22 and 23.
    let mut sim = Sim::menu_call().with_lengths(&[("greeting", Some(3))]);
    sim.press(22, '5');
    sim.press(23, '5');
    let (r, at) = sim.routed();
    assert_eq!(silent_plays(&sim), [19]);
    assert_eq!(at, secs(23));
    assert_eq!((r.queue.as_str(), &r.reason), ("general", &RouteReason::Silent55));
    assert_eq!((r.reason.priority(), r.reason.flag()), (Priority::High, Some("silent_55")));
    assert!(sim.steps().contains(&(19_000, PathStep::SilentPrompt)));
}

#[test]
fn five_five_during_the_silent_prompt_cuts_it_and_routes_to_the_silent_queue() {
    let plan = plan_from("[routing]\nsilent_queue = \"public_order\"\n");
    let mut sim = Sim::start(plan, wib(0, 12, 0, 0), Entry::Menu).with_lengths(&[("greeting", Some(3)), ("silent_prompt", Some(6))]);
    sim.press(20, '5');
    assert_eq!(sim.actions_from(secs(20)), [IvrAction::StopPrompt]);
    sim.press(21, '5');
    let (r, at) = sim.routed();
    assert_eq!((r.queue.as_str(), &r.reason, at), ("public_order", &RouteReason::Silent55, secs(21)));
}

#[test]
fn a_caller_who_stays_silent_is_not_dropped_but_goes_to_general_at_the_lowest_priority() {
    // Silent prompt 19-21, then silent_wait (8 s): routed at 29 s.
    let mut sim = Sim::menu_call().with_lengths(&[("greeting", Some(3))]);
    let (r, at) = sim.routed();
    assert_eq!(at, secs(29));
    assert_eq!((r.queue.as_str(), &r.reason), ("general", &RouteReason::Silent));
    assert_eq!((r.reason.priority(), r.reason.flag()), (Priority::Low, Some("silent")));
    assert_eq!(r.announce.map(|p| p.id), Some(PromptId::new("no_choice")));
}

#[test]
fn one_five_then_another_key_starts_the_count_again() {
    let mut sim = Sim::menu_call().with_lengths(&[("greeting", Some(3))]);
    sim.press(22, '5');
    sim.press(23, '7');
    sim.press(24, '5');
    let (r, at) = sim.routed();
    // 5, 7, 5 is not 5 5: the wait after the prompt (19-21 s) runs out at 29 s.
    assert_eq!((&r.reason, at), (&RouteReason::Silent, secs(29)));
}

#[test]
fn a_caller_who_spoke_or_pressed_a_key_never_hears_the_silent_prompt() {
    let mut spoke = Sim::menu_call().with_lengths(&[("greeting", Some(3))]);
    spoke.run_until(secs(5));
    spoke.ivr.handle_speech(spoke.now);
    let (r, _) = spoke.routed();
    assert_eq!(r.reason, RouteReason::NoInput);
    assert!(silent_plays(&spoke).is_empty());
    assert!(spoke.steps().contains(&(5_000, PathStep::Spoke)));
    assert_eq!(r.reason.priority(), Priority::Normal);

    let mut keyed = Sim::menu_call().with_lengths(&[("greeting", Some(3))]);
    keyed.press(4, '8'); // invalid: "invalid choice", then the menu again
    let (r, _) = keyed.routed();
    assert_eq!(r.reason, RouteReason::NoInput);
    assert!(silent_plays(&keyed).is_empty());
}

#[test]
fn the_procedure_can_be_turned_off() {
    let plan = plan_from("[ivr]\nsilent_procedure = false\n");
    let mut sim = Sim::start(plan, wib(0, 12, 0, 0), Entry::Menu).with_lengths(&[("greeting", Some(3))]);
    let (r, at) = sim.routed();
    assert_eq!((&r.reason, at), (&RouteReason::NoInput, secs(19)));
}

#[test]
fn a_silent_caller_at_the_no_input_limit_hears_the_prompt_mid_menu() {
    // Greeting 6 s, menu 8 s: the limit (20 s) cuts the repeat; the silent prompt
    // follows at once.
    let mut sim = Sim::menu_call().with_lengths(&[("greeting", Some(6)), ("menu_main", Some(8))]);
    sim.run_until(secs(20));
    assert_eq!(sim.actions_from(secs(20)), [IvrAction::StopPrompt, play("id", "silent_prompt")]);
    assert!(!sim.ivr.is_done());
}
