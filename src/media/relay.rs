//! The caller↔operator RTP relay of the B2BUA, sans-IO: a datagram from one leg in, the
//! datagram for the other leg out.
//!
//! The gateway is a B2BUA, not a proxy: each leg is its own RTP session (RFC 3550 §3
//! "translator" rules do not apply because each side negotiated its SDP with us, not
//! with the other side). So every outgoing stream is *ours*:
//! - **Our SSRC, continuous sequence numbers and timestamps** (RFC 3550 §5.1, the str0m
//!   habit). Before the bridge the leg heard our prompts; [`Relay::new`] takes where
//!   that stream stands ([`StreamStart`]) and the relayed audio continues it. Within
//!   one source stream, sequence numbers and timestamps are the source's shifted by a
//!   fixed offset, so the receiver still sees real loss, reordering and the source's
//!   own sampling instants. When the source changes (new SSRC, e.g. the operator's phone
//!   re-INVITEd, or a sequence jump beyond RFC 3550 A.1's MAX_DROPOUT/MAX_MISORDER), the
//!   offsets are recomputed so that the output continues: next sequence number, and a
//!   timestamp advanced by the wall-clock time since our last packet (at least one
//!   packet's duration), with the marker bit set (RFC 3551 §4.1: a new talkspurt, the
//!   receiver's jitter buffer may resynchronise).
//! - **Payload**: passed through untouched when both legs use the same G.711 law;
//!   transcoded µ-law↔A-law through a 256-entry table (built once per process from
//!   [`super::g711`], so the result is exactly `encode(decode(x))`) when they differ.
//!   G.711 is one octet per sample in both laws, so transcoding keeps the length and
//!   the timestamps.
//! - **RFC 4733 telephone-event** (§2.1) is relayed with its payload type rewritten to
//!   the other leg's negotiated one (dynamic payload types are per leg, RFC 3264 §5.1),
//!   payload untouched; dropped and counted when the other leg did not negotiate it.
//! - **Comfort noise** (RFC 3389, PT 13) and any payload type the source leg did not
//!   negotiate are dropped and counted: we never offered CN, and forwarding a payload
//!   type the other leg never agreed to would be a protocol violation there.
//!   A dropped packet that is the newest of the current source does not leave a hole
//!   in our sequence numbers (the receiver would count it as loss).
//! - **Hostile input** never panics: parsing is [`RtpPacket::parse`]'s bounds-checked
//!   one, failures are counted in [`DirectionCounters::malformed`], nothing is logged
//!   per packet (DESIGN.md §4).
//!
//! Performance: per packet the work is one parse (no allocation, it borrows the
//! datagram), at most a 160-byte table lookup, and one 12-byte header write into the
//! output buffer. [`Relay::relay_into`] writes into a caller-owned `Vec` that the media
//! task reuses, so the steady state allocates nothing; [`Relay::relay`] is the
//! convenience form that allocates exactly the output datagram.
//!
//! CSRC lists, header extensions and padding of the source are not forwarded: what we
//! send is a single-source G.711 stream ([`RtpHeader::write`]), like our prompts.

use std::sync::LazyLock;

use bytes::Bytes;
use thiserror::Error;

use super::g711;
use super::moment::Moment;
use super::rtp::{RtpError, RtpHeader, RtpPacket, RTP_HEADER_LEN};
use super::sdp::Negotiated;
use super::Codec;

/// RTP clock of G.711 and of narrowband telephone-event (RFC 3551 §4.5.14, RFC 4733 §7.1.1).
const CLOCK_RATE: u32 = 8000;
/// Static payload type of comfort noise (RFC 3389 §4, RFC 3551 table 4).
pub const COMFORT_NOISE_PT: u8 = 13;
/// Samples assumed for a packet whose payload says nothing about its duration
/// (telephone-event): one 20 ms frame.
const DEFAULT_PACKET_SAMPLES: u32 = 160;
/// RFC 3550 A.1: a forward sequence jump larger than this starts a new source.
const MAX_DROPOUT: i16 = 3000;
/// RFC 3550 A.1: a backward sequence jump larger than this starts a new source.
const MAX_MISORDER: i16 = 100;

/// µ-law code → A-law code, `linear_to_alaw(ulaw_to_linear(x))`.
static ULAW_TO_ALAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| std::array::from_fn(|i| g711::linear_to_alaw(g711::ulaw_to_linear(i as u8))));
/// A-law code → µ-law code, `linear_to_ulaw(alaw_to_linear(x))`.
static ALAW_TO_ULAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| std::array::from_fn(|i| g711::linear_to_ulaw(g711::alaw_to_linear(i as u8))));

