//! Registrar scenarios on a virtual clock: a scripted softphone answers challenges.

use super::*;
use crate::config::QueueId;
use crate::sip::{parse, Message};

const REALM: &str = "cc112";

fn cfg() -> RegistrarConfig {
    RegistrarConfig {
        realm: REALM.into(),
        nonce_ttl: Duration::from_secs(300),
        min_expires: Duration::from_secs(60),
        max_expires: Duration::from_secs(3600),
        default_expires: Duration::from_secs(600),
        failed_attempts: 5,
        failed_attempts_per_user: 20,
        failed_window: Duration::from_secs(900),
        algorithms: crate::sip::digest::Algorithm::ALL.to_vec(),
        nonce_secret_file: None,
    }
}

fn op(id: &str, password: &str) -> Operator {
    let (md5, sha) = crate::config::operator_hash(id, REALM, password);
    Operator {
        id: OperatorId::new(id),
        name: id.to_uppercase(),
        departments: vec![QueueId::new("general")],
        ha1_md5: Some(md5),
        ha1_sha256: Some(sha),
    }
}

struct World {
    t0: Instant,
    reg: Registrar,
    /// Phones count CSeq up within their registration Call-ID.
    cseq: u32,
}

fn world() -> World {
    let t0 = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let reg = Registrar::new(
        t0,
        wall,
        cfg(),
        &[op("budi", "rahasia"), op("sari", "kuat123")],
        [9u8; 32],
    );
    World { t0, reg, cseq: 10 }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A REGISTER for `user` with extra header lines.
fn register(user: &str, cseq: u32, extra: &str) -> Request {
    register_in(&format!("reg-{user}"), user, cseq, extra)
}

/// The same with its own Call-ID.
fn register_in(call_id: &str, user: &str, cseq: u32, extra: &str) -> Request {
    let text = format!(
        "REGISTER sip:cc112 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{cseq}x\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@cc112>;tag=f1\r\n\
         To: <sip:{user}@cc112>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("bad test request: {other:?}"),
    }
}

fn response(o: RegisterOutcome) -> RegisterResponse {
    match o {
        RegisterOutcome::Respond(r) => r,
        RegisterOutcome::Drop => panic!("dropped"),
    }
}

fn header<'a>(r: &'a RegisterResponse, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn nonce_of(r: &RegisterResponse) -> String {
    let c = header(r, "WWW-Authenticate");
    let v = c.first().expect("a challenge");
    let start = v.find("nonce=\"").unwrap() + 7;
    let end = start + v[start..].find('"').unwrap();
    v[start..end].to_string()
}

/// The Authorization a real softphone would send for this nonce.
fn authorization(user: &str, password: &str, alg: Algorithm, nonce: &str, nc: u32) -> String {
    let ha1 = digest::ha1(alg, user, REALM, password);
    let creds = Credentials {
        username: user.into(),
        realm: REALM.into(),
        nonce: nonce.into(),
        uri: "sip:cc112".into(),
        response: String::new(),
        algorithm: alg,
        cnonce: "0a4f113b".into(),
        nc_text: format!("{nc:08x}"),
        nc,
        opaque: None,
    };
    let resp = digest::expected_response(&creds, "REGISTER", &ha1);
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
         uri=\"sip:cc112\", response=\"{resp}\", algorithm={alg}, cnonce=\"0a4f113b\", \
         qop=auth, nc={nc:08x}\r\n"
    )
}

impl World {
    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    fn send(&mut self, now: Instant, from: &str, req: &Request) -> RegisterOutcome {
        self.reg
            .handle_register(now, addr(from), Transport::Udp, req)
    }

    /// Challenge then answer; returns the final response.
    fn login(
        &mut self,
        now: Instant,
        from: &str,
        user: &str,
        pw: &str,
        extra: &str,
    ) -> RegisterOutcome {
        self.cseq += 2;
        let r = response(self.send(now, from, &register(user, self.cseq - 1, extra)));
        assert_eq!(r.status, 401);
        let nonce = nonce_of(&r);
        let auth = authorization(user, pw, Algorithm::Sha256, &nonce, 1);
        self.send(
            now,
            from,
            &register(user, self.cseq, &format!("{auth}{extra}")),
        )
    }

    fn events(&mut self) -> Vec<RegistrarEvent> {
        std::iter::from_fn(|| self.reg.poll_event()).collect()
    }

    /// A fresh nonce for `from`'s address, asked for under another user name (as a
    /// guesser would once his own name is locked: nonces are not per user).
    fn nonce(&mut self, now: Instant, from: &str) -> String {
        nonce_of(&response(self.send(
            now,
            from,
            &register("nonce-please", 1, ""),
        )))
    }

