//! Micro-benchmarks of the per-message and per-packet work (issue 7), with criterion:
//! SIP parse of an INVITE and a 200 OK, building an SDP answer, packetizing a prompt
//! frame, decoding RFC 4733 events, the ACD's choice among 500 operators, and the
//! engine's snapshot for the HTTP server; and one second of a bridged call (50 packets
//! each way) with the caller on PCMU, PCMA, G.722 or Opus and the operator on PCMU
//! (issue 17: the CPU a transcoded call costs).
//! `cargo bench --bench micro`; criterion prints the median time per iteration.

// A measuring tool, not the gateway: the crate's no-panic lints do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use cc112::call::acd::{Acd, AcdAction};
use cc112::config::{Config, Operator, OperatorId, QueueId};
use cc112::call::CallId;
use cc112::media::rfc4733::DtmfReceiver;
use cc112::media::rtp::RtpHeader;
use cc112::media::sdp::{self, LocalMedia};
use cc112::media::Codec;

#[path = "common/messages.rs"]
mod messages;
use messages::{INVITE, OFFER, OK};

fn sip(c: &mut Criterion) {
    c.bench_function("sip parse INVITE", |b| b.iter(|| cc112::sip::parse(black_box(INVITE)).is_ok()));
    c.bench_function("sip parse 200 OK", |b| b.iter(|| cc112::sip::parse(black_box(OK)).is_ok()));
}

fn media(c: &mut Criterion) {
    let local = LocalMedia { addr: IpAddr::from([192, 0, 2, 5]), port: 10000, session_id: 7, session_version: 1 };
    let prefs = [Codec::Pcmu, Codec::Pcma];
    c.bench_function("sdp answer", |b| b.iter(|| sdp::answer(black_box(OFFER), &local, &prefs).is_ok()));
    let frame = [0xffu8; 160];
    let mut out = Vec::with_capacity(172);
    let mut seq = 0u16;
    c.bench_function("rtp packetize a prompt frame", |b| {
        b.iter(|| {
            out.clear();
            seq = seq.wrapping_add(1);
            RtpHeader { marker: false, payload_type: 0, sequence: seq, timestamp: u32::from(seq) * 160, ssrc: 0x1234 }.write(black_box(&frame), &mut out);
            out.len()
        })
    });
    // In-band DTMF: one 20 ms frame of speech-like sound (two inharmonic partials), the
    // analysis every caller frame gets while the caller is in the IVR.
    let voice: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 310.0 * t).sin() + 3000.0 * (2.0 * std::f64::consts::PI * 1130.0 * t).sin()) as i16
        })
        .collect();
    c.bench_function("in-band DTMF analysis of one 20 ms frame", |b| b.iter(|| cc112::media::goertzel::classify_frame(black_box(&voice))));
    // One key press: three updates and three end packets, as phones send them.
    let packets: Vec<(RtpHeader, [u8; 4])> = (0..6u16)
        .map(|i| {
            let end = i >= 3;
            let duration = 160 * (i.min(3) + 1);
            let payload = [5u8, if end { 0x8a } else { 0x0a }, (duration >> 8) as u8, duration as u8];
            (RtpHeader { marker: i == 0, payload_type: 101, sequence: 100 + i, timestamp: 8000, ssrc: 0x99 }, payload)
        })
        .collect();
    let mut ts = 8000u32;
    let mut at = Duration::ZERO;
    let mut rx = DtmfReceiver::<Duration>::new(8000);
    c.bench_function("rfc4733 decode one key press (6 packets)", |b| {
        b.iter(|| {
            ts = ts.wrapping_add(8000);
            at += Duration::from_millis(500);
            for (h, p) in &packets {
                let h = RtpHeader { timestamp: ts, ..*h };
                let _ = rx.handle_packet(at, &h, black_box(p));
            }
            let mut n = 0;
            while rx.poll_digit().is_some() {
                n += 1;
            }
            n
        })
    });
}

/// 500 operators, half of them in `medical`, half in `general`.
fn five_hundred_operators() -> Vec<Operator> {
    (0..500)
        .map(|i| Operator {
            id: OperatorId(format!("op{i}")),
            name: format!("Operator {i}"),
            departments: vec![QueueId::new(if i % 2 == 0 { "medical" } else { "general" })],
            ha1_md5: Some("0".repeat(32)),
            ha1_sha256: None,
        })
        .collect()
}

fn acd(c: &mut Criterion) {
    let config = Config::embedded_default().expect("default config");
    let operators = five_hundred_operators();
    let mut acd = Acd::new(config.acd.clone(), &config.routing, &operators);
    let t0 = Instant::now();
    for (i, o) in operators.iter().enumerate() {
        acd.operator_registered(t0 + Duration::from_millis(i as u64), &o.id);
    }
    while acd.poll_action().is_some() {}
    let medical = QueueId::new("medical");
    // What is measured must be a real choice: the call is offered to an operator.
    acd.enqueue(t0 + Duration::from_secs(1), CallId(0), &medical);
    let first: Vec<AcdAction> = std::iter::from_fn(|| acd.poll_action()).collect();
    assert!(first.iter().any(|a| matches!(a, AcdAction::Offer { .. })), "{first:?}");
    acd.remove(t0 + Duration::from_secs(1), CallId(0));
    while acd.poll_action().is_some() {}
    let mut n = 0u64;
    c.bench_function("acd choose among 500 operators", |b| {
        b.iter(|| {
            n += 1;
            let now = t0 + Duration::from_secs(1) + Duration::from_micros(n);
            acd.enqueue(now, CallId(n), &medical);
            let mut offered = false;
            while let Some(a) = acd.poll_action() {
                offered |= matches!(a, AcdAction::Offer { .. });
            }
            // The caller hangs up at once: the operator is free again for the next round.
            acd.remove(now, CallId(n));
            while acd.poll_action().is_some() {}
            offered
        })
    });
}

