//! Nodes behind our proxy (issue 18): a shared nonce secret makes one answer good at
//! every node, each node's replay table still refuses a replay, and the lockout keys
//! on the phone behind the proxy, not on the proxy.

use super::*;

fn node_at(t0: Instant, started: u64) -> Registrar {
    let wall = UNIX_EPOCH + Duration::from_secs(1_796_000_000 + started);
    Registrar::new(t0 + Duration::from_secs(started), wall, cfg(), &[op("budi", "rahasia"), op("sari", "kuat123")], [5u8; 32])
}

const PROXY: &str = "127.0.0.1:5060";

fn relay() -> Option<Relay> {
    Some(Relay { next_hop: addr(PROXY), path: vec!["<sip:127.0.0.1:5060;lr;received=sip:192.0.2.10:5062>".into()] })
}

#[test]
fn one_answer_registers_at_two_nodes_sharing_the_secret_and_a_replay_at_neither() {
    let t0 = Instant::now();
    // B started 5 s after A: their monotonic epochs differ, their wall clocks agree.
    let (mut a, mut b) = (node_at(t0, 0), node_at(t0, 5));
    let now = t0 + Duration::from_secs(6);
    let phone = addr("192.0.2.10:5062");
    let r = response(a.handle_relayed_register(now, phone, Transport::Udp, &register("budi", 1, CONTACT), relay()));
    let auth = authorization("budi", "rahasia", Algorithm::Md5, &nonce_of(&r), 1);
    let answer = register("budi", 2, &format!("{auth}{CONTACT}"));
    for (name, node) in [("A", &mut a), ("B", &mut b)] {
        let r = response(node.handle_relayed_register(now, phone, Transport::Udp, &answer, relay()));
        assert_eq!(r.status, 200, "node {name}");
        let binding = node.contacts(&OperatorId::new("budi")).remove(0);
        assert_eq!((binding.source, binding.next_hop), (phone, addr(PROXY)), "node {name}");
        assert_eq!(binding.path, relay().unwrap().path);
    }
    // The same answer again (captured and replayed through the proxy): refused by both.
    let replay = register("budi", 3, &format!("{auth}{CONTACT}"));
    for node in [&mut a, &mut b] {
        assert_eq!(response(node.handle_relayed_register(now, phone, Transport::Udp, &replay, relay())).status, 401);
    }
    // Another secret (a node without the shared file) knows none of these nonces.
    let mut c = Registrar::new(now, UNIX_EPOCH + Duration::from_secs(1_796_000_006), cfg(), &[op("budi", "rahasia")], [6u8; 32]);
    let fresh = authorization("budi", "rahasia", Algorithm::Md5, &nonce_of(&r), 2);
    let r = response(c.handle_relayed_register(now, phone, Transport::Udp, &register("budi", 4, &format!("{fresh}{CONTACT}")), relay()));
    assert_eq!(r.status, 401);
}

#[test]
fn a_guesser_behind_the_proxy_locks_out_only_himself() {
    let mut w = world();
    let guesser = "198.51.100.66:5060";
    for _ in 0..cfg().failed_attempts {
        let nonce = w.nonce(w.t0, guesser);
        let auth = authorization("budi", "wrong", Algorithm::Sha256, &nonce, 1);
        w.cseq += 1;
        let req = register_in("guess", "budi", w.cseq, &format!("{auth}{CONTACT}"));
        w.reg.handle_relayed_register(w.t0, addr(guesser), Transport::Udp, &req, relay());
    }
    w.cseq += 1;
    let again = register_in("guess", "budi", w.cseq, CONTACT);
    assert_eq!(w.reg.handle_relayed_register(w.at(1), addr(guesser), Transport::Udp, &again, relay()), RegisterOutcome::Drop);
    // The real phone behind the same proxy logs in: its own source, not the proxy's.
    let phone = addr("192.0.2.10:5062");
    let r = response(w.reg.handle_relayed_register(w.at(1), phone, Transport::Udp, &register("budi", 50, CONTACT), relay()));
    let auth = authorization("budi", "rahasia", Algorithm::Sha256, &nonce_of(&r), 1);
    let r = w.reg.handle_relayed_register(w.at(1), phone, Transport::Udp, &register("budi", 51, &format!("{auth}{CONTACT}")), relay());
    assert_eq!(response(r).status, 200);
}
