//! G.722 and Opus callers against the real gateway (issue 17): answered in their
//! codec, they hear the greeting (decoded here and correlated with the prompt), press 1
//! by RFC 4733 and reach an operator (registered by SIPp, its phone then played by the
//! test) on PCMU, and each side's own tone is heard on the other side (no echo anywhere); an in-band digit sent in Opus is heard; a G.729-only offer gets 488 and a
//! `rejected` record naming what was offered.
//!
//! The test caller encodes and decodes with the gateway's own codec modules (the same
//! libopus and G.722 code); what is checked is the signal, by correlation and tone
//! detection, not bytes.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cc112::config::{Config, UtcOffset};
use cc112::media::rtp::{RtpHeader, RtpPacket};
use cc112::media::transcode::{PcmDecoder, PcmEncoder};
use cc112::media::{g711, Codec};
use cc112::sip::{parse, HeaderName, Message};
use cc112::store::UtcMs;

use crate::harness::Gateway;

/// A caller speaking one wideband codec.
struct Caller {
    sip: UdpSocket,
    rtp: UdpSocket,
    gw: SocketAddr,
    call_id: String,
    tag: String,
    to: String,
    gw_rtp: SocketAddr,
    codec: Codec,
    pt: u8,
    /// The telephone-event payload type and clock the gateway answered with.
    te: (u8, u32),
}

/// The SDP media lines of an offer (after `m=audio PORT RTP/AVP `).
struct Offer {
    formats: &'static str,
    attributes: &'static str,
}

const OPUS: Offer = Offer {
    formats: "107 101 100",
    attributes: "a=rtpmap:107 opus/48000/2\r\na=fmtp:107 useinbandfec=1; usedtx=1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtpmap:100 telephone-event/48000\r\na=fmtp:100 0-16\r\n",
};
const OPUS_NO_TE: Offer = Offer { formats: "107", attributes: "a=rtpmap:107 opus/48000/2\r\n" };
const G722: Offer = Offer {
    formats: "9 101",
    attributes: "a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
};
const G729: Offer = Offer { formats: "18", attributes: "a=rtpmap:18 G729/8000\r\n" };

/// The final response to an INVITE: the status and the message text.
fn invite(gw: SocketAddr, n: u32, offer: &Offer) -> (u16, String, UdpSocket, UdpSocket, String) {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (sip_port, rtp_port) = (sip.local_addr().unwrap().port(), rtp.local_addr().unwrap().port());
    let call_id = format!("codec-{n}-{sip_port}");
    let sdp = format!(
        "v=0\r\no=t {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP {}\r\n{}",
        offer.formats, offer.attributes
    );
    let msg = format!(
        "INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKc{n}x{sip_port}\r\nMax-Forwards: 70\r\nFrom: <sip:0877{n}@127.0.0.1>;tag=t{n}\r\nTo: <sip:112@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:0877{n}@127.0.0.1:{sip_port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sip.send_to(msg.as_bytes(), gw).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let len = sip.recv(&mut buf).expect("a final answer from the gateway");
        if let Ok(Message::Response(r)) = parse(&buf[..len]) {
            if r.status >= 200 {
                return (r.status, String::from_utf8_lossy(&buf[..len]).into_owned(), sip, rtp, call_id);
            }
        }
    }
}

