//! RFC 4733 telephone-event: every key press becomes exactly one digit, whatever the
//! network does to its packets. Fed with SIPp's recordings and with synthetic streams.

use crate::harness::corpora;
use std::collections::BTreeMap;
use std::time::Duration;

use cc112::media::rfc4733::{Digit, DtmfReceiver, Rfc4733Error, TelephoneEvent, END_TIMEOUT};
use cc112::media::rtp::{RtpHeader, RtpPacket};
use proptest::prelude::*;

const SSRC: u32 = 0x0E05_384E;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}


/// One telephone-event packet: (rtp timestamp, marker, seq, payload).
#[derive(Debug, Clone)]
struct Pkt {
    ts: u32,
    marker: bool,
    seq: u16,
    payload: [u8; 4],
}

fn pkt(ts: u32, seq: u16, event: u8, end: bool, duration: u16) -> Pkt {
    let flags = if end { 0x80 | 10 } else { 10 };
    let [d0, d1] = duration.to_be_bytes();
    Pkt {
        ts,
        marker: duration == 0 && !end,
        seq,
        payload: [event, flags, d0, d1],
    }
}

/// The packets of one press as a well-behaved sender makes them: a start, updates every
/// 40 ms, and three copies of the end report.
fn press(ts: u32, first_seq: u16, event: u8, duration: u16) -> Vec<Pkt> {
    let mut out = Vec::new();
    let mut seq = first_seq;
    let mut d = 0u16;
    while d < duration {
        out.push(pkt(ts, seq, event, false, d));
        seq = seq.wrapping_add(1);
        d = d.saturating_add(320);
    }
    for _ in 0..3 {
        out.push(pkt(ts, seq, event, true, duration));
    }
    out
}

fn feed(rx: &mut DtmfReceiver<Duration>, now: Duration, p: &Pkt) {
    let header = RtpHeader {
        marker: p.marker,
        payload_type: 101,
        sequence: p.seq,
        timestamp: p.ts,
        ssrc: SSRC,
    };
    rx.handle_packet(now, &header, &p.payload).unwrap();
}

/// Feeds packets 20 ms apart from `start`, then lets every timeout run; returns all digits.
fn run(packets: &[Pkt]) -> Vec<Digit<Duration>> {
    let mut rx = DtmfReceiver::new(8000);
    let mut now = ms(0);
    let mut digits = Vec::new();
    for p in packets {
        now += ms(20);
        feed(&mut rx, now, p);
        digits.extend(std::iter::from_fn(|| rx.poll_digit()));
    }
    while let Some(t) = rx.poll_timeout() {
        rx.handle_timeout(t);
    }
    digits.extend(std::iter::from_fn(|| rx.poll_digit()));
    digits
}

fn keys(digits: &[Digit<Duration>]) -> String {
    digits.iter().map(|d| d.key).collect()
}

/// The TSV rows of the SIPp recordings, grouped by file, in capture order.
fn sipp_recordings() -> BTreeMap<String, Vec<Vec<u8>>> {
    let path = corpora().join("rtp/dtmf_rfc4733_packets.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set CC112_CORPORA)", path.display()));
    let mut lines = text.lines();
    let columns: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let (pcap, hex_col) = (col("pcap"), col("rtp_packet_hex"));
    let (event, end, volume, duration, seq, ts, marker) = (
        col("event"),
        col("end"),
        col("volume"),
        col("duration"),
        col("rtp_seq"),
        col("rtp_ts"),
        col("marker"),
    );
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let bytes = hex::decode(f[hex_col]).unwrap();
        // Our decoders must agree with the columns the corpus was annotated with.
        let p = RtpPacket::parse(&bytes).unwrap();
        let e = TelephoneEvent::parse(p.payload).unwrap();
        assert_eq!(e.event.to_string(), f[event], "{line}");
        assert_eq!(u8::from(e.end).to_string(), f[end], "{line}");
        assert_eq!(e.volume.to_string(), f[volume], "{line}");
        assert_eq!(e.duration.to_string(), f[duration], "{line}");
        assert_eq!(p.header.sequence.to_string(), f[seq], "{line}");
        assert_eq!(p.header.timestamp.to_string(), f[ts], "{line}");
        assert_eq!(u8::from(p.header.marker).to_string(), f[marker], "{line}");
        out.entry(f[pcap].to_string()).or_default().push(bytes);
    }
    out
}

