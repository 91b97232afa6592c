use std::time::Duration;

use proptest::prelude::*;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn leg(codec: Codec, te: Option<u8>, ssrc: u32, seq: u16, ts: u32) -> LegConfig<Duration> {
    LegConfig {
        codec,
        payload_type: codec.payload_type(),
        telephone_event: te,
        telephone_event_rate: 8000,
        start: StreamStart {
            ssrc,
            seq,
            timestamp: ts,
            at: Duration::ZERO,
        },
    }
}

fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(payload, &mut v);
    v
}

fn parsed(b: &[u8]) -> (RtpHeader, Vec<u8>) {
    let p = RtpPacket::parse(b).unwrap();
    (p.header, p.payload.to_vec())
}

const CALLER_SSRC: u32 = 0xCA11_E500;
const OP_SSRC: u32 = 0x0B0B_0001;

fn same_codec_relay() -> Relay<Duration> {
    Relay::new(
        leg(Codec::Pcmu, Some(101), CALLER_SSRC, 1000, 50_000),
        leg(Codec::Pcmu, Some(101), OP_SSRC, 7, 900),
    )
}

#[test]
fn same_codec_passthrough_keeps_payload_and_rewrites_header() {
    let mut r = same_codec_relay();
    let payload: Vec<u8> = (0..160u8).collect();
    // A source with CSRCs, an extension and padding: only the payload goes through.
    let mut src = vec![
        0x80 | 0x20 | 0x10 | 0x01,
        0x00,
        0x12,
        0x34,
        0,
        0,
        0x10,
        0,
        0xDE,
        0xAD,
        0xBE,
        0xEF,
    ];
    src.extend_from_slice(&[1, 2, 3, 4]); // CSRC
    src.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, one word
    src.extend_from_slice(&payload);
    src.extend_from_slice(&[0, 0, 3]); // padding
    let out = r.relay(Duration::ZERO, Leg::Caller, &src).unwrap();
    let (h, p) = parsed(&out);
    assert_eq!(p, payload);
    assert_eq!(out.len(), RTP_HEADER_LEN + 160);
    assert_eq!(
        h,
        RtpHeader {
            marker: true,
            payload_type: 0,
            sequence: 7,
            timestamp: 900,
            ssrc: OP_SSRC
        },
        "our SSRC, the operator leg's start point, marker on the first packet"
    );
    // The next one follows the source's deltas, no marker.
    let out = r
        .relay(
            20 * MS,
            Leg::Caller,
            &pkt(0, 0x1235, 0x10A0, 0xDEAD_BEEF, false, &payload),
        )
        .unwrap();
    let (h, p) = parsed(&out);
    assert_eq!(
        (h.sequence, h.timestamp, h.ssrc, h.marker),
        (8, 1060, OP_SSRC, false)
    );
    assert_eq!(p, payload);
    // A source marker (new talkspurt) is passed on.
    let out = r
        .relay(
            40 * MS,
            Leg::Caller,
            &pkt(0, 0x1236, 0x1140, 0xDEAD_BEEF, true, &payload),
        )
        .unwrap();
    assert!(parsed(&out).0.marker);
    assert_eq!(r.counters().from_caller.relayed, 3);
    assert_eq!(r.counters().from_caller.transcoded, 0);
    assert_eq!(r.counters().from_operator, DirectionCounters::default());
}

#[test]
fn remapped_audio_payload_type_follows_each_leg() {
    let mut caller = leg(Codec::Pcma, None, CALLER_SSRC, 0, 0);
    caller.payload_type = 8;
    let mut op = leg(Codec::Pcma, None, OP_SSRC, 0, 0);
    op.payload_type = 98; // a softphone that remapped PCMA
    let mut r = Relay::new(caller, op);
    let out = r
        .relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(98, 1, 1, 5, false, &[0xD5; 160]),
        )
        .unwrap();
    assert_eq!(parsed(&out).0.payload_type, 8);
    assert!(
        r.relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(8, 2, 161, 5, false, &[0xD5; 160])
        )
        .is_none(),
        "PT 8 is not what the operator negotiated"
    );
    assert_eq!(r.counters().from_operator.unknown_dropped, 1);
}

