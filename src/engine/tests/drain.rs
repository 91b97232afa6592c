//! The drain on a virtual clock: what a stop changes (new INVITEs and OPTIONS get 503,
//! everything else is served), the minutes it reports, a second stop, and the end of
//! the grace (a BYE on every leg, every call ended as `gateway shutdown`), then the wait
//! for our BYEs' answers.

use super::*;

/// Two medical operators (as `two_medical_operators`) and a grace of `grace`.
fn operators_with_grace(grace: &str) -> Config {
    let (a_md5, _) = crate::config::operator_hash("op-a", "cc112", "pw-a");
    let (b_md5, _) = crate::config::operator_hash("op-b", "cc112", "pw-b");
    let text = format!(
        "[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n[shutdown]\ngrace = \"{grace}\"\n\
[[operators]]\nid = \"op-a\"\nname = \"A\"\ndepartments = [\"medical\"]\nha1_md5 = \"{a_md5}\"\n\
[[operators]]\nid = \"op-b\"\nname = \"B\"\ndepartments = [\"medical\"]\nha1_md5 = \"{b_md5}\"\n"
    );
    Config::from_toml(&text, "drain").unwrap()
}

fn drain_reports(out: &[Output]) -> Vec<DrainReport> {
    out.iter().filter_map(|o| if let Output::Drain(r) = o { Some(*r) } else { None }).collect()
}

/// Why the calls that ended ended.
fn ended(out: &[Output]) -> Vec<EndReason> {
    events(out).into_iter().filter_map(|e| if let CallEventKind::Ended { reason } = e { Some(reason) } else { None }).collect()
}

/// `op-a` answers the call it is offered: the call is bridged. Returns the operator's
/// INVITE.
fn bridge_op_a(h: &mut Harness, call_id: &str) -> Request {
    let mark = h.log.len();
    let (_, _) = ivr_call(h, call_id, "sip:118@gw");
    let since: Vec<Output> = h.log[mark..].iter().map(|(_, o)| o.clone()).collect();
    let (_, inv) = operator_invites(&since).into_iter().next().expect("op-a rings");
    let out = h.send_from("192.0.2.101:5060", &op_response(&inv, 200, "ta", true));
    assert!(events(&out).iter().any(|e| matches!(e, CallEventKind::OperatorAnswered { .. })));
    inv
}

/// The 200 a peer sends back for our request.
fn ok_to(req: &Request) -> String {
    String::from_utf8(Outgoing::response(req, 200, "OK", None).to_bytes().to_vec()).unwrap()
}

/// A probe (`n` tells probes apart), inside a dialog when `to_tag` is given.
fn options(n: u32, to_tag: Option<&str>) -> String {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "OPTIONS sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopt{n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@lb>;tag=p\r\nTo: <sip:gw>{tag}\r\nCall-ID: probe{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_drain_refuses_new_calls_and_probes_but_serves_calls_registers_and_dialogs_to_their_end() {
    let mut h = Harness::with_config(operators_with_grace("150s"));
    h.register_op("op-a", "pw-a", "192.0.2.101:5060");
    let inv_a = bridge_op_a(&mut h, "bridged");
    let (_, out) = ivr_call(&mut h, "in-ivr", "sip:112@gw");
    let ivr_tag = responses(&out).iter().find(|r| r.status == 200).and_then(|r| r.head.to.tag().map(str::to_string)).unwrap();
    assert_eq!(statuses(&h.send(&options(1, None))), vec![200], "taking calls");

    h.engine.stop(h.now);
    let out = h.drain();
    let start = drain_reports(&out);
    assert_eq!(start.len(), 1);
    assert_eq!((start[0].step, start[0].calls, start[0].left), (DrainStep::Started, 2, Duration::from_secs(150)));

    // A new emergency INVITE: 503 with Retry-After at once, no call, no record.
    let out = h.send(&invite("late", "z9hG4bKlate", "sip:112@gw", SDP));
    let r = responses(&out);
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503], "no 100 Trying: the refusal goes out alone");
    assert_eq!(r[0].head.get(&HeaderName::RetryAfter), Some("10"));
    assert!(events(&out).is_empty());
    assert_eq!(h.engine.stats().refused_shutting_down, 1);
    // A load balancer's probe: 503 too; a keep-alive inside a dialog: 200.
    let probe = responses(&h.send(&options(2, None)));
    assert_eq!(probe[0].status, 503);
    assert!(probe[0].head.get(&HeaderName::RetryAfter).is_some());
    assert_eq!(statuses(&h.send(&options(3, Some(&ivr_tag)))), vec![200]);
    // Operators still register; the caller in the IVR still presses keys.
    h.register_op("op-b", "pw-b", "192.0.2.102:5060");
    let info = in_dialog("INFO", "in-ivr", "z9hG4bKinfo", &ivr_tag, 2, "");
    let info = info.replace("Content-Length: 0", "Content-Type: application/dtmf\r\nContent-Length: 1") + "1";
    assert_eq!(statuses(&h.send(&info)), vec![200]);

    // Each minute: the calls still in progress.
    let timed: Vec<Output> = h.advance(Duration::from_secs(60)).into_iter().map(|(_, o)| o).collect();
    let minute = drain_reports(&timed);
    assert_eq!(minute.iter().map(|r| (r.step, r.minute, r.calls)).collect::<Vec<_>>(), vec![(DrainStep::Minute, 1, 2)]);

    // The callers hang up within the grace: answered, ended as usual.
    let out = h.send(&in_dialog("BYE", "in-ivr", "z9hG4bKbye1", &ivr_tag, 3, ""));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(ended(&out), vec![EndReason::CallerHangup]);
    assert!(!h.engine.drained(), "a call is still up");
    // The operator hangs up: 200, our BYE to the caller; over once the caller answers it.
    let out = h.send_from("192.0.2.101:5060", &op_a_bye(&inv_a));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(ended(&out), vec![EndReason::OperatorHangup]);
    let (_, ours) = sent_requests(&out, Method::Bye).into_iter().next().expect("BYE to the caller");
    assert!(!h.engine.drained(), "our BYE waits for its answer");
    h.send(&ok_to(&ours));
    assert!(h.engine.drained(), "no call left, nothing waited for: the drain is over before its grace");
}