/// One side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The emergency caller's leg (our UAS side).
    Caller,
    /// The operator's softphone leg (our UAC side).
    Operator,
}

impl Leg {
    /// The leg a packet from `self` is sent to.
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Operator,
            Leg::Operator => Leg::Caller,
        }
    }
}

/// Where our outgoing stream to a leg stands, so relayed audio continues it.
///
/// From a prompt stream whose last packet had sequence `s`, timestamp `t`, 160 samples
/// and was due at `d`: `seq = s + 1`, `timestamp = t + 160`, `at = d + 20 ms`. For a
/// leg that never heard anything from us: random `seq`/`timestamp` (RFC 3550 §5.1)
/// and `at = now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart<T> {
    /// Our SSRC on this leg (RFC 3550 §8.1): it never changes during the call.
    pub ssrc: u32,
    /// Sequence number of the next packet we send.
    pub seq: u16,
    /// Timestamp a packet sampled at `at` carries.
    pub timestamp: u32,
    /// The instant `timestamp` refers to.
    pub at: T,
}

/// One leg's negotiated media plus our outgoing stream's starting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig<T> {
    /// The G.711 law this leg sends and receives.
    pub codec: Codec,
    /// Payload type of `codec` on this leg (both directions, as negotiated).
    pub payload_type: u8,
    /// This leg's telephone-event payload type, `None` when it does not do RFC 4733.
    pub telephone_event: Option<u8>,
    /// Our outgoing stream to this leg.
    pub start: StreamStart<T>,
}

impl<T> LegConfig<T> {
    /// The configuration of a leg from its SDP negotiation result.
    pub fn from_negotiated(negotiated: &Negotiated, start: StreamStart<T>) -> Self {
        LegConfig {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
            start,
        }
    }
}

/// Why a datagram produced nothing for the other leg. Every case is also counted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayDrop {
    /// Not a valid RTP packet.
    #[error("malformed RTP: {0}")]
    Malformed(#[from] RtpError),
    /// RFC 3389 comfort noise: never negotiated, not forwarded.
    #[error("comfort noise dropped")]
    ComfortNoise,
    /// A payload type the source leg did not negotiate.
    #[error("payload type {0} not negotiated on the source leg")]
    UnknownPayloadType(u8),
    /// A telephone-event for a leg that did not negotiate RFC 4733.
    #[error("telephone-event dropped: the other leg did not negotiate it")]
    NoTelephoneEvent,
}

/// Counters for one direction (packets arriving from one leg).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionCounters {
    /// Datagrams sent on to the other leg (audio and events).
    pub relayed: u64,
    /// Of `relayed`, audio packets transcoded µ-law↔A-law.
    pub transcoded: u64,
    /// Of `relayed`, telephone-event packets (payload type remapped).
    pub events: u64,
    /// Telephone-events dropped because the other leg has none.
    pub events_dropped: u64,
    /// Comfort-noise packets dropped.
    pub comfort_noise_dropped: u64,
    /// Packets of a payload type the source leg did not negotiate, dropped.
    pub unknown_dropped: u64,
    /// Datagrams that are not valid RTP.
    pub malformed: u64,
    /// Times the output was rebased on a new source (the first one included).
    pub source_changes: u64,
}

/// Both directions' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// Packets from the caller, sent to the operator.
    pub from_caller: DirectionCounters,
    /// Packets from the operator, sent to the caller.
    pub from_operator: DirectionCounters,
}

/// A leg's negotiated payload types and codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LegMedia {
    codec: Codec,
    payload_type: u8,
    telephone_event: Option<u8>,
}

/// The source stream currently relayed in one direction and how it maps onto ours.
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    /// Highest sequence number seen from it.
    max_seq: u16,
    /// Added (wrapping) to the source's sequence numbers.
    seq_offset: u16,
    /// Added (wrapping) to the source's timestamps.
    ts_offset: u32,
}

/// The newest packet we sent on a leg.
#[derive(Debug, Clone, Copy)]
struct Sent<T> {
    seq: u16,
    timestamp: u32,
    at: T,
    samples: u32,
}

/// Our outgoing stream to one leg and the source feeding it.
#[derive(Debug, Clone, Copy)]
struct Stream<T> {
    start: StreamStart<T>,
    last: Option<Sent<T>>,
    source: Option<Source>,
    counters: DirectionCounters,
}

