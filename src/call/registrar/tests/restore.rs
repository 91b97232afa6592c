//! Contacts taken back after a restart (issue 18): what is still true is taken, the
//! rest is not; a refresh is reported so the store's copy follows.

use super::*;

fn binding(w: &World, contact: &str, expires_in: u64, transport: Transport) -> Binding {
    Binding {
        contact: contact.into(),
        source: addr("192.0.2.10:5062"),
        next_hop: addr("192.0.2.10:5062"),
        path: Vec::new(),
        transport,
        registered_at: w.t0,
        expires_at: w.at(expires_in),
        call_id: "reg-budi".into(),
        cseq: 7,
    }
}

#[test]
fn live_udp_contacts_of_configured_operators_are_taken_back_and_nothing_else() {
    let mut w = world();
    let budi = OperatorId::new("budi");
    let now = w.at(1);
    assert!(!w.reg.restore(now, &OperatorId::new("gone"), binding(&w, "sip:gone@192.0.2.9", 600, Transport::Udp)), "an operator no longer configured");
    assert!(!w.reg.restore(now, &budi, binding(&w, "sip:budi@192.0.2.10:5062", 1, Transport::Udp)), "expired by now");
    assert!(!w.reg.restore(now, &budi, binding(&w, "sip:budi@192.0.2.10:5062;transport=tcp", 600, Transport::Tcp)), "its TCP connection died with the old process");
    assert!(w.events().is_empty());
    // A live UDP contact: the operator is reachable at once, as after a REGISTER, and
    // its expiry is capped at max_expires (3600 s) from now.
    assert!(w.reg.restore(now, &budi, binding(&w, "sip:budi@192.0.2.10:5062", 99_999, Transport::Udp)));
    assert!(w.reg.is_registered(&budi));
    assert_eq!(w.reg.contacts(&budi)[0].expires_at, now + Duration::from_secs(3600));
    assert!(matches!(&w.events()[..], [RegistrarEvent::Registered { first: true, .. }]));
    assert!(!w.reg.restore(now, &budi, binding(&w, "sip:budi@192.0.2.10:5062", 600, Transport::Udp)), "the same contact twice");
    for i in 0..MAX_BINDINGS_PER_OPERATOR + 2 {
        w.reg.restore(now, &budi, binding(&w, &format!("sip:budi@192.0.2.{}", 20 + i), 600, Transport::Udp));
    }
    assert_eq!(w.reg.contacts(&budi).len(), MAX_BINDINGS_PER_OPERATOR, "the per-operator cap holds");
    // It expires as any binding does.
    w.events();
    w.reg.handle_timeout(w.at(3602));
    assert!(!w.reg.is_registered(&budi));
}

#[test]
fn a_refresh_is_reported_with_the_new_expiry() {
    let mut w = world();
    let t = w.t0;
    assert_eq!(response(w.login(t, "192.0.2.10:5062", "budi", "rahasia", CONTACT)).status, 200);
    assert!(matches!(&w.events()[..], [RegistrarEvent::Registered { .. }]));
    let later = w.at(300);
    assert_eq!(response(w.login(later, "192.0.2.10:5062", "budi", "rahasia", CONTACT)).status, 200);
    match &w.events()[..] {
        [RegistrarEvent::Refreshed { operator, binding }] => {
            assert_eq!(operator.as_str(), "budi");
            assert_eq!((binding.registered_at, binding.expires_at), (t, w.at(900)));
        }
        other => panic!("{other:?}"),
    }
}