impl Caller {
    /// Calls 112 and expects a 200 OK in `codec`; ACKs it.
    fn call(gw: SocketAddr, n: u32, offer: &Offer, codec: Codec, pt: u8) -> Caller {
        let (status, text, sip, rtp, call_id) = invite(gw, n, offer);
        assert_eq!(status, 200, "{text}");
        let want = match codec {
            Codec::Opus => format!("a=rtpmap:{pt} opus/48000/2"),
            _ => format!("a=rtpmap:{pt} {}/8000", codec.name()),
        };
        assert!(text.contains(&want), "answered in {codec}: {text}");
        let port: u16 = text.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
        let Ok(Message::Response(r)) = parse(text.as_bytes()) else { panic!() };
        let to = r.head.get(&HeaderName::To).unwrap().to_string();
        let sip_port = sip.local_addr().unwrap().port();
        // RFC 4733 at the Opus clock when offered (the Opus offer has both), else 8 kHz.
        let te = [(100u8, 48000u32), (101, 8000)]
            .into_iter()
            .find(|(p, r)| text.contains(&format!("a=rtpmap:{p} telephone-event/{r}")))
            .unwrap_or((101, 8000));
        let ack = format!(
            "ACK sip:cc112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKa{n}x{sip_port}\r\nMax-Forwards: 70\r\nFrom: <sip:0877{n}@127.0.0.1>;tag=t{n}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        sip.send_to(ack.as_bytes(), gw).unwrap();
        Caller { sip, rtp, gw, call_id, tag: format!("t{n}"), to, gw_rtp: SocketAddr::new(gw.ip(), port), codec, pt, te }
    }

    /// Everything that arrives for `d`, decoded to 8 kHz PCM (audio packets only).
    fn listen(&self, d: Duration) -> Vec<i16> {
        let mut dec = PcmDecoder::new(self.codec, 8000).unwrap();
        let end = Instant::now() + d;
        let (mut pcm, mut buf) = (Vec::new(), [0u8; 2048]);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            self.rtp.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let Ok(n) = self.rtp.recv(&mut buf) else { break };
            if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                if p.header.payload_type == self.pt {
                    dec.decode(p.payload, &mut pcm).unwrap();
                }
            }
        }
        pcm
    }

    /// Sends `pcm` (at the codec's audio rate) in paced 20 ms packets, from a thread.
    fn talk(&self, pcm: Vec<i16>) -> std::thread::JoinHandle<()> {
        let (rtp, to, codec, pt) = (self.rtp.try_clone().unwrap(), self.gw_rtp, self.codec, self.pt);
        std::thread::spawn(move || {
            let rate = codec.audio_rate();
            let mut enc = PcmEncoder::new(codec, rate).unwrap();
            let t0 = Instant::now();
            for (i, frame) in pcm.chunks(rate as usize / 50).enumerate() {
                let mut datagram = Vec::new();
                let h = RtpHeader { marker: i == 0, payload_type: pt, sequence: 1000 + i as u16, timestamp: 5000 + i as u32 * codec.units_per_20ms(), ssrc: 0x5EED };
                h.write(&[], &mut datagram);
                enc.encode(frame, &mut datagram).unwrap();
                let due = t0 + Duration::from_millis(20 * i as u64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                rtp.send_to(&datagram, to).unwrap();
            }
        })
    }

    /// Presses `key` (0-9) by RFC 4733 on the negotiated telephone-event: 160 ms, three
    /// end packets, durations on its clock.
    fn press(&self, key: u8) {
        let ts = 900_000u32;
        let (te_pt, te_rate) = self.te;
        for i in 0..11u16 {
            let end = i >= 8;
            let duration = (i.min(7) + 1) * (te_rate / 50) as u16;
            let payload = [key, if end { 0x8A } else { 0x0A }, (duration >> 8) as u8, duration as u8];
            let mut datagram = Vec::new();
            RtpHeader { marker: i == 0, payload_type: te_pt, sequence: 2000 + i, timestamp: ts, ssrc: 0x5EED }.write(&payload, &mut datagram);
            self.rtp.send_to(&datagram, self.gw_rtp).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn bye(&self) {
        let port = self.sip.local_addr().unwrap().port();
        let bye = format!(
            "BYE sip:cc112@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKb{port}\r\nMax-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            self.gw, self.tag, self.to, self.call_id
        );
        self.sip.send_to(bye.as_bytes(), self.gw).unwrap();
    }
}

/// The greeting the gateway plays first, as 8 kHz PCM (the shipped WAV, through µ-law).
fn greeting() -> Vec<i16> {
    let config = Config::embedded_default().unwrap();
    let store = cc112::runtime::prompts::load(&config, None);
    let lang = config.routing.languages[0].code.clone();
    let id = store.iter().find(|(l, i, _)| **l == lang && i.as_str() == "greeting").map(|(_, i, _)| i.clone()).unwrap();
    let mut pcm = Vec::new();
    g711::decode(Codec::Pcmu, &store.frames(&lang, &id, Codec::Pcmu).unwrap(), &mut pcm);
    pcm
}

/// The best normalised cross-correlation of `y` with `x` over lags 0..max.
fn correlation(x: &[i16], y: &[i16], max: usize) -> f64 {
    (0..max)
        .map(|lag| {
            let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
            for (a, b) in x.iter().zip(y.iter().skip(lag)) {
                let (a, b) = (f64::from(*a), f64::from(*b));
                xy += a * b;
                xx += a * a;
                yy += b * b;
            }
            xy / (xx * yy).sqrt().max(1.0)
        })
        .fold(f64::MIN, f64::max)
}

/// 200 ms windows (8 kHz) in which `freq` holds more than half the power.
fn tone_windows(y: &[i16], freq: f64) -> usize {
    y.chunks_exact(1600)
        .filter(|w| {
            let (mut re, mut im, mut p) = (0.0f64, 0.0f64, 0.0f64);
            for (i, &s) in w.iter().enumerate() {
                let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0;
                re += f64::from(s) * ph.cos();
                im += f64::from(s) * ph.sin();
                p += f64::from(s).powi(2);
            }
            p > 1e3 * w.len() as f64 && 2.0 * (re * re + im * im) / w.len() as f64 > 0.5 * p
        })
        .count()
}

/// A tone (or a pair for DTMF) at `rate`, `ms` long.
fn tone(freqs: &[f64], rate: u32, ms: u32, amp: f64) -> Vec<i16> {
    (0..rate * ms / 1000)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            (amp * freqs.iter().map(|f| (2.0 * std::f64::consts::PI * f * t).sin()).sum::<f64>()) as i16
        })
        .collect()
}