#[test]
fn ulaw_alaw_round_trip_on_all_codes_matches_g711() {
    let mut r = Relay::new(
        leg(Codec::Pcmu, None, CALLER_SSRC, 0, 0),
        leg(Codec::Pcma, None, OP_SSRC, 0, 0),
    );
    let all: Vec<u8> = (0..=255u8).collect();
    let out = r
        .relay(Duration::ZERO, Leg::Caller, &pkt(0, 1, 0, 1, false, &all))
        .unwrap();
    let (h, alaw) = parsed(&out);
    assert_eq!(h.payload_type, 8);
    let expect_a: Vec<u8> = all
        .iter()
        .map(|&u| g711::linear_to_alaw(g711::ulaw_to_linear(u)))
        .collect();
    assert_eq!(alaw, expect_a);
    // And back: the operator "echoes" the A-law payload.
    let back = r
        .relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(8, 1, 0, 2, false, &alaw),
        )
        .unwrap();
    let (h, ulaw) = parsed(&back);
    assert_eq!(h.payload_type, 0);
    let expect_u: Vec<u8> = alaw
        .iter()
        .map(|&a| g711::linear_to_ulaw(g711::alaw_to_linear(a)))
        .collect();
    assert_eq!(ulaw, expect_u);
    // The round trip is lossy only in the quietest codes: most µ-law codes survive.
    let same = all.iter().zip(&ulaw).filter(|(a, b)| a == b).count();
    assert!(same > 200, "{same} of 256 codes survive µ→A→µ");
    assert_eq!(r.counters().from_caller.transcoded, 1);
    assert_eq!(r.counters().from_operator.transcoded, 1);
}

#[test]
fn telephone_event_payload_type_is_remapped() {
    let mut r = Relay::new(
        leg(Codec::Pcmu, Some(96), CALLER_SSRC, 0, 0),
        leg(Codec::Pcmu, Some(101), OP_SSRC, 0, 0),
    );
    let event = [5, 0x0A, 0x00, 0xA0]; // digit 5, volume 10, duration 160
    let out = r
        .relay(
            Duration::ZERO,
            Leg::Caller,
            &pkt(96, 10, 8000, 3, true, &event),
        )
        .unwrap();
    let (h, p) = parsed(&out);
    assert_eq!((h.payload_type, h.marker), (101, true));
    assert_eq!(p, event);
    // The other way round: 101 → 96.
    let out = r
        .relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(101, 10, 8000, 4, false, &event),
        )
        .unwrap();
    assert_eq!(parsed(&out).0.payload_type, 96);
    // The caller's 101 is not its telephone-event PT: unknown.
    assert!(r
        .relay(
            Duration::ZERO,
            Leg::Caller,
            &pkt(101, 11, 8000, 3, false, &event)
        )
        .is_none());
    let c = r.counters();
    assert_eq!(
        (
            c.from_caller.events,
            c.from_operator.events,
            c.from_caller.unknown_dropped
        ),
        (1, 1, 1)
    );
}

#[test]
fn telephone_event_dropped_when_other_leg_has_none() {
    let mut r = Relay::new(
        leg(Codec::Pcmu, Some(96), CALLER_SSRC, 0, 0),
        leg(Codec::Pcmu, None, OP_SSRC, 0, 0),
    );
    let mut out = Vec::new();
    assert_eq!(
        r.relay_into(
            Duration::ZERO,
            Leg::Caller,
            &pkt(96, 10, 8000, 3, true, &[1, 0x8A, 0, 160]),
            &mut out
        ),
        Err(RelayDrop::NoTelephoneEvent)
    );
    assert!(out.is_empty());
    assert_eq!(r.counters().from_caller.events_dropped, 1);
    assert_eq!(r.counters().from_caller.relayed, 0);
}

