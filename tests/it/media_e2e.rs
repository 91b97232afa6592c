//! Media end to end: our own test caller records the RTP the gateway sends.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cc112::config::Config;
use cc112::media::rtp::{RtpHeader, RtpPacket};
use cc112::media::Codec;
use cc112::sip::{parse, Message};

use crate::harness::Gateway;

/// A minimal caller: SIP over UDP, one RTP socket, PCMU + telephone-event.
struct TestCaller {
    sip: UdpSocket,
    rtp: UdpSocket,
    gw: SocketAddr,
    call_id: String,
    to: String,
    /// Where the gateway receives our RTP (from its SDP answer).
    gw_rtp: SocketAddr,
}

/// One received RTP packet.
struct Received {
    at: Instant,
    header: RtpHeader,
    payload: Vec<u8>,
}

impl TestCaller {
    fn call(gw: SocketAddr, n: usize) -> TestCaller {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (sip_port, rtp_port) = (sip.local_addr().unwrap().port(), rtp.local_addr().unwrap().port());
        let call_id = format!("media-{n}-{sip_port}");
        let sdp = format!("v=0\r\no=t {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
        let invite = format!(
            "INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKm{n}x{sip_port}\r\nMax-Forwards: 70\r\nFrom: <sip:08{n}@127.0.0.1>;tag=t{n}\r\nTo: <sip:112@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:08{n}@127.0.0.1:{sip_port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), gw).unwrap();
        let mut buf = [0u8; 4096];
        let ok = loop {
            let n = sip.recv(&mut buf).expect("answer from the gateway");
            if let Ok(Message::Response(r)) = parse(&buf[..n]) {
                if r.status == 200 {
                    break r;
                }
            }
        };
        let body = String::from_utf8_lossy(&ok.body).into_owned();
        let port: u16 = body.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
        let to = ok.head.get(&cc112::sip::HeaderName::To).unwrap().to_string();
        let ack = format!(
            "ACK sip:cc112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKa{n}x{sip_port}\r\nMax-Forwards: 70\r\nFrom: <sip:08{n}@127.0.0.1>;tag=t{n}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        sip.send_to(ack.as_bytes(), gw).unwrap();
        TestCaller { sip, rtp, gw, call_id, to, gw_rtp: SocketAddr::new(gw.ip(), port) }
    }

    /// Everything that arrives on the RTP socket for `d`.
    fn record(&self, d: Duration) -> Vec<Received> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            self.rtp.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let Ok(n) = self.rtp.recv(&mut buf) else { break };
            let at = Instant::now();
            if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                out.push(Received { at, header: p.header, payload: p.payload.to_vec() });
            }
        }
        out
    }

    fn bye(&self) {
        let port = self.sip.local_addr().unwrap().port();
        let bye = format!(
            "BYE sip:cc112@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKb{port}\r\nMax-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            self.gw,
            self.our_tag(),
            self.to,
            self.call_id
        );
        self.sip.send_to(bye.as_bytes(), self.gw).unwrap();
    }

    fn our_tag(&self) -> String {
        // The tag we sent: t{n}, recoverable from the Call-ID "media-{n}-{port}".
        format!("t{}", self.call_id.split('-').nth(1).unwrap())
    }
}

/// The greeting exactly as the gateway encodes it from the shipped WAV, in PCMU.
fn greeting_pcmu() -> Vec<u8> {
    let config = Config::embedded_default().unwrap();
    let store = cc112::runtime::prompts::load(&config, None);
    let lang = config.routing.languages[0].code.clone();
    let id = store.iter().find(|(l, i, _)| **l == lang && i.as_str() == "greeting").map(|(_, i, _)| i.clone()).expect("greeting");
    store.frames(&lang, &id, Codec::Pcmu).unwrap().to_vec()
}

/// Check one caller's recording: the first talkspurt is the greeting, byte for byte, in
/// consecutive sequence numbers and timestamps; returns its interarrival gaps.
fn check_greeting(rec: &[Received], want: &[u8]) -> Vec<Duration> {
    let frames = want.len() / 160;
    assert!(rec.len() >= frames, "received {} packets, the greeting has {frames}", rec.len());
    let greeting = &rec[..frames];
    assert!(greeting[0].header.marker, "the talkspurt starts with the marker bit");
    assert_eq!(greeting[0].header.payload_type, 0);
    let got: Vec<u8> = greeting.iter().flat_map(|p| p.payload.iter().copied()).collect();
    assert!(got == want, "the greeting arrives exactly as encoded from the WAV");
    for w in greeting.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1), "no gap in sequence numbers");
        assert_eq!(w[1].header.timestamp, w[0].header.timestamp.wrapping_add(160));
        assert_eq!(w[1].header.ssrc, w[0].header.ssrc);
    }
    greeting.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[test]
