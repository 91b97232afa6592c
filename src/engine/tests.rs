//! Engine scenario tests on a virtual clock: one caller, the engine, and the runtime's
//! part (opening media ports) played by the harness. No sockets, no sleeping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::call::ivr::PromptRef;
use crate::config::{Lang, PromptId};
use crate::media::Codec;
use crate::sip::Response;
use crate::sip::message::reason_phrase;
use crate::sip::{parse, HeaderName, Outgoing, Transport};

const SDP: &str = "v=0\r\no=caller 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

struct Harness {
    engine: Engine,
    t0: Instant,
    now: Instant,
    peer: Peer,
    /// Answer OpenMedia requests at once with success.
    auto_media: bool,
    /// Every output, with the virtual time it came out.
    log: Vec<(Duration, Output)>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_config(Config::embedded_default().expect("default config"))
    }

    fn with_config(config: Config) -> Harness {
        let t0 = Instant::now();
        let peer = Peer {
            transport: Transport::Udp,
            remote: "192.0.2.10:5060".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        };
        Harness { engine: Engine::new(Arc::new(config), 7), t0, now: t0, peer, auto_media: true, log: Vec::new() }
    }

    fn send(&mut self, msg: &str) -> Vec<Output> {
        self.engine.handle_sip(self.now, self.peer, msg.as_bytes());
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.engine.poll_output() {
            if let (true, Output::OpenMedia { call, port }) = (self.auto_media, &o) {
                let (call, port) = (*call, *port);
                self.log.push((self.now - self.t0, o.clone()));
                out.push(o);
                self.engine.handle_media_opened(self.now, call, port, true);
                continue;
            }
            self.log.push((self.now - self.t0, o.clone()));
            out.push(o);
        }
        out
    }

    /// Move the clock forward, firing every timer on the way.
    fn advance(&mut self, d: Duration) -> Vec<(Duration, Output)> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.engine.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.engine.handle_timeout(self.now);
            for o in self.drain() {
                out.push((self.now - self.t0, o));
            }
        }
        self.now = end;
        out
    }
}

fn invite(call_id: &str, branch: &str, uri: &str, body: &str) -> String {
    let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".to_string() };
    format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: \"Siti\" <sip:081234567@carrier.example>;tag=caller1\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:081234567@192.0.2.10:5060>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn in_dialog(method: &str, call_id: &str, branch: &str, to_tag: &str, cseq: u32, body: &str) -> String {
    format!(
        "{method} sip:cc112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\nMax-Forwards: 70\r\n\
From: \"Siti\" <sip:081234567@carrier.example>;tag=caller1\r\nTo: <sip:112@gw>;tag={to_tag}\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n{}Content-Length: {}\r\n\r\n{body}",
        if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
        body.len()
    )
}

fn cancel(call_id: &str, branch: &str, uri: &str) -> String {
    format!(
        "CANCEL {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: \"Siti\" <sip:081234567@carrier.example>;tag=caller1\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Parsed responses among the outputs.
fn responses(out: &[Output]) -> Vec<Response> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => match parse(bytes) {
                Ok(Message::Response(r)) => Some(r),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// SIP messages sent among timed outputs.
fn sends(out: &[(Duration, Output)]) -> Vec<Duration> {
    out.iter().filter(|(_, o)| matches!(o, Output::Send { .. })).map(|(t, _)| *t).collect()
}

fn requests(out: &[Output]) -> Vec<Request> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => match parse(bytes) {
                Ok(Message::Request(r)) => Some(r),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn statuses(out: &[Output]) -> Vec<u16> {
    responses(out).iter().map(|r| r.status).collect()
}

fn events(out: &[Output]) -> Vec<CallEventKind> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.kind.clone()),
            _ => None,
        })
        .collect()
}

/// Place an emergency call and return the To tag of our 200.
fn answered_call(h: &mut Harness, call_id: &str) -> String {
    let out = h.send(&invite(call_id, "z9hG4bKinv1", "sip:112@gw.example", SDP));
    assert_eq!(statuses(&out), vec![100, 200]);
    let ok = responses(&out).pop().unwrap();
    ok.head.to.tag().unwrap().to_string()
}

#[test]
fn emergency_invite_gets_trying_then_ok_with_sdp_answer() {
    let mut h = Harness::new();
    h.auto_media = false;
    let out = h.send(&invite("call-1", "z9hG4bKa1", "sip:112@gw.example;user=phone", SDP));
    assert_eq!(statuses(&out), vec![100], "100 Trying at once, 200 waits for the media port");
    let ev = events(&out);
    assert!(matches!(&ev[0], CallEventKind::Started { identity, caller, caller_name, .. }
        if identity == "112" && caller == "081234567" && caller_name.as_deref() == Some("Siti")));
    let (call, port) = match out.iter().find(|o| matches!(o, Output::OpenMedia { .. })) {
        Some(Output::OpenMedia { call, port }) => (*call, *port),
        _ => panic!("no OpenMedia"),
    };
    assert!(port % 2 == 0 && (10000..20000).contains(&port));
    h.engine.handle_media_opened(h.now, call, port, true);
    let out = h.drain();
    let ok = responses(&out).pop().unwrap();
    assert_eq!(ok.status, 200);
    assert!(ok.head.to.tag().is_some());
    assert_eq!(ok.head.get(&HeaderName::ContentType), Some("application/sdp"));
    let body = std::str::from_utf8(&ok.body).unwrap();
    assert!(body.contains(&format!("m=audio {port} RTP/AVP 0 101")), "{body}");
    assert!(ok.head.get(&HeaderName::Contact).unwrap().starts_with("<sip:cc112@127.0.0.1:5060"));
    assert!(ok.head.get(&HeaderName::Allow).unwrap().contains("INVITE"));
    assert!(matches!(events(&out)[0], CallEventKind::Answered { codec: Codec::Pcmu, telephone_event: Some(101), rtp_port, .. } if rtp_port == port));
}

/// The call's record is durable before its 200 OK: with a store, the engine waits for
/// both the port and the runtime's word on the commit, whichever comes last, and at
/// most the configured wait when the disk does not answer.
#[test]
fn the_200_waits_for_the_record_to_be_durable_and_for_the_port() {
    let wait = Duration::from_millis(250);
    let mut h = Harness::new();
    h.engine.set_record_wait(Some(wait));
    let out = h.send(&invite("rec-1", "z9hG4bKr1", "sip:112@gw.example", SDP));
    assert_eq!(statuses(&out), vec![100], "port opened, record not yet durable: no 200");
    let started = out.iter().position(|o| matches!(o, Output::Event(CallEvent { kind: CallEventKind::Started { .. }, .. })));
    let open = out.iter().position(|o| matches!(o, Output::OpenMedia { .. }));
    assert!(started < open, "the record's first event goes out before anything else of the call");
    let Some(Output::Event(CallEvent { call, .. })) = started.map(|i| &out[i]) else { panic!("no Started event") };
    let call = *call;
    h.now += Duration::from_millis(40);
    h.engine.handle_record_committed(h.now, call, true);
    assert_eq!(statuses(&h.drain()), vec![200], "record durable and port open: the 200 goes out");

    // The commit first, the port afterwards.
    h.auto_media = false;
    let out = h.send(&invite("rec-2", "z9hG4bKr2", "sip:112@gw.example", SDP));
    let Some(Output::OpenMedia { call, port }) = out.iter().find(|o| matches!(o, Output::OpenMedia { .. })).cloned() else { panic!("no OpenMedia") };
    h.engine.handle_record_committed(h.now, call, true);
    assert_eq!(statuses(&h.drain()), Vec::<u16>::new(), "durable, but the port is not open yet");
    h.engine.handle_media_opened(h.now, call, port, true);
    assert_eq!(statuses(&h.drain()), vec![200]);

    // A disk that never answers delays the call by the wait, not forever.
    h.auto_media = true;
    h.send(&invite("rec-3", "z9hG4bKr3", "sip:112@gw.example", SDP));
    let before = h.advance(wait - Duration::from_millis(1));
    assert!(before.iter().all(|(_, o)| !matches!(o, Output::Send { .. })), "nothing before the wait ran out");
    let after = h.advance(Duration::from_millis(1));
    let sent: Vec<Output> = after.into_iter().map(|(_, o)| o).collect();
    assert_eq!(statuses(&sent), vec![200]);
    // A late commit report changes nothing.
    let calls: Vec<CallId> = h.engine.calls.iter().map(|c| c.id).collect();
    for c in calls {
        h.engine.handle_record_committed(h.now, c, true);
    }
    assert_eq!(statuses(&h.drain()), Vec::<u16>::new());
}

