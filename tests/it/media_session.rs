//! One call leg's media session on a virtual clock: prompts paced out to the SDP address
//! only, every digit read once from RFC 4733 or in-band tones (never both), RTP bleed
//! floods and latching, the silence event, hostile datagrams, and the shipped prompts.

use crate::harness::corpora;
use std::collections::BTreeMap;
use std::f32::consts::PI;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cc112::config::{Config, Lang, PromptId};
use cc112::media::g711;
use cc112::media::prompts::{PromptError, PromptSource, PromptStore};
use cc112::media::rtp::{RtpHeader, RtpPacket};
use cc112::media::session::{
    DigitSource, MediaCounters, MediaEvent, MediaSession, SessionConfig, DEFAULT_RTP_TIMEOUT,
};
use cc112::media::Codec;
use proptest::prelude::*;

type Session = MediaSession<Duration, &'static str>;
type Event = MediaEvent<Duration, &'static str>;

const OUR_SSRC: u32 = 0x5EED_0001;
const CALLER_SSRC: u32 = 0x0CA1_1E55;
const TE_PT: u8 = 101;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn caller() -> SocketAddr {
    "192.0.2.10:40000".parse().unwrap()
}

fn attacker() -> SocketAddr {
    "198.51.100.66:40000".parse().unwrap()
}

fn config(codec: Codec, te: Option<u8>, remote: Option<SocketAddr>) -> SessionConfig {
    SessionConfig {
        telephone_event_rate: 8000,
        codec,
        payload_type: codec.payload_type(),
        telephone_event: te,
        remote,
        ssrc: OUR_SSRC,
        initial_seq: 65_530, // wraps during the tests
        initial_timestamp: u32::MAX - 500,
        rtp_timeout: Some(DEFAULT_RTP_TIMEOUT),
    }
}


/// Everything a session put out, with the time it was drained.
#[derive(Debug, Default)]
struct Out {
    sent: Vec<(Duration, SocketAddr, Bytes)>,
    events: Vec<(Duration, Event)>,
}

impl Out {
    fn drain(&mut self, s: &mut Session, now: Duration) {
        while let Some((to, d)) = s.poll_transmit() {
            self.sent.push((now, to, d));
        }
        while let Some(e) = s.poll_event() {
            self.events.push((now, e));
        }
    }

    fn digits(&self) -> Vec<(char, DigitSource)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                MediaEvent::Digit { key, source, .. } => Some((*key, *source)),
                _ => None,
            })
            .collect()
    }

    fn keys(&self) -> String {
        self.digits().iter().map(|(k, _)| *k).collect()
    }
}

/// Runs every timer of the session up to `until`, the way the media task does.
fn run_until(s: &mut Session, out: &mut Out, until: Duration) {
    while let Some(t) = s.poll_timeout() {
        if t > until {
            break;
        }
        s.handle_timeout(t);
        out.drain(s, t);
    }
}

/// An input at `now`: timers due before it first, then the datagram.
fn receive(s: &mut Session, out: &mut Out, now: Duration, from: SocketAddr, datagram: &[u8]) {
    run_until(s, out, now);
    s.handle_rtp(now, from, datagram);
    out.drain(s, now);
}

fn rtp(pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: CALLER_SSRC,
    }
    .write(payload, &mut out);
    out
}

fn prompt(frames: usize, fill: u8) -> Arc<[u8]> {
    vec![fill; frames * 160].into()
}

// ---- sending -----------------------------------------------------------------------

#[test]
fn prompts_leave_on_the_20ms_grid_as_one_continuous_stream() {
    let start = ms(500);
    let mut s = Session::new(start, config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    s.play(start, prompt(10, 0x11), "greeting");
    out.drain(&mut s, start);
    // The menu is asked for when the greeting is reported finished, as the IVR does.
    let mut menu_at = None;
    while let Some(t) = s.poll_timeout() {
        if t > ms(2_000) {
            break;
        }
        s.handle_timeout(t);
        out.drain(&mut s, t);
        if menu_at.is_none()
            && out
                .events
                .iter()
                .any(|(_, e)| *e == MediaEvent::PromptFinished("greeting"))
        {
            menu_at = Some(t);
            s.play(t, prompt(15, 0x22), "menu");
            out.drain(&mut s, t);
        }
    }
    assert_eq!(out.sent.len(), 25);
    for (i, (at, to, d)) in out.sent.iter().enumerate() {
        let n = i as u32;
        assert_eq!(*to, caller(), "only to the SDP address");
        assert_eq!(*at, start + ms(20) * n, "packet {i} off the grid");
        let p = RtpPacket::parse(d).unwrap();
        assert_eq!(p.header.sequence, 65_530u16.wrapping_add(n as u16));
        assert_eq!(p.header.timestamp, (u32::MAX - 500).wrapping_add(160 * n));
        assert_eq!(p.header.ssrc, OUR_SSRC);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(
            p.header.marker,
            i == 0,
            "one talkspurt: marker only on the first"
        );
        assert_eq!(p.payload, [if i < 10 { 0x11 } else { 0x22 }; 160]);
    }
    let prompt_events: Vec<&Event> = out
        .events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| !matches!(e, MediaEvent::RtpTimeout { .. }))
        .collect();
    assert_eq!(
        prompt_events,
        [
            &MediaEvent::PromptFinished("greeting"),
            &MediaEvent::PromptFinished("menu")
        ]
    );
    assert_eq!(s.counters().sent, 25);
    // Nothing is sent between or after prompts.
    assert!(!s.is_playing());
}