#[test]
fn comfort_noise_dropped_without_leaving_a_sequence_hole() {
    let mut r = same_codec_relay();
    let a = r
        .relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(0, 100, 0, 9, false, &[0xFF; 160]),
        )
        .unwrap();
    assert_eq!(
        r.relay(
            20 * MS,
            Leg::Operator,
            &pkt(COMFORT_NOISE_PT, 101, 160, 9, false, &[40])
        ),
        None
    );
    let b = r
        .relay(
            40 * MS,
            Leg::Operator,
            &pkt(0, 102, 320, 9, false, &[0xFF; 160]),
        )
        .unwrap();
    let (ha, hb) = (parsed(&a).0, parsed(&b).0);
    assert_eq!(
        hb.sequence,
        ha.sequence.wrapping_add(1),
        "no hole where CN was dropped"
    );
    assert_eq!(
        hb.timestamp,
        ha.timestamp.wrapping_add(320),
        "timestamps keep the source's timing"
    );
    // A real loss (103 never arrives) stays visible.
    let c = r
        .relay(
            80 * MS,
            Leg::Operator,
            &pkt(0, 104, 640, 9, false, &[0xFF; 160]),
        )
        .unwrap();
    assert_eq!(parsed(&c).0.sequence, hb.sequence.wrapping_add(2));
    assert_eq!(r.counters().from_operator.comfort_noise_dropped, 1);
}

#[test]
fn continuity_after_a_prompt_and_across_a_source_ssrc_change() {
    // The caller heard our prompt: last packet seq 4999, ts 80_000, due at 1.000 s.
    // Its continuation: seq 5000, ts 80_160 at 1.020 s.
    let mut caller = leg(Codec::Pcmu, Some(101), CALLER_SSRC, 5000, 80_160);
    caller.start.at = 1020 * MS;
    let mut r = Relay::new(caller, leg(Codec::Pcmu, Some(101), OP_SSRC, 1, 1));
    // The operator answers; its first packet reaches us at 1.500 s.
    let t = 1500 * MS;
    let out = r
        .relay(
            t,
            Leg::Operator,
            &pkt(0, 30_000, 123_456, 0xAAAA, false, &[0x55; 160]),
        )
        .unwrap();
    let h = parsed(&out).0;
    assert_eq!((h.ssrc, h.sequence, h.marker), (CALLER_SSRC, 5000, true));
    assert_eq!(
        h.timestamp,
        80_160 + 480 * 8,
        "advanced by the 480 ms of silence since the prompt"
    );
    let mut last = h;
    for i in 1..=3u16 {
        let out = r
            .relay(
                t + 20 * MS * u32::from(i),
                Leg::Operator,
                &pkt(
                    0,
                    30_000 + i,
                    123_456 + 160 * u32::from(i),
                    0xAAAA,
                    false,
                    &[0x55; 160],
                ),
            )
            .unwrap();
        last = parsed(&out).0;
        assert!(!last.marker);
    }
    assert_eq!((last.sequence, last.timestamp), (5003, 80_160 + 3840 + 480));
    // The operator's phone switches SSRC (re-INVITE, transfer...) with new random
    // numbering, 10 ms after its previous packet: we continue, +1 frame at least.
    let t2 = t + 70 * MS;
    let out = r
        .relay(
            t2,
            Leg::Operator,
            &pkt(0, 7, 999_999_999, 0xBBBB, false, &[0x55; 160]),
        )
        .unwrap();
    let h = parsed(&out).0;
    assert_eq!((h.ssrc, h.sequence, h.marker), (CALLER_SSRC, 5004, true));
    assert_eq!(h.timestamp, last.timestamp + 160);
    let out = r
        .relay(
            t2 + 20 * MS,
            Leg::Operator,
            &pkt(0, 8, 1_000_000_159, 0xBBBB, false, &[0x55; 160]),
        )
        .unwrap();
    let h = parsed(&out).0;
    assert_eq!(
        (h.sequence, h.timestamp, h.marker),
        (5005, last.timestamp + 320, false)
    );
    // A sequence jump on the same SSRC (beyond MAX_DROPOUT) also rebases.
    let out = r
        .relay(
            t2 + 40 * MS,
            Leg::Operator,
            &pkt(0, 20_000, 5, 0xBBBB, false, &[0x55; 160]),
        )
        .unwrap();
    let h = parsed(&out).0;
    assert_eq!(
        (h.sequence, h.timestamp, h.marker),
        (5006, last.timestamp + 480, true)
    );
    assert_eq!(r.counters().from_operator.source_changes, 3);
    // The caller's direction was untouched.
    assert_eq!(r.counters().from_caller, DirectionCounters::default());
    // Handing the stream back to the prompt player: next seq, time-advanced ts.
    let pos = r.stream_position(Leg::Caller, t2 + 100 * MS);
    assert_eq!(
        (pos.ssrc, pos.seq, pos.timestamp),
        (CALLER_SSRC, 5007, last.timestamp + 480 + 60 * 8)
    );
}