impl<T: Moment> Stream<T> {
    fn new(start: StreamStart<T>) -> Self {
        Stream {
            start,
            last: None,
            source: None,
            counters: DirectionCounters::default(),
        }
    }

    /// Sequence number and timestamp for a packet of a new source arriving at `now`.
    fn next(&self, now: T) -> (u16, u32) {
        match self.last {
            None => (
                self.start.seq,
                self.start
                    .timestamp
                    .wrapping_add(samples_since(now, self.start.at)),
            ),
            Some(last) => (
                last.seq.wrapping_add(1),
                last.timestamp
                    .wrapping_add(samples_since(now, last.at).max(last.samples)),
            ),
        }
    }
}

/// Samples of an 8 kHz clock in `now - at`, modulo 2^32 like the RTP timestamp itself.
fn samples_since<T: Moment>(now: T, at: T) -> u32 {
    let units = now
        .since(at)
        .as_micros()
        .saturating_mul(u128::from(CLOCK_RATE))
        / 1_000_000;
    (units & u128::from(u32::MAX)) as u32
}

/// The transcoding table from one law to another, `None` when they are the same.
fn table(from: Codec, to: Codec) -> Option<&'static [u8; 256]> {
    match (from, to) {
        (Codec::Pcmu, Codec::Pcma) => Some(&ULAW_TO_ALAW),
        (Codec::Pcma, Codec::Pcmu) => Some(&ALAW_TO_ULAW),
        _ => None,
    }
}

/// The bridge between the caller's and the operator's RTP. See the module doc.
#[derive(Debug, Clone)]
pub struct Relay<T> {
    caller: LegMedia,
    operator: LegMedia,
    /// Our stream to the operator (fed by the caller).
    to_operator: Stream<T>,
    /// Our stream to the caller (fed by the operator).
    to_caller: Stream<T>,
}

enum Kind {
    Audio,
    Event(u8),
}

impl<T: Moment> Relay<T> {
    /// A relay between two legs; each config carries where our stream to that leg stands.
    pub fn new(caller: LegConfig<T>, operator: LegConfig<T>) -> Self {
        let media = |c: &LegConfig<T>| LegMedia {
            codec: c.codec,
            payload_type: c.payload_type,
            telephone_event: c.telephone_event,
        };
        Relay {
            caller: media(&caller),
            operator: media(&operator),
            to_operator: Stream::new(operator.start),
            to_caller: Stream::new(caller.start),
        }
    }

    /// Change a leg's negotiated media (a re-INVITE or UPDATE with new SDP). Our streams
    /// keep their SSRC, sequence numbers and timestamps.
    pub fn reconfigure(&mut self, leg: Leg, negotiated: &Negotiated) {
        let m = LegMedia {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
        };
        match leg {
            Leg::Caller => self.caller = m,
            Leg::Operator => self.operator = m,
        }
    }

    /// The datagram to send to `from.other()` for `datagram` received on `from`, or
    /// `None` when it is dropped (the reason is counted, see [`Relay::counters`]).
    /// Allocates the output datagram; the media shard should prefer
    /// [`relay_into`](Self::relay_into) with a reused buffer.
    pub fn relay(&mut self, now: T, from: Leg, datagram: &[u8]) -> Option<Bytes> {
        let mut out = Vec::with_capacity(datagram.len().max(RTP_HEADER_LEN));
        self.relay_into(now, from, datagram, &mut out).ok()?;
        Some(Bytes::from(out))
    }

    /// Like [`relay`](Self::relay), writing into `out` (cleared first) instead of
    /// allocating. On `Err`, `out` is empty and nothing must be sent.
    pub fn relay_into(
        &mut self,
        now: T,
        from: Leg,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RelayDrop> {
        out.clear();
        let (src, dst, stream) = match from {
            Leg::Caller => (self.caller, self.operator, &mut self.to_operator),
            Leg::Operator => (self.operator, self.caller, &mut self.to_caller),
        };
        let pkt = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                stream.counters.malformed += 1;
                return Err(RelayDrop::Malformed(e));
            }
        };
        let pt = pkt.header.payload_type;
        let kind = if pt == src.payload_type {
            Ok(Kind::Audio)
        } else if Some(pt) == src.telephone_event {
            match dst.telephone_event {
                Some(out_pt) => Ok(Kind::Event(out_pt)),
                None => {
                    stream.counters.events_dropped += 1;
                    Err(RelayDrop::NoTelephoneEvent)
                }
            }
        } else if pt == COMFORT_NOISE_PT {
            stream.counters.comfort_noise_dropped += 1;
            Err(RelayDrop::ComfortNoise)
        } else {
            stream.counters.unknown_dropped += 1;
            Err(RelayDrop::UnknownPayloadType(pt))
        };
        let kind = match kind {
            Ok(k) => k,
            Err(drop) => {
                close_hole(stream, &pkt.header);
                return Err(drop);
            }
        };