#[test]
fn stop_and_replace_report_the_engines_ids() {
    let mut s = Session::new(ms(0), config(Codec::Pcma, None, Some(caller())));
    let mut out = Out::default();
    s.play(ms(0), prompt(50, 0xD5), "menu");
    run_until(&mut s, &mut out, ms(100));
    s.play(ms(100), prompt(2, 0xD5), "invalid");
    out.drain(&mut s, ms(100));
    run_until(&mut s, &mut out, ms(1_000));
    s.play(ms(1_000), prompt(50, 0xD5), "menu again");
    s.stop_prompt();
    out.drain(&mut s, ms(1_000));
    s.stop_prompt(); // nothing playing: nothing reported
    out.drain(&mut s, ms(1_000));
    s.play(ms(1_000), Arc::from(Vec::new()), "empty");
    out.drain(&mut s, ms(1_000));
    let events: Vec<&Event> = out.events.iter().map(|(_, e)| e).collect();
    assert_eq!(
        events,
        [
            &MediaEvent::PromptStopped("menu"),
            &MediaEvent::PromptFinished("invalid"),
            &MediaEvent::PromptStopped("menu again"),
            &MediaEvent::PromptFinished("empty"),
        ]
    );
    // 6 menu frames (0..=100 ms), 2 invalid, 1 of "menu again" before the stop.
    assert_eq!(out.sent.len(), 9);
}

// ---- RFC 4733 ----------------------------------------------------------------------

/// The SIPp recordings from the corpus TSV: file name → datagrams in capture order.
fn sipp_recordings() -> BTreeMap<String, Vec<Vec<u8>>> {
    let path = corpora().join("rtp/dtmf_rfc4733_packets.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set CC112_CORPORA)", path.display()));
    let mut lines = text.lines();
    let columns: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let (pcap, hex_col) = (col("pcap"), col("rtp_packet_hex"));
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        out.entry(f[pcap].to_string())
            .or_default()
            .push(hex::decode(f[hex_col]).unwrap());
    }
    out
}

fn expected_key(file: &str) -> char {
    let name = file
        .trim_start_matches("sipp_dtmf_2833_")
        .trim_end_matches(".pcap");
    match name {
        "star" => '*',
        "pound" => '#',
        d => d.chars().next().unwrap(),
    }
}

#[test]
fn every_sipp_recording_gives_its_digit_exactly_once() {
    let recordings = sipp_recordings();
    assert_eq!(recordings.len(), 12, "{:?}", recordings.keys());
    for (file, packets) in &recordings {
        let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
        let mut out = Out::default();
        let mut now = ms(1_000);
        for p in packets {
            receive(&mut s, &mut out, now, caller(), p);
            now += ms(20);
        }
        run_until(&mut s, &mut out, now + ms(5_000));
        assert_eq!(
            out.digits(),
            [(expected_key(file), DigitSource::Rfc4733)],
            "{file}"
        );
        assert_eq!(s.counters().received, packets.len() as u64, "{file}");
        assert!(
            !s.inband_active(),
            "{file}: telephone-event switches in-band off"
        );
    }
}

#[test]
fn all_twelve_recordings_in_one_call_give_twelve_digits_in_order() {
    let recordings = sipp_recordings();
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    let mut now = ms(0);
    let mut expected = String::new();
    for (file, packets) in &recordings {
        expected.push(expected_key(file));
        for p in packets {
            now += ms(20);
            receive(&mut s, &mut out, now, caller(), p);
        }
        now += ms(300);
    }
    run_until(&mut s, &mut out, now + ms(1_000));
    assert_eq!(out.keys(), expected);
}

// ---- in-band -------------------------------------------------------------------------

fn freqs(key: char) -> (f32, f32) {
    const KEYS: &str = "123A456B789C*0#D";
    let i = KEYS.find(key).unwrap();
    (
        [697.0, 770.0, 852.0, 941.0][i / 4],
        [1209.0, 1336.0, 1477.0, 1633.0][i % 4],
    )
}

/// Linear audio: each key `on` ms of tones at −10 dBFS per tone, then `off` ms of
/// near-silence.
fn tones(keys: &str, on: usize, off: usize) -> Vec<i16> {
    let amp = 32767.0 * 10f32.powf(-10.0 / 20.0);
    let mut pcm = Vec::new();
    for key in keys.chars() {
        let (r, c) = freqs(key);
        for n in 0..on * 8 {
            let t = n as f32 / 8000.0;
            pcm.push((amp * ((2.0 * PI * r * t).sin() + (2.0 * PI * c * t).sin()) / 2.0) as i16);
        }
        pcm.extend(std::iter::repeat_n(3i16, off * 8));
    }
    pcm
}

