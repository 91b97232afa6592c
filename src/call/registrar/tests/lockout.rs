//! The lockout's rules (see the registrar's module doc), each on the virtual clock:
//! what counts, per source and user, per operator, the live registration's refresh,
//! and the bounds of the tables.

use super::*;

/// What a 401 says apart from its nonce (the only part allowed to differ).
fn without_nonce(o: RegisterOutcome) -> (u16, Vec<(&'static str, String)>) {
    let r = response(o);
    let n = nonce_of(&r);
    let headers = r
        .headers
        .iter()
        .map(|(h, v)| (*h, v.replace(&n, "N")))
        .collect();
    (r.status, headers)
}

#[test]
fn malformed_authorization_gets_400_and_counts_nothing() {
    let mut w = world();
    // The packets: spoofed, from another port of the phone's address.
    let spoofer = "192.0.2.10:6000";
    for cseq in 1..=1000 {
        let r = response(w.send(
            w.t0,
            spoofer,
            &register("budi", cseq, "Authorization: Digest garbage\r\n"),
        ));
        assert_eq!(
            (r.status, r.reason),
            (400, "Malformed Authorization header")
        );
    }
    assert_eq!(w.reg.failure_entries(), 0);
    assert!(w.events().is_empty(), "no lock");
    // Still answered, and the right password from that very source still works.
    let r = response(w.login(w.at(1), spoofer, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn answers_to_nonces_that_are_not_ours_or_another_addresses_count_nothing() {
    let mut w = world();
    let from = "198.51.100.7:5060";
    // A made-up nonce, and a real one issued to another address.
    let elsewhere = w.nonce(w.t0, "203.0.113.5:5060");
    for (i, nonce) in ["0".repeat(56), elsewhere].iter().enumerate() {
        for n in 0..100u32 {
            let bad = authorization("budi", "salah", Algorithm::Md5, nonce, 1);
            let r = response(w.send(
                w.t0,
                from,
                &register("budi", 10 + n, &format!("{bad}{CONTACT}")),
            ));
            assert_eq!(r.status, 401, "nonce {i}");
            assert!(header(&r, "WWW-Authenticate")
                .iter()
                .all(|c| !c.contains("stale")));
        }
    }
    assert_eq!(w.reg.failure_entries(), 0);
    let r = response(w.login(w.at(1), from, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn wrong_answers_from_another_port_do_not_lock_the_phones_port() {
    let mut w = world();
    let guesser = "192.0.2.10:6000";
    for i in 0..1000 {
        let r = w.guess(w.t0, guesser, "budi", &format!("guess{i}"));
        match i {
            0..5 => assert_eq!(response(r).status, 401, "guess {i}"),
            _ => assert_eq!(r, RegisterOutcome::Drop, "guess {i}"),
        }
    }
    // Five counted, then dropped unchecked: the operator is far from its own limit.
    let locks: Vec<_> = w
        .events()
        .into_iter()
        .filter_map(|e| match e {
            RegistrarEvent::LockedOut { lock, until } => Some((lock, until)),
            _ => None,
        })
        .collect();
    assert_eq!(
        locks,
        vec![(
            Lock::SourceUser {
                source: addr(guesser),
                user: "budi".into()
            },
            w.at(900)
        )]
    );
    let r = response(w.login(w.at(1), "192.0.2.10:5062", "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn the_per_operator_limit_holds_guessers_on_every_address_and_port() {
    let mut w = world();
    // 20 failures from four sources (5 each, each source then dropped).
    for s in 0..4 {
        let from = format!("198.51.100.{s}:5060");
        for i in 0..5 {
            assert_eq!(
                response(w.guess(w.t0, &from, "budi", &format!("g{s}{i}"))).status,
                401
            );
        }
    }
    let closed = RegistrarEvent::LockedOut {
        lock: Lock::User(OperatorId::new("budi")),
        until: w.at(900),
    };
    assert!(w.events().contains(&closed));
    // Now even the right password from a new source is not believed, and its answer
    // is the one a wrong password (or an unknown user) gets: the lock tells nothing.
    let fresh = "203.0.113.9:5060";
    let right = without_nonce(w.guess(w.at(10), fresh, "budi", "rahasia"));
    let wrong_unknown = without_nonce(w.guess(w.at(10), fresh, "nobody", "x"));
    assert_eq!(right, wrong_unknown);
    assert_eq!(right.0, 401);
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    // Guesses while locked are wasted and not counted: that fresh source is not cut
    // off after any number of them (and sari is not concerned at all).
    for i in 0..50 {
        assert_eq!(
            response(w.guess(w.at(11), fresh, "budi", &format!("h{i}"))).status,
            401
        );
    }
    let r = response(w.login(w.at(12), fresh, "sari", "kuat123", CONTACT));
    assert_eq!(r.status, 200);
    // One window after the first failure the operator logs in again.
    assert_eq!(
        response(w.guess(w.at(899), fresh, "budi", "rahasia")).status,
        401
    );
    let r = response(w.login(w.at(900), fresh, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn a_right_answer_resets_its_source_but_not_the_operator_count() {
    let mut w = world();
    let phone = "192.0.2.10:5062";
    for i in 0..4 {
        assert_eq!(
            response(w.guess(w.t0, phone, "budi", &format!("typo{i}"))).status,
            401
        );
    }
    assert_eq!(
        response(w.login(w.t0, phone, "budi", "rahasia", CONTACT)).status,
        200
    );
    // Its own count started over: four more typos are still answered.
    for i in 0..4 {
        assert_eq!(
            response(w.guess(w.at(1), phone, "budi", &format!("again{i}"))).status,
            401
        );
    }
    // The operator's count did not: 8 so far, 12 more from elsewhere close it.
    w.events();
    for i in 0..12 {
        let from = format!("198.51.100.{}:5060", i / 4);
        assert_eq!(response(w.guess(w.at(2), &from, "budi", "x")).status, 401);
    }
    assert!(w.events().iter().any(|e| matches!(
        e,
        RegistrarEvent::LockedOut {
            lock: Lock::User(_),
            ..
        }
    )));
}

#[test]
fn a_live_registration_refreshes_through_every_lock() {
    let mut w = world();
    let phone = "192.0.2.10:5062";
    let r = response(w.login(w.t0, phone, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
    // A spoofer on the phone's exact address and port (who cannot see its Call-ID)
    // closes that source's lock for budi; guessers on other ports of the phone's
    // address and elsewhere (in the phone's Call-ID, which is no secret here) close
    // the operator's lock.
    for i in 0..5 {
        let _ = w.guess_in(w.at(10), phone, "spoofed", "budi", &format!("s{i}"));
    }
    for i in 0..20 {
        let from = format!("192.0.2.{}:{}", 10 + i / 10, 6000 + i % 5);
        let _ = w.guess(w.at(10), &from, "budi", &format!("g{i}"));
    }
    let budi = OperatorId::new("budi");
    assert!(w.reg.lockout.user_locked(w.at(10), &budi));
    assert!(w
        .reg
        .lockout
        .source_locked(w.at(10), &(addr(phone), "budi".into())));
    // From the phone's own source, another Call-ID, an old CSeq or another transport
    // is no refresh: dropped with the spoofer's guesses.
    let req = register_in("reg-new", "budi", 500, CONTACT);
    assert_eq!(w.send(w.at(299), phone, &req), RegisterOutcome::Drop);
    assert_eq!(
        w.send(w.at(299), phone, &register("budi", 1, CONTACT)),
        RegisterOutcome::Drop
    );
    let tcp = register("budi", 900, CONTACT);
    let r = w
        .reg
        .handle_register(w.at(299), addr(phone), Transport::Tcp, &tcp);
    assert_eq!(r, RegisterOutcome::Drop);
    // The phone's refresh (its Call-ID, higher CSeq, same source and transport) is
    // challenged and accepted as always.
    let r = response(w.login(w.at(300), phone, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, "Contact"),
        vec!["<sip:budi@192.0.2.10:5062>;expires=600"]
    );
    assert_eq!(w.reg.contacts(&budi)[0].expires_at, w.at(900));
    // Its Call-ID from another port is no refresh: the right password from there is
    // not believed while the operator's lock is closed.
    let r = response(w.guess(w.at(301), "192.0.2.10:6000", "budi", "rahasia"));
    assert_eq!(r.status, 401);
    // The phone's right answer started its source's own count over, not the
    // operator's: a new Call-ID from there is challenged now, but not believed.
    let r = response(w.guess_in(w.at(302), phone, "reg-new", "budi", "rahasia"));
    assert_eq!(r.status, 401);
    assert_eq!(w.reg.contacts(&budi)[0].source, addr(phone));
    // A wrong password on the refresh path is refused.
    assert_eq!(
        response(w.guess(w.at(303), phone, "budi", "salah")).status,
        401
    );
    // Once the binding has expired the bypass is gone (the lock opens at 910 s).
    w.reg.handle_timeout(w.at(900));
    assert!(!w.reg.is_registered(&budi));
    assert_eq!(
        response(w.guess(w.at(900), phone, "budi", "rahasia")).status,
        401
    );
    assert!(!w.reg.is_registered(&budi));
    let r = response(w.login(w.at(910), phone, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn the_per_operator_table_holds_configured_operators_only() {
    let mut w = world();
    for i in 0..300 {
        let from = format!("198.51.100.{}:{}", i % 200, 5000 + i);
        let _ = w.guess(w.t0, &from, &format!("ghost{i}"), "x");
    }
    // One entry per source and (source, user) pair; no per-user entry for a ghost.
    assert_eq!(w.reg.failure_entries(), 600);
    let _ = w.guess(w.t0, "198.51.100.1:1", "budi", "x");
    assert_eq!(w.reg.failure_entries(), 603);
    // A reload that removes budi forgets budi's count.
    w.reg.reconfigure(cfg(), &[op("sari", "kuat123")]);
    assert_eq!(w.reg.failure_entries(), 602);
}

#[test]
fn lockout_per_source_and_user_spares_the_real_operator() {
    let mut w = world();
    let attacker = "198.51.100.7:5060";
    for i in 0..5 {
        let r = w.guess(w.t0, attacker, "budi", &format!("guess{i}"));
        assert_eq!(response(r).status, 401, "attempt {i}");
    }
    assert!(w.events().iter().any(|e| matches!(
        e,
        RegistrarEvent::LockedOut { lock: Lock::SourceUser { user, .. }, .. } if user == "budi"
    )));
    // Cut off: even the right password from that source is dropped, silently.
    assert_eq!(
        w.send(w.at(1), attacker, &register("budi", 3, CONTACT)),
        RegisterOutcome::Drop
    );
    assert_eq!(
        w.guess(w.at(1), attacker, "budi", "rahasia"),
        RegisterOutcome::Drop
    );
    // The real operator from their desk is unaffected, and so is another port of the
    // attacker's own address (a phone behind the same NAT).
    let r = response(w.login(w.at(2), "192.0.2.10:5062", "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
    let r = response(w.login(w.at(2), "198.51.100.7:5062", "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
    // Another user from the attacker's source is not locked either.
    let r = response(w.send(w.at(3), attacker, &register("sari", 1, CONTACT)));
    assert_eq!(r.status, 401);
    // After the window the source may try again.
    let r = response(w.send(w.at(901), attacker, &register("budi", 1, CONTACT)));
    assert_eq!(r.status, 401);
}

#[test]
fn unknown_users_are_locked_out_like_known_ones() {
    let mut w = world();
    let attacker = "198.51.100.7:5060";
    for _ in 0..5 {
        let r = response(w.send(w.t0, attacker, &register("ghost", 1, CONTACT)));
        let bad = authorization("ghost", "x", Algorithm::Md5, &nonce_of(&r), 1);
        assert_eq!(
            response(w.send(
                w.t0,
                attacker,
                &register("ghost", 2, &format!("{bad}{CONTACT}"))
            ))
            .status,
            401
        );
    }
    assert_eq!(
        w.send(w.t0, attacker, &register("ghost", 3, CONTACT)),
        RegisterOutcome::Drop
    );
}

#[test]
fn failure_tables_stay_bounded_under_user_rotation() {
    let t0 = Instant::now();
    let mut reg = Registrar::new(t0, UNIX_EPOCH, cfg(), &[op("budi", "rahasia")], [1; 32])
        .with_max_failure_entries(100);
    for i in 0..2000u32 {
        let from = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8], 5060));
        let user = format!("u{i}");
        let r = match reg.handle_register(t0, from, Transport::Udp, &register(&user, 1, CONTACT)) {
            RegisterOutcome::Respond(r) => r,
            RegisterOutcome::Drop => continue,
        };
        let bad = authorization(&user, "x", Algorithm::Md5, &nonce_of(&r), 1);
        let _ = reg.handle_register(
            t0,
            from,
            Transport::Udp,
            &register(&user, 2, &format!("{bad}{CONTACT}")),
        );
    }
    assert!(reg.failure_entries() <= 200, "{}", reg.failure_entries());
}

#[test]
fn one_address_rotating_users_is_cut_off() {
    let mut w = world();
    let attacker = "198.51.100.7:5060";
    let mut dropped = 0;
    for i in 0..100 {
        let user = format!("u{i}");
        let r = match w.send(w.t0, attacker, &register(&user, 1, CONTACT)) {
            RegisterOutcome::Respond(r) => r,
            RegisterOutcome::Drop => {
                dropped += 1;
                continue;
            }
        };
        let bad = authorization(&user, "x", Algorithm::Md5, &nonce_of(&r), 1);
        let _ = w.send(
            w.t0,
            attacker,
            &register(&user, 2, &format!("{bad}{CONTACT}")),
        );
    }
    assert_eq!(
        dropped, 50,
        "10 x 5 failures, then everything from that address is dropped"
    );
}