fn key_of_recording(name: &str) -> char {
    let k = name
        .trim_start_matches("sipp_dtmf_2833_")
        .trim_end_matches(".pcap");
    match k {
        "star" => '*',
        "pound" => '#',
        _ => k.chars().next().unwrap(),
    }
}

fn feed_raw(rx: &mut DtmfReceiver<Duration>, now: Duration, bytes: &[u8]) {
    let p = RtpPacket::parse(bytes).unwrap();
    rx.handle_packet(now, &p.header, p.payload).unwrap();
}

#[test]
fn each_sipp_recording_yields_exactly_its_digit() {
    let recordings = sipp_recordings();
    assert_eq!(recordings.len(), 12);
    for (name, packets) in &recordings {
        let mut rx = DtmfReceiver::new(8000);
        let mut digits = Vec::new();
        for (i, bytes) in packets.iter().enumerate() {
            feed_raw(&mut rx, ms(40 * i as u64), bytes);
            digits.extend(std::iter::from_fn(|| rx.poll_digit()));
        }
        rx.handle_timeout(ms(10_000));
        digits.extend(std::iter::from_fn(|| rx.poll_digit()));
        assert_eq!(keys(&digits), key_of_recording(name).to_string(), "{name}");
        assert_eq!(digits[0].duration, ms(280), "{name}: 2240 units at 8 kHz");
        assert_eq!(digits[0].at, ms(0), "{name}");
    }
}

#[test]
fn all_sipp_recordings_played_into_one_call_yield_twelve_digits_in_order() {
    // SIPp replays each recording with its own timestamps: they jump back and forth.
    let recordings = sipp_recordings();
    let mut rx = DtmfReceiver::new(8000);
    let mut now = ms(0);
    let mut expected = String::new();
    let mut got = String::new();
    for (name, packets) in &recordings {
        expected.push(key_of_recording(name));
        for bytes in packets {
            now += ms(40);
            feed_raw(&mut rx, now, bytes);
        }
        now += ms(500);
        got.extend(std::iter::from_fn(|| rx.poll_digit()).map(|d| d.key));
    }
    assert_eq!(got, expected);
}

#[test]
fn an_event_and_its_three_end_packets_are_one_digit_reported_at_the_end() {
    let packets = press(1000, 1, 5, 1600);
    let mut rx = DtmfReceiver::new(8000);
    for (i, p) in packets.iter().enumerate() {
        feed(&mut rx, ms(40 * i as u64), p);
        let digit = rx.poll_digit();
        if i < 5 {
            assert_eq!(digit, None, "nothing before the end packet ({i})");
        } else if i == 5 {
            assert_eq!(
                digit,
                Some(Digit {
                    key: '5',
                    at: ms(0),
                    duration: ms(200)
                })
            );
        } else {
            assert_eq!(digit, None, "a repeated end packet is not a new digit");
        }
    }
    assert_eq!(rx.poll_timeout(), None);
}

#[test]
fn a_long_press_is_one_digit() {
    let digits = run(&press(50_000, 1, 9, 40_000)); // 5 s, 125 updates
    assert_eq!(keys(&digits), "9");
    assert_eq!(digits[0].duration, ms(5000));
}

#[test]
fn the_same_key_pressed_again_is_a_new_digit() {
    let mut packets = press(1000, 1, 1, 800);
    packets.extend(press(3000, 10, 1, 800));
    assert_eq!(keys(&run(&packets)), "11");
}

#[test]
fn lost_start_packets_still_yield_the_digit_once() {
    let packets: Vec<Pkt> = press(1000, 1, 0, 1600)
        .into_iter()
        .filter(|p| TelephoneEvent::parse(&p.payload).unwrap().end)
        .collect();
    let mut rx = DtmfReceiver::new(8000);
    feed(&mut rx, ms(1000), &packets[0]);
    assert_eq!(
        rx.poll_digit(),
        Some(Digit {
            key: '0',
            at: ms(800),
            duration: ms(200)
        })
    );
    for p in &packets[1..] {
        feed(&mut rx, ms(1010), p);
    }
    assert_eq!(rx.poll_digit(), None);
}