/// Sends encoded audio as packets of `ptime` ms from `from`, starting at `start`;
/// returns the time after the last packet.
#[allow(clippy::too_many_arguments)]
fn send_audio(
    s: &mut Session,
    out: &mut Out,
    codec: Codec,
    from: SocketAddr,
    start: Duration,
    pcm: &[i16],
    ptime: usize,
    first_seq: u16,
) -> Duration {
    let mut encoded = Vec::new();
    g711::encode(codec, pcm, &mut encoded);
    let mut now = start;
    for (i, chunk) in encoded.chunks(ptime * 8).enumerate() {
        let d = rtp(
            codec.payload_type(),
            first_seq.wrapping_add(i as u16),
            (i * ptime * 8) as u32,
            i == 0,
            chunk,
        );
        receive(s, out, now, from, &d);
        now += ms(ptime as u64);
    }
    now
}

#[test]
fn inband_digits_are_read_when_no_telephone_event_was_negotiated() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        for ptime in [10, 20, 30] {
            let mut s = Session::new(ms(0), config(codec, None, Some(caller())));
            let mut out = Out::default();
            let pcm = tones("1590*#", 100, 100);
            let end = send_audio(&mut s, &mut out, codec, caller(), ms(0), &pcm, ptime, 7);
            run_until(&mut s, &mut out, end);
            assert_eq!(out.keys(), "1590*#", "{codec} ptime {ptime}");
            assert!(out
                .digits()
                .iter()
                .all(|(_, src)| *src == DigitSource::Inband));
            // The first digit went down at the start of the stream.
            let first_at = out.events.iter().find_map(|(_, e)| match e {
                MediaEvent::Digit { at, .. } => Some(*at),
                _ => None,
            });
            assert!(first_at.is_some_and(|at| at <= ms(40)), "{first_at:?}");
        }
    }
}

#[test]
fn a_press_sent_both_ways_is_one_digit_from_rfc4733() {
    // A sender that leaves the tones in the audio and also sends telephone-event:
    // the event's start packet arrives at key-down and silences the in-band detector.
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    let mut encoded = Vec::new();
    g711::encode(Codec::Pcmu, &tones("5", 120, 200), &mut encoded);
    for (i, frame) in encoded.chunks(160).enumerate() {
        let now = ms(20 * i as u64);
        let seq = (2 * i) as u16;
        if i < 6 {
            let duration = (i as u16 + 1) * 160;
            let ev = [5, 10, (duration >> 8) as u8, duration as u8];
            receive(
                &mut s,
                &mut out,
                now,
                caller(),
                &rtp(TE_PT, seq, 0, i == 0, &ev),
            );
        } else if i == 6 {
            for k in 0..3 {
                let ev = [5, 0x80 | 10, 0x03, 0xC0];
                receive(
                    &mut s,
                    &mut out,
                    now,
                    caller(),
                    &rtp(TE_PT, seq + k, 0, false, &ev),
                );
            }
        }
        let d = rtp(0, seq + 1, 160 * i as u32, false, frame);
        receive(&mut s, &mut out, now, caller(), &d);
    }
    run_until(&mut s, &mut out, ms(2_000));
    assert_eq!(out.digits(), [('5', DigitSource::Rfc4733)]);
}

