//! The silent-call procedure through the engine (issue 16): the voice detector's
//! report reaches the IVR, a silent caller's 5 5 puts the call at the head of
//! `general` ahead of callers who waited longer, and the operator's phone is told
//! (`X-CC112-Flags`).

use super::*;

/// One operator for `general`, not yet registered; classes age only after 10 minutes
/// (the test takes a few minutes of virtual time).
fn general_operator() -> Config {
    let (md5, _) = crate::config::operator_hash("op-g", "cc112", "pw-g");
    let text = format!("[registrar]\nalgorithms = [\"MD5\"]\n[acd]\nwrap_up = \"10s\"\nmax_priority_wait = \"10m\"\n[[operators]]\nid = \"op-g\"\nname = \"G\"\ndepartments = [\"general\"]\nha1_md5 = \"{md5}\"\n");
    Config::from_toml(&text, "general operator").unwrap()
}

/// Plays every prompt for a second and then reports it finished until the call is
/// routed; the caller speaks at `speech_at` seconds if given, and presses 5 5 (RFC
/// 4733) one and two seconds after the silent prompt starts if `fives`.
fn run_ivr(h: &mut Harness, id: CallId, out: Vec<Output>, speech_at: Option<u64>, fives: bool) -> crate::call::ivr::Routing {
    let start = h.now;
    let mut playing: Vec<PromptRef> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    let mut out = out;
    for _ in 0..120u64 {
        let t = h.now.saturating_duration_since(start).as_secs();
        for c in media_cmds(&out) {
            if let MediaCommand::Play { prompt } = c {
                if fives && prompt.id.as_str() == "silent_prompt" {
                    keys.extend([t + 1, t + 2]);
                }
                playing.push(prompt);
            }
        }
        if let Some(r) = routed(&out) {
            return r;
        }
        let mut next: Vec<Output> = h.advance(Duration::from_secs(1)).into_iter().map(|(_, o)| o).collect();
        for p in playing.drain(..) {
            h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt: p });
            next.extend(h.drain());
        }
        let t = h.now.saturating_duration_since(start).as_secs();
        if speech_at == Some(t) {
            let spoke = crate::media::vad::Activity { spoke: true, first_speech_ms: Some(800), speech_ms: 96, ..Default::default() };
            h.engine.handle_media(h.now, id, MediaInput::Heard(spoke));
            next.extend(h.drain());
        }
        if keys.contains(&t) {
            h.engine.handle_media(h.now, id, MediaInput::Digit { key: '5', source: DigitSource::Rfc4733 });
            next.extend(h.drain());
        }
        out = next;
    }
    panic!("not routed within two minutes");
}

fn silent_prompts(h: &Harness) -> usize {
    let all: Vec<Output> = h.log.iter().map(|(_, o)| o.clone()).collect();
    played(&all).iter().filter(|p| p.ends_with("/silent_prompt")).count()
}

#[test]
fn a_silent_caller_hears_the_silent_prompt_and_five_five_goes_first_in_general_flagged() {
    let mut h = Harness::with_config(general_operator());
    // Three callers who spoke wait in general first.
    let mut waiting = Vec::new();
    for i in 0..3 {
        let (id, out) = ivr_call(&mut h, &format!("spoke-{i}"), "sip:112@gw");
        let r = run_ivr(&mut h, id, out, Some(1), false);
        assert_eq!(r.reason, crate::call::ivr::RouteReason::NoInput);
        waiting.push(id);
    }
    assert_eq!(silent_prompts(&h), 0, "callers who spoke never hear it");
    // A silent caller who presses nothing goes to general at the lowest class.
    let (silent, out) = ivr_call(&mut h, "silent", "sip:112@gw");
    let r = run_ivr(&mut h, silent, out, None, false);
    assert_eq!((r.queue.as_str(), &r.reason), ("general", &crate::call::ivr::RouteReason::Silent));
    assert_eq!(silent_prompts(&h), 1);

    // A second silent caller presses 5 5 after the silent prompt.
    let (s55, out) = ivr_call(&mut h, "silent-55", "sip:112@gw");
    let r = run_ivr(&mut h, s55, out, None, true);
    assert_eq!((r.queue.as_str(), &r.reason), ("general", &crate::call::ivr::RouteReason::Silent55));
    // op-g registers: the 5 5 caller is offered first, flagged on the phone.
    let mark = h.log.len();
    h.register_op("op-g", "pw-g", "192.0.2.110:5060");
    let since: Vec<Output> = h.log[mark..].iter().map(|(_, o)| o.clone()).collect();
    let invites = operator_invites(&since);
    assert_eq!(invites.len(), 1, "{invites:?}");
    let (_, inv) = &invites[0];
    assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Flags".into())), Some("silent_55"));
    let offered = events(&since).iter().find_map(|e| match e {
        CallEventKind::Offered { .. } => Some(()),
        _ => None,
    });
    assert!(offered.is_some());
    assert_eq!(h.engine.ops.position(silent).map(|(_, p)| p), Some(4), "the silent caller waits behind the three who spoke");
    assert_eq!(h.engine.ops.position(waiting[0]).map(|(_, p)| p), Some(1));
}
