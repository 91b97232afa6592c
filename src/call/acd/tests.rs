//! ACD scenarios on a virtual clock: the default Surabaya queues (every department
//! overflows to `general`), scripted operators, no sleeping.

use std::time::Duration;

use super::*;
use crate::config::Config;

fn cfg() -> AcdConfig {
    AcdConfig {
        wrap_up: Duration::from_secs(10),
        ring_timeout: Duration::from_secs(15),
        overflow_after: Duration::from_secs(30),
        stay_on_line_every: Duration::from_secs(30),
        max_priority_wait: Duration::from_secs(60),
        not_responding_reason: "not_responding".into(),
    }
}

fn operator(id: &str, departments: &[&str]) -> Operator {
    Operator {
        id: OperatorId::new(id),
        name: id.into(),
        departments: departments.iter().map(|d| QueueId::new(*d)).collect(),
        ha1_md5: None,
        ha1_sha256: None,
    }
}

fn oid(s: &str) -> OperatorId {
    OperatorId::new(s)
}

fn q(s: &str) -> QueueId {
    QueueId::new(s)
}

struct World {
    t0: Instant,
    acd: Acd,
}

impl World {
    fn new(ops: &[Operator]) -> World {
        let plan = Config::embedded_default().unwrap().routing;
        World {
            t0: Instant::now(),
            acd: Acd::new(cfg(), &plan, ops),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    fn actions(&mut self) -> Vec<AcdAction> {
        std::iter::from_fn(|| self.acd.poll_action()).collect()
    }

    /// Actions without the operator-state history, which most tests do not read.
    fn calls_actions(&mut self) -> Vec<AcdAction> {
        self.actions()
            .into_iter()
            .filter(|a| !matches!(a, AcdAction::OperatorState { .. }))
            .collect()
    }

    /// Runs every timer up to `until`, in order, like the engine's timer loop.
    fn run_until(&mut self, until: Instant) -> Vec<AcdAction> {
        let mut out = Vec::new();
        while let Some(t) = self.acd.poll_timeout() {
            if t > until {
                break;
            }
            self.acd.handle_timeout(t);
            out.extend(self.actions());
        }
        out
    }

    fn offers(actions: &[AcdAction]) -> Vec<(CallId, OperatorId)> {
        actions
            .iter()
            .filter_map(|a| match a {
                AcdAction::Offer { call, operator } => Some((*call, operator.clone())),
                _ => None,
            })
            .collect()
    }
}

fn offer(call: u64, op: &str) -> AcdAction {
    AcdAction::Offer {
        call: CallId(call),
        operator: oid(op),
    }
}

#[test]
fn call_waits_with_hold_until_someone_registers() {
    let mut w = World::new(&[operator("budi", &["medical"])]);
    w.acd.enqueue(w.t0, CallId(1), &q("medical"));
    assert_eq!(w.actions(), vec![AcdAction::PlayHold { call: CallId(1) }]);
    w.acd.operator_registered(w.at(5), &oid("budi"));
    assert_eq!(
        w.actions(),
        vec![
            AcdAction::OperatorState {
                op: oid("budi"),
                state: OperatorStatus::Available,
                reason: None
            },
            offer(1, "budi"),
            AcdAction::OperatorState {
                op: oid("budi"),
                state: OperatorStatus::Ringing,
                reason: None
            },
        ]
    );
    w.acd.offer_answered(w.at(8), CallId(1), &oid("budi"));
    assert!(!w.acd.has_call(CallId(1)));
    assert_eq!(
        w.acd.operator_status(&oid("budi")),
        Some(OperatorStatus::OnCall)
    );
    // The ring timer of the answered offer is stale: firing it changes nothing.
    assert!(w
        .run_until(w.at(100))
        .iter()
        .all(|a| !matches!(a, AcdAction::CancelOffer { .. })));
}

#[test]
fn longest_idle_operator_wins() {
    let mut w = World::new(&[
        operator("a", &["fire"]),
        operator("b", &["fire"]),
        operator("c", &["fire"]),
    ]);
    w.acd.operator_registered(w.at(3), &oid("b"));
    w.acd.operator_registered(w.at(1), &oid("c"));
    w.acd.operator_registered(w.at(2), &oid("a"));
    w.actions();
    w.acd.enqueue(w.at(10), CallId(1), &q("fire"));
    w.acd.enqueue(w.at(11), CallId(2), &q("fire"));
    w.acd.enqueue(w.at(12), CallId(3), &q("fire"));
    assert_eq!(
        World::offers(&w.actions()),
        vec![
            (CallId(1), oid("c")),
            (CallId(2), oid("a")),
            (CallId(3), oid("b"))
        ]
    );
}

#[test]
fn idle_order_is_by_time_available_not_registration() {
    let mut w = World::new(&[operator("a", &["fire"]), operator("b", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.operator_registered(w.at(1), &oid("b"));
    w.acd.enqueue(w.at(2), CallId(1), &q("fire"));
    w.acd.offer_answered(w.at(3), CallId(1), &oid("a"));
    w.acd.call_ended(w.at(20), &oid("a"));
    w.run_until(w.at(40)); // a's wrap-up ends at 30: a idle since 30, b since 1
    w.actions();
    w.acd.enqueue(w.at(41), CallId(2), &q("fire"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(2), oid("b"))]);
}

#[test]
fn multi_department_operator_serves_both_and_oldest_call_first() {
    let mut w = World::new(&[
        operator("budi", &["medical", "fire"]),
        operator("sari", &["fire"]),
    ]);
    w.acd.enqueue(w.at(0), CallId(1), &q("fire"));
    w.acd.enqueue(w.at(1), CallId(2), &q("medical"));
    w.actions();
    w.acd.operator_registered(w.at(2), &oid("budi"));
    // Both queues have a call budi could take: the older one (fire) wins.
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("budi"))]);
    w.acd.operator_registered(w.at(3), &oid("sari"));
    assert_eq!(
        World::offers(&w.actions()),
        vec![],
        "sari serves fire only; medical still waits"
    );
    w.acd.offer_answered(w.at(4), CallId(1), &oid("budi"));
    w.acd.call_ended(w.at(5), &oid("budi"));
    assert_eq!(
        w.acd.operator_status(&oid("budi")),
        Some(OperatorStatus::WrapUp)
    );
    let a = w.run_until(w.at(15));
    assert_eq!(
        World::offers(&a),
        vec![(CallId(2), oid("budi"))],
        "medical call after budi's wrap-up"
    );
}

#[test]
fn ring_timeout_pauses_operator_and_requeues_at_head() {
    let mut w = World::new(&[operator("a", &["medical"]), operator("b", &["medical"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.enqueue(w.at(1), CallId(1), &q("medical"));
    w.acd.enqueue(w.at(2), CallId(2), &q("medical"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    assert_eq!(w.acd.waiting(w.t0, &q("medical")), vec![CallId(2)]);
    let a = w.run_until(w.at(16));
    assert!(a.contains(&AcdAction::CancelOffer {
        call: CallId(1),
        operator: oid("a")
    }));
    assert!(a.contains(&AcdAction::OperatorState {
        op: oid("a"),
        state: OperatorStatus::Paused,
        reason: Some("not_responding".into())
    }));
    // Call 1 is back before call 2.
    assert_eq!(w.acd.waiting(w.t0, &q("medical")), vec![CallId(1), CallId(2)]);
    w.acd.operator_registered(w.at(17), &oid("b"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("b"))]);
    // a stays paused until resumed.
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Paused)
    );
    assert_eq!(
        w.acd.resume(w.at(18), &oid("a")),
        Ok(OperatorStatus::Ringing)
    );
    assert_eq!(World::offers(&w.actions()), vec![(CallId(2), oid("a"))]);
}

#[test]
fn reject_and_unreachable_go_to_the_next_operator() {
    let mut w = World::new(&[
        operator("a", &["fire"]),
        operator("b", &["fire"]),
        operator("c", &["fire"]),
    ]);
    for (i, o) in ["a", "b", "c"].iter().enumerate() {
        w.acd.operator_registered(w.at(i as u64), &oid(o));
    }
    w.acd.enqueue(w.at(5), CallId(1), &q("fire"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    w.acd
        .offer_failed(w.at(6), CallId(1), &oid("a"), OfferFailure::Rejected(603));
    let a = w.calls_actions();
    assert_eq!(a, vec![offer(1, "b")], "no CANCEL after a final response");
    assert!(matches!(w.acd.operator_status(&oid("a")), Some(OperatorStatus::Paused)), "declined: paused as not responding");
    w.acd
        .offer_failed(w.at(7), CallId(1), &oid("b"), OfferFailure::Unreachable);
    assert_eq!(w.calls_actions(), vec![offer(1, "c")]);
    // A failure report for an offer that is no longer current is ignored.
    w.acd
        .offer_failed(w.at(8), CallId(1), &oid("a"), OfferFailure::Unreachable);
    assert_eq!(w.calls_actions(), vec![]);
    assert_eq!(
        w.acd.operator_status(&oid("c")),
        Some(OperatorStatus::Ringing)
    );
}

#[test]
fn a_busy_phone_rests_its_operator_in_wrap_up_and_is_offered_again_never_paused() {
    let mut w = World::new(&[operator("a", &["fire"]), operator("b", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.operator_registered(w.at(1), &oid("b"));
    w.acd.enqueue(w.at(5), CallId(1), &q("fire"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    // a's phone is on another node's call: 486. The call goes to b; a is not paused.
    w.acd.offer_failed(w.at(6), CallId(1), &oid("a"), OfferFailure::Rejected(486));
    assert_eq!(w.calls_actions(), vec![offer(1, "b")]);
    assert_eq!(w.acd.operator_status(&oid("a")), Some(OperatorStatus::WrapUp));
    // b's phone is busy too: the call waits; a is offered it again after the backoff.
    w.acd.offer_failed(w.at(7), CallId(1), &oid("b"), OfferFailure::Rejected(600));
    assert_eq!(w.calls_actions(), vec![]);
    w.acd.handle_timeout(w.at(6) + BUSY_BACKOFF);
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    assert_eq!(w.acd.operator_status(&oid("b")), Some(OperatorStatus::WrapUp));
}

#[test]
fn overflow_to_general_after_30s() {
    let mut w = World::new(&[operator("g", &["general"])]);
    w.acd.operator_registered(w.at(0), &oid("g"));
    w.acd.enqueue(w.at(0), CallId(1), &q("medical"));
    assert_eq!(
        w.calls_actions(),
        vec![AcdAction::PlayHold { call: CallId(1) }]
    );
    let a = w.run_until(w.at(29));
    assert!(World::offers(&a).is_empty());
    let a = w.run_until(w.at(30));
    let a: Vec<_> = a
        .into_iter()
        .filter(|a| !matches!(a, AcdAction::OperatorState { .. }))
        .collect();
    assert_eq!(
        a,
        vec![
            AcdAction::Overflowed {
                call: CallId(1),
                to: q("general")
            },
            AcdAction::PlayStayOnLine { call: CallId(1) },
            offer(1, "g"),
        ]
    );
    // general is the end of the chain: no further overflow timer.
    w.acd.offer_answered(w.at(31), CallId(1), &oid("g"));
    w.actions();
    let rest = w.run_until(w.at(10_000));
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn own_department_still_preferred_before_overflow() {
    let mut w = World::new(&[operator("g", &["general"]), operator("m", &["medical"])]);
    w.acd.operator_registered(w.at(0), &oid("g"));
    w.acd.operator_registered(w.at(5), &oid("m"));
    w.acd.enqueue(w.at(6), CallId(1), &q("medical"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("m"))]);
}

#[test]
fn wrap_up_then_available() {
    let mut w = World::new(&[operator("a", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.enqueue(w.at(1), CallId(1), &q("fire"));
    w.acd.offer_answered(w.at(2), CallId(1), &oid("a"));
    w.acd.enqueue(w.at(3), CallId(2), &q("fire"));
    w.actions();
    w.acd.call_ended(w.at(50), &oid("a"));
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::WrapUp)
    );
    assert!(World::offers(&w.run_until(w.at(59))).is_empty());
    assert_eq!(
        World::offers(&w.run_until(w.at(60))),
        vec![(CallId(2), oid("a"))]
    );
}

#[test]
fn pause_resume_and_logout() {
    let mut w = World::new(&[operator("a", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    assert_eq!(
        w.acd.pause(w.at(1), &oid("a"), "break"),
        Ok(OperatorStatus::Paused)
    );
    w.acd.enqueue(w.at(2), CallId(1), &q("fire"));
    assert!(World::offers(&w.actions()).is_empty());
    let snap = w.acd.snapshot(w.at(3));
    let a = snap.operators.iter().find(|o| o.id == oid("a")).unwrap();
    assert_eq!(
        (a.state, a.reason.as_deref()),
        (OperatorStatus::Paused, Some("break"))
    );
    assert_eq!(
        w.acd.resume(w.at(4), &oid("a")),
        Ok(OperatorStatus::Ringing)
    );
    // Pause while ringing: the offer is withdrawn, the call goes back.
    assert_eq!(
        w.acd.pause(w.at(5), &oid("a"), "break"),
        Ok(OperatorStatus::Paused)
    );
    assert!(w.actions().contains(&AcdAction::CancelOffer {
        call: CallId(1),
        operator: oid("a")
    }));
    assert_eq!(w.acd.waiting(w.t0, &q("fire")), vec![CallId(1)]);
    // Pause during a call takes effect after it, instead of wrap-up.
    w.acd.resume(w.at(6), &oid("a")).unwrap();
    w.acd.offer_answered(w.at(7), CallId(1), &oid("a"));
    assert_eq!(
        w.acd.pause(w.at(8), &oid("a"), "meeting"),
        Ok(OperatorStatus::OnCall)
    );
    w.acd.call_ended(w.at(9), &oid("a"));
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Paused)
    );
    // Logout: offline although the phone is registered, until resume.
    assert_eq!(
        w.acd.logout(w.at(10), &oid("a")),
        Ok(OperatorStatus::Offline)
    );
    w.acd.operator_registered(w.at(11), &oid("a")); // a refresh changes nothing
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Offline)
    );
    assert_eq!(
        w.acd.resume(w.at(12), &oid("a")),
        Ok(OperatorStatus::Available)
    );
    assert_eq!(
        w.acd.pause(w.at(13), &oid("zz"), "x"),
        Err(AcdError::UnknownOperator(oid("zz")))
    );
}

#[test]
fn caller_hangs_up_while_ringing_frees_operator_with_its_place() {
    let mut w = World::new(&[operator("a", &["fire"]), operator("b", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.operator_registered(w.at(1), &oid("b"));
    w.acd.enqueue(w.at(2), CallId(1), &q("fire"));
    w.actions();
    w.acd.remove(w.at(3), CallId(1));
    assert_eq!(
        w.calls_actions(),
        vec![AcdAction::CancelOffer {
            call: CallId(1),
            operator: oid("a")
        }]
    );
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Available)
    );
    // a was not at fault: still the longest idle.
    w.acd.enqueue(w.at(4), CallId(2), &q("fire"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(2), oid("a"))]);
    // Hanging up while waiting just leaves the queue; unknown calls are ignored.
    w.acd.enqueue(w.at(5), CallId(3), &q("fire"));
    w.acd.enqueue(w.at(5), CallId(4), &q("fire"));
    // Call 3 rings b, call 4 waits first in line.
    assert_eq!(w.acd.position(w.t0, CallId(4)), Some((q("fire"), 1)));
    assert_eq!(w.acd.position(w.t0, CallId(3)), None, "being offered");
    w.acd.remove(w.at(6), CallId(3));
    w.acd.remove(w.at(6), CallId(99));
    assert!(
        w.actions().contains(&offer(4, "b")),
        "b freed by the hang-up takes the next call"
    );
    // Hanging up while waiting just leaves the queue.
    w.acd.enqueue(w.at(7), CallId(5), &q("fire"));
    assert_eq!(w.acd.position(w.t0, CallId(5)), Some((q("fire"), 1)));
    w.acd.remove(w.at(8), CallId(5));
    assert_eq!(w.acd.waiting(w.t0, &q("fire")), vec![]);
    assert!(w
        .calls_actions()
        .iter()
        .all(|a| !matches!(a, AcdAction::CancelOffer { .. })));
    assert!(!w.acd.has_call(CallId(3)));
    assert!(w.acd.has_call(CallId(4)));
    assert!(w
        .run_until(w.at(60))
        .iter()
        .all(|a| !matches!(a, AcdAction::PlayStayOnLine { call } if *call == CallId(3))));
}

#[test]
fn unregister_while_ringing_requeues_and_on_call_keeps_the_call() {
    let mut w = World::new(&[operator("a", &["fire"])]);
    w.acd.operator_registered(w.at(0), &oid("a"));
    w.acd.enqueue(w.at(1), CallId(1), &q("fire"));
    w.actions();
    w.acd.operator_unregistered(w.at(2), &oid("a"));
    assert!(w.actions().contains(&AcdAction::CancelOffer {
        call: CallId(1),
        operator: oid("a")
    }));
    assert_eq!(w.acd.waiting(w.t0, &q("fire")), vec![CallId(1)]);
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Offline)
    );
    w.acd.operator_registered(w.at(3), &oid("a"));
    w.acd.offer_answered(w.at(4), CallId(1), &oid("a"));
    w.acd.operator_unregistered(w.at(5), &oid("a"));
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::OnCall)
    );
    w.acd.call_ended(w.at(6), &oid("a"));
    assert_eq!(
        w.acd.operator_status(&oid("a")),
        Some(OperatorStatus::Offline)
    );
}

/// The promise to an emergency caller: the queue never ends the call. Nothing but
/// hold announcements happens in 10,000 minutes without operators.
#[test]
fn ten_thousand_minutes_in_queue_never_ends_the_call() {
    let mut w = World::new(&[]);
    w.acd.enqueue(w.t0, CallId(1), &q("medical"));
    w.actions();
    let end = w.at(10_000 * 60);
    let a = w.run_until(end);
    let stays = a
        .iter()
        .filter(|a| matches!(a, AcdAction::PlayStayOnLine { .. }))
        .count();
    assert_eq!(stays, 10_000 * 2);
    assert!(a.iter().all(|a| matches!(
        a,
        AcdAction::PlayStayOnLine { .. } | AcdAction::Overflowed { .. }
    )));
    assert_eq!(
        a.iter()
            .filter(|a| matches!(a, AcdAction::Overflowed { .. }))
            .count(),
        1
    );
    assert!(w.acd.has_call(CallId(1)));
    assert_eq!(w.acd.waiting(w.t0, &q("medical")), vec![CallId(1)]);
    let snap = w.acd.snapshot(end);
    let medical = snap.queues.iter().find(|s| s.id == q("medical")).unwrap();
    assert_eq!(
        (medical.waiting, medical.longest_wait),
        (1, Some(Duration::from_secs(600_000)))
    );
}

#[test]
fn a_call_waiting_for_hours_is_still_served() {
    let mut w = World::new(&[operator("late", &["medical"])]);
    w.acd.enqueue(w.t0, CallId(1), &q("medical"));
    w.run_until(w.at(6 * 3600));
    w.acd.operator_registered(w.at(6 * 3600), &oid("late"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("late"))]);
}

#[test]
fn fifo_order_under_load() {
    let ops: Vec<Operator> = (0..20)
        .map(|i| operator(&format!("op{i}"), &["medical"]))
        .collect();
    let mut w = World::new(&ops);
    for i in 0..1000u64 {
        w.acd
            .enqueue(w.t0 + Duration::from_millis(i), CallId(i), &q("medical"));
    }
    w.actions();
    for (i, o) in ops.iter().enumerate() {
        w.acd.operator_registered(w.at(1 + i as u64), &o.id);
    }
    let mut served: Vec<u64> = World::offers(&w.actions())
        .into_iter()
        .map(|(c, _)| c.0)
        .collect();
    // Answer, hang up and wrap up in rounds until the queue is empty.
    let mut now = w.at(100);
    while served.len() < 1000 {
        for o in &ops {
            if let Some(s) = w.acd.snapshot(now).operators.iter().find(|s| s.id == o.id) {
                if let (OperatorStatus::Ringing, Some(c)) = (s.state, s.call) {
                    w.acd.offer_answered(now, c, &o.id);
                    w.acd.call_ended(now, &o.id);
                }
            }
        }
        now += Duration::from_secs(11);
        let a = w.run_until(now);
        served.extend(World::offers(&a).into_iter().map(|(c, _)| c.0));
        served.extend(World::offers(&w.actions()).into_iter().map(|(c, _)| c.0));
    }
    assert_eq!(served, (0..1000).collect::<Vec<_>>());
}

#[test]
fn five_hundred_operators_longest_idle_choice() {
    let ops: Vec<Operator> = (0..500)
        .map(|i| {
            let depts: &[&str] = match i % 3 {
                0 => &["medical"],
                1 => &["fire", "medical"],
                _ => &["fire"],
            };
            operator(&format!("op{i}"), depts)
        })
        .collect();
    let mut w = World::new(&ops);
    // Registered in a scrambled order: op (i*7 mod 500) at second i.
    let mut idle_since = vec![0u64; 500];
    for i in 0..500u64 {
        let o = (i * 7 % 500) as usize;
        idle_since[o] = i;
        w.acd.operator_registered(w.at(i), &ops[o].id);
    }
    w.actions();
    let mut medical: Vec<usize> = (0..500).filter(|i| i % 3 != 2).collect();
    medical.sort_by_key(|i| idle_since[*i]);
    for c in 0..medical.len() as u64 {
        w.acd.enqueue(w.at(600), CallId(c), &q("medical"));
    }
    let got: Vec<String> = World::offers(&w.actions())
        .into_iter()
        .map(|(_, o)| o.0)
        .collect();
    let want: Vec<String> = medical.iter().map(|i| format!("op{i}")).collect();
    assert_eq!(got, want);
    let snap = w.acd.snapshot(w.at(600));
    let fire = snap.queues.iter().find(|s| s.id == q("fire")).unwrap();
    assert_eq!(fire.available, (0..500).filter(|i| i % 3 == 2).count());
}

#[test]
fn stay_on_line_every_30s_while_waiting_and_ringing() {
    let mut w = World::new(&[operator("a", &["fire"])]);
    w.acd.enqueue(w.t0, CallId(1), &q("fire"));
    w.actions();
    let a = w.run_until(w.at(95));
    let stays = a
        .iter()
        .filter(|a| matches!(a, AcdAction::PlayStayOnLine { .. }))
        .count();
    assert_eq!(stays, 3);
    w.acd.operator_registered(w.at(96), &oid("a"));
    w.acd.offer_answered(w.at(97), CallId(1), &oid("a"));
    w.actions();
    assert!(w
        .run_until(w.at(500))
        .iter()
        .all(|a| !matches!(a, AcdAction::PlayStayOnLine { .. })));
}

// ------------------------------------------------------------- priority (issue 16)

#[test]
fn a_high_class_caller_is_served_before_five_who_waited_longer() {
    let mut w = World::new(&[operator("a", &["general"])]);
    for i in 1..=5 {
        w.acd.enqueue(w.at(i), CallId(i), &q("general"));
    }
    w.acd.enqueue_with(w.at(10), CallId(6), &q("general"), Priority::Low);
    w.acd.enqueue_with(w.at(20), CallId(7), &q("general"), Priority::High);
    assert_eq!(w.acd.position(w.at(20), CallId(7)), Some((q("general"), 1)));
    assert_eq!(w.acd.position(w.at(20), CallId(6)), Some((q("general"), 7)));
    w.actions();
    w.acd.operator_registered(w.at(21), &oid("a"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(7), oid("a"))]);
    // Then the normal callers by wait; the low one last.
    w.acd.offer_answered(w.at(22), CallId(7), &oid("a"));
    assert_eq!(w.acd.waiting(w.at(22), &q("general")), vec![CallId(1), CallId(2), CallId(3), CallId(4), CallId(5), CallId(6)]);
}

#[test]
fn a_low_class_caller_rises_after_max_priority_wait_and_is_served() {
    let mut w = World::new(&[operator("a", &["general"])]);
    w.acd.enqueue_with(w.at(0), CallId(1), &q("general"), Priority::Low);
    // Normal and high callers keep coming; before 60 s they pass the silent caller.
    w.acd.enqueue(w.at(30), CallId(2), &q("general"));
    w.acd.enqueue_with(w.at(40), CallId(3), &q("general"), Priority::High);
    assert_eq!(w.acd.waiting(w.at(59), &q("general")), vec![CallId(3), CallId(2), CallId(1)]);
    // At 60 s the silent caller is in the highest class and has waited longest: next.
    w.acd.enqueue_with(w.at(61), CallId(4), &q("general"), Priority::High);
    assert_eq!(w.acd.waiting(w.at(61), &q("general")), vec![CallId(1), CallId(3), CallId(4), CallId(2)]);
    // At 90 s call 2 has waited a minute too: by wait alone among the high.
    assert_eq!(w.acd.waiting(w.at(90), &q("general")), vec![CallId(1), CallId(2), CallId(3), CallId(4)]);
    w.actions();
    w.acd.operator_registered(w.at(121), &oid("a"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    let snap = w.acd.snapshot(w.at(121));
    let general = snap.queues.iter().find(|x| x.id == q("general")).map(|x| x.callers.clone()).unwrap_or_default();
    let offered = general.iter().find(|c| c.call == CallId(1)).unwrap();
    assert_eq!((offered.class, offered.effective, offered.position), (Priority::Low, Priority::High, None));
}

#[test]
fn a_failed_offer_puts_the_call_back_at_the_head_of_its_class() {
    let mut w = World::new(&[operator("a", &["general"]), operator("b", &["general"])]);
    w.acd.enqueue_with(w.at(1), CallId(1), &q("general"), Priority::High);
    w.acd.enqueue_with(w.at(2), CallId(2), &q("general"), Priority::High);
    w.acd.enqueue(w.at(0), CallId(3), &q("general"));
    w.actions();
    w.acd.operator_registered(w.at(3), &oid("a"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("a"))]);
    w.acd.offer_failed(w.at(4), CallId(1), &oid("a"), OfferFailure::Unreachable);
    assert_eq!(w.acd.waiting(w.at(4), &q("general")), vec![CallId(1), CallId(2), CallId(3)]);
    w.acd.remove(w.at(5), CallId(2));
    w.actions();
    w.acd.operator_registered(w.at(6), &oid("b"));
    assert_eq!(World::offers(&w.actions()), vec![(CallId(1), oid("b"))]);
}