#[test]
fn inband_still_works_when_telephone_event_was_negotiated_but_never_sent() {
    let mut s = Session::new(ms(0), config(Codec::Pcma, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    let pcm = tones("37", 100, 100);
    let end = send_audio(&mut s, &mut out, Codec::Pcma, caller(), ms(0), &pcm, 20, 0);
    run_until(&mut s, &mut out, end);
    assert_eq!(out.keys(), "37");
    assert!(s.inband_active());
}

#[test]
fn after_the_ivr_inband_tones_are_no_longer_read() {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    s.stop_inband();
    assert!(!s.inband_active());
    let pcm = tones("37", 100, 100);
    let end = send_audio(&mut s, &mut out, Codec::Pcmu, caller(), ms(0), &pcm, 20, 0);
    run_until(&mut s, &mut out, end);
    assert_eq!(out.keys(), "", "the queue and the bridge take no digits from the audio");
}

// ---- RTP bleed ------------------------------------------------------------------------

/// A call with a prompt and a caller who presses `4` (RFC 4733). With `flood`, another
/// host sprays audio with the tones of `9`, telephone-events for `9` and garbage at the
/// port all along, with the caller's SSRC.
fn call_with(flood: bool) -> (Out, MediaCounters) {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    s.play(ms(0), prompt(100, 0x7E), "menu");
    out.drain(&mut s, ms(0));
    let mut flood_audio = Vec::new();
    g711::encode(Codec::Pcmu, &tones("9", 2_000, 0), &mut flood_audio);
    let mut seq = 0u16;
    for step in 0..150u64 {
        let now = ms(20 * step) + ms(3);
        // The caller: near-silent audio every 20 ms, a press of 4 from 1 s to 1.2 s.
        receive(
            &mut s,
            &mut out,
            now,
            caller(),
            &rtp(0, seq, 160 * step as u32, false, &[0xFF; 160]),
        );
        seq = seq.wrapping_add(1);
        if (50..60).contains(&step) {
            let end = step == 59;
            let ev = [4, if end { 0x8A } else { 0x0A }, 0x01, 0x00];
            receive(
                &mut s,
                &mut out,
                now,
                caller(),
                &rtp(TE_PT, seq, 8_000, step == 50, &ev),
            );
            seq = seq.wrapping_add(1);
        }
        if flood {
            for k in 0..5u16 {
                let at = now + ms(u64::from(k));
                let frame = flood_audio
                    .chunks(160)
                    .nth(step as usize % 100)
                    .unwrap_or(&[0u8; 160][..]);
                // Spoofed SSRC and sequence that look like the caller's stream.
                receive(
                    &mut s,
                    &mut out,
                    at,
                    attacker(),
                    &rtp(0, seq.wrapping_add(k), 0, false, frame),
                );
                let ev = [9, 0x8A, 0x03, 0x20];
                receive(
                    &mut s,
                    &mut out,
                    at,
                    attacker(),
                    &rtp(TE_PT, k, step as u32, false, &ev),
                );
                receive(&mut s, &mut out, at, attacker(), &[0x80, 0x00, 0x01]);
            }
        }
    }
    run_until(&mut s, &mut out, ms(5_000));
    (out, s.counters())
}

#[test]
fn a_flood_from_another_address_changes_nothing_sent_and_takes_no_digit() {
    let (quiet, quiet_counters) = call_with(false);
    let (flooded, counters) = call_with(true);
    assert_eq!(quiet.keys(), "4");
    assert_eq!(flooded.keys(), "4");
    assert_eq!(
        flooded.sent, quiet.sent,
        "the caller hears exactly the same"
    );
    assert_eq!(flooded.events, quiet.events);
    assert_eq!(counters.dropped_foreign_source, 150 * 5 * 3);
    assert_eq!(counters.received, quiet_counters.received);
    assert_eq!(counters.malformed, 0, "foreign garbage is dropped unread");
    assert!(flooded.sent.iter().all(|(_, to, _)| *to == caller()));
}

#[test]
fn without_an_sdp_address_the_first_source_is_latched_once() {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), None));
    let mut out = Out::default();
    s.play(ms(0), prompt(100, 0x55), "greeting");
    run_until(&mut s, &mut out, ms(90));
    assert!(out.sent.is_empty(), "nowhere to send yet");
    assert_eq!(s.counters().unsent_no_remote, 5);
    // Garbage, RTCP and a foreign payload type cannot latch.
    receive(&mut s, &mut out, ms(95), attacker(), &[0x80, 0x00]);
    receive(
        &mut s,
        &mut out,
        ms(96),
        attacker(),
        &[0x81, 201, 0, 1, 0, 0, 0, 1],
    );
    receive(
        &mut s,
        &mut out,
        ms(97),
        attacker(),
        &rtp(96, 1, 1, false, &[0; 10]),
    );
    assert_eq!(s.remote(), None);
    // The caller's first packet latches.
    receive(
        &mut s,
        &mut out,
        ms(100),
        caller(),
        &rtp(0, 1, 0, true, &[0xFF; 160]),
    );
    assert_eq!(s.remote(), Some(caller()));
    // Later sources never take over, however many packets they send.
    for i in 0..50u16 {
        let ev = [1, 0x8A, 0x03, 0x20];
        receive(
            &mut s,
            &mut out,
            ms(110 + u64::from(i)),
            attacker(),
            &rtp(TE_PT, i, u32::from(i), false, &ev),
        );
    }
    // An SDP without address (hold, c=0.0.0.0) does not re-open the latch either.
    s.set_remote(None);
    receive(
        &mut s,
        &mut out,
        ms(200),
        attacker(),
        &rtp(0, 1, 0, true, &[0xFF; 160]),
    );
    assert_eq!(s.remote(), Some(caller()));
    run_until(&mut s, &mut out, ms(400));
    assert!(out.keys().is_empty());
    assert!(!out.sent.is_empty());
    assert!(out
        .sent
        .iter()
        .all(|(at, to, _)| *to == caller() && *at >= ms(100)));
    assert_eq!(s.counters().dropped_foreign_source, 3 + 50 + 1);
    // A new SDP with an address (a re-INVITE of the dialog) is followed.
    let other: SocketAddr = "192.0.2.10:40002".parse().unwrap();
    s.set_remote(Some(other));
    run_until(&mut s, &mut out, ms(460));
    assert_eq!(out.sent.last().map(|(_, to, _)| *to), Some(other));
}

// ---- silence ---------------------------------------------------------------------------

