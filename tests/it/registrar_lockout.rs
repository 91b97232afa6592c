//! Issue 13, point 2: the registrar's lockout cannot be turned against the operators.
//! Strangers on 127.0.0.2 and on another port of the phone's own address send op-budi
//! a thousand malformed REGISTERs each and a thousand wrong passwords each (well-formed
//! Digest answers to live nonces); op-budi's phone on 127.0.0.1 then registers, is cut
//! off from nothing when more guessers close the operator's own lock, refreshes, and
//! is rung for a call to 118 (medical).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::harness::{corpora, scenario};
use crate::operators::{answer_401, gateway_with_operators, recv_request, register_over};

/// Each attacker sends this many malformed REGISTERs and this many wrong passwords.
const ATTEMPTS: u32 = 1000;
/// However the gateway answers (or does not), the attack ends within this.
const ATTACK_TIME: Duration = Duration::from_secs(60);

/// What one attacker heard back.
#[derive(Debug, Default)]
struct Heard {
    /// `400` to a malformed header.
    malformed_400: u32,
    /// `401` to an answer for op-budi (a guess that was checked, or not believed).
    budi_401: u32,
    /// `200` for op-budi: a guess got in (must never happen).
    budi_200: u32,
    /// Answers with a challenge: live nonces for this address.
    nonces: u32,
}

impl Heard {
    fn note(&mut self, resp: &str) {
        let budi = resp.contains("To: <sip:op-budi@");
        if resp.starts_with("SIP/2.0 400 Malformed Authorization") {
            self.malformed_400 += 1;
        } else if budi && resp.starts_with("SIP/2.0 401") {
            self.budi_401 += 1;
        } else if budi && resp.starts_with("SIP/2.0 200") {
            self.budi_200 += 1;
        }
        if resp.contains("WWW-Authenticate:") {
            self.nonces += 1;
        }
    }
}

/// From `sock`: `ATTEMPTS` REGISTERs for op-budi with `Authorization: Digest garbage`
/// (the packets), then `ATTEMPTS` answers for op-budi with wrong passwords, each
/// to a nonce just issued to this address (fetched under another user name, which no
/// lock on op-budi can stop; a late answer's challenge serves as well). Stops at
/// `deadline`.
fn attack(sock: &UdpSocket, gw: SocketAddr, deadline: Instant) -> Heard {
    let mut heard = Heard::default();
    let wait = |ms| sock.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut n = 1;
    wait(20);
    for _ in 0..ATTEMPTS {
        if Instant::now() > deadline {
            break;
        }
        if let Some(r) = register_over(sock, gw, "op-budi", n, Some("Digest garbage".into())) {
            heard.note(&r);
        }
        n += 1;
    }
    let mut challenge: Option<String> = None;
    for i in 0..ATTEMPTS {
        if Instant::now() > deadline {
            break;
        }
        wait(500);
        if let Some(c) = register_over(sock, gw, "nonce-please", n, None) {
            heard.note(&c);
            if c.contains("WWW-Authenticate:") {
                challenge = Some(c);
            }
        }
        n += 1;
        let Some(c) = &challenge else { continue };
        // A dropped guess is not waited for; a late answer is read with the next one.
        wait(2);
        let guess = answer_401(c, "op-budi", &format!("guess-{i}"), gw);
        if let Some(r) = register_over(sock, gw, "op-budi", n, Some(guess)) {
            heard.note(&r);
        }
        n += 1;
    }
    // What came late, until a second of silence.
    wait(1000);
    let mut buf = [0u8; 4096];
    while let Ok(len) = sock.recv(&mut buf) {
        heard.note(&String::from_utf8_lossy(&buf[..len]));
    }
    heard
}

/// op-budi's phone at `phone` registers (or refreshes: same Call-ID, CSeq `n`, `n + 1`);
/// the final answer.
fn phone_registers(phone: &UdpSocket, gw: SocketAddr, n: u32) -> String {
    let c = register_over(phone, gw, "op-budi", n, None)
        .expect("op-budi's phone got no answer to its REGISTER: the attack locked it out");
    assert!(c.starts_with("SIP/2.0 401"), "{c}");
    register_over(phone, gw, "op-budi", n + 1, Some(answer_401(&c, "op-budi", "secret-op-budi", gw)))
        .expect("op-budi's phone got no answer to its Digest answer")
}

#[test]
fn guessers_on_another_address_or_port_cannot_keep_the_operator_from_logging_in() {
    let gw = gateway_with_operators();
    let deadline = Instant::now() + ATTACK_TIME;
    let strangers = [UdpSocket::bind("127.0.0.2:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap()];
    let heard: Vec<Heard> = std::thread::scope(|s| {
        let runs: Vec<_> = strangers.iter().map(|sock| s.spawn(move || attack(sock, gw.sip, deadline))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    eprintln!("attackers heard: {heard:?}");

    // The real phone on 127.0.0.1 (its own port) registers.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let ok = phone_registers(&phone, gw.sip, 1);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{heard:?}");

    // What the attack amounted to: every malformed header answered 400 and counted
    // nothing; the first wrong passwords (failed_attempts = 3 in the fixture) answered
    // 401, then that source was dropped; no guess got in.
    for h in &heard {
        assert_eq!(h.malformed_400, ATTEMPTS, "{heard:?}");
        assert!(h.nonces >= ATTEMPTS, "every guess had a live nonce: {heard:?}");
        assert_eq!((h.budi_401, h.budi_200), (3, 0), "{heard:?}");
    }

    // Guessers from twelve more ports (three wrong passwords each) close op-budi's own
    // lock: from now on no answer for op-budi is believed, the right password included...
    for k in 0..12 {
        let sock = UdpSocket::bind(if k % 2 == 0 { "127.0.0.1:0" } else { "127.0.0.2:0" }).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for i in 0..3 {
            let c = register_over(&sock, gw.sip, "op-budi", 2 * i + 1, None).expect("a challenge");
            let r = register_over(&sock, gw.sip, "op-budi", 2 * i + 2, Some(answer_401(&c, "op-budi", "wrong", gw.sip)));
            assert!(r.as_deref().is_some_and(|r| r.starts_with("SIP/2.0 401")), "{r:?}");
        }
    }
    assert!(gw.wait_for(|l| l.contains("answers for operator op-budi from anywhere are no longer checked"), Duration::from_secs(5)), "{}", gw.log());
    let newcomer = UdpSocket::bind("127.0.0.1:0").unwrap();
    newcomer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let refused = phone_registers(&newcomer, gw.sip, 1);
    assert!(refused.starts_with("SIP/2.0 401"), "guessing stays slow: {refused}");

    // ...except the refresh of the phone's live registration (its Call-ID, its port).
    let ok = phone_registers(&phone, gw.sip, 3);
    assert!(ok.starts_with("SIP/2.0 200"), "the phone refreshes through the lock: {ok}");
    assert!(ok.contains(&format!("<sip:op-budi@{}>", phone.local_addr().unwrap())), "{ok}");

    // And the phone is rung: 118 goes straight to medical, op-budi's department.
    let text = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap().replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("caller.xml");
    std::fs::write(&sc, text).unwrap();
    let target = gw.sip;
    let caller = std::thread::spawn(move || {
        let uri = format!("sip:118@{target}");
        crate::harness::sipp_to(target, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"])
    });
    phone.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let invite = recv_request(&phone, "INVITE");
    assert!(invite.contains("X-CC112-Department: medical"), "{invite}");
    let run = caller.join().unwrap();
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "caller: {}", run.stdout);
    assert_eq!(gw.events("offered").len(), 1, "{}", gw.log());
}