/// The operator's phone, played by the test (after SIPp registered it from the same
/// port): it answers the gateway's INVITE on PCMU, sends its own 1 kHz tone for `talk`
/// and decodes what it hears, then answers the gateway's BYE. Unlike SIPp's RTP echo,
/// what the caller hears from it cannot be the caller's own audio sent back.
struct TestOperator {
    sip: UdpSocket,
    rtp: UdpSocket,
}

/// The operator's tone: distinct from the caller's 700 Hz.
const OPERATOR_HZ: f64 = 1000.0;
/// The caller's tone.
const CALLER_HZ: f64 = 700.0;

/// The value of `name:` in a SIP message's head (full names only: what the gateway sends).
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let head = text.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl TestOperator {
    fn bind(port: u16) -> TestOperator {
        let sip = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        sip.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        TestOperator { sip, rtp: UdpSocket::bind("127.0.0.1:0").unwrap() }
    }

    /// A request `method` from the gateway; responds 200 (with our SDP to an INVITE).
    fn answer(&self, method: &str) -> String {
        let mut buf = [0u8; 8192];
        loop {
            let (n, from) = self.sip.recv_from(&mut buf).unwrap_or_else(|e| panic!("the gateway's {method}: {e}"));
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with(method) {
                continue;
            }
            let port = self.sip.local_addr().unwrap().port();
            let rtp_port = self.rtp.local_addr().unwrap().port();
            let body = if method == "INVITE" {
                format!("v=0\r\no=op 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
            } else {
                String::new()
            };
            let to = header(&text, "To").unwrap();
            let to = if to.contains(";tag=") { to.to_string() } else { format!("{to};tag=op{port}") };
            let mut resp = String::from("SIP/2.0 200 OK\r\n");
            for l in text.split("\r\n\r\n").next().unwrap().lines() {
                if l.to_ascii_lowercase().starts_with("via:") {
                    resp += &format!("{l}\r\n");
                }
            }
            resp += &format!(
                "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:op-budi@127.0.0.1:{port}>\r\n",
                header(&text, "From").unwrap(),
                header(&text, "Call-ID").unwrap(),
                header(&text, "CSeq").unwrap()
            );
            if body.is_empty() {
                resp += "Content-Length: 0\r\n\r\n";
            } else {
                resp += &format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
            self.sip.send_to(resp.as_bytes(), from).unwrap();
            return text;
        }
    }

    /// Answers the gateway's call, then for `talk` sends the operator's tone on PCMU
    /// (paced 20 ms packets) to where the INVITE's SDP said, collecting what arrives
    /// (decoded to 8 kHz PCM); then answers the BYE. Returns what it heard.
    fn take_call(self, talk: Duration) -> Vec<i16> {
        let invite = self.answer("INVITE");
        let sdp = invite.split("\r\n\r\n").nth(1).unwrap();
        let ip = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).unwrap().trim();
        let port = sdp.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|r| r.split(' ').next()).unwrap();
        let gw_rtp: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let pcm = tone(&[OPERATOR_HZ], 8000, talk.as_millis() as u32, 8000.0);
        self.rtp.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let (t0, mut heard, mut buf) = (Instant::now(), Vec::new(), [0u8; 2048]);
        for (i, frame) in pcm.chunks(160).enumerate() {
            let mut datagram = Vec::new();
            RtpHeader { marker: i == 0, payload_type: 0, sequence: 7000 + i as u16, timestamp: 160 * i as u32, ssrc: 0x0BE7 }.write(&[], &mut datagram);
            g711::encode(Codec::Pcmu, frame, &mut datagram);
            self.rtp.send_to(&datagram, gw_rtp).unwrap();
            let due = t0 + Duration::from_millis(20 * (i as u64 + 1));
            while Instant::now() < due {
                if let Ok(n) = self.rtp.recv(&mut buf) {
                    if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                        if p.header.payload_type == 0 {
                            g711::decode(Codec::Pcmu, p.payload, &mut heard);
                        }
                    }
                }
            }
        }
        self.answer("BYE");
        heard
    }
}