/// The record store has no room for a new call's record (its queue at its cap while the
/// disk fails): the call is refused 503 with Retry-After rather than answered without a
/// record, its port is freed, and the next call is served as usual once there is room.
#[test]
fn a_call_whose_record_has_no_room_is_refused_503_never_answered() {
    let mut h = Harness::new();
    h.engine.set_record_wait(Some(Duration::from_millis(250)));
    h.auto_media = false;
    let out = h.send(&invite("full-1", "z9hG4bKf1", "sip:112@gw.example", SDP));
    let Some(Output::OpenMedia { call, port }) = out.iter().find(|o| matches!(o, Output::OpenMedia { .. })).cloned() else { panic!("no OpenMedia") };
    h.engine.handle_record_refused(h.now, call);
    let out = h.drain();
    let refused = responses(&out);
    assert_eq!(refused.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503]);
    assert_eq!(refused[0].head.get(&HeaderName::RetryAfter), Some("10"));
    assert!(out.iter().any(|o| matches!(o, Output::Event(CallEvent { kind: CallEventKind::Ended { reason: EndReason::NoRecord }, .. }))));
    assert_eq!(h.engine.stats().refused_no_record, 1);
    assert_eq!(h.engine.active_calls(), 0);
    // The port's opening still reports: it is closed and freed then.
    h.engine.handle_media_opened(h.now, call, port, true);
    assert!(h.drain().iter().any(|o| matches!(o, Output::CloseMedia { .. })));
    assert_eq!(h.engine.calls.ports_in_use(), 0);
    // Nothing else of that call (the 503's own retransmissions aside): no 200 when the
    // wait runs out, and a late word is ignored.
    let later: Vec<Output> = h.advance(Duration::from_secs(1)).into_iter().map(|(_, o)| o).collect();
    assert!(statuses(&later).iter().all(|s| *s == 503), "{:?}", statuses(&later));
    h.engine.handle_record_committed(h.now, call, true);
    h.engine.handle_record_refused(h.now, call);
    assert_eq!(statuses(&h.drain()), Vec::<u16>::new());
    // Room again: the next caller is answered.
    h.auto_media = true;
    let out = h.send(&invite("full-2", "z9hG4bKf2", "sip:112@gw.example", SDP));
    let Some(Output::Event(CallEvent { call, .. })) = out.iter().find(|o| matches!(o, Output::Event(CallEvent { kind: CallEventKind::Started { .. }, .. }))).cloned() else { panic!("no Started") };
    h.engine.handle_record_committed(h.now, call, true);
    assert_eq!(statuses(&h.drain()), vec![200]);
}

/// A caller who cancels while the 200 waits for the record: 487, and the open port is
/// closed and freed at once (no other report of it is coming).
#[test]
fn cancel_while_the_record_is_awaited_gets_487_and_frees_the_open_port() {
    let mut h = Harness::new();
    h.engine.set_record_wait(Some(Duration::from_millis(250)));
    let out = h.send(&invite("rec-c", "z9hG4bKrc", "sip:112@gw.example", SDP));
    assert_eq!(statuses(&out), vec![100]);
    let out = h.send(&cancel("rec-c", "z9hG4bKrc", "sip:112@gw.example"));
    assert_eq!(statuses(&out), vec![200, 487]);
    assert!(out.iter().any(|o| matches!(o, Output::CloseMedia { .. })), "{out:?}");
    assert_eq!(h.engine.calls.ports_in_use(), 0);
    assert_eq!(h.engine.active_calls(), 0);
    let later = h.advance(Duration::from_secs(1));
    assert!(later.iter().all(|(_, o)| !matches!(o, Output::Send { bytes, .. } if bytes.starts_with(b"SIP/2.0 200"))), "never answered");
}

#[test]
fn every_default_identity_is_answered_and_near_misses_get_404() {
    let mut h = Harness::new();
    let good = [
        "sip:112@gw.example",
        "sip:112@gw.example;user=phone",
        "tel:112",
        "sip:110@gw.example",
        "sip:113@gw.example",
        "sip:115@gw.example",
        "sip:118@gw.example",
        "sip:119@gw.example",
        "tel:119",
        "urn:service:sos",
        "urn:service:sos.fire",
        "urn:service:sos.ambulance",
        "sip:%31%31%32@gw.example",
    ];
    for (i, uri) in good.iter().enumerate() {
        let out = h.send(&invite(&format!("good-{i}"), &format!("z9hG4bKg{i}"), uri, SDP));
        assert_eq!(statuses(&out), vec![100, 200], "{uri}");
    }
    let bad = ["sip:1120@gw.example", "sip:0112@gw.example", "sip:112a@gw.example", "tel:1120", "urn:service:sosfoo", "urn:service:counseling", "sip:gw.example"];
    for (i, uri) in bad.iter().enumerate() {
        let out = h.send(&invite(&format!("bad-{i}"), &format!("z9hG4bKb{i}"), uri, SDP));
        assert_eq!(statuses(&out), vec![404], "{uri}");
    }
    assert_eq!(h.engine.stats().not_emergency, bad.len() as u64);
    assert_eq!(h.engine.active_calls(), good.len());
}

#[test]
fn retransmitted_invite_is_absorbed_and_answered_with_latest_response() {
    let mut h = Harness::new();
    h.auto_media = false;
    let inv = invite("call-rt", "z9hG4bKrt", "sip:112@gw", SDP);
    let out = h.send(&inv);
    let (call, port) = match out.iter().find(|o| matches!(o, Output::OpenMedia { .. })) {
        Some(Output::OpenMedia { call, port }) => (*call, *port),
        _ => panic!(),
    };
    let again = h.send(&inv);
    assert_eq!(statuses(&again), vec![100]);
    assert!(events(&again).is_empty(), "no second call");
    h.engine.handle_media_opened(h.now, call, port, true);
    h.drain();
    let again = h.send(&inv);
    assert_eq!(statuses(&again), vec![200]);
    assert_eq!(h.engine.active_calls(), 1);
}

/// No media before the ACK: an INVITE with a spoofed source and someone else's SDP
/// address must not make us send prompts there. The ACK starts the media and the IVR.
#[test]
fn media_and_the_ivr_start_with_the_ack_not_the_200() {
    let mut h = Harness::new();
    let out = h.send(&invite("call-m", "z9hG4bKm1", "sip:112@gw", SDP));
    assert_eq!(statuses(&out), vec![100, 200]);
    assert!(media_cmds(&out).is_empty(), "nothing for the media before the ACK: {out:?}");
    let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    let later = h.advance(Duration::from_secs(40));
    assert!(later.iter().all(|(_, o)| !matches!(o, Output::Media { .. })), "never, if no ACK comes");
    assert_eq!(h.engine.active_calls(), 0, "the unconfirmed call ended (BYE after 64×T1)");
    let out = h.send(&invite("call-m2", "z9hG4bKm2", "sip:112@gw", SDP));
    let tag2 = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    assert_ne!(tag, tag2);
    let out = h.send(&in_dialog("ACK", "call-m2", "z9hG4bKm2a", &tag2, 1, ""));
    assert!(matches!(media_cmds(&out).first(), Some(MediaCommand::Start { .. })), "{out:?}");
    assert_eq!(played(&out), vec!["id/greeting"]);
}

#[test]
fn ok_is_retransmitted_on_timer_g_until_the_ack() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-g");
    let out = h.advance(Duration::from_millis(3600));
    let times: Vec<u128> = out.iter().filter(|(_, o)| matches!(o, Output::Send { .. })).map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, vec![500, 1500, 3500]);
    let out = h.send(&in_dialog("ACK", "call-g", "z9hG4bKack1", &tag, 1, ""));
    assert_eq!(events(&out).first(), Some(&CallEventKind::Confirmed), "then the IVR starts");
    let out = h.advance(Duration::from_secs(60));
    assert!(out.iter().all(|(_, o)| !matches!(o, Output::Send { .. })), "no retransmission after ACK");
    assert_eq!(h.engine.active_calls(), 1, "the call stays up until the caller hangs up");
}

#[test]
fn ack_loss_is_repaired() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-loss");
    // The first ACK is lost on the way; the 2xx keeps coming; the second ACK arrives.
    let out = h.advance(Duration::from_millis(1600));
    assert_eq!(out.len(), 2);
    let out = h.send(&in_dialog("ACK", "call-loss", "z9hG4bKack2", &tag, 1, ""));
    assert_eq!(events(&out).first(), Some(&CallEventKind::Confirmed), "then the IVR starts");
    let out = h.advance(Duration::from_secs(40));
    assert!(sends(&out).is_empty(), "no SIP after the ACK");
}

#[test]
fn no_ack_at_all_ends_the_call_with_bye_after_64_t1() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-noack");
    let out = h.advance(Duration::from_secs(40));
    let oks = out.iter().filter(|(_, o)| !responses(std::slice::from_ref(o)).is_empty()).count();
    assert_eq!(oks, 10, "200 OK retransmitted on T1, 2T1, 4T1, then every T2, until 64*T1");
    let byes: Vec<_> = out.iter().filter(|(_, o)| !requests(std::slice::from_ref(o)).is_empty()).collect();
    assert!(!byes.is_empty());
    assert_eq!(byes[0].0, Duration::from_secs(32));
    let bye = &requests(std::slice::from_ref(&byes[0].1))[0];
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.uri.as_str(), "sip:081234567@192.0.2.10:5060", "sent to the caller's Contact");
    assert_eq!(bye.head.to.tag(), Some("caller1"));
    let outs: Vec<Output> = out.iter().map(|(_, o)| o.clone()).collect();
    assert!(events(&outs).contains(&CallEventKind::Ended { reason: EndReason::NoAck }));
    assert!(outs.iter().any(|o| matches!(o, Output::CloseMedia { .. })));
    assert_eq!(h.engine.active_calls(), 0);
}