#[test]
fn sequence_and_timestamp_wrap() {
    let mut r = Relay::new(
        leg(Codec::Pcmu, None, CALLER_SSRC, 65_535, u32::MAX - 100),
        leg(Codec::Pcmu, None, OP_SSRC, 0, 0),
    );
    let a = r
        .relay(
            Duration::ZERO,
            Leg::Operator,
            &pkt(0, 65_535, 0, 1, false, &[0; 160]),
        )
        .unwrap();
    let b = r
        .relay(20 * MS, Leg::Operator, &pkt(0, 0, 160, 1, false, &[0; 160]))
        .unwrap();
    assert_eq!(parsed(&a).0.sequence, 65_535);
    let hb = parsed(&b).0;
    assert_eq!((hb.sequence, hb.timestamp, hb.marker), (0, 59, false));
    assert_eq!(r.counters().from_operator.source_changes, 1);
}

#[test]
fn reordered_packet_keeps_its_place() {
    let mut r = same_codec_relay();
    let seqs: Vec<u16> = [10u16, 12, 11, 13]
        .iter()
        .map(|&s| {
            let out = r
                .relay(
                    Duration::ZERO,
                    Leg::Caller,
                    &pkt(0, s, u32::from(s) * 160, 1, false, &[0; 160]),
                )
                .unwrap();
            parsed(&out).0.sequence
        })
        .collect();
    assert_eq!(seqs, vec![7, 9, 8, 10]);
    assert_eq!(r.counters().from_caller.source_changes, 1);
}

#[test]
fn reconfigure_switches_to_transcoding() {
    let mut r = same_codec_relay();
    let neg = Negotiated {
        codec: Codec::Pcma,
        payload_type: 8,
        remote: None,
        telephone_event: Some(101),
        telephone_event_rate: 8000,
        direction: crate::media::sdp::Direction::SendRecv,
        ptime_ms: None,
    };
    r.relay(
        Duration::ZERO,
        Leg::Caller,
        &pkt(0, 1, 0, 1, false, &[0xFF; 160]),
    )
    .unwrap();
    r.reconfigure(Leg::Operator, &neg);
    let out = r
        .relay(
            20 * MS,
            Leg::Caller,
            &pkt(0, 2, 160, 1, false, &[0xFF; 160]),
        )
        .unwrap();
    let (h, p) = parsed(&out);
    assert_eq!((h.payload_type, h.sequence, h.marker), (8, 8, false));
    assert_eq!(p, vec![g711::linear_to_alaw(0); 160]);
}