#[test]
fn rtp_timeout_is_reported_once_per_silent_stretch() {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, None, Some(caller())));
    let mut out = Out::default();
    assert_eq!(s.poll_timeout(), Some(DEFAULT_RTP_TIMEOUT));
    // Packets from elsewhere are no sign of life.
    receive(
        &mut s,
        &mut out,
        ms(10_000),
        attacker(),
        &rtp(0, 1, 0, false, &[0xFF; 160]),
    );
    run_until(&mut s, &mut out, ms(29_999));
    assert!(out.events.is_empty());
    run_until(&mut s, &mut out, ms(120_000));
    assert_eq!(
        out.events,
        [(
            ms(30_000),
            MediaEvent::RtpTimeout {
                silent_since: ms(0)
            }
        )]
    );
    assert_eq!(
        s.poll_timeout(),
        None,
        "nothing left to wait for: not hung up"
    );
    // The caller is heard again, then falls silent again: a second report.
    receive(
        &mut s,
        &mut out,
        ms(130_000),
        caller(),
        &rtp(0, 2, 160, false, &[0xFF; 160]),
    );
    run_until(&mut s, &mut out, ms(200_000));
    assert_eq!(out.events.len(), 2);
    assert_eq!(
        out.events[1],
        (
            ms(160_000),
            MediaEvent::RtpTimeout {
                silent_since: ms(130_000)
            }
        )
    );
    // Configurable, and off.
    let mut cfg = config(Codec::Pcmu, None, Some(caller()));
    cfg.rtp_timeout = Some(Duration::from_secs(5));
    let mut s = Session::new(ms(0), cfg);
    let mut out = Out::default();
    run_until(&mut s, &mut out, ms(6_000));
    assert_eq!(out.events.len(), 1);
    s.set_rtp_timeout(None);
    assert_eq!(s.poll_timeout(), None);
}

// ---- hostile input ----------------------------------------------------------------------

#[test]
fn malformed_packets_from_the_caller_are_counted() {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    let cases: [&[u8]; 6] = [
        &[],
        &[0x80],
        &[0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], // version 1
        &[0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], // 15 CSRCs past the end
        &[0x80, 200, 0, 9, 0, 0, 0, 1],           // RTCP SR lying about its length
        &[0x80, TE_PT, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5], // telephone-event of 1 byte
    ];
    for (i, d) in cases.iter().enumerate() {
        receive(&mut s, &mut out, ms(i as u64), caller(), d);
    }
    receive(
        &mut s,
        &mut out,
        ms(10),
        caller(),
        &rtp(13, 1, 0, false, &[0x40]),
    );
    let c = s.counters();
    assert_eq!(c.malformed, 6, "{c:?}");
    assert_eq!(c.unexpected_payload_type, 1);
    assert!(out.keys().is_empty());
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic_and_are_all_accounted(
        datagrams in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)),
            0..60,
        ),
        te in proptest::option::of(96u8..128),
        latch in any::<bool>(),
    ) {
        let remote = (!latch).then(caller);
        let mut s = Session::new(ms(0), config(Codec::Pcma, te, remote));
        let mut out = Out::default();
        s.play(ms(0), prompt(3, 0xD5), "p");
        for (i, (from_caller, d)) in datagrams.iter().enumerate() {
            let from = if *from_caller { caller() } else { attacker() };
            receive(&mut s, &mut out, ms(7 * i as u64), from, d);
        }
        run_until(&mut s, &mut out, ms(60_000));
        let c = s.counters();
        // Every datagram lands in exactly one counter (a valid telephone-event whose
        // payload is too short counts as received and malformed).
        let short_events = datagrams.iter().filter(|(_, d)| {
            RtpPacket::parse(d).is_ok_and(|p| Some(p.header.payload_type) == te
                && p.payload.len() < 4 && !(192..=223).contains(&d[1]))
        }).count() as u64;
        prop_assert!(
            c.received + c.dropped_foreign_source + c.malformed + c.unexpected_payload_type + c.rtcp
                <= datagrams.len() as u64 + short_events
        );
        prop_assert!(
            c.received + c.dropped_foreign_source + c.malformed + c.unexpected_payload_type + c.rtcp
                >= datagrams.len() as u64
        );
        prop_assert_eq!(c.sent + c.unsent_no_remote, 3);
        if let Some(to) = s.remote() {
            prop_assert!(out.sent.iter().all(|(_, t, _)| *t == to));
        }
    }
}

// ---- the prompt store and the shipped prompts --------------------------------------------

fn shipped_prompts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/prompts")
}

fn shipped_store() -> PromptStore {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/cc112.toml"),
    )
    .unwrap();
    let config = Config::from_toml(&text, "cc112.toml").unwrap();
    let (store, errors) = PromptStore::load_plan(&config.routing, &shipped_prompts_dir());
    assert!(errors.is_empty(), "{errors:#?}");
    store
}