/// The bridged scenario for one wideband codec (see the module doc).
fn greeting_digit_operator_and_audio_both_ways(offer: &Offer, codec: Codec, pt: u8, n: u32) {
    let gw = crate::operators::gateway_with_operators();
    let (op_port, _) = crate::operators::register_op_budi(&gw);
    let operator = TestOperator::bind(op_port);
    let operator = std::thread::spawn(move || operator.take_call(Duration::from_millis(4500)));
    let caller = Caller::call(gw.sip, n, offer, codec, pt);

    // The greeting, in the caller's codec, is the prompt.
    let want = greeting();
    let heard = caller.listen(Duration::from_millis(want.len() as u64 / 8 + 300));
    let c = correlation(&want, &heard, 400);
    eprintln!("{codec}: greeting correlation {c:.3}");
    assert!(c > 0.8, "{codec}: the greeting correlates {c:.3} with the prompt ({} samples heard)\n{}", heard.len(), gw.log());

    // 1 by RFC 4733 (Opus: at 48 kHz, as offered): medical, offered to op-budi, who
    // answers on PCMU.
    assert_eq!(caller.te, if codec == Codec::Opus { (100, 48000) } else { (101, 8000) });
    caller.press(1);
    assert!(gw.wait_events("operator_answered", 1, Duration::from_secs(15)), "{}", gw.log());
    let digit = &gw.events("digit")[0]["fields"];
    assert_eq!((digit["key"].as_str(), digit["source"].as_str()), (Some("1"), Some("rfc4733")), "{}", gw.log());

    // Each side sends its own tone at once: the caller's 700 Hz must reach the operator
    // (through PCMU) and the operator's 1 kHz the caller (in its codec). Neither side
    // echoes, so each tone can only have come from the other side.
    std::thread::sleep(Duration::from_millis(300));
    let rate = codec.audio_rate();
    let talker = caller.talk(tone(&[CALLER_HZ], rate, 3000, 8000.0));
    let back = caller.listen(Duration::from_millis(3300));
    talker.join().unwrap();
    caller.bye();
    let at_operator = operator.join().unwrap();
    let windows = |y: &[i16], f: f64| (tone_windows(y, f), y.len() / 1600);
    let (op_hears, op_total) = windows(&at_operator, CALLER_HZ);
    let (caller_hears, caller_total) = windows(&back, OPERATOR_HZ);
    eprintln!("{codec}: the operator heard {CALLER_HZ} Hz in {op_hears} of {op_total} windows, the caller {OPERATOR_HZ} Hz in {caller_hears} of {caller_total}");
    assert!(op_hears >= 10, "{codec}: the caller's tone reached the operator in {op_hears} windows of 200 ms\n{}", gw.log());
    assert!(caller_hears >= 10, "{codec}: the operator's tone reached the caller in {caller_hears} windows of 200 ms\n{}", gw.log());
    // And nothing came back as an echo.
    assert_eq!(tone_windows(&back, CALLER_HZ), 0, "{codec}: the caller heard its own tone");

    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)));
    let answered = &gw.events("answered")[0]["fields"];
    assert_eq!(answered["codec"].as_str(), Some(codec.name()));
}