        // Map the source's numbering onto our stream (module doc).
        let h = pkt.header;
        let same_source = stream.source.filter(|s| {
            let d = h.sequence.wrapping_sub(s.max_seq) as i16;
            s.ssrc == h.ssrc && (-MAX_MISORDER..=MAX_DROPOUT).contains(&d)
        });
        let (mut source, new_source) = match same_source {
            Some(s) => (s, false),
            None => {
                let (seq, ts) = stream.next(now);
                stream.counters.source_changes += 1;
                let s = Source {
                    ssrc: h.ssrc,
                    max_seq: h.sequence,
                    seq_offset: seq.wrapping_sub(h.sequence),
                    ts_offset: ts.wrapping_sub(h.timestamp),
                };
                (s, true)
            }
        };
        let seq = h.sequence.wrapping_add(source.seq_offset);
        let timestamp = h.timestamp.wrapping_add(source.ts_offset);
        if (h.sequence.wrapping_sub(source.max_seq) as i16) > 0 {
            source.max_seq = h.sequence;
        }
        stream.source = Some(source);
        let samples = match kind {
            Kind::Audio => u32::try_from(pkt.payload.len()).unwrap_or(u32::MAX),
            Kind::Event(_) => DEFAULT_PACKET_SAMPLES,
        };
        let newest = stream
            .last
            .is_none_or(|l| new_source || (seq.wrapping_sub(l.seq) as i16) > 0);
        if newest {
            stream.last = Some(Sent {
                seq,
                timestamp,
                at: now,
                samples,
            });
        }

        let (payload_type, transcode) = match kind {
            Kind::Audio => (dst.payload_type, table(src.codec, dst.codec)),
            Kind::Event(out_pt) => (out_pt, None),
        };
        let header = RtpHeader {
            marker: h.marker || new_source,
            payload_type,
            sequence: seq,
            timestamp,
            ssrc: stream.start.ssrc,
        };
        stream.counters.relayed += 1;
        match transcode {
            None => header.write(pkt.payload, out),
            Some(table) => {
                header.write(&[], out);
                out.extend(
                    pkt.payload
                        .iter()
                        .map(|c| table.get(usize::from(*c)).copied().unwrap_or(*c)),
                );
                stream.counters.transcoded += 1;
            }
        }
        if let Kind::Event(_) = kind {
            stream.counters.events += 1;
        }
        Ok(())
    }

    /// Where our stream to `to` stands at `now`: hand it to the prompt player when the
    /// bridge ends (operator hung up, the caller goes back to the queue) so the caller's
    /// stream stays continuous the other way round too.
    pub fn stream_position(&self, to: Leg, now: T) -> StreamStart<T> {
        let stream = match to {
            Leg::Caller => &self.to_caller,
            Leg::Operator => &self.to_operator,
        };
        let (seq, timestamp) = stream.next(now);
        StreamStart {
            ssrc: stream.start.ssrc,
            seq,
            timestamp,
            at: now,
        }
    }

    /// Counters of both directions.
    pub fn counters(&self) -> RelayCounters {
        RelayCounters {
            from_caller: self.to_operator.counters,
            from_operator: self.to_caller.counters,
        }
    }
}

/// A dropped packet that is the newest of the current source would leave a gap in our
/// sequence numbers that the receiver counts as loss: shift the mapping down by one.
/// (A reordered packet older than it may then reuse a number; the receiver drops it as
/// a duplicate — rarer and cheaper than a false loss on every CN packet.)
fn close_hole<T>(stream: &mut Stream<T>, h: &RtpHeader) {
    if let Some(s) = stream.source.as_mut() {
        let d = h.sequence.wrapping_sub(s.max_seq) as i16;
        if s.ssrc == h.ssrc && d > 0 && d <= MAX_DROPOUT {
            s.max_seq = h.sequence;
            s.seq_offset = s.seq_offset.wrapping_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn leg(codec: Codec, te: Option<u8>, ssrc: u32, seq: u16, ts: u32) -> LegConfig<Duration> {
        LegConfig {
            codec,
            payload_type: codec.payload_type(),
            telephone_event: te,
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
}
