//! RFC 4733 telephone-events (`cc112::media::rfc4733::DtmfReceiver`): the de-duplicating
//! receiver that must turn each key press into exactly one digit.
//!
//! Three readings of the input:
//! - a pcap capture (the shared corpora's 12 DTMF recordings, seeding in place): its RTP
//!   packets with payload type 101, at their capture times;
//! - otherwise, first byte even: a raw stream of records `[gap ms][length][packet]`;
//! - first byte odd: a model. Key presses with distinct timestamps are sent as a sender
//!   would (updates every 20 ms, three end packets), then the input drops, repeats and
//!   reorders packets and spaces them out (all within the 5 s the receiver remembers).
//!
//! Checks, beyond "no panic": the receiver reports no more digits than there were
//! distinct (SSRC, timestamp) key events (within the 5 s and 32 events it remembers),
//! each a DTMF key, with no timer left once the
//! stream has been quiet for a second; and in the model, every press of which at least
//! one packet arrived is reported exactly once (the same keys, counted), with a
//! duration no longer than the press.
#![no_main]

use std::collections::BTreeSet;
use std::time::Duration;

use cc112::media::rfc4733::{event_key, DtmfReceiver, TelephoneEvent};
use cc112::media::rtp::{RtpHeader, RtpPacket};
use cc112_fuzz::udp_payloads;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const TE_PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    if let Some(datagrams) = udp_payloads(data) {
        let first = datagrams.first().map_or(0, |(t, _)| *t);
        let stream: Vec<(Duration, &[u8])> = datagrams
            .into_iter()
            .map(|(t, d)| (Duration::from_micros(t.saturating_sub(first)), d))
            .collect();
        replay(&stream);
    } else if data.first().is_some_and(|b| b & 1 == 0) {
        replay(&records(&data[1..]));
    } else if !data.is_empty() {
        let _ = model(&mut Unstructured::new(&data[1..]));
    }
});

/// `[gap ms][length][packet]` records, at the sum of the gaps.
fn records(mut data: &[u8]) -> Vec<(Duration, &[u8])> {
    let mut out = Vec::new();
    let mut now = Duration::ZERO;
    while let [gap, len, rest @ ..] = data {
        let len = usize::from(*len).min(rest.len());
        now += Duration::from_millis(u64::from(*gap));
        out.push((now, &rest[..len]));
        data = &rest[len..];
    }
    out
}

/// Feeds telephone-event packets at their times, firing the timer when it is due.
fn run(rx: &mut DtmfReceiver<Duration>, packets: &[(Duration, RtpHeader, [u8; 4])]) -> Vec<cc112::media::rfc4733::Digit<Duration>> {
    let mut digits = Vec::new();
    let mut last = Duration::ZERO;
    for (now, header, payload) in packets {
        let now = (*now).max(last);
        while let Some(due) = rx.poll_timeout().filter(|due| *due <= now) {
            rx.handle_timeout(due);
        }
        rx.handle_packet(now, header, payload).expect("a 4-byte payload is a telephone-event");
        digits.extend(std::iter::from_fn(|| rx.poll_digit()));
        last = now;
    }
    rx.handle_timeout(last + Duration::from_secs(1));
    digits.extend(std::iter::from_fn(|| rx.poll_digit()));
    assert_eq!(rx.poll_timeout(), None, "a timer left after a quiet second");
    digits
}