#[test]
fn cancel_before_the_ok_gets_487_and_frees_the_port() {
    let mut h = Harness::new();
    h.auto_media = false;
    let out = h.send(&invite("call-c1", "z9hG4bKc1", "sip:112@gw", SDP));
    let (call, port) = match out.iter().find(|o| matches!(o, Output::OpenMedia { .. })) {
        Some(Output::OpenMedia { call, port }) => (*call, *port),
        _ => panic!(),
    };
    let out = h.send(&cancel("call-c1", "z9hG4bKc1", "sip:112@gw"));
    let rs = responses(&out);
    assert_eq!(rs.iter().map(|r| (r.status, r.head.cseq.method.clone())).collect::<Vec<_>>(), vec![(200, Method::Cancel), (487, Method::Invite)]);
    assert_eq!(rs[0].head.to.tag(), rs[1].head.to.tag(), "CANCEL's 200 carries the INVITE's To tag");
    assert_eq!(events(&out), vec![CallEventKind::Ended { reason: EndReason::CallerCancelled }]);
    // The port finishes opening after the call is gone: it is closed again at once.
    h.engine.handle_media_opened(h.now, call, port, true);
    let out = h.drain();
    assert_eq!(out, vec![Output::CloseMedia { call, port }]);
    // ACK for the 487 (same branch) completes the INVITE transaction; Timer I cleans up.
    let ack = invite("call-c1", "z9hG4bKc1", "sip:112@gw", "").replace("INVITE sip", "ACK sip").replace("1 INVITE", "1 ACK");
    h.send(&ack);
    h.advance(Duration::from_secs(40));
    assert_eq!(h.engine.open_transactions(), 0);
    assert_eq!(h.engine.active_calls(), 0);
}

#[test]
fn the_last_thing_the_voice_detector_heard_is_recorded_when_the_call_ends() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-voice");
    h.send(&in_dialog("ACK", "call-voice", "z9hG4bKa", &tag, 1, ""));
    let id = h.engine.calls.iter().next().map(|c| c.id).unwrap();
    let heard = |silence_ms, noise_ms| crate::media::vad::Activity { silence_ms, noise_ms, ..Default::default() };
    h.engine.handle_media(h.now, id, MediaInput::Heard(heard(1_000, 0)));
    h.engine.handle_media(h.now, id, MediaInput::Heard(heard(1_500, 1_500)));
    let out = h.send(&in_dialog("BYE", "call-voice", "z9hG4bKbye", &tag, 2, ""));
    let ev = events(&out);
    let voice: Vec<_> = ev.iter().filter_map(|e| if let CallEventKind::Voice { heard } = e { Some(*heard) } else { None }).collect();
    assert_eq!(voice, [heard(1_500, 1_500)], "{ev:?}");
    assert_eq!(voice[0].verdict(), "noise");
    assert!(matches!(ev.last(), Some(CallEventKind::Ended { .. })), "{ev:?}");
}

#[test]
fn cancel_after_the_ok_does_not_end_the_call() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-c2");
    let out = h.send(&cancel("call-c2", "z9hG4bKinv1", "sip:112@gw.example"));
    assert_eq!(statuses(&out), vec![200]);
    assert!(events(&out).is_empty());
    assert_eq!(h.engine.active_calls(), 1);
    let out = h.send(&cancel("nope", "z9hG4bKnope", "sip:112@gw.example"));
    assert_eq!(statuses(&out), vec![481]);
}

#[test]
fn bye_from_the_caller_ends_the_call_cleanly() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-bye");
    h.send(&in_dialog("ACK", "call-bye", "z9hG4bKa", &tag, 1, ""));
    let out = h.send(&in_dialog("BYE", "call-bye", "z9hG4bKbye", &tag, 2, ""));
    assert_eq!(statuses(&out), vec![200]);
    let ev = events(&out);
    assert!(matches!(&ev[0], CallEventKind::IvrPath { path } if path.outcome.is_none()
        && matches!(path.events.last().map(|e| &e.step), Some(crate::call::ivr::PathStep::Abandoned))),
        "a caller hanging up during the greeting is recorded as abandoned in the IVR: {ev:?}");
    // What the caller's audio held comes just before the end: here nothing at all.
    assert!(matches!(&ev[1], CallEventKind::Voice { heard } if heard.verdict() == "no_audio"), "{ev:?}");
    assert_eq!(ev[2], CallEventKind::Ended { reason: EndReason::CallerHangup });
    assert!(out.iter().any(|o| matches!(o, Output::CloseMedia { .. })));
    // A retransmitted BYE gets the same 200 from its transaction, not a 481.
    let out = h.send(&in_dialog("BYE", "call-bye", "z9hG4bKbye", &tag, 2, ""));
    assert_eq!(statuses(&out), vec![200]);
    // A new BYE for the ended dialog gets 481.
    let out = h.send(&in_dialog("BYE", "call-bye", "z9hG4bKbye2", &tag, 3, ""));
    assert_eq!(statuses(&out), vec![481]);
    h.advance(Duration::from_secs(40));
    assert_eq!(h.engine.open_transactions(), 0, "Timer J and L clean everything up");
}

#[test]
fn invite_without_sdp_gets_our_offer_and_the_answer_comes_in_the_ack() {
    let mut h = Harness::new();
    let out = h.send(&invite("call-late", "z9hG4bKl", "sip:112@gw", ""));
    let ok = responses(&out).pop().unwrap();
    let body = std::str::from_utf8(&ok.body).unwrap();
    assert!(body.contains("RTP/AVP 0 8 9 111 101"), "{body}");
    assert!(body.contains("a=rtpmap:111 opus/48000/2") && body.contains("a=rtpmap:9 G722/8000"), "{body}");
    let tag = ok.head.to.tag().unwrap().to_string();
    let answer = SDP.replace("RTP/AVP 8 0 101", "RTP/AVP 8 101");
    h.send(&in_dialog("ACK", "call-late", "z9hG4bKla", &tag, 1, &answer));
    let call = h.engine.calls.iter().next().unwrap();
    assert_eq!(call.negotiated.as_ref().map(|n| n.codec), Some(Codec::Pcma));
    assert_eq!(call.state, CallState::Confirmed);
}

#[test]
fn no_common_codec_gets_488_with_warning() {
    let mut h = Harness::new();
    let g729 = SDP.replace("RTP/AVP 8 0 101", "RTP/AVP 18").replace("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n", "a=rtpmap:18 G729/8000\r\n");
    let out = h.send(&invite("call-488", "z9hG4bK488", "sip:112@gw", &g729));
    let rs = responses(&out);
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![488]);
    assert!(rs[0].head.get(&HeaderName::Warning).unwrap().starts_with("305 "));
    assert_eq!(h.engine.stats().no_common_codec, 1);
    assert_eq!(h.engine.active_calls(), 0);
    // The refusal is on record (issue 17): a call that starts and ends at once, with
    // the codecs offered, so that the caller can be called back.
    let ev = events(&out);
    assert!(matches!(&ev[0], CallEventKind::Started { caller, .. } if caller == "081234567"), "{ev:?}");
    assert!(matches!(&ev[1], CallEventKind::NoCommonCodec { offered } if offered.contains("18:G729/8000")), "{ev:?}");
    assert!(matches!(&ev[2], CallEventKind::Ended { reason: EndReason::NoCommonCodec }), "{ev:?}");
    assert_eq!(ev.len(), 3);
    // The store makes it a callback item; the engine knows at once (no restart needed):
    // the number's next call is flagged `callback`.
    let out = h.send(&invite("call-488-again", "z9hG4bK488b", "sip:112@gw", SDP));
    assert!(events(&out).iter().any(|e| matches!(e, CallEventKind::Caller { callback: true, .. })), "{:?}", events(&out));
}

#[test]
fn g722_and_opus_offers_are_answered_in_our_order() {
    let mut h = Harness::new();
    let opus = SDP.replace("RTP/AVP 8 0 101", "RTP/AVP 96 9 101").replace("a=rtpmap:101", "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1; usedtx=1\r\na=rtpmap:101");
    let out = h.send(&invite("call-wb", "z9hG4bKwb", "sip:112@gw", &opus));
    let ok = responses(&out).pop().unwrap();
    assert_eq!(ok.status, 200);
    let body = std::str::from_utf8(&ok.body).unwrap();
    // Default order PCMU, PCMA, G722, opus: G.722 (static 9) before Opus.
    assert!(body.contains("RTP/AVP 9 101") && body.contains("a=rtpmap:9 G722/8000"), "{body}");
}