#[test]
fn an_opus_caller_hears_the_greeting_presses_1_and_talks_with_a_pcmu_operator() {
    greeting_digit_operator_and_audio_both_ways(&OPUS, Codec::Opus, 107, 1);
}

#[test]
fn a_g722_caller_hears_the_greeting_presses_1_and_talks_with_a_pcmu_operator() {
    greeting_digit_operator_and_audio_both_ways(&G722, Codec::G722, 9, 2);
}

#[test]
fn an_inband_digit_sent_in_opus_is_detected() {
    let gw = Gateway::start();
    let caller = Caller::call(gw.sip, 3, &OPUS_NO_TE, Codec::Opus, 107);
    let mut pcm = tone(&[], 16000, 300, 0.0);
    pcm.extend(tone(&[697.0, 1209.0], 16000, 160, 6000.0));
    pcm.extend(tone(&[], 16000, 500, 0.0));
    caller.talk(pcm).join().unwrap();
    assert!(gw.wait_events("digit", 1, Duration::from_secs(5)), "{}", gw.log());
    let digit = &gw.events("digit")[0]["fields"];
    assert_eq!((digit["key"].as_str(), digit["source"].as_str()), (Some("1"), Some("inband")), "{}", gw.log());
    caller.bye();
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)));
}

#[test]
fn a_g729_only_offer_gets_488_and_a_rejected_record_with_the_codecs_offered() {
    let gw = Gateway::start();
    let since = UtcMs(UtcMs::now().0 - 60_000).rfc3339(UtcOffset::WIB);
    let (status, text, ..) = invite(gw.sip, 4, &G729);
    assert_eq!(status, 488, "{text}");
    assert!(text.contains("Warning: 305 "), "{text}");
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300)); // the writer commits in batches
    let rows = crate::records::list(&gw, &since);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["outcome"], "rejected");
    assert_eq!(row["end_reason"], "no common codec");
    assert_eq!(row["caller"], "08774");
    let db = gw.db.to_str().unwrap();
    let cfg = gw.config_path.to_str().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cc112"))
        .args(["calls", "show", row["id"].as_str().unwrap(), "--db", db, "--config", cfg])
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&out.stdout);
    assert!(timeline.contains("18:G729/8000"), "the offered codecs are on record: {timeline}");
    let report = crate::records::report_json(&gw, &since);
    assert_eq!(report["no_common_codec"]["total"], 1, "{report:#}");
    assert_eq!(report["no_common_codec"]["callers"][0], "08774");
    assert_eq!(report["by_outcome"]["rejected"], 1);
    // Nobody could hear the caller: an item of the callback worklist says to call back.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cc112")).args(["callbacks", "list", "--json", "--db", db, "--config", cfg]).output().unwrap();
    let items: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((items[0]["caller"].as_str(), items[0]["outcome"].as_str(), items[0]["id"].as_str()), (Some("08774"), Some("rejected"), row["id"].as_str()));
}