fn replay(stream: &[(Duration, &[u8])]) {
    let mut packets = Vec::new();
    let mut events = BTreeSet::new();
    let mut rx = DtmfReceiver::new(8000);
    for (now, datagram) in stream {
        let Ok(p) = RtpPacket::parse(datagram) else { continue };
        if p.header.payload_type != TE_PT {
            continue;
        }
        let Ok(report) = TelephoneEvent::parse(p.payload) else {
            assert!(rx.handle_packet(*now, &p.header, p.payload).is_err());
            continue;
        };
        if report.key().is_some() {
            events.insert((p.header.ssrc, p.header.timestamp));
        }
        let mut four = [0u8; 4];
        four.copy_from_slice(&p.payload[..4]);
        packets.push((*now, p.header, four));
    }
    let key_packets = packets.iter().filter(|(_, _, p)| event_key(p[0]).is_some()).count();
    let span = packets.iter().map(|(t, _, _)| *t).max().unwrap_or_default();
    let digits = run(&mut rx, &packets);
    assert!(digits.len() <= key_packets);
    // Within the 5 s and the 32 events the receiver remembers, an event is one digit at most.
    if span < Duration::from_secs(5) && events.len() <= 32 {
        assert!(digits.len() <= events.len(), "{} digits from {} key events", digits.len(), events.len());
    }
    for d in &digits {
        assert!((0..16).any(|e| event_key(e) == Some(d.key)), "{d:?}");
    }
}

/// One press: the key's event code, its RTP timestamp, how long it lasts (timestamp units).
struct Press {
    event: u8,
    ts: u32,
    duration: u16,
}

fn model(u: &mut Unstructured) -> Result<()> {
    let ssrc: u32 = u.arbitrary()?;
    let base: u32 = u.arbitrary()?;
    let presses: Vec<Press> = (0..u.int_in_range(1..=16u32)?)
        .map(|k| {
            Ok(Press {
                event: u.int_in_range(0..=15u8)?,
                ts: base.wrapping_add(k * 40_000),
                duration: u.int_in_range(1..=1600u16)?,
            })
        })
        .collect::<Result<_>>()?;
    // What a sender sends for each press: updates every 160 units, then the end thrice.
    let mut sent: Vec<(usize, RtpHeader, [u8; 4])> = Vec::new();
    let mut seq: u16 = u.arbitrary()?;
    for (i, p) in presses.iter().enumerate() {
        let mut durations: Vec<(u16, bool)> = (1..).map(|n| n * 160).take_while(|d| *d < p.duration).map(|d| (d, false)).collect();
        durations.extend([(p.duration, true); 3]);
        for (n, (d, end)) in durations.into_iter().enumerate() {
            seq = seq.wrapping_add(1);
            let header = RtpHeader { marker: n == 0, payload_type: TE_PT, sequence: seq, timestamp: p.ts, ssrc };
            let flags = if end { 0x80 } else { 0 } | 10;
            let [d0, d1] = d.to_be_bytes();
            sent.push((i, header, [p.event, flags, d0, d1]));
        }
    }
    // The network: drop, repeat, swap neighbours.
    let mut arrived = Vec::new();
    for packet in &sent {
        match u.int_in_range(0..=7u8)? {
            0 => {}
            1 => arrived.extend([*packet; 2]),
            _ => arrived.push(*packet),
        }
    }
    for _ in 0..u.int_in_range(0..=64u32)? {
        if arrived.len() < 2 {
            break;
        }
        let i = u.choose_index(arrived.len() - 1)?;
        arrived.swap(i, i + 1);
    }
    arrived.truncate(200);
    let mut now = Duration::ZERO;
    let mut timed = Vec::new();
    for (_, header, payload) in &arrived {
        now += Duration::from_millis(u64::from(u.int_in_range(0..=20u8)?));
        timed.push((now, *header, *payload));
    }
    let mut rx = DtmfReceiver::new(8000);
    let digits = run(&mut rx, &timed);

    let delivered: BTreeSet<usize> = arrived.iter().map(|(i, _, _)| *i).collect();
    let mut want: Vec<char> = delivered.iter().filter_map(|&i| event_key(presses[i].event)).collect();
    let mut got: Vec<char> = digits.iter().map(|d| d.key).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "each press that arrived must be one digit");
    for d in &digits {
        assert!(d.duration <= Duration::from_millis(200), "{d:?} longer than any press");
    }
    Ok(())
}