#[test]
fn malformed_datagrams_are_counted() {
    let mut r = same_codec_relay();
    let bad: [&[u8]; 4] = [
        &[],
        &[0x80, 0, 0, 1],
        &[0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], // version 1
        &[0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], // 15 CSRCs, none present
    ];
    for b in bad {
        let mut out = vec![1, 2, 3];
        assert!(matches!(
            r.relay_into(Duration::ZERO, Leg::Operator, b, &mut out),
            Err(RelayDrop::Malformed(_))
        ));
        assert!(out.is_empty());
    }
    assert_eq!(r.counters().from_operator.malformed, 4);
    assert_eq!(r.counters().from_operator.relayed, 0);
}

#[test]
fn relay_into_reuses_the_buffer() {
    let mut r = same_codec_relay();
    let mut out = Vec::with_capacity(256);
    let cap = out.capacity();
    let ptr = out.as_ptr();
    for i in 0..100u16 {
        r.relay_into(
            20 * MS * u32::from(i),
            Leg::Caller,
            &pkt(0, i, u32::from(i) * 160, 1, false, &[0xFF; 160]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 172);
    }
    assert_eq!(
        (out.capacity(), out.as_ptr()),
        (cap, ptr),
        "no reallocation in the steady state"
    );
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(
        packets in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200), 0u64..100_000), 0..40)
    ) {
        let mut r = Relay::new(leg(Codec::Pcmu, Some(101), CALLER_SSRC, 0, 0), leg(Codec::Pcma, Some(96), OP_SSRC, 0, 0));
        let mut now = Duration::ZERO;
        for (from_caller, mut bytes, dt) in packets {
            now += Duration::from_micros(dt);
            // Half of them look like RTP so the relay path is exercised too.
            if from_caller {
                if let Some(b) = bytes.first_mut() { *b = 0x80 | (*b & 0x3F); }
            }
            let from = if from_caller { Leg::Caller } else { Leg::Operator };
            if let Some(out) = r.relay(now, from, &bytes) {
                let p = RtpPacket::parse(&out).unwrap();
                prop_assert_eq!(p.header.ssrc, if from_caller { OP_SSRC } else { CALLER_SSRC });
            }
        }
        let c = r.counters();
        for d in [c.from_caller, c.from_operator] {
            prop_assert!(d.relayed >= d.transcoded + d.events);
        }
    }
}