#[test]
fn when_the_grace_runs_out_every_leg_gets_a_bye_and_every_call_ends_as_gateway_shutdown() {
    let mut h = Harness::with_config(operators_with_grace("15m"));
    h.register_op("op-a", "pw-a", "192.0.2.101:5060");
    let inv_a = bridge_op_a(&mut h, "bridged");
    let (queued, _) = ivr_call(&mut h, "queued", "sip:118@gw"); // op-a is busy: it waits
    let (in_ivr, _) = ivr_call(&mut h, "in-ivr", "sip:112@gw");
    h.auto_media = false; // its port is never reported open: no 200 yet
    let out = h.send(&invite("opening", "z9hG4bKopening", "sip:112@gw", SDP));
    assert_eq!(statuses(&out), vec![100]);
    assert_eq!(h.engine.active_calls(), 4);
    assert!(h.engine.ops.position(queued).is_some() && h.engine.call(in_ivr).is_some());

    h.engine.stop(h.now);
    h.advance(Duration::from_secs(5));
    // A second SIGTERM: 10 s left instead of 14 min 55 s.
    h.engine.stop(h.now);
    let hurried = drain_reports(&h.drain());
    assert_eq!(hurried.iter().map(|r| (r.step, r.left)).collect::<Vec<_>>(), vec![(DrainStep::Hurried, Duration::from_secs(10))]);
    let before: Vec<Output> = h.advance(Duration::from_millis(9_999)).into_iter().map(|(_, o)| o).collect();
    assert!(sent_requests(&before, Method::Bye).is_empty() && ended(&before).is_empty(), "nothing is cut before the grace ends");

    let out: Vec<Output> = h.advance(Duration::from_millis(1)).into_iter().map(|(_, o)| o).collect();
    let over = drain_reports(&out);
    assert_eq!(over.iter().map(|r| (r.step, r.calls)).collect::<Vec<_>>(), vec![(DrainStep::GraceOver, 4)]);
    let byes = sent_requests(&out, Method::Bye);
    let mut to: Vec<String> = byes.iter().map(|(_, r)| r.head.call_id.clone()).collect();
    to.sort();
    let mut want = vec!["bridged".to_string(), "in-ivr".to_string(), "queued".to_string(), inv_a.head.call_id.clone()];
    want.sort();
    assert_eq!(to, want, "a BYE to every caller that was answered and to the operator");
    assert!(byes.iter().any(|(a, _)| a.to_string() == "192.0.2.101:5060"), "the operator's BYE goes to the operator's phone");
    assert_eq!(statuses(&out), vec![503], "the call not yet answered gets 503");
    assert_eq!(ended(&out), vec![EndReason::GatewayShutdown; 4]);
    assert_eq!(h.engine.active_calls(), 0);

    // Our BYEs wait for their answers (retransmitted meanwhile), at most LINGER.
    assert!(!h.engine.drained());
    for (_, bye) in byes.iter().take(2) {
        if bye.head.call_id == inv_a.head.call_id {
            h.send_from("192.0.2.101:5060", &ok_to(bye));
        } else {
            h.send(&ok_to(bye));
        }
    }
    assert!(!h.engine.drained(), "two BYEs still unanswered");
    let linger: Vec<Output> = h.advance(LINGER).into_iter().map(|(_, o)| o).collect();
    assert!(sent_requests(&linger, Method::Bye).len() >= 2, "the unanswered BYEs are retransmitted");
    assert!(h.engine.drained(), "after the linger nothing more is waited for");
}

#[test]
fn a_drain_with_no_call_is_over_at_once_and_a_zero_grace_hangs_up_at_once() {
    let mut h = Harness::new();
    assert!(!h.engine.drained(), "serving");
    h.engine.stop(h.now);
    assert!(h.engine.drained());

    let mut h = Harness::with_config(operators_with_grace("0s"));
    let (id, _) = ivr_call(&mut h, "now", "sip:112@gw");
    h.engine.stop(h.now);
    let out: Vec<Output> = h.advance(Duration::ZERO).into_iter().map(|(_, o)| o).collect();
    assert_eq!(ended(&out), vec![EndReason::GatewayShutdown]);
    assert!(h.engine.call(id).is_none());
}

#[test]
fn while_a_part_of_the_node_is_stalled_probes_get_503_and_callers_are_still_answered() {
    let mut h = Harness::new();
    h.engine.set_unhealthy(Some("the record writer has finished no commit for 6.0 s".into()));
    let probe = responses(&h.send(&options(1, None)));
    assert_eq!((probe[0].status, probe[0].head.get(&HeaderName::RetryAfter)), (503, Some("10")));
    assert_eq!(statuses(&h.send(&invite("still", "z9hG4bKstill", "sip:112@gw", SDP))), vec![100, 200], "an emergency call is still answered");
    h.engine.set_unhealthy(None);
    assert_eq!(statuses(&h.send(&options(2, None))), vec![200]);
}