    /// One well-formed answer to a live nonce with password `pw` for `user`, in the
    /// Call-ID `reg-<user>`.
    fn guess(&mut self, now: Instant, from: &str, user: &str, pw: &str) -> RegisterOutcome {
        self.guess_in(now, from, &format!("reg-{user}"), user, pw)
    }

    /// The same in a given Call-ID.
    fn guess_in(
        &mut self,
        now: Instant,
        from: &str,
        call_id: &str,
        user: &str,
        pw: &str,
    ) -> RegisterOutcome {
        let nonce = self.nonce(now, from);
        let auth = authorization(user, pw, Algorithm::Sha256, &nonce, 1);
        self.cseq += 1;
        let req = register_in(call_id, user, self.cseq, &format!("{auth}{CONTACT}"));
        self.send(now, from, &req)
    }
}

const CONTACT: &str = "Contact: <sip:budi@192.0.2.10:5062>\r\n";

#[test]
fn challenge_offers_both_algorithms_sha256_first() {
    let mut w = world();
    let r = response(w.send(w.t0, "192.0.2.10:5062", &register("budi", 1, CONTACT)));
    assert_eq!((r.status, r.reason), (401, "Unauthorized"));
    let c = header(&r, "WWW-Authenticate");
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
    assert!(c[0].contains("qop=\"auth\"") && c[0].contains("realm=\"cc112\""));
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
}

#[test]
fn right_password_registers_with_both_algorithms() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut w = world();
        let r = response(w.send(w.t0, "192.0.2.10:5062", &register("budi", 1, CONTACT)));
        let auth = authorization("budi", "rahasia", alg, &nonce_of(&r), 1);
        let r = response(w.send(
            w.t0,
            "192.0.2.10:5062",
            &register("budi", 2, &format!("{auth}{CONTACT}")),
        ));
        assert_eq!(r.status, 200, "{alg}");
        assert_eq!(r.operator, Some(OperatorId::new("budi")));
        assert_eq!(
            header(&r, "Contact"),
            vec!["<sip:budi@192.0.2.10:5062>;expires=600"]
        );
        assert_eq!(header(&r, "Date"), vec!["Mon, 30 Nov 2026 00:53:20 GMT"]);
        let b = w.reg.contacts(&OperatorId::new("budi"));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].source, addr("192.0.2.10:5062"));
        assert_eq!(b[0].expires_at, w.at(600));
        assert!(matches!(
            &w.events()[..],
            [RegistrarEvent::Registered { first: true, .. }]
        ));
    }
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let answer = |w: &mut World, user: &str, pw: &str| {
        let r = response(w.send(w.t0, from, &register(user, 1, CONTACT)));
        let auth = authorization(user, pw, Algorithm::Md5, &nonce_of(&r), 1);
        let r = response(w.send(w.t0, from, &register(user, 2, &format!("{auth}{CONTACT}"))));
        // Remove the nonce: the only part allowed to differ.
        let n = nonce_of(&r);
        let headers: Vec<_> = r
            .headers
            .iter()
            .map(|(h, v)| (*h, v.replace(&n, "N")))
            .collect();
        (r.status, r.reason, headers, r.operator)
    };
    let wrong = answer(&mut w, "budi", "salah");
    let unknown = answer(&mut w, "nobody", "salah");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
    // The first 401 (no credentials) is that same answer too.
    let first = response(w.send(w.t0, from, &register("nobody2", 1, CONTACT)));
    let n = nonce_of(&first);
    assert_eq!(
        first
            .headers
            .iter()
            .map(|(h, v)| (*h, v.replace(&n, "N")))
            .collect::<Vec<_>>(),
        wrong.2
    );
}

#[test]
fn tampered_and_forged_credentials_fail() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let r = response(w.send(w.t0, from, &register("budi", 1, CONTACT)));
    let nonce = nonce_of(&r);
    let good = authorization("budi", "rahasia", Algorithm::Sha256, &nonce, 1);
    // Another method's response, another uri, a made-up nonce.
    let tampered = good.replace("uri=\"sip:cc112\"", "uri=\"sip:other\"");
    let r = response(w.send(
        w.t0,
        from,
        &register("budi", 2, &format!("{tampered}{CONTACT}")),
    ));
    assert_eq!(r.status, 401);
    let forged = authorization("budi", "rahasia", Algorithm::Sha256, &"0".repeat(56), 1);
    let r = response(w.send(
        w.t0,
        from,
        &register("budi", 3, &format!("{forged}{CONTACT}")),
    ));
    assert_eq!(r.status, 401);
    // The nonce is bound to the address it was given to.
    let r = response(w.send(
        w.t0,
        "192.0.2.99:5062",
        &register("budi", 4, &format!("{good}{CONTACT}")),
    ));
    assert_eq!(r.status, 401);
    // Malformed digest: 400, same for everyone.
    let r = response(w.send(
        w.t0,
        from,
        &register("budi", 5, "Authorization: Digest username=\"budi\r\n"),
    ));
    assert_eq!(r.status, 400);
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    // The untampered one still works.
    let r = response(w.send(
        w.t0,
        from,
        &register("budi", 6, &format!("{good}{CONTACT}")),
    ));
    assert_eq!(r.status, 200);
}