#[test]
fn every_shipped_prompt_loads_in_both_laws_and_fits_the_silent_path() {
    let store = shipped_store();
    let ids = [
        "connecting",
        "greeting",
        "hold",
        "invalid_choice",
        "menu_main",
        "no_choice",
        "silent_prompt",
        "stay_on_line",
    ];
    assert_eq!(store.len(), 2 * ids.len());
    let mut total_bytes = 0;
    for lang in ["id", "en"] {
        for id in ids {
            let p = store
                .prompt(&Lang::new(lang), &PromptId::new(id))
                .unwrap_or_else(|| panic!("{lang}/{id} missing"));
            let d = p.duration();
            assert!(d > ms(500), "{lang}/{id}: {d:?}");
            let limit = match id {
                "greeting" => ms(3_000),
                "menu_main" => ms(7_000),
                _ => ms(6_000),
            };
            assert!(d <= limit, "{lang}/{id} is {d:?}, over {limit:?}");
            assert_eq!(p.frames(Codec::Pcmu).len(), p.frames(Codec::Pcma).len());
            assert_eq!(p.frames(Codec::Pcmu).len() % 160, 0);
            total_bytes +=
                std::fs::metadata(shipped_prompts_dir().join(lang).join(format!("{id}.wav")))
                    .unwrap()
                    .len();
        }
        // The silent path: greeting, menu, one repeat, inside the 20 s promise.
        let d = |id: &str| {
            store
                .prompt(&Lang::new(lang), &PromptId::new(id))
                .unwrap()
                .duration()
        };
        assert!(
            d("greeting") + d("menu_main") * 2 <= Duration::from_secs(17),
            "{lang}"
        );
    }
    assert!(total_bytes < 1_000_000, "{total_bytes} bytes of WAV");
}

#[test]
fn no_shipped_prompt_talks_off_a_digit() {
    // The prompts played back into an in-band detector, as an echoing phone would.
    let store = shipped_store();
    for (lang, id, p) in store.iter() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut s = Session::new(ms(0), config(codec, None, Some(caller())));
            let mut out = Out::default();
            let frames = p.frames(codec);
            for (i, f) in frames.chunks(160).enumerate() {
                let d = rtp(codec.payload_type(), i as u16, 160 * i as u32, i == 0, f);
                receive(&mut s, &mut out, ms(20 * i as u64), caller(), &d);
            }
            // Silence after it, so a tone in the last frames would be released.
            for i in 0..5 {
                let n = frames.len() / 160 + i;
                let d = rtp(
                    codec.payload_type(),
                    n as u16,
                    160 * n as u32,
                    false,
                    &[g711::silence(codec); 160],
                );
                receive(&mut s, &mut out, ms(20 * n as u64), caller(), &d);
            }
            assert_eq!(out.keys(), "", "{lang}/{id} in {codec}");
            assert!(s.inband_active());
        }
    }
    // The detector in this path does read a key, so the zero above means something.
    let mut s = Session::new(ms(0), config(Codec::Pcmu, None, Some(caller())));
    let mut out = Out::default();
    send_audio(
        &mut s,
        &mut out,
        Codec::Pcmu,
        caller(),
        ms(0),
        &tones("6", 100, 100),
        20,
        0,
    );
    assert_eq!(out.keys(), "6");
}

fn wav(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 1, 0]);
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 16, 0]);
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

fn source(lang: &str, id: &str, path: &str) -> PromptSource {
    PromptSource {
        lang: Lang::new(lang),
        id: PromptId::new(id),
        path: PathBuf::from(path),
    }
}