#[test]
fn options_unknown_methods_and_register() {
    let mut h = Harness::new();
    let opt = "OPTIONS sip:gw.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKo\r\nMax-Forwards: 0\r\nFrom: <sip:mon@example>;tag=m\r\nTo: <sip:gw.example>\r\nCall-ID: opt1\r\nCSeq: 9 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let rs = responses(&h.send(opt));
    assert_eq!(rs[0].status, 200);
    for name in [HeaderName::Allow, HeaderName::Accept, HeaderName::Supported] {
        assert!(rs[0].head.get(&name).is_some(), "{name}");
    }
    assert!(rs[0].head.to.tag().is_some());
    let foo = opt.replace("OPTIONS", "FOO").replace("opt1", "foo1").replace("z9hG4bKo", "z9hG4bKf");
    let rs = responses(&h.send(&foo));
    assert_eq!(rs[0].status, 501);
    assert!(rs[0].head.get(&HeaderName::Allow).is_some());
    let msg = opt.replace("OPTIONS", "MESSAGE").replace("opt1", "m1").replace("z9hG4bKo", "z9hG4bKm");
    assert_eq!(statuses(&h.send(&msg)), vec![405]);
    let reg = opt.replace("OPTIONS", "REGISTER").replace("opt1", "r1").replace("z9hG4bKo", "z9hG4bKr");
    let rs = responses(&h.send(&reg));
    assert_eq!(rs[0].status, 401);
    assert!(rs[0].head.get(&HeaderName::WwwAuthenticate).unwrap().starts_with("Digest realm="));
    let reg2 = reg.replace("z9hG4bKr", "z9hG4bKr2").replace("Max-Forwards: 0", "Max-Forwards: 0\r\nAuthorization: Digest username=\"op1\", realm=\"cc112\", nonce=\"x\", uri=\"sip:gw\", response=\"0\"");
    assert_eq!(statuses(&h.send(&reg2)), vec![400], "credentials without qop/cnonce/nc are malformed");
    let unk = opt.replace("sip:gw.example SIP", "soap.beep://192.0.2.1:3002 SIP").replace("z9hG4bKo", "z9hG4bKu");
    assert_eq!(statuses(&h.send(&unk)), vec![416]);
    let req = opt.replace("z9hG4bKo", "z9hG4bKreq").replace("Max-Forwards: 0", "Max-Forwards: 0\r\nRequire: foo");
    assert_eq!(statuses(&h.send(&req)), vec![420]);
}

#[test]
fn require_and_body_and_scheme_checks() {
    let mut h = Harness::new();
    let inv = invite("call-req", "z9hG4bKq", "sip:112@gw", SDP).replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: nothingyouknow, foo\r\n");
    let rs = responses(&h.send(&inv));
    assert_eq!(rs.len(), 1, "an immediate refusal is the only response");
    assert_eq!(rs[0].status, 420);
    assert_eq!(rs[0].head.get(&HeaderName::Unsupported), Some("nothingyouknow, foo"));
    let inv = invite("call-ct", "z9hG4bKct", "sip:112@gw", SDP).replace("application/sdp", "application/unknown");
    let rs = responses(&h.send(&inv));
    assert_eq!(rs[0].status, 415);
    assert_eq!(rs[0].head.get(&HeaderName::Accept), Some("application/sdp"));
    let inv = invite("call-sch", "z9hG4bKs", "http:112", SDP);
    assert_eq!(statuses(&h.send(&inv)), vec![416]);
}

#[test]
fn malformed_requests_get_400_naming_the_problem_and_garbage_is_dropped() {
    let mut h = Harness::new();
    let bad = invite("call-bad", "z9hG4bKbad", "sip:112@gw", SDP).replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let rs = responses(&h.send(&bad));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, 400);
    assert_eq!(rs[0].reason, "CSeq method does not match the request method");
    assert_eq!(rs[0].head.call_id, "call-bad");
    assert!(h.send("\x00\x01garbage\r\n\r\n").is_empty());
    assert!(h.send("INVITE sip:112@gw SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n").is_empty(), "no CSeq: dropped");
    assert_eq!(h.engine.stats().malformed_answered, 1);
    assert_eq!(h.engine.stats().malformed_dropped, 2);
    let v3 = invite("call-v3", "z9hG4bKv3", "sip:112@gw", SDP).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    assert_eq!(statuses(&h.send(&v3)), vec![505]);
}

#[test]
fn media_port_failure_moves_to_the_next_port_and_exhaustion_gets_503() {
    let mut cfg = Config::embedded_default().unwrap();
    cfg.media.port_min = 10000;
    cfg.media.port_max = 10004; // two ports: 10000 and 10002
    let mut h = Harness::with_config(cfg);
    h.auto_media = false;
    let out = h.send(&invite("p1", "z9hG4bKp1", "sip:112@gw", SDP));
    let (call, port) = match out.iter().find(|o| matches!(o, Output::OpenMedia { .. })) {
        Some(Output::OpenMedia { call, port }) => (*call, *port),
        _ => panic!(),
    };
    h.engine.handle_media_opened(h.now, call, port, false);
    let out = h.drain();
    assert_eq!(out, vec![Output::OpenMedia { call, port: 10002 }], "next port tried");
    h.engine.handle_media_opened(h.now, call, 10002, true);
    assert_eq!(statuses(&h.drain()), vec![200]);
    h.auto_media = true;
    assert_eq!(statuses(&h.send(&invite("p2", "z9hG4bKp2", "sip:112@gw", SDP))), vec![100, 200]);
    let rs = responses(&h.send(&invite("p3", "z9hG4bKp3", "sip:112@gw", SDP)));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, 503);
    assert_eq!(rs[0].head.get(&HeaderName::RetryAfter), Some("10"), "[overload] retry_after");
}

#[test]
fn past_max_calls_new_calls_get_503_with_retry_after_until_one_ends() {
    let mut cfg = Config::embedded_default().unwrap();
    cfg.overload.max_calls = 2;
    cfg.overload.retry_after = Duration::from_secs(7);
    let mut h = Harness::with_config(cfg);
    let tag = answered_call(&mut h, "m1");
    assert_eq!(statuses(&h.send(&invite("m2", "z9hG4bKm2", "sip:112@gw", SDP))), vec![100, 200]);
    let out = h.send(&invite("m3", "z9hG4bKm3", "sip:112@gw", SDP));
    let rs = responses(&out);
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503], "no 100 Trying: a refusal costs as little as it can");
    assert_eq!(rs[0].head.get(&HeaderName::RetryAfter), Some("7"));
    // No call record of its own: the refusal is counted in the second's summary for
    // its source and reason, with the caller's number (the shift can call back).
    assert!(events(&out).is_empty(), "{out:?}");
    assert_eq!(h.engine.stats().refused_overload, 1);
    let summaries: Vec<RefusalSummary> = h
        .advance(Duration::from_secs(1))
        .into_iter()
        .filter_map(|(_, o)| if let Output::Refused(s) = o { Some(s) } else { None })
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!((summaries[0].reason, summaries[0].count), ("max_calls", 1));
    let later = h.advance(Duration::from_secs(10));
    assert!(!later.iter().any(|(_, o)| matches!(o, Output::Send { bytes, .. } if bytes.starts_with(b"SIP/2.0 503"))), "a 503 retransmitted");
    assert!(summaries[0].callers[0].starts_with("0812"), "{summaries:?}");
    // Stateless: no transaction is kept for a refusal and its 503 is never
    // retransmitted (a flood that never ACKs costs no state); a retransmitted INVITE
    // is refused again.
    let open = h.engine.open_transactions();
    assert_eq!(statuses(&h.send(&invite("m3", "z9hG4bKm3", "sip:112@gw", SDP))), vec![503]);
    assert_eq!(h.engine.open_transactions(), open);
    // Past capacity, the offer is not even tried: an INVITE with no codec in common is
    // refused 503 like any other (building the answer would cost the refusal 7 µs);
    // with room, it gets its 488.
    let g729 = SDP.replace("RTP/AVP 8 0 101", "RTP/AVP 18");
    assert_eq!(statuses(&h.send(&invite("m5", "z9hG4bKm5", "sip:112@gw", &g729))), vec![503]);
    // One call ends: the next one is accepted.
    h.send(&in_dialog("ACK", "m1", "z9hG4bKa1", &tag, 1, ""));
    assert_eq!(statuses(&h.send(&in_dialog("BYE", "m1", "z9hG4bKb1", &tag, 2, ""))), vec![200]);
    assert_eq!(statuses(&h.send(&invite("m6", "z9hG4bKm6", "sip:112@gw", &g729))), vec![488]);
    assert_eq!(statuses(&h.send(&invite("m4", "z9hG4bKm4", "sip:112@gw", SDP))), vec![100, 200]);
}