/// An Opus caller bridged to a PCMU operator: each direction transcoded through PCM,
/// timestamps on each leg's own clock (48 kHz to the caller, 8 kHz to the operator),
/// a lost packet still a gap of the right length, RFC 4733 relayed with its payload
/// type remapped, and an invalid Opus packet dropped and counted.
#[test]
fn opus_caller_and_pcmu_operator_are_transcoded_on_their_own_clocks() {
    use crate::media::transcode::PcmEncoder;
    let mut caller = leg(Codec::Opus, Some(101), CALLER_SSRC, 100, 48_000);
    caller.payload_type = 107;
    let mut r = Relay::new(caller, leg(Codec::Pcmu, Some(96), OP_SSRC, 7, 900));
    let mut enc = PcmEncoder::new(Codec::Opus, 16000).unwrap();
    let mut opus = Vec::new();
    enc.encode(&[1000i16; 320], &mut opus).unwrap();
    // Caller → operator: 20 ms of Opus becomes 160 octets of µ-law, ts in 8 kHz units.
    let out = r.relay(Duration::ZERO, Leg::Caller, &pkt(107, 5, 960_000, 0xAB, true, &opus)).unwrap();
    let (h, payload) = parsed(&out);
    assert_eq!((h.payload_type, h.sequence, h.timestamp, h.ssrc), (0, 7, 900, OP_SSRC));
    assert_eq!(payload.len(), 160);
    // Packet 6 lost: packet 7 is 40 ms later on the caller's 48 kHz clock = 320 units;
    // it brings packet 6's 20 ms back (FEC, or concealment: this packet has no FEC) in
    // one 40 ms payload at packet 6's timestamp.
    let out = r.relay(40 * MS, Leg::Caller, &pkt(107, 7, 960_000 + 1920, 0xAB, false, &opus)).unwrap();
    let (h, payload) = parsed(&out);
    assert_eq!((h.sequence, h.timestamp, payload.len()), (9, 900 + 160, 320));
    assert_eq!(r.counters().from_caller.fec_recovered, 1);
    // An event keeps its payload, with the operator's payload type.
    let ev = [1u8, 0x0A, 0x00, 0xA0];
    let out = r.relay(60 * MS, Leg::Caller, &pkt(101, 8, 960_000 + 2880, 0xAB, false, &ev)).unwrap();
    assert_eq!(parsed(&out), (RtpHeader { marker: false, payload_type: 96, sequence: 10, timestamp: 900 + 480, ssrc: OP_SSRC }, ev.to_vec()));
    // Garbage in the Opus payload type: dropped, counted, no number used.
    assert!(r.relay(80 * MS, Leg::Caller, &pkt(107, 9, 960_000 + 3840, 0xAB, false, &[0xFF; 3])).is_none());
    assert_eq!(r.counters().from_caller.malformed, 1);
    // Operator → caller: 160 octets of µ-law become one Opus packet, 960 units apart.
    let mulaw = [0x55u8; 160];
    let a = r.relay(Duration::ZERO, Leg::Operator, &pkt(0, 1, 8000, 0xCD, true, &mulaw)).unwrap();
    let b = r.relay(20 * MS, Leg::Operator, &pkt(0, 2, 8160, 0xCD, false, &mulaw)).unwrap();
    let ((ha, pa), (hb, _)) = (parsed(&a), parsed(&b));
    assert_eq!((ha.payload_type, ha.ssrc, ha.sequence, ha.timestamp), (107, CALLER_SSRC, 100, 48_000));
    assert_eq!((hb.sequence, hb.timestamp), (101, 48_000 + 960));
    assert!(!pa.is_empty() && pa.len() < 160, "an Opus packet, {} octets", pa.len());
    assert_eq!(r.counters().from_operator.transcoded, 2);
}

