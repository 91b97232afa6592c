//! Telephony denial of service, over the wire: a flood of INVITEs from one network
//! neither takes the room of other callers nor delays the calls in progress.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use cc112::sip::{parse, HeaderName, Message};

use crate::harness::{heavy, scenario, sipp_to, Gateway};

/// A flood from `from`: `count` INVITEs to 112, each with its own Call-ID, sent at
/// about `rate` a second (bounded in time by `count / rate`), never ACKed; `crlf`
/// puts the keep-alive CRLFs RFC 5626 allows in front of each. Returns how many went.
fn flood(gw: SocketAddr, from: &str, count: u32, rate: u32, crlf: bool) -> thread::JoinHandle<u32> {
    let sock = UdpSocket::bind(format!("{from}:0")).unwrap();
    thread::spawn(move || {
        let port = sock.local_addr().unwrap().port();
        let start = Instant::now();
        let sdp = "v=0\r\no=f 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let prefix = if crlf { "\r\n\r\n" } else { "" };
        for i in 0..count {
            let msg = format!(
                "{prefix}INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:{port};branch=z9hG4bKflood{i}\r\nMax-Forwards: 70\r\nFrom: <sip:0899{i}@192.0.2.1>;tag=f{i}\r\nTo: <sip:112@{gw}>\r\nCall-ID: flood-{port}-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:f@127.0.0.2:{port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            );
            let _ = sock.send_to(msg.as_bytes(), gw);
            // Paced: the i-th INVITE goes at i / rate seconds.
            let due = start + Duration::from_micros(u64::from(i) * 1_000_000 / u64::from(rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        count
    })
}

/// An answered and ACKed call from a raw socket on 127.0.0.1: (socket, Call-ID, our
/// tag, the gateway's To).
fn answered(gw: SocketAddr, n: u32) -> (UdpSocket, String, String, String) {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sip.local_addr().unwrap().port();
    let (call_id, tag) = (format!("held-{port}-{n}"), format!("h{n}"));
    let sdp = format!("v=0\r\no=t {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n", port + 2);
    let invite = format!(
        "INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKh{n}x{port}\r\nMax-Forwards: 70\r\nFrom: <sip:0812{n}@127.0.0.1>;tag={tag}\r\nTo: <sip:112@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), gw).unwrap();
    let mut buf = [0u8; 4096];
    let to = loop {
        let len = sip.recv(&mut buf).expect("an answer to the held call's INVITE");
        if let Ok(Message::Response(r)) = parse(&buf[..len]) {
            if r.status == 200 {
                break r.head.get(&HeaderName::To).unwrap().to_string();
            }
        }
    };
    let ack = format!(
        "ACK sip:cc112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKha{n}x{port}\r\nMax-Forwards: 70\r\nFrom: <sip:0812{n}@127.0.0.1>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(ack.as_bytes(), gw).unwrap();
    (sip, call_id, tag, to)
}

/// Sends the call's BYE and returns how long its 200 took.
fn bye(gw: SocketAddr, call: &(UdpSocket, String, String, String)) -> Duration {
    let (sip, call_id, tag, to) = call;
    let port = sip.local_addr().unwrap().port();
    let bye = format!(
        "BYE sip:cc112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKhb{port}\r\nMax-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let sent = Instant::now();
    sip.send_to(bye.as_bytes(), gw).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let len = sip.recv(&mut buf).expect("a 200 for the BYE within 5 s");
        if let Ok(Message::Response(r)) = parse(&buf[..len]) {
            if r.status == 200 && r.head.cseq.method == cc112::sip::Method::Bye {
                return sent.elapsed();
            }
        }
    }
}

#[test]
fn a_crlf_prefixed_invite_flood_does_not_delay_the_byes_of_calls_in_progress() {
    let _heavy = heavy();
    // At most 20 calls: the flood is refused at once (as in any real flood), not
    // answered, so what the BYEs could wait behind is the flood itself.
    let gw = Gateway::start_with("[overload]\nmax_calls = 20");
    let calls: Vec<_> = (0..5).map(|n| answered(gw.sip, n)).collect();
    // 30,000 INVITEs at 20,000 a second, each behind two CRLFs: more than the engine
    // can answer, not more than the socket's reader can read. Read as INVITEs, they
    // wait in the queue of new calls (the flood's share of it); taken for something
    // else, they would sit in the queue the BYEs go through.
    let f = flood(gw.sip, "127.0.0.2", 30_000, 20_000, true);
    thread::sleep(Duration::from_millis(300));
    let waits: Vec<Duration> = calls.iter().map(|c| bye(gw.sip, c)).collect();
    let sent = f.join().unwrap();
    let worst = waits.iter().max().copied().unwrap_or_default();
    eprintln!("BYE → 200 during a flood of {sent} CRLF-prefixed INVITEs: {waits:?}");
    assert!(worst < Duration::from_millis(300), "a BYE waited {worst:?} behind the flood: {waits:?}");
}

#[test]
fn a_flood_from_one_network_does_not_take_the_room_of_other_sources() {
    let _heavy = heavy();
    // 40 new calls a second at most. 127.0.0.3 is a carrier trunk; 127.0.1.5 is a
    // caller of another network; the flood comes from 127.0.0.2 (network 127.0.0.0/24).
    let gw = Gateway::start_with("trunks = [\"127.0.0.3\"]\n[overload]\nmax_call_rate = 40");
    let uri = format!("sip:112@{}", gw.sip);
    // 8 s of 400 INVITEs a second, never ACKed: ten times the limit.
    let f = flood(gw.sip, "127.0.0.2", 3_200, 400, false);
    thread::sleep(Duration::from_millis(1_500));
    // Meanwhile 5 calls a second from each of the two others, 20 each; any response
    // but 200 (a 503) fails a call.
    let sc = scenario("caller.xml");
    let legit = |ip: &'static str| {
        let (sc, uri) = (sc.clone(), uri.clone());
        let target = gw.sip;
        thread::spawn(move || {
            sipp_to(target, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-i", ip, "-mi", ip, "-m", "20", "-r", "5", "-d", "500"])
        })
    };
    let (trunk, other) = (legit("127.0.0.3"), legit("127.0.1.5"));
    let (trunk, other) = (trunk.join().unwrap(), other.join().unwrap());
    f.join().unwrap();
    assert_eq!((trunk.successful, trunk.failed), (20, 0), "the trunk's callers:\n{}\n{}", trunk.stdout, gw.log());
    assert_eq!((other.successful, other.failed), (20, 0), "the other network's callers:\n{}\n{}", other.stdout, gw.log());
    // The flood was refused at its share, as summaries per source and reason.
    let summaries = gw.events("refused");
    let flood_refused: u64 = summaries.iter().filter(|e| e["fields"]["source"] == "127.0.0.0/24").map(|e| e["fields"]["count"].as_u64().unwrap_or(0)).sum();
    assert!(flood_refused > 2_000, "{flood_refused} of the flood's INVITEs refused:\n{}", gw.log());
    assert!(summaries.iter().all(|e| e["fields"]["source"] == "127.0.0.0/24"), "only the flood was refused: {summaries:#?}");
}