#[test]
fn bad_prompt_files_are_reported_by_name_and_the_rest_loads() {
    let mut reads = Vec::new();
    let (store, errors) = PromptStore::load_with(
        [
            source("id", "greeting", "p/id/greeting.wav"),
            source("en", "greeting", "p/id/greeting.wav"), // shared file: read once
            source("id", "menu_main", "p/id/missing.wav"),
            source("id", "hold", "p/id/stereo.wav"),
            source("id", "no_choice", "p/id/empty.wav"),
        ],
        |path: &Path| {
            reads.push(path.to_path_buf());
            let samples: Vec<i16> = (0..400).map(|i| (i * 37 % 2000) as i16).collect();
            match path.file_name().and_then(|f| f.to_str()) {
                Some("greeting.wav") => Ok(wav(&samples)),
                Some("stereo.wav") => {
                    let mut w = wav(&samples);
                    w[22] = 2;
                    Ok(w)
                }
                Some("empty.wav") => Ok(wav(&[])),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        },
    );
    assert_eq!(reads.len(), 4, "{reads:?}");
    assert_eq!(store.len(), 2);
    let g = store
        .frames(&Lang::new("en"), &PromptId::new("greeting"), Codec::Pcma)
        .unwrap();
    assert_eq!(g.len(), 480, "400 samples padded to three 20 ms frames");
    assert_eq!(g[479], g711::silence(Codec::Pcma));
    assert!(store
        .frames(&Lang::new("id"), &PromptId::new("menu_main"), Codec::Pcmu)
        .is_none());
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{shown:#?}");
    assert!(matches!(errors[0], PromptError::Read { .. }));
    assert!(
        shown[0].contains("id/menu_main") && shown[0].contains("p/id/missing.wav"),
        "{}",
        shown[0]
    );
    assert!(matches!(errors[1], PromptError::Wav { .. }));
    assert!(
        shown[1].contains("p/id/stereo.wav") && shown[1].contains("mono"),
        "{}",
        shown[1]
    );
    assert!(matches!(errors[2], PromptError::Empty { .. }));
    assert_eq!(errors[2].path(), Path::new("p/id/empty.wav"));
}

#[test]
fn a_missing_prompt_directory_reports_every_file_without_failing() {
    let config = Config::from_toml("", "empty.toml").unwrap();
    let (store, errors) =
        PromptStore::load_plan(&config.routing, Path::new("/nonexistent/prompts"));
    assert!(store.is_empty());
    assert_eq!(errors.len(), 16);
    assert!(errors
        .iter()
        .all(|e| e.path().starts_with("/nonexistent/prompts")));
}

// ---- voice activity (issue 16) ------------------------------------------------------

#[test]
fn the_callers_speech_is_reported_once_and_silence_or_tones_never() {
    let speech = cc112::media::wav::parse_wav(&std::fs::read(shipped_prompts_dir().join("en/greeting.wav")).unwrap()).unwrap();
    for (codec, inband) in [(Codec::Pcmu, true), (Codec::Pcma, true), (Codec::Pcmu, false)] {
        let mut s = Session::new(ms(0), config(codec, Some(101), Some(caller())));
        if !inband {
            // After the IVR in-band detection stops; the voice detector goes on.
            s.stop_inband();
        }
        let mut out = Out::default();
        let speeches = |out: &Out| out.events.iter().filter(|(_, e)| matches!(e, MediaEvent::Heard(a) if a.spoke)).count();
        let mut now = send_audio(&mut s, &mut out, codec, caller(), ms(0), &vec![0i16; 16_000], 20, 1);
        // Two seconds of silence: reported after each whole second, as silence.
        let heard: Vec<_> = out.events.iter().filter_map(|(_, e)| if let MediaEvent::Heard(a) = e { Some(*a) } else { None }).collect();
        assert_eq!(heard.len(), 2, "{heard:?}");
        assert!(heard.iter().all(|a| !a.spoke && a.noise_ms == 0 && a.silence_ms >= 992), "{heard:?}");
        now = send_audio(&mut s, &mut out, codec, caller(), now, &tones("55", 100, 100), 20, 200);
        assert_eq!(speeches(&out), 0, "silence and key tones are not speech ({codec}, in-band {inband})");
        let start = now;
        now = send_audio(&mut s, &mut out, codec, caller(), now, &speech, 20, 400);
        send_audio(&mut s, &mut out, codec, caller(), now, &speech, 20, 1000);
        assert_eq!(speeches(&out), 1, "speech reported once ({codec}, in-band {inband})");
        let (at, a) = out.events.iter().find_map(|(t, e)| if let MediaEvent::Heard(a) = e { a.spoke.then_some((*t, *a)) } else { None }).unwrap();
        assert!(at - start <= ms(1_000), "speech found within a second of its start: {:?}", at - start);
        assert_eq!(a.verdict(), "speech");
        let first = a.first_speech_ms.unwrap();
        assert!((2_000..=3_200).contains(&first), "first speech ~2.2 s into the audio, after silence and keys: {a:?}");
    }
}

#[test]
fn stopping_to_listen_reports_what_was_heard_once_and_then_nothing() {
    let mut s = Session::new(ms(0), config(Codec::Pcmu, Some(101), Some(caller())));
    let mut out = Out::default();
    let now = send_audio(&mut s, &mut out, Codec::Pcmu, caller(), ms(0), &vec![0i16; 4_000], 20, 1);
    let heard = |out: &Out| out.events.iter().filter_map(|(_, e)| if let MediaEvent::Heard(a) = e { Some(*a) } else { None }).collect::<Vec<_>>();
    assert!(heard(&out).is_empty(), "half a second: nothing reported yet");
    s.stop_listening();
    out.drain(&mut s, now);
    let last = heard(&out);
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(!last[0].spoke && last[0].silence_ms >= 480, "{last:?}");
    send_audio(&mut s, &mut out, Codec::Pcmu, caller(), now, &vec![0i16; 24_000], 20, 300);
    assert_eq!(heard(&out).len(), 1, "no reports once stopped");
}

/// A G.722 or Opus caller who negotiated telephone-event sends keys by RFC 4733: no
/// in-band listening (which would decode every packet); G.711 callers and wideband
/// callers without telephone-event are still listened to.
#[test]
fn in_band_dtmf_is_off_for_wideband_callers_with_telephone_event_only() {
    for (codec, te, listening) in [
        (Codec::Pcmu, Some(101), true),
        (Codec::Pcma, None, true),
        (Codec::Opus, None, true),
        (Codec::Opus, Some(101), false),
        (Codec::G722, Some(101), false),
        (Codec::G722, None, true),
    ] {
        let s = Session::new(ms(0), config(codec, te, Some(caller())));
        assert_eq!(s.inband_active(), listening, "{codec} with telephone-event {te:?}");
    }
}

/// An Opus caller without telephone-event (tones in the audio), whose phone encodes with
/// in-band FEC as `useinbandfec=1` phones do, presses six keys of 60 ms (above Q.24's
/// 40 ms minimum), and the middle packet of every press is lost. The packet after each
/// loss brings the lost 20 ms back from its FEC before the detector hears it, so every
/// key is read once; the detector alone, on the 40 ms left, misses them. Returns the
/// keys read and how many losses were recovered.
fn opus_presses_losing_their_middle_packet(recover: bool) -> (String, u64) {
    let mut s = Session::new(ms(0), config(Codec::Opus, None, Some(caller())));
    let mut out = Out::default();
    let mut now = ms(0);
    // 160 ms per key: packets 0, 1, 2 carry its tone; packet 1 is lost.
    for (i, payload) in opus_payloads(&tones("1590*#", 60, 100)).iter().enumerate() {
        let lost = i % 8 == 1;
        // Without recovery the same packets arrive, but the loss is hidden from the
        // session by numbering them as if nothing was missing.
        let seq = if recover { i as u16 } else { (i - i / 8 - usize::from(i % 8 > 1)) as u16 };
        if !lost {
            receive(&mut s, &mut out, now, caller(), &rtp(Codec::Opus.payload_type(), seq, (i * 960) as u32, i == 0, payload));
        }
        now += ms(20);
    }
    run_until(&mut s, &mut out, now + ms(200));
    (out.keys(), s.counters().fec_recovered)
}

#[test]
fn an_opus_key_press_that_loses_a_packet_is_read_from_the_next_packets_fec() {
    assert_eq!(opus_presses_losing_their_middle_packet(true), ("1590*#".to_string(), 6));
    let (keys, recovered) = opus_presses_losing_their_middle_packet(false);
    assert_eq!(recovered, 0);
    println!("without recovery: {keys:?}");
    assert_ne!(keys, "1590*#", "the detector alone would read them too: this test shows nothing");
}

/// `pcm` (8 kHz) as Opus payloads of 20 ms, from a phone that sends in-band FEC.
fn opus_payloads(pcm: &[i16]) -> Vec<Vec<u8>> {
    use cc112::media::transcode::PcmEncoder;
    let mut enc = PcmEncoder::new(Codec::Opus, 8000).unwrap();
    enc.set_inband_fec(true).unwrap();
    pcm.chunks(160)
        .map(|frame| {
            let mut p = Vec::new();
            enc.encode(frame, &mut p).unwrap();
            p
        })
        .collect()
}

/// Sends Opus packets given as (sequence, timestamp) or a telephone-event (`None`) to a
/// fresh session of an Opus caller; returns its counters and the audio the detectors
/// heard (ms, reported when they stop listening; the voice detector counts whole 16 ms
/// frames, so 140 ms of audio is 128 heard).
fn opus_session(packets: &[Option<(u16, u32)>]) -> (MediaCounters, u32) {
    let payloads = opus_payloads(&tones("5", 20 * packets.len(), 0));
    let mut s = Session::new(ms(0), config(Codec::Opus, Some(TE_PT), Some(caller())));
    let mut out = Out::default();
    for (i, p) in packets.iter().enumerate() {
        let d = match p {
            Some((seq, ts)) => rtp(Codec::Opus.payload_type(), *seq, *ts, false, &payloads[i]),
            None => rtp(TE_PT, 500 + i as u16, 0, false, &[5, 10, 0, 160]),
        };
        receive(&mut s, &mut out, ms(20 * i as u64), caller(), &d);
    }
    s.stop_listening();
    out.drain(&mut s, ms(20 * packets.len() as u64));
    let heard = out.events.iter().find_map(|(_, e)| if let MediaEvent::Heard(a) = e { Some(a.heard_ms()) } else { None });
    (s.counters(), heard.unwrap_or(0))
}

/// What the timestamps of a sender claim was lost is rebuilt only up to the length of
/// the packet before: a sender cannot make one packet cost libopus more than two.
#[test]
fn opus_loss_recovery_is_bounded_by_the_packet_before() {
    // (sequence, timestamp): losses claiming 500 ms and 100 ms, then a true 20 ms one.
    let p = [(10, 0), (12, 24_000), (13, 24_960), (15, 30_720), (16, 31_680), (18, 33_600)];
    let (c, heard) = opus_session(&p.map(Some));
    assert_eq!((c.fec_recovered, c.malformed), (1, 0), "only the 20 ms loss is rebuilt");
    assert_eq!(heard, 128, "six packets and one rebuilt: 140 ms, in whole 16 ms frames");
}

/// Only a gap of one packet of the same source is a loss: a telephone-event between two
/// audio packets is none; a source that starts over far behind (RFC 3550 A.1) is
/// followed; the lost packet turning up late after its audio was rebuilt is not heard
/// twice.
#[test]
fn opus_loss_recovery_follows_the_source_and_hears_nothing_twice() {
    let (c, _) = opus_session(&[Some((1, 0)), None, Some((3, 1920))]);
    assert_eq!(c.fec_recovered, 0, "an event took number 2: nothing lost");
    let (c, _) = opus_session(&[Some((1000, 0)), Some((500, 960)), Some((502, 2880))]);
    assert_eq!(c.fec_recovered, 1, "the source started over at 500; 501 was lost");
    let (c, heard) = opus_session(&[Some((1, 0)), Some((3, 1920)), Some((2, 960)), Some((4, 2880))]);
    assert_eq!((c.fec_recovered, heard), (1, 80), "2 was rebuilt, then came late: 80 ms heard, not 100");
}