#[test]
fn a_gateway_behind_for_a_second_refuses_stale_new_calls_with_503_but_serves_calls_in_progress() {
    let mut h = Harness::new();
    let late = h.engine.config().overload.max_delay + Duration::from_millis(1);
    let tag = answered_call(&mut h, "w1");
    h.send(&in_dialog("ACK", "w1", "z9hG4bKa1", &tag, 1, ""));
    let send_late = |h: &mut Harness, msg: String| {
        let (now, peer) = (h.now, h.peer);
        h.engine.handle_sip_received(now, now - late, peer, msg.as_bytes());
        h.drain()
    };
    // Late messages, but the last second had a quick one: a stall is not refused.
    h.advance(Duration::from_secs(1));
    assert_eq!(statuses(&send_late(&mut h, invite("w2", "z9hG4bKw2", "sip:112@gw", SDP))), vec![100, 200]);
    h.advance(Duration::from_millis(500));
    send_late(&mut h, invite("w2", "z9hG4bKw2", "sip:112@gw", SDP));
    h.advance(Duration::from_millis(500));
    // Every message of a whole second was late (a standing queue): new calls get 503
    // with Retry-After.
    let rs = responses(&send_late(&mut h, invite("w3", "z9hG4bKw3", "sip:112@gw", SDP)));
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503]);
    assert_eq!(rs[0].reason, "Overloaded");
    assert_eq!(rs[0].head.get(&HeaderName::RetryAfter), Some("10"));
    // Still behind, but an INVITE that got through within max_delay is served: only
    // the stale head of the queue is refused, not every caller.
    let in_time = h.engine.config().overload.max_delay * 3 / 4;
    let (now, peer) = (h.now, h.peer);
    h.engine.handle_sip_received(now, now - in_time, peer, invite("w5", "z9hG4bKw5", "sip:112@gw", SDP).as_bytes());
    assert_eq!(statuses(&h.drain()), vec![100, 200]);
    assert_eq!(statuses(&send_late(&mut h, invite("w6", "z9hG4bKw6", "sip:112@gw", SDP))), vec![503], "still behind");
    // A call in progress is served however late its messages are.
    assert_eq!(statuses(&send_late(&mut h, in_dialog("BYE", "w1", "z9hG4bKb1", &tag, 2, ""))), vec![200]);
    // Caught up: new calls are accepted again.
    assert_eq!(statuses(&h.send(&invite("w4", "z9hG4bKw4", "sip:112@gw", SDP))), vec![100, 200]);
    assert_eq!(h.engine.stats().refused_overload, 2);
}

#[test]
fn reinvite_in_dialog_gets_a_fresh_answer_on_the_same_port() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-re");
    h.send(&in_dialog("ACK", "call-re", "z9hG4bKa", &tag, 1, ""));
    let hold = SDP.replace("a=fmtp:101 0-16\r\n", "a=fmtp:101 0-16\r\na=sendonly\r\n");
    let out = h.send(&in_dialog("INVITE", "call-re", "z9hG4bKre", &tag, 2, &hold));
    let ok = responses(&out).pop().unwrap();
    assert_eq!(ok.status, 200);
    assert!(std::str::from_utf8(&ok.body).unwrap().contains("a=recvonly"));
    let out = h.send(&in_dialog("ACK", "call-re", "z9hG4bKa2", &tag, 2, ""));
    assert!(events(&out).is_empty(), "a re-INVITE's ACK is not a new confirmation");
    let out = h.advance(Duration::from_secs(10));
    assert!(sends(&out).is_empty(), "no retransmission after the re-INVITE's ACK");
}

#[test]
fn sip_info_dtmf_reaches_the_call_as_a_digit() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "call-info");
    h.send(&in_dialog("ACK", "call-info", "z9hG4bKia", &tag, 1, ""));
    let info = in_dialog("INFO", "call-info", "z9hG4bKi", &tag, 2, "")
        .replace("Content-Length: 0", "Content-Type: application/dtmf-relay\r\nContent-Length: 24")
        + "Signal=5\r\nDuration=160\r\n";
    let out = h.send(&info);
    assert_eq!(statuses(&out), vec![200]);
    let ev = events(&out);
    assert_eq!(ev[0], CallEventKind::Digit { key: '5', source: DigitSource::SipInfo });
    assert!(
        ev.iter().any(|e| matches!(e, CallEventKind::Routed { routing } if routing.queue.as_str() == "social")),
        "the INFO digit reaches the IVR: 5 is social services: {ev:?}"
    );
    assert!(media_cmds(&out).contains(&MediaCommand::StopInband), "the IVR is done: no more in-band analysis");
}

#[test]
fn legacy_rfc2543_invite_reaches_112() {
    let mut h = Harness::new();
    let inv = "INVITE sip:112@gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10\r\nFrom: <sip:old@phone>\r\nTo: <sip:112@gw>\r\nCall-ID: legacy1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\n".to_string() + SDP;
    let out = h.send(&inv);
    assert_eq!(statuses(&out), vec![100, 200]);
    // The 2543 ACK reuses the INVITE's Via without branch: it matches the transaction.
    let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    let ack = format!("ACK sip:112@gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10\r\nFrom: <sip:old@phone>\r\nTo: <sip:112@gw>;tag={tag}\r\nCall-ID: legacy1\r\nCSeq: 1 ACK\r\n\r\n");
    assert_eq!(events(&h.send(&ack)).first(), Some(&CallEventKind::Confirmed));
    assert!(sends(&h.advance(Duration::from_secs(5))).is_empty());
}

#[test]
fn many_calls_leave_no_state_behind() {
    let mut h = Harness::new();
    for i in 0..200 {
        let cid = format!("many-{i}");
        let out = h.send(&invite(&cid, &format!("z9hG4bKm{i}"), "sip:112@gw", SDP));
        let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
        h.send(&in_dialog("ACK", &cid, &format!("z9hG4bKma{i}"), &tag, 1, ""));
        h.send(&in_dialog("BYE", &cid, &format!("z9hG4bKmb{i}"), &tag, 2, ""));
    }
    assert_eq!(h.engine.stats().calls_started, 200);
    assert_eq!(h.engine.stats().calls_ended, 200);
    h.advance(Duration::from_secs(40));
    assert_eq!(h.engine.open_transactions(), 0);
    assert_eq!(h.engine.active_calls(), 0);
    assert_eq!(h.engine.calls.ports_in_use(), 0);
    assert!(h.engine.fx.timers.len() <= 1);
    let _: SocketAddr = h.peer.remote;
}

// ----- the IVR inside a call -------------------------------------------------------------

fn media_cmds(out: &[Output]) -> Vec<MediaCommand> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media { cmd, .. } => Some(cmd.clone()),
            _ => None,
        })
        .collect()
}

fn played(out: &[Output]) -> Vec<String> {
    media_cmds(out)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Play { prompt } => Some(format!("{}/{}", prompt.lang, prompt.id)),
            _ => None,
        })
        .collect()
}

fn routed(out: &[Output]) -> Option<crate::call::ivr::Routing> {
    events(out).into_iter().find_map(|e| match e {
        CallEventKind::Routed { routing } => Some(routing),
        _ => None,
    })
}

/// An answered call to `uri`; returns its id and every output so far.
/// A call answered and confirmed by its ACK: media and the IVR start with the ACK.
fn ivr_call(h: &mut Harness, call_id: &str, uri: &str) -> (CallId, Vec<Output>) {
    let mut out = h.send(&invite(call_id, &format!("z9hG4bK{call_id}"), uri, SDP));
    if let Some(tag) = responses(&out).iter().find(|r| r.status == 200).and_then(|r| r.head.to.tag().map(str::to_string)) {
        out.extend(h.send(&in_dialog("ACK", call_id, &format!("z9hG4bKack{call_id}"), &tag, 1, "")));
    }
    let id = out
        .iter()
        .find_map(|o| match o {
            Output::OpenMedia { call, .. } => Some(*call),
            _ => None,
        })
        .expect("call accepted");
    (id, out)
}

/// The media task's part: every prompt plays to its end at once.
fn finish_prompts(h: &mut Harness, id: CallId, out: &[Output]) -> Vec<Output> {
    let mut all = Vec::new();
    let mut pending: Vec<PromptRef> = media_cmds(out)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Play { prompt } => Some(prompt),
            _ => None,
        })
        .collect();
    while let Some(p) = pending.pop() {
        h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt: p });
        let more = h.drain();
        for c in media_cmds(&more) {
            if let MediaCommand::Play { prompt } = c {
                pending.push(prompt);
            }
        }
        all.extend(more);
    }
    all
}

#[test]
fn answered_call_starts_media_and_plays_the_greeting_in_indonesian() {
    let mut h = Harness::new();
    let (_, out) = ivr_call(&mut h, "ivr-start", "sip:112@gw");
    let cmds = media_cmds(&out);
    assert!(matches!(cmds[0], MediaCommand::Start { codec: Codec::Pcmu, payload_type: 0, telephone_event: Some(101), telephone_event_rate: 8000, remote: Some(_) }), "{cmds:?}");
    assert_eq!(played(&out), vec!["id/greeting"]);
}

#[test]
fn every_digit_of_the_default_menu_reaches_its_queue() {
    let expect = [('1', "medical"), ('2', "fire"), ('3', "public_order"), ('4', "public_works"), ('5', "social"), ('6', "transport"), ('0', "general")];
    for (digit, queue) in expect {
        for source in [DigitSource::Rfc4733, DigitSource::Inband, DigitSource::SipInfo] {
            let mut h = Harness::new();
            let (id, out) = ivr_call(&mut h, "ivr-digit", "sip:112@gw");
            let after_greeting = finish_prompts(&mut h, id, &out);
            assert!(played(&after_greeting).contains(&"id/menu_main".to_string()), "{after_greeting:?}");
            h.engine.handle_media(h.now, id, MediaInput::Digit { key: digit, source });
            let out = h.drain();
            let r = routed(&out).unwrap_or_else(|| panic!("digit {digit}: {out:?}"));
            assert_eq!(r.queue.as_str(), queue, "digit {digit} via {source:?}");
            assert!(matches!(r.reason, crate::call::ivr::RouteReason::Chosen { digit: d, .. } if d == digit));
            assert!(events(&out).iter().any(|e| matches!(e, CallEventKind::IvrPath { path } if path.outcome.is_some())));
        }
    }
}