#[test]
fn an_expired_nonce_is_stale_for_right_and_wrong_answers_alike_and_counts_nothing() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let r = response(w.send(w.t0, from, &register("budi", 1, CONTACT)));
    let nonce = nonce_of(&r);
    let good = authorization("budi", "rahasia", Algorithm::Md5, &nonce, 1);
    let r = response(w.send(
        w.at(301),
        from,
        &register("budi", 2, &format!("{good}{CONTACT}")),
    ));
    assert_eq!(r.status, 401);
    assert!(header(&r, "WWW-Authenticate")
        .iter()
        .all(|c| c.ends_with("stale=true")));
    assert_ne!(nonce_of(&r), nonce);
    // A wrong password with an expired nonce gets the very same answer: an uncounted
    // "stale" that meant "right" would be a guessing oracle. And it counts nothing.
    for i in 0..50 {
        let bad = authorization("budi", &format!("salah{i}"), Algorithm::Md5, &nonce, 1);
        let r = response(w.send(
            w.at(301),
            from,
            &register("budi", 3 + i, &format!("{bad}{CONTACT}")),
        ));
        assert!(header(&r, "WWW-Authenticate")
            .iter()
            .all(|c| c.ends_with("stale=true")));
    }
    assert_eq!(w.reg.failure_entries(), 0);
    let r = response(w.login(w.at(302), from, "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 200);
}

#[test]
fn nonce_count_replay_is_refused() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let r = response(w.send(w.t0, from, &register("budi", 1, CONTACT)));
    let nonce = nonce_of(&r);
    let a1 = authorization("budi", "rahasia", Algorithm::Md5, &nonce, 1);
    assert_eq!(
        response(w.send(w.t0, from, &register("budi", 2, &format!("{a1}{CONTACT}")))).status,
        200
    );
    // The same request again (a captured packet replayed): refused.
    let r = response(w.send(
        w.at(1),
        from,
        &register("budi", 3, &format!("{a1}{CONTACT}")),
    ));
    assert_eq!(r.status, 401);
    // The next nc on the same nonce is a legitimate reuse.
    let a2 = authorization("budi", "rahasia", Algorithm::Md5, &nonce, 2);
    assert_eq!(
        response(w.send(
            w.at(2),
            from,
            &register("budi", 4, &format!("{a2}{CONTACT}"))
        ))
        .status,
        200
    );
}

#[test]
fn expiry_clamps_423_and_binding_expiry() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let r = response(w.login(
        w.t0,
        from,
        "budi",
        "rahasia",
        &format!("Expires: 30\r\n{CONTACT}"),
    ));
    assert_eq!(r.status, 423);
    assert_eq!(header(&r, "Min-Expires"), vec!["60"]);
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    let r = response(w.login(
        w.t0,
        from,
        "budi",
        "rahasia",
        "Contact: <sip:budi@192.0.2.10:5062>;expires=99999\r\n",
    ));
    assert_eq!(
        header(&r, "Contact"),
        vec!["<sip:budi@192.0.2.10:5062>;expires=3600"]
    );
    let r = response(w.login(
        w.t0,
        from,
        "budi",
        "rahasia",
        &format!("Expires: 120\r\n{CONTACT}"),
    ));
    assert_eq!(
        header(&r, "Contact"),
        vec!["<sip:budi@192.0.2.10:5062>;expires=120"]
    );
    w.events();
    assert_eq!(w.reg.poll_timeout(), Some(w.at(120)));
    w.reg.handle_timeout(w.at(119));
    assert!(w.reg.is_registered(&OperatorId::new("budi")));
    w.reg.handle_timeout(w.at(120));
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    assert_eq!(
        w.events(),
        vec![RegistrarEvent::Expired {
            operator: OperatorId::new("budi"),
            contact: "sip:budi@192.0.2.10:5062".into(),
            remaining: 0
        }]
    );
    assert_eq!(w.reg.poll_timeout(), None);
}