#[test]
fn lost_end_packets_end_the_digit_after_the_timeout_and_late_ones_are_dropped() {
    let mut packets = press(1000, 1, 3, 960); // updates at 0, 320, 640; then 3 ends
    let ends = packets.split_off(3);
    let mut rx = DtmfReceiver::new(8000);
    for (i, p) in packets.iter().enumerate() {
        feed(&mut rx, ms(40 * i as u64), p);
    }
    assert_eq!(rx.poll_timeout(), Some(ms(80) + END_TIMEOUT));
    rx.handle_timeout(ms(329));
    assert_eq!(rx.poll_digit(), None, "not before the timeout");
    rx.handle_timeout(ms(330));
    assert_eq!(
        rx.poll_digit(),
        Some(Digit {
            key: '3',
            at: ms(0),
            duration: ms(80)
        })
    );
    assert_eq!(rx.poll_timeout(), None);
    feed(&mut rx, ms(400), &ends[0]);
    assert_eq!(
        rx.poll_digit(),
        None,
        "an end packet after the timeout is not a second digit"
    );
}

#[test]
fn lost_end_packets_then_the_same_key_again_is_two_digits() {
    let mut packets = press(1000, 1, 7, 960);
    packets.truncate(3); // all three end packets lost
    packets.extend(press(1000 + 960 + 320, 10, 7, 960));
    assert_eq!(keys(&run(&packets)), "77");
}

#[test]
fn a_press_longer_than_the_duration_field_stays_one_digit() {
    // RFC 4733 §2.5.2.3: after 65535 units the sender starts a new segment at ts + 65535.
    let mut packets = press(10_000, 1, 11, 65535);
    packets.truncate(packets.len() - 3); // segments other than the last have no end
    packets.push(pkt(10_000, 300, 11, false, 65535));
    packets.extend(press(10_000 + 65535, 301, 11, 8000));
    let digits = run(&packets);
    assert_eq!(keys(&digits), "#");
    assert_eq!(
        digits[0].duration,
        Duration::from_micros((65535 + 8000) * 125)
    );
}

#[test]
fn reordered_and_duplicated_packets_do_not_duplicate_digits() {
    let a = press(1000, 1, 2, 640);
    let b = press(2000, 10, 4, 640);
    // b starts before a's end packets arrive; everything is sent twice.
    let mut packets = vec![
        a[0].clone(),
        a[1].clone(),
        b[0].clone(),
        a[2].clone(),
        b[1].clone(),
    ];
    packets.extend(a[3..].iter().cloned());
    packets.extend(b[2..].iter().cloned());
    let twice: Vec<Pkt> = packets
        .iter()
        .flat_map(|p| [p.clone(), p.clone()])
        .collect();
    assert_eq!(keys(&run(&twice)), "24");
}

#[test]
fn events_other_than_keys_are_ignored_and_short_payloads_are_errors() {
    let mut rx = DtmfReceiver::new(8000);
    let header = RtpHeader {
        marker: true,
        payload_type: 101,
        sequence: 1,
        timestamp: 1,
        ssrc: SSRC,
    };
    rx.handle_packet(ms(0), &header, &[16, 0x80, 0, 160])
        .unwrap(); // flash
    assert_eq!(rx.poll_digit(), None);
    assert_eq!(
        rx.handle_packet(ms(0), &header, &[1, 0x80, 0]),
        Err(Rfc4733Error::TooShort(3))
    );
}

#[test]
fn every_key_has_its_event_code() {
    let keys: String = (0..=16)
        .filter_map(cc112::media::rfc4733::event_key)
        .collect();
    assert_eq!(keys, "0123456789*#ABCD");
}

proptest! {
    #[test]
    fn any_reordering_and_duplication_gives_each_press_once(
        presses in proptest::collection::vec((0u8..16, 1u16..20), 1..6),
        order in Just((0..200usize).collect::<Vec<_>>()).prop_shuffle(),
        dup_every in 2usize..7,
    ) {
        let mut packets = Vec::new();
        let mut expected: Vec<char> = Vec::new();
        for (i, (event, frames)) in presses.iter().enumerate() {
            packets.extend(press(10_000 * (i as u32 + 1), 100 * i as u16, *event, frames * 160));
            expected.push(cc112::media::rfc4733::event_key(*event).unwrap());
        }
        let mut mixed: Vec<Pkt> = order.iter().filter(|i| **i < packets.len()).map(|i| packets[*i].clone()).collect();
        let dups: Vec<Pkt> = mixed.iter().step_by(dup_every).cloned().collect();
        mixed.extend(dups);
        let mut got: Vec<char> = run(&mixed).iter().map(|d| d.key).collect();
        got.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(got, expected);
    }
}