#[test]
fn a_digit_during_the_greeting_cuts_it_and_routes_at_once() {
    let mut h = Harness::new();
    let (id, _) = ivr_call(&mut h, "ivr-barge", "sip:112@gw");
    h.engine.handle_media(h.now, id, MediaInput::Digit { key: '2', source: DigitSource::Rfc4733 });
    let out = h.drain();
    assert_eq!(media_cmds(&out).first(), Some(&MediaCommand::StopPrompt));
    assert_eq!(routed(&out).unwrap().queue.as_str(), "fire");
}

#[test]
fn a_caller_who_speaks_but_presses_nothing_reaches_general_within_20_seconds() {
    let mut h = Harness::new();
    let (id, out) = ivr_call(&mut h, "ivr-silent", "sip:112@gw");
    // The voice detector heard them: no silent prompt (tests/silent.rs has that).
    let spoke = crate::media::vad::Activity { spoke: true, first_speech_ms: Some(800), speech_ms: 96, ..Default::default() };
    h.engine.handle_media(h.now, id, MediaInput::Heard(spoke));
    let mut out = out;
    let mut routing = None;
    // The media task plays each prompt for 3 s, then reports it finished.
    for _ in 0..20 {
        let prompts: Vec<PromptRef> = media_cmds(&out)
            .into_iter()
            .filter_map(|c| match c {
                MediaCommand::Play { prompt } => Some(prompt),
                _ => None,
            })
            .collect();
        let mut next = Vec::new();
        let timed = h.advance(Duration::from_secs(3));
        next.extend(timed.into_iter().map(|(_, o)| o));
        for p in prompts {
            h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt: p });
            next.extend(h.drain());
        }
        if let Some(r) = routed(&next) {
            routing = Some((r, h.now - h.t0));
            break;
        }
        out = next;
    }
    let (r, at) = routing.expect("routed");
    assert_eq!(r.queue.as_str(), "general");
    // The announcement ("we did not hear a choice...") is not cut by the queue's hold
    // prompt: hold comes once it has finished.
    let announce = r.announce.clone().expect("no_choice is announced");
    let tail: Vec<Output> = h.log.iter().rev().take_while(|(_, o)| !matches!(o, Output::Event(CallEvent { kind: CallEventKind::Routed { .. }, .. }))).map(|(_, o)| o.clone()).collect();
    assert!(!played(&tail).contains(&"id/hold".to_string()), "hold waits for the announcement: {:?}", played(&tail));
    h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt: announce });
    assert_eq!(played(&h.drain()), vec!["id/hold"]);
    assert_eq!(r.reason, crate::call::ivr::RouteReason::NoInput);
    assert!(at <= Duration::from_secs(21), "routed after {at:?}");
    assert_eq!(h.engine.active_calls(), 1, "the caller is never hung up on");
}

#[test]
fn direct_numbers_skip_the_menu() {
    for (number, queue) in [("110", "public_order"), ("113", "fire"), ("115", "fire"), ("118", "medical"), ("119", "medical")] {
        let mut h = Harness::new();
        let (_, out) = ivr_call(&mut h, "ivr-direct", &format!("sip:{number}@gw"));
        let r = routed(&out).unwrap_or_else(|| panic!("{number}"));
        assert_eq!(r.queue.as_str(), queue, "{number}");
        assert!(!played(&out).contains(&"id/menu_main".to_string()), "{number} hears no menu");
    }
    let mut h = Harness::new();
    let (_, out) = ivr_call(&mut h, "ivr-urn", "urn:service:sos");
    assert!(routed(&out).is_none(), "urn:service:sos gets the menu");
}

#[test]
fn nine_switches_to_english_and_back() {
    let mut h = Harness::new();
    let (id, out) = ivr_call(&mut h, "ivr-lang", "sip:112@gw");
    finish_prompts(&mut h, id, &out);
    h.engine.handle_media(h.now, id, MediaInput::Digit { key: '9', source: DigitSource::Rfc4733 });
    let out = h.drain();
    assert!(played(&out).contains(&"en/menu_main".to_string()), "{out:?}");
    h.engine.handle_media(h.now, id, MediaInput::Digit { key: '9', source: DigitSource::Rfc4733 });
    let out = h.drain();
    assert!(played(&out).contains(&"id/menu_main".to_string()), "{out:?}");
}

#[test]
fn a_call_keeps_the_plan_it_started_with_across_a_reload() {
    let mut h = Harness::new();
    let (id, out) = ivr_call(&mut h, "ivr-reload", "sip:112@gw");
    finish_prompts(&mut h, id, &out);
    // New plan: 1 now goes to fire. The call in progress still uses the old menu.
    let text = crate::config::DEFAULT_TOML.replace("{ digit = \"1\", queue = \"medical\" }", "{ digit = \"1\", queue = \"fire\" }");
    let new = Config::from_toml(&text, "reloaded").expect("valid");
    h.engine.set_config(Arc::new(new));
    h.engine.handle_media(h.now, id, MediaInput::Digit { key: '1', source: DigitSource::Rfc4733 });
    assert_eq!(routed(&h.drain()).unwrap().queue.as_str(), "medical");
    let (id2, out) = ivr_call(&mut h, "ivr-reload2", "sip:112@gw");
    finish_prompts(&mut h, id2, &out);
    h.engine.handle_media(h.now, id2, MediaInput::Digit { key: '1', source: DigitSource::Rfc4733 });
    assert_eq!(routed(&h.drain()).unwrap().queue.as_str(), "fire", "a new call uses the new plan");
}

// ----- operators ---------------------------------------------------------------------

/// A Digest answer to the first challenge in `resp` for `user`/`password`.
fn digest_answer(resp: &Response, user: &str, password: &str, uri: &str) -> String {
    use crate::sip::digest::{self, Algorithm};
    let challenge = resp.head.get_all(&HeaderName::WwwAuthenticate).find(|c| c.contains("MD5")).expect("an MD5 challenge").to_string();
    let param = |name: &str| {
        challenge.split(',').find_map(|p| p.trim().trim_start_matches("Digest ").strip_prefix(&format!("{name}="))).map(|v| v.trim_matches('"').to_string()).unwrap()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let ha1 = digest::ha1(Algorithm::Md5, user, &realm, password);
    let creds = digest::Credentials {
        username: user.into(),
        realm: realm.clone(),
        nonce: nonce.clone(),
        uri: uri.into(),
        response: String::new(),
        algorithm: Algorithm::Md5,
        cnonce: "0a4f113b".into(),
        nc_text: "00000001".into(),
        nc: 1,
        opaque: None,
    };
    let response = digest::expected_response(&creds, "REGISTER", &ha1);
    format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"")
}

fn register(branch: &str, cseq: u32, auth: Option<&str>) -> String {
    format!(
        "REGISTER sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.50:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:op-budi@gw>;tag=op\r\nTo: <sip:op-budi@gw>\r\nCall-ID: reg-budi\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:op-budi@192.0.2.50:5060>\r\nExpires: 600\r\n{}Content-Length: 0\r\n\r\n",
        auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default()
    )
}

#[test]
fn an_operator_registers_with_digest_and_a_wrong_password_gets_the_same_answer_as_an_unknown_user() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/config/valid_operators.toml")).unwrap();
    let mut h = Harness::with_config(Config::from_toml(&text, "valid_operators.toml").unwrap());
    let first = responses(&h.send(&register("z9hG4bKreg1", 1, None))).pop().unwrap();
    assert_eq!(first.status, 401);
    let good = digest_answer(&first, "op-budi", "secret-op-budi", "sip:gw");
    let out = h.send(&register("z9hG4bKreg2", 2, Some(&good)));
    let ok = responses(&out).pop().unwrap();
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.head.get(&HeaderName::Contact).unwrap().contains("expires="));
    assert!(out.iter().any(|o| matches!(o, Output::Operator { operator, kind: OperatorEventKind::Login, .. } if operator == "op-budi")));
    // Wrong password and unknown user: the same status, each with a fresh challenge.
    let c = responses(&h.send(&register("z9hG4bKreg3", 3, None))).pop().unwrap();
    let wrong = responses(&h.send(&register("z9hG4bKreg4", 4, Some(&digest_answer(&c, "op-budi", "guess", "sip:gw"))))).pop().unwrap();
    let c = responses(&h.send(&register("z9hG4bKreg5", 5, None))).pop().unwrap();
    let unknown = responses(&h.send(&register("z9hG4bKreg6", 6, Some(&digest_answer(&c, "nobody", "guess", "sip:gw"))).replace("op-budi@", "nobody@"))).pop().unwrap();
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.reason, unknown.reason);
    assert!(wrong.head.get(&HeaderName::WwwAuthenticate).is_some() && unknown.head.get(&HeaderName::WwwAuthenticate).is_some());
}