#[test]
fn desk_phone_and_softphone_both_stay_registered() {
    let mut w = world();
    let desk = "Contact: <sip:budi@192.0.2.10:5062>\r\n";
    let soft = "Contact: <sip:budi@192.0.2.55:5060;transport=tcp>;expires=300\r\n";
    assert_eq!(
        response(w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", desk)).status,
        200
    );
    let r = response(w.login(w.at(5), "192.0.2.55:5060", "budi", "rahasia", soft));
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, "Contact").len(),
        2,
        "the 200 lists every binding"
    );
    let b = w.reg.contacts(&OperatorId::new("budi"));
    assert_eq!(b.len(), 2);
    assert_eq!(b[1].source, addr("192.0.2.55:5060"));
    let ev = w.events();
    assert!(matches!(
        &ev[..],
        [
            RegistrarEvent::Registered { first: true, .. },
            RegistrarEvent::Registered { first: false, .. }
        ]
    ));
    // The softphone expires first; the desk phone stays.
    w.reg.handle_timeout(w.at(305));
    assert_eq!(w.reg.contacts(&OperatorId::new("budi")).len(), 1);
    assert!(matches!(
        &w.events()[..],
        [RegistrarEvent::Expired { remaining: 1, .. }]
    ));
}

#[test]
fn bindings_per_operator_are_capped() {
    let mut w = world();
    for i in 0..(MAX_BINDINGS_PER_OPERATOR as u64 + 3) {
        let c = format!(
            "Contact: <sip:budi@192.0.2.{i}:5060>;expires={}\r\n",
            100 + i
        );
        assert_eq!(
            response(w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", &c)).status,
            200
        );
    }
    let b = w.reg.contacts(&OperatorId::new("budi"));
    assert_eq!(b.len(), MAX_BINDINGS_PER_OPERATOR);
    // The ones expiring soonest went.
    assert!(!b.iter().any(|b| b.contact == "sip:budi@192.0.2.0:5060"));
}

#[test]
fn unregister_one_contact_or_all() {
    let mut w = world();
    let desk = "Contact: <sip:budi@192.0.2.10:5062>\r\n";
    let soft = "Contact: <sip:budi@192.0.2.55:5060>\r\n";
    w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", desk);
    w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", soft);
    w.events();
    let r = response(w.login(
        w.at(1),
        "192.0.2.10:5062",
        "budi",
        "rahasia",
        &format!("Expires: 0\r\n{desk}"),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, "Contact"),
        vec!["<sip:budi@192.0.2.55:5060>;expires=599"]
    );
    assert!(matches!(
        &w.events()[..],
        [RegistrarEvent::Unregistered { remaining: 1, .. }]
    ));
    w.login(w.at(2), "192.0.2.10:5062", "budi", "rahasia", desk);
    w.events();
    let r = response(w.login(
        w.at(3),
        "192.0.2.10:5062",
        "budi",
        "rahasia",
        "Expires: 0\r\nContact: *\r\n",
    ));
    assert_eq!(r.status, 200);
    assert!(header(&r, "Contact").is_empty());
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    let ev = w.events();
    assert_eq!(ev.len(), 2);
    assert!(matches!(
        ev[1],
        RegistrarEvent::Unregistered { remaining: 0, .. }
    ));
    // `*` with a non-zero expiry is malformed.
    let r = response(w.login(
        w.at(4),
        "192.0.2.10:5062",
        "budi",
        "rahasia",
        "Expires: 60\r\nContact: *\r\n",
    ));
    assert_eq!(r.status, 400);
}

#[test]
fn query_without_contact_lists_bindings() {
    let mut w = world();
    w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", CONTACT);
    let r = response(w.login(w.at(10), "192.0.2.10:5062", "budi", "rahasia", ""));
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, "Contact"),
        vec!["<sip:budi@192.0.2.10:5062>;expires=590"]
    );
}

#[test]
fn registering_someone_elses_aor_is_forbidden() {
    let mut w = world();
    let from = "192.0.2.10:5062";
    let r = response(w.send(w.t0, from, &register("sari", 1, CONTACT)));
    // budi's valid credentials on sari's address of record.
    let auth = authorization("budi", "rahasia", Algorithm::Md5, &nonce_of(&r), 1);
    let r = response(w.send(
        w.t0,
        from,
        &register("sari", 2, &format!("{auth}{CONTACT}")),
    ));
    assert_eq!(r.status, 403);
    assert!(!w.reg.is_registered(&OperatorId::new("sari")));
}

#[test]
fn date_formatting() {
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(1_784_678_399)),
        "Tue, 21 Jul 2026 23:59:59 GMT"
    );
}

#[test]
fn reconfigure_drops_removed_operators() {
    let mut w = world();
    w.login(w.t0, "192.0.2.10:5062", "budi", "rahasia", CONTACT);
    w.events();
    w.reg.reconfigure(cfg(), &[op("sari", "kuat123")]);
    assert!(!w.reg.is_registered(&OperatorId::new("budi")));
    assert!(matches!(
        &w.events()[..],
        [RegistrarEvent::Unregistered { remaining: 0, .. }]
    ));
    let r = response(w.login(w.at(1), "192.0.2.10:5062", "budi", "rahasia", CONTACT));
    assert_eq!(r.status, 401);
}

mod lockout;
mod proxy;
mod restore;