/// Opus loss and DTX across the bridge (module doc). The caller's phone encodes with FEC
/// and DTX on, as `useinbandfec=1; usedtx=1` phones do: a voiced second, a silent one,
/// a voiced one. One packet lost in the first: the next brings it back from its FEC and
/// both go out in one µ-law payload at the lost packet's timestamp; the lost packet
/// arriving late is dropped. The silence is DTX (sequence numbers go on, timestamps
/// jump): no loss is counted, nothing is made up, each pause keeps its length.
#[test]
fn opus_loss_is_rebuilt_from_fec_and_dtx_is_not_loss() {
    use crate::media::opus::{OpusEncoder, BRIDGE_SETTINGS};
    let mut caller = leg(Codec::Opus, None, CALLER_SSRC, 100, 48_000);
    caller.payload_type = 107;
    let mut r = Relay::new(caller, leg(Codec::Pcmu, None, OP_SSRC, 7, 900));
    let mut enc = OpusEncoder::new(BRIDGE_SETTINGS).unwrap();
    enc.set_inband_fec(true).unwrap();
    enc.set_dtx(true).unwrap();
    let voice = crate::media::opus::tests::voiced(16000);
    let mut x = voice.clone();
    x.extend(std::iter::repeat_n(0i16, 16000));
    x.extend(voice);
    // What the phone sends: (sequence, timestamp, payload), DTX frames left out.
    let mut sent = Vec::new();
    for (i, frame) in x.chunks(320).enumerate() {
        let mut p = Vec::new();
        enc.encode(frame, &mut p).unwrap();
        if p.len() > 2 {
            sent.push((sent.len() as u16 + 1, 960 * i as u32, p));
        }
    }
    assert!(sent.len() < 140, "DTX left the silence out: {} of 150 packets sent", sent.len());
    let mut outs = Vec::new();
    for (k, (seq, ts, p)) in sent.iter().enumerate() {
        let now = Duration::from_micros(u64::from(*ts) * 1000 / 48);
        if k == 20 {
            continue; // lost
        }
        let out = r.relay(now, Leg::Caller, &pkt(107, *seq, *ts, 0xAB, false, p)).unwrap();
        outs.push((k, parsed(&out)));
        if k == 22 {
            // Packet 20 turns up late, after its audio went out with 21: dropped.
            let (seq, ts, p) = &sent[20];
            assert!(r.relay(now, Leg::Caller, &pkt(107, *seq, *ts, 0xAB, false, p)).is_none());
        }
    }
    let c = r.counters().from_caller;
    assert_eq!((c.fec_recovered, c.late_after_recovery, c.malformed), (1, 1, 0), "{c:?}");
    for pair in outs.windows(2) {
        let ((ka, (ha, pa)), (kb, (hb, pb))) = (&pair[0], &pair[1]);
        // Each output payload spans its source packet, plus the lost one after the loss.
        let (expect_a, expect_b) = (if *ka == 21 { 320 } else { 160 }, if *kb == 21 { 320 } else { 160 });
        assert_eq!((pa.len(), pb.len()), (expect_a, expect_b), "packets {ka}, {kb}");
        // Our timestamps keep the source's spacing on the 8 kHz clock: a DTX pause is as
        // long on the operator's side, and the rebuilt packet takes the lost one's place.
        let (src_a, src_b) = (sent[*ka].1, sent[*kb].1);
        let (back_a, back_b) = (if *ka == 21 { 160 } else { 0 }, if *kb == 21 { 160 } else { 0 });
        assert_eq!(hb.timestamp.wrapping_sub(ha.timestamp), (src_b - src_a) / 6 + back_a - back_b, "packets {ka}, {kb}");
    }
    // The DTX updates inside the silence are comfort noise, not a burst.
    let mut pcm = Vec::new();
    for (k, (_, p)) in &outs {
        let ts = sent[*k].1;
        if (48_000 + 960 * 15..96_000).contains(&ts) {
            crate::media::g711::decode(Codec::Pcmu, p, &mut pcm);
        }
    }
    let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak < 1000, "peak {peak} in the silence");
}

/// An Opus caller on telephone-event/48000 and a PCMU operator on /8000: the event's
/// duration is carried to the operator's clock (RFC 4733 §2.3.5), its timestamp too.
#[test]
fn a_48_khz_telephone_event_reaches_an_8_khz_operator_rescaled() {
    let mut caller = leg(Codec::Opus, Some(100), CALLER_SSRC, 100, 48_000);
    (caller.payload_type, caller.telephone_event_rate) = (111, 48000);
    let mut r = Relay::new(caller, leg(Codec::Pcmu, Some(101), OP_SSRC, 7, 900));
    // Key 5, 960 units = 20 ms at 48 kHz.
    let out = r.relay(Duration::ZERO, Leg::Caller, &pkt(100, 1, 480_000, 0xAB, true, &[5, 0x0A, 0x03, 0xC0])).unwrap();
    let (h, payload) = parsed(&out);
    assert_eq!((h.payload_type, h.timestamp), (101, 900));
    assert_eq!(payload, [5, 0x0A, 0x00, 0xA0], "960 units at 48 kHz are 160 at 8 kHz");
    // And back: 160 units at 8 kHz are 960 at 48 kHz.
    let out = r.relay(Duration::ZERO, Leg::Operator, &pkt(101, 1, 8000, 0xCD, true, &[1, 0x8A, 0x00, 0xA0])).unwrap();
    assert_eq!(parsed(&out).1, [1, 0x8A, 0x03, 0xC0]);
}