fn a_caller_hears_the_greeting_exactly_as_encoded_without_gaps() {
    // A timing measurement: not while other load tests run.
    let _load = crate::harness::heavy();
    let gw = Gateway::start();
    let want = greeting_pcmu();
    let caller = TestCaller::call(gw.sip, 1);
    let rec = caller.record(Duration::from_millis(want.len() as u64 / 8 + 500));
    let gaps = check_greeting(&rec, &want);
    assert!(p99(gaps) < Duration::from_millis(25));
    caller.bye();
}

#[test]
fn hundred_concurrent_callers_get_paced_prompts() {
    let _load = crate::harness::heavy();
    let gw = Gateway::start();
    let want = greeting_pcmu();
    let gaps: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..100)
            .map(|n| {
                let (gw, want) = (&gw, &want);
                s.spawn(move || {
                    let caller = TestCaller::call(gw.sip, 100 + n);
                    let rec = caller.record(Duration::from_millis(want.len() as u64 / 8 + 500));
                    let gaps = check_greeting(&rec, want);
                    caller.bye();
                    gaps
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let p = p99(gaps.clone());
    eprintln!("100 calls: {} interarrivals, p99 {:?}, max {:?}", gaps.len(), p, gaps.iter().max().unwrap());
    assert!(p < Duration::from_millis(25), "p99 interarrival {p:?}");
}

#[test]
fn an_rtp_flood_from_another_address_changes_nothing_and_takes_no_digit() {
    let gw = Gateway::start();
    let want = greeting_pcmu();
    let caller = TestCaller::call(gw.sip, 7);
    // Another host on loopback sprays RTP — audio and DTMF '1' events — at the call's port.
    let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let rec = std::thread::scope(|s| {
        s.spawn(|| {
            let mut seq = 0u16;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
                let mut pkt = Vec::new();
                let (pt, payload): (u8, Vec<u8>) = if n % 2 == 0 { (0, vec![0x55; 160]) } else { (101, vec![1, 0x8a, 0, 160]) };
                RtpHeader { marker: false, payload_type: pt, sequence: seq, timestamp: 1000, ssrc: 0xbad }.write(&payload, &mut pkt);
                let _ = attacker.send_to(&pkt, caller.gw_rtp);
                seq = seq.wrapping_add(1);
                n += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        let rec = caller.record(Duration::from_millis(want.len() as u64 / 8 + 500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        rec
    });
    check_greeting(&rec, &want);
    caller.bye();
    assert!(gw.wait_for(|l| l.contains("media closed"), Duration::from_secs(5)));
    assert!(gw.events("digit").is_empty(), "no digit taken from the flood");
    assert!(gw.events("routed").is_empty(), "the flood chose nothing for the caller");
    let closed = gw.log().lines().find(|l| l.contains("media closed")).unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&closed).unwrap();
    assert!(v["fields"]["dropped_foreign_source"].as_u64().unwrap() > 100, "{closed}");
}

/// Issue 13, point 4: an INVITE that is never ACKed (its source may be spoofed, its SDP
/// address someone else's) makes us send nothing to that address: media starts with the
/// ACK. Before, 400 bytes of INVITE made the gateway send ~178 KB of prompts there.
#[test]
fn an_invite_never_acked_sends_nothing_to_its_sdp_address() {
    let gw = Gateway::start();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (sip_port, victim_port) = (sip.local_addr().unwrap().port(), victim.local_addr().unwrap().port());
    let sdp = format!("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {victim_port} RTP/AVP 0\r\n");
    let invite = format!(
        "INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKrefl{sip_port}\r\nMax-Forwards: 70\r\nFrom: <sip:0812@127.0.0.1>;tag=refl\r\nTo: <sip:112@{gw}>\r\nCall-ID: reflector-{sip_port}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        gw = gw.sip
    );
    sip.send_to(invite.as_bytes(), gw.sip).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = sip.recv(&mut buf).expect("answer from the gateway");
        if let Ok(Message::Response(r)) = parse(&buf[..n]) {
            if r.status == 200 {
                break;
            }
        }
    }
    // No ACK. Three seconds of what reaches the SDP address (the greeting would be
    // ~150 packets by now).
    let end = Instant::now() + Duration::from_secs(3);
    let mut bytes = 0usize;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        victim.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match victim.recv(&mut buf) {
            Ok(n) => bytes += n,
            Err(_) => break,
        }
    }
    assert_eq!(bytes, 0, "sent to an unconfirmed SDP address (the INVITE was {} bytes)", invite.len());
}