#[test]
fn a_routed_call_waits_in_its_queue_hears_hold_after_the_announcement_and_stay_on_line_every_30s() {
    let mut h = Harness::new();
    let (id, out) = ivr_call(&mut h, "q-wait", "sip:118@gw"); // direct number: medical
    let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    h.send(&in_dialog("ACK", "q-wait", "z9hG4bKqa", &tag, 1, ""));
    let ev = h.log.iter().filter_map(|(_, o)| match o {
        Output::Event(e) => Some(e.kind.clone()),
        _ => None,
    }).collect::<Vec<_>>();
    assert!(ev.iter().any(|e| matches!(e, CallEventKind::Queued { queue, position: 1 } if queue == "medical")), "{ev:?}");
    // A direct number routes at once, without an announcement: hold starts at once.
    let all: Vec<Output> = h.log.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(played(&all), vec!["id/hold"]);
    h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt: PromptRef { lang: Lang::new("id"), id: PromptId::new("hold") } });
    h.drain();
    // Every 30 s: "please stay on the line"; the caller is never hung up on.
    let mut stays = 0;
    for _ in 0..10 {
        let out: Vec<Output> = h.advance(Duration::from_secs(30)).into_iter().map(|(_, o)| o).collect();
        for c in media_cmds(&out) {
            if let MediaCommand::Play { prompt } = c {
                if prompt.id.as_str() == "stay_on_line" {
                    stays += 1;
                }
                h.engine.handle_media(h.now, id, MediaInput::PromptFinished { prompt });
                h.drain();
            }
        }
    }
    assert!(stays >= 9, "stay_on_line every 30 s over 5 minutes: {stays}");
    assert_eq!(h.engine.active_calls(), 1, "an emergency caller is never disconnected by the queue");
    assert!(h.engine.ops.position(id).is_some());
}


// ----- the operator leg (B2BUA) ----------------------------------------------------------

/// Two operators serving medical, passwords "pw-a" and "pw-b", MD5 offered first.
fn two_medical_operators() -> Config {
    let (a_md5, _) = crate::config::operator_hash("op-a", "cc112", "pw-a");
    let (b_md5, _) = crate::config::operator_hash("op-b", "cc112", "pw-b");
    let text = format!(
        "[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n[acd]\nring_timeout = \"15s\"\nwrap_up = \"10s\"\n\
[[operators]]\nid = \"op-a\"\nname = \"A\"\ndepartments = [\"medical\"]\nha1_md5 = \"{a_md5}\"\n\
[[operators]]\nid = \"op-b\"\nname = \"B\"\ndepartments = [\"medical\"]\nha1_md5 = \"{b_md5}\"\n"
    );
    Config::from_toml(&text, "two operators").unwrap()
}

impl Harness {
    fn send_from(&mut self, remote: &str, msg: &str) -> Vec<Output> {
        let peer = Peer { remote: remote.parse().unwrap(), ..self.peer };
        self.engine.handle_sip(self.now, peer, msg.as_bytes());
        self.drain()
    }

    /// Register `user` (password `pw`) from `remote` through the Digest exchange.
    fn register_op(&mut self, user: &str, pw: &str, remote: &str) {
        let reg = |branch: &str, cseq: u32, auth: Option<&str>| {
            format!(
                "REGISTER sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP {remote};branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@gw>;tag=r{user}\r\nTo: <sip:{user}@gw>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{remote}>\r\nExpires: 3600\r\n{}Content-Length: 0\r\n\r\n",
                auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default()
            )
        };
        let c = responses(&self.send_from(remote, &reg(&format!("z9hG4bKr1{user}"), 1, None))).pop().unwrap();
        let auth = digest_answer(&c, user, pw, "sip:gw");
        let ok = responses(&self.send_from(remote, &reg(&format!("z9hG4bKr2{user}"), 2, Some(&auth)))).pop().unwrap();
        assert_eq!(ok.status, 200, "{user} registers");
    }
}