/// What the engine's snapshot for the HTTP server (`Engine::snapshot`, every 200 ms on
/// the signalling thread) costs where it costs most: the ACD's queues and operators, here
/// 500 operators and 2,000 callers waiting.
fn snapshot(c: &mut Criterion) {
    let config = Config::embedded_default().expect("default config");
    let operators = five_hundred_operators();
    let mut acd = Acd::new(config.acd.clone(), &config.routing, &operators);
    let t0 = Instant::now();
    let queues = [QueueId::new("medical"), QueueId::new("fire"), QueueId::new("general")];
    for i in 0..2000u64 {
        acd.enqueue(t0 + Duration::from_millis(i), CallId(i), &queues[(i % 3) as usize]);
    }
    while acd.poll_action().is_some() {}
    let now = t0 + Duration::from_secs(10);
    assert_eq!(acd.snapshot(now).queues.iter().map(|q| q.waiting).sum::<usize>(), 2000);
    c.bench_function("engine snapshot: 500 operators, 2000 callers waiting", |b| b.iter(|| black_box(acd.snapshot(now))));
}

/// One second of a bridged call: 50 packets of 20 ms from each side through the relay,
/// the caller in `codec`, the operator in PCMU (both directions transcoded unless PCMU).
fn bridge(c: &mut Criterion) {
    use cc112::media::relay::{Leg, LegConfig, Relay, StreamStart};
    use cc112::media::transcode::PcmEncoder;
    let speech: Vec<i16> = (0..16000)
        .map(|i| {
            let t = f64::from(i) / 16000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 310.0 * t).sin() + 3000.0 * (2.0 * std::f64::consts::PI * 1130.0 * t).sin()) as i16
        })
        .collect();
    let packets = |codec: Codec, ssrc: u32| -> Vec<Vec<u8>> {
        let rate = codec.audio_rate() as usize;
        let pcm: Vec<i16> = if rate == 8000 { speech.iter().step_by(2).copied().collect() } else { speech.clone() };
        let mut enc = PcmEncoder::new(codec, rate as u32).unwrap();
        pcm.chunks(rate / 50)
            .enumerate()
            .map(|(i, f)| {
                let mut d = Vec::new();
                RtpHeader { marker: i == 0, payload_type: codec.payload_type(), sequence: i as u16, timestamp: i as u32 * codec.units_per_20ms(), ssrc }.write(&[], &mut d);
                enc.encode(f, &mut d).unwrap();
                d
            })
            .collect()
    };
    let op_packets = packets(Codec::Pcmu, 2);
    // The IVR phase of a caller: what the media session does with each packet while
    // in-band DTMF is listened for (decode to 8 kHz, then the Goertzel analysis).
    for codec in Codec::ALL {
        use cc112::media::rtp::RtpPacket;
        use cc112::media::transcode::PcmDecoder;
        let caller_packets = packets(codec, 1);
        let mut dec = PcmDecoder::new(codec, 8000).unwrap();
        let mut pcm = Vec::with_capacity(960);
        c.bench_function(&format!("ivr one second, caller {codec}: decode + in-band DTMF"), |b| {
            b.iter(|| {
                let mut n = 0;
                for p in &caller_packets {
                    let p = RtpPacket::parse(black_box(p)).unwrap();
                    pcm.clear();
                    dec.decode(p.payload, &mut pcm).unwrap();
                    n += usize::from(cc112::media::goertzel::classify_frame(&pcm).is_some());
                }
                n
            })
        });
    }
    for codec in Codec::ALL {
        let caller_packets = packets(codec, 1);
        let leg = |c: Codec, ssrc| LegConfig { codec: c, payload_type: c.payload_type(), telephone_event: Some(101), telephone_event_rate: 8000, start: StreamStart { ssrc, seq: 1, timestamp: 1, at: Duration::ZERO } };
        let mut relay = Relay::new(leg(codec, 10), leg(Codec::Pcmu, 20));
        let mut out = Vec::with_capacity(1500);
        let mut at = Duration::ZERO;
        c.bench_function(&format!("bridge one second, caller {codec} / operator PCMU"), |b| {
            b.iter(|| {
                for (a, o) in caller_packets.iter().zip(&op_packets) {
                    at += Duration::from_millis(20);
                    let _ = relay.relay_into(at, Leg::Caller, black_box(a), &mut out);
                    let _ = relay.relay_into(at, Leg::Operator, black_box(o), &mut out);
                }
                out.len()
            })
        });
    }
}

criterion_group!(benches, sip, media, acd, snapshot, bridge);
criterion_main!(benches);