/// INVITEs the gateway sent to operators, with the address they went to.
fn operator_invites(out: &[Output]) -> Vec<(SocketAddr, Request)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { peer, bytes } => match parse(bytes) {
                Ok(Message::Request(r)) if r.method == Method::Invite => Some((peer.remote, r)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn sent_requests(out: &[Output], method: Method) -> Vec<(SocketAddr, Request)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { peer, bytes } => match parse(bytes) {
                Ok(Message::Request(r)) if r.method == method => Some((peer.remote, r)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The operator phone's answer to our INVITE.
fn op_response(inv: &Request, status: u16, tag: &str, sdp: bool) -> String {
    let mut o = Outgoing::response(inv, status, reason_phrase(status), Some(tag)).header("Contact", "<sip:op@192.0.2.101:5060>");
    if sdp {
        o = o.body("application/sdp", Bytes::from_static(b"v=0\r\no=op 1 1 IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"));
    }
    String::from_utf8(o.to_bytes().to_vec()).unwrap()
}

/// op-a's BYE (its tag `ta`) in the dialog our INVITE `inv_a` opened.
fn op_a_bye(inv_a: &Request) -> String {
    format!(
        "BYE sip:cc112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bKopbye\r\nMax-Forwards: 70\r\nFrom: <sip:op-a@gw>;tag=ta\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        inv_a.head.get(&HeaderName::From).unwrap(),
        inv_a.head.call_id
    )
}

/// An answered, ACKed call to 118 (medical) with two operators registered.
fn medical_call_with_two_operators() -> (Harness, CallId, String, Vec<Output>) {
    let mut h = Harness::with_config(two_medical_operators());
    h.register_op("op-a", "pw-a", "192.0.2.101:5060");
    h.advance(Duration::from_secs(1));
    h.register_op("op-b", "pw-b", "192.0.2.102:5060");
    let (id, out) = ivr_call(&mut h, "b2b", "sip:118@gw");
    let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    h.send(&in_dialog("ACK", "b2b", "z9hG4bKb2ba", &tag, 1, ""));
    let all: Vec<Output> = h.log.iter().map(|(_, o)| o.clone()).collect();
    (h, id, tag, all)
}

#[test]
fn an_offer_after_a_quiet_spell_rings_once_with_live_timers() {
    // A quiet night: operators registered, then 40 s without any queue activity. The
    // offer's INVITE transaction must start at the time of the offer, not at the last
    // queue event (32 s of Timer B would already be gone, and every operator paused).
    let mut h = Harness::with_config(two_medical_operators());
    h.register_op("op-a", "pw-a", "192.0.2.101:5060");
    h.register_op("op-b", "pw-b", "192.0.2.102:5060");
    h.advance(Duration::from_secs(40));
    let mark = h.log.len();
    let (_, out) = ivr_call(&mut h, "quiet", "sip:118@gw");
    let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
    h.send(&in_dialog("ACK", "quiet", "z9hG4bKqa", &tag, 1, ""));
    let since: Vec<Output> = h.log[mark..].iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(operator_invites(&since).len(), 1, "one INVITE, not a burst of retransmissions");
    let later: Vec<Output> = h.advance(Duration::from_millis(600)).into_iter().map(|(_, o)| o).collect();
    assert_eq!(operator_invites(&later).len(), 1, "Timer A: one retransmission at 500 ms");
    let all: Vec<Output> = h.log[mark..].iter().map(|(_, o)| o.clone()).collect();
    assert!(!events(&all).iter().any(|e| matches!(e, CallEventKind::OperatorNoAnswer { .. })), "{:?}", events(&all));
}

#[test]
fn the_longest_idle_operator_rings_first_showing_caller_and_department() {
    let (_, _, _, out) = medical_call_with_two_operators();
    let invites = operator_invites(&out);
    let (to, inv) = invites.iter().find(|(a, _)| a.port() == 5060 && a.ip().to_string() == "192.0.2.101").expect("op-a (longest idle) is rung");
    assert_eq!(to.to_string(), "192.0.2.101:5060");
    assert_eq!(inv.uri.as_str(), "sip:op-a@192.0.2.101:5060");
    assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Department".into())), Some("medical"));
    assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Caller".into())), Some("081234567"));
    // The phone is told which call record this is (calls.id).
    let record = events(&out).iter().find_map(|e| match e {
        CallEventKind::Started { record, .. } => Some(record.clone()),
        _ => None,
    });
    assert_eq!(inv.head.get(&HeaderName::Other("X-CC112-Call".into())), record.as_deref());
    assert_eq!(record.map(|r| r.len()), Some(26), "a ULID");
    assert!(inv.head.from.display.as_deref().unwrap().contains("081234567"));
    assert!(std::str::from_utf8(&inv.body).unwrap().contains("m=audio"));
    assert!(!invites.iter().any(|(a, _)| a.ip().to_string() == "192.0.2.102"), "one operator at a time");
}

#[test]
fn ring_timeout_cancels_and_rings_the_next_operator_who_answers_and_is_bridged() {
    let (mut h, id, _, out) = medical_call_with_two_operators();
    let (_, inv_a) = operator_invites(&out).into_iter().next().unwrap();
    let ev = events(&h.send_from("192.0.2.101:5060", &op_response(&inv_a, 180, "ta", false)));
    assert!(ev.iter().any(|e| matches!(e, CallEventKind::OperatorRinging { operator } if operator == "op-a")), "{ev:?}");
    // 15 s without an answer: CANCEL to op-a, INVITE to op-b.
    let timed: Vec<Output> = h.advance(Duration::from_secs(15)).into_iter().map(|(_, o)| o).collect();
    let cancels = sent_requests(&timed, Method::Cancel);
    assert_eq!(cancels.len(), 1, "CANCEL to the operator who did not answer");
    assert_eq!(cancels[0].1.head.call_id, inv_a.head.call_id);
    let (to_b, inv_b) = operator_invites(&timed).into_iter().next().expect("the next operator rings");
    assert_eq!(to_b.to_string(), "192.0.2.102:5060");
    // op-a's phone finishes the CANCEL dance; op-b answers.
    h.send_from("192.0.2.101:5060", &op_response(&inv_a, 487, "ta", false));
    let out = h.send_from("192.0.2.102:5060", &op_response(&inv_b, 200, "tb", true));
    assert_eq!(sent_requests(&out, Method::Ack).len(), 1, "the 200 is ACKed");
    assert!(media_cmds(&out).iter().any(|c| matches!(c, MediaCommand::Bridge { codec: Codec::Pcma, remote: Some(r), .. } if r.to_string() == "192.0.2.101:30000")), "{:?}", media_cmds(&out));
    assert!(events(&out).iter().any(|e| matches!(e, CallEventKind::OperatorAnswered { operator } if operator == "op-b")));
    assert!(h.engine.call(id).unwrap().operator.is_some());
}

#[test]
fn a_rejecting_operator_is_skipped_for_the_next() {
    let (mut h, _, _, out) = medical_call_with_two_operators();
    let (_, inv_a) = operator_invites(&out).into_iter().next().unwrap();
    let out = h.send_from("192.0.2.101:5060", &op_response(&inv_a, 486, "ta", false));
    assert_eq!(sent_requests(&out, Method::Ack).len(), 1, "the 486 is ACKed by the transaction");
    assert!(events(&out).iter().any(|e| matches!(e, CallEventKind::OperatorNoAnswer { operator } if operator == "op-a")));
    let (to_b, _) = operator_invites(&out).into_iter().next().expect("the next operator rings at once");
    assert_eq!(to_b.to_string(), "192.0.2.102:5060");
}

#[test]
fn the_caller_hanging_up_while_the_operator_rings_cancels_the_ring_and_frees_the_operator() {
    let (mut h, _, tag, out) = medical_call_with_two_operators();
    let (_, inv_a) = operator_invites(&out).into_iter().next().unwrap();
    h.send_from("192.0.2.101:5060", &op_response(&inv_a, 180, "ta", false));
    let out = h.send(&in_dialog("BYE", "b2b", "z9hG4bKb2bbye", &tag, 2, ""));
    let cancels = sent_requests(&out, Method::Cancel);
    assert_eq!(cancels.len(), 1, "CANCEL sent to the ringing phone");
    assert_eq!(cancels[0].0.to_string(), "192.0.2.101:5060");
    let st = h.engine.ops.operator_status(&crate::config::OperatorId::new("op-a")).unwrap();
    assert_eq!(st.as_str(), "available", "the operator is free again");
}

#[test]
fn the_operator_hanging_up_ends_the_caller_leg_and_the_caller_hanging_up_ends_the_operator_leg() {
    for operator_hangs_up in [true, false] {
        let (mut h, id, tag, out) = medical_call_with_two_operators();
        let (_, inv_a) = operator_invites(&out).into_iter().next().unwrap();
        h.send_from("192.0.2.101:5060", &op_response(&inv_a, 200, "ta", true));
        if operator_hangs_up {
            let out = h.send_from("192.0.2.101:5060", &op_a_bye(&inv_a));
            assert_eq!(statuses(&out), vec![200]);
            let byes = sent_requests(&out, Method::Bye);
            assert_eq!(byes.len(), 1, "BYE to the caller");
            assert_eq!(byes[0].1.head.call_id, "b2b");
            assert!(events(&out).contains(&CallEventKind::Ended { reason: EndReason::OperatorHangup }));
        } else {
            let out = h.send(&in_dialog("BYE", "b2b", "z9hG4bKb2bbye2", &tag, 2, ""));
            let byes = sent_requests(&out, Method::Bye);
            assert_eq!(byes.len(), 1, "BYE to the operator");
            assert_eq!(byes[0].1.head.call_id, inv_a.head.call_id);
            assert_eq!(byes[0].1.head.to.tag(), Some("ta"));
        }
        assert!(h.engine.call(id).is_none());
        let st = h.engine.ops.operator_status(&crate::config::OperatorId::new("op-a")).unwrap();
        assert_eq!(st.as_str(), "wrap_up", "after a call the operator wraps up");
    }
}

#[test]
fn the_operator_puts_the_caller_on_hold_and_back_with_re_invites() {
    let (mut h, id, _, out) = medical_call_with_two_operators();
    let (_, inv_a) = operator_invites(&out).into_iter().next().unwrap();
    h.send_from("192.0.2.101:5060", &op_response(&inv_a, 200, "ta", true));
    let reinvite = |branch: &str, cseq: u32, extra: &str| {
        let sdp = format!("v=0\r\no=op 1 {cseq} IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n{extra}");
        format!(
            "INVITE sip:cc112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:op-a@gw>;tag=ta\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:op@192.0.2.101:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            inv_a.head.get(&HeaderName::From).unwrap(),
            inv_a.head.call_id,
            sdp.len()
        )
    };
    // Hold: the operator sends sendonly; we answer recvonly on the same port.
    let out = h.send_from("192.0.2.101:5060", &reinvite("z9hG4bKhold", 2, "a=sendonly\r\n"));
    let ok = responses(&out).into_iter().find(|r| r.status == 200).expect("200 to the hold re-INVITE");
    let body = std::str::from_utf8(&ok.body).unwrap().to_string();
    assert!(body.contains("a=recvonly"), "{body}");
    let port = h.engine.call(id).unwrap().local_media.as_ref().unwrap().port;
    assert!(body.contains(&format!("m=audio {port} ")), "same port: {body}");
    assert!(media_cmds(&out).iter().any(|c| matches!(c, MediaCommand::Bridge { .. })), "the bridge follows the operator's media");
    // The operator's ACK stops our 200's retransmissions.
    let ack = format!(
        "ACK sip:cc112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bKholdack\r\nMax-Forwards: 70\r\nFrom: <sip:op-a@gw>;tag=ta\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
        inv_a.head.get(&HeaderName::From).unwrap(),
        inv_a.head.call_id
    );
    h.send_from("192.0.2.101:5060", &ack);
    assert!(sends(&h.advance(Duration::from_secs(5))).is_empty(), "no retransmission after the ACK");
    // Unhold: sendrecv again.
    let out = h.send_from("192.0.2.101:5060", &reinvite("z9hG4bKunhold", 3, ""));
    let ok = responses(&out).into_iter().find(|r| r.status == 200).expect("200 to the unhold re-INVITE");
    assert!(std::str::from_utf8(&ok.body).unwrap().contains("a=sendrecv"));
    assert!(h.engine.call(id).unwrap().operator.is_some(), "still bridged");
}

mod drain;
mod silent;

/// `[routing.nuisance]`: a number with three silent calls today joins the queue in the
/// low class when the rule is on, and in its own class when it is off (the default).
#[test]
fn with_the_nuisance_rule_on_a_repeat_silent_caller_waits_in_the_low_class() {
    for (enabled, want) in [(false, "normal"), (true, "low")] {
        let mut config = Config::embedded_default().unwrap();
        let mut plan = (*config.routing).clone();
        plan.nuisance.enabled = enabled;
        config.routing = Arc::new(plan);
        let mut h = Harness::with_config(config);
        let silent = callers::PastCall { started: crate::clock::UtcMs(0), outcome: crate::store::record::Outcome::Answered, department: Some("general".into()), silent: true };
        h.engine.load_callers(h.now, (0..3).map(|_| ("081234567".to_string(), silent.clone())).collect(), Vec::new());
        let out = h.send(&invite("nuisance", "z9hG4bKn1", "sip:118@gw.example", SDP));
        let tag = responses(&out).pop().unwrap().head.to.tag().unwrap().to_string();
        h.send(&in_dialog("ACK", "nuisance", "z9hG4bKn2", &tag, 1, ""));
        h.advance(Duration::from_secs(5));
        let snap = h.engine.snapshot(h.now);
        let class = snap.acd.queues.iter().flat_map(|q| q.callers.iter()).next().map(|c| c.class.as_str());
        assert_eq!(class, Some(want), "rule enabled: {enabled}");
        // Flagged for the record, the report's classes and the operator's phone.
        let all: Vec<Output> = h.log.iter().map(|(_, o)| o.clone()).collect();
        assert_eq!(events(&all).contains(&CallEventKind::Nuisance), enabled);
        let call = h.engine.calls.iter().next().unwrap();
        assert_eq!(operator_side::flags(call).as_deref(), enabled.then_some("nuisance"));
        assert_eq!(crate::store::classes::class_of(enabled.then_some("nuisance")), want);
    }
}
