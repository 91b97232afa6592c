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
//! - **Payload**: passed through untouched when both legs use the same codec;
//!   transcoded µ-law↔A-law through a 256-entry table (built once per process from
//!   [`super::g711`], so the result is exactly `encode(decode(x))`) when they are the
//!   two G.711 laws; between any other pair (G.722, Opus) decoded to PCM and encoded
//!   again by a [`Transcoder`] per direction, which keeps the codec state of that
//!   stream. A transcoded packet carries the same duration as the source packet.
//! - **Timestamps follow each leg's clock** (8 kHz for G.711 and G.722, 48 kHz for
//!   Opus): a source timestamp is mapped onto ours by scaling its distance from the
//!   newest packet relayed by `destination clock / source clock`, so gaps (loss, DTX
//!   silence) keep their real length on the other side. A packet that cannot be
//!   transcoded (an invalid Opus packet, a G.711 packet of a duration Opus cannot
//!   code, like 30 ms) is dropped and counted in [`DirectionCounters::malformed`].
//! - **Opus loss and DTX**: when an Opus source skips exactly one sequence number, the
//!   packet after the hole brings the lost frame back from its in-band FEC (libopus
//!   conceals it when there is none) and both go out in one payload whose timestamp is
//!   the lost packet's (counted in [`DirectionCounters::fec_recovered`]; the lost packet,
//!   should it arrive late after all, is dropped). A timestamp jump with consecutive
//!   sequence numbers is DTX (RFC 7587 §3.1.3): not loss, nothing is made up, the pause
//!   keeps its length.
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
//!   per packet (a log line per bad packet would let any sender flood the log).
//!
//! Performance: per packet the work is one parse (no allocation, it borrows the
//! datagram), at most a 160-byte table lookup, and one 12-byte header write into the
//! output buffer. [`Relay::relay_into`] writes into a caller-owned `Vec` that the media
//! task reuses, so the steady state allocates nothing; [`Relay::relay`] is the
//! convenience form that allocates exactly the output datagram.
//!
//! CSRC lists, header extensions and padding of the source are not forwarded: what we
//! send is a single-source stream ([`RtpHeader::write`]), like our prompts.

use std::sync::LazyLock;

use bytes::Bytes;
use thiserror::Error;

use super::g711;
use super::moment::Moment;
use super::rtp::{RtpError, RtpHeader, RtpPacket, MAX_DROPOUT, MAX_MISORDER, RTP_HEADER_LEN};
use super::sdp::Negotiated;
use super::transcode::Transcoder;
use super::Codec;

/// Static payload type of comfort noise (RFC 3389 §4, RFC 3551 table 4).
pub const COMFORT_NOISE_PT: u8 = 13;

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
    /// Its RTP clock (8000, or 48000 on an Opus leg that negotiated it).
    pub telephone_event_rate: u32,
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
            telephone_event_rate: negotiated.telephone_event_rate,
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
    /// Audio that could not be transcoded (invalid Opus, a duration Opus cannot code).
    #[error("audio could not be transcoded")]
    Untranscodable,
    /// A packet that arrived after its audio was rebuilt from the next one's FEC.
    #[error("late packet already rebuilt from FEC")]
    AlreadyRecovered,
}

/// Counters for one direction (packets arriving from one leg).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionCounters {
    /// Datagrams sent on to the other leg (audio and events).
    pub relayed: u64,
    /// Of `relayed`, audio packets transcoded (µ-law↔A-law, or through PCM).
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
    /// Lost Opus packets whose audio was rebuilt from the next packet (FEC or, without
    /// it, libopus' concealment) and sent.
    pub fec_recovered: u64,
    /// Packets that arrived after their audio had been rebuilt, dropped.
    pub late_after_recovery: u64,
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
    telephone_event_rate: u32,
}

/// The source stream currently relayed in one direction and how it maps onto ours.
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    /// Highest sequence number seen from it.
    max_seq: u16,
    /// Added (wrapping) to the source's sequence numbers.
    seq_offset: u16,
    /// A source timestamp and ours for it: others are mapped by their distance from it.
    anchor_source_ts: u32,
    anchor_ts: u32,
}

impl Source {
    /// Our timestamp for the source's `ts`, `from`/`to` being the two clocks.
    fn map_ts(&self, ts: u32, from: u32, to: u32) -> u32 {
        let delta = i64::from(ts.wrapping_sub(self.anchor_source_ts) as i32);
        let scaled = delta * i64::from(to) / i64::from(from.max(1));
        // Modulo 2^32, like the timestamps themselves.
        self.anchor_ts.wrapping_add(scaled as u32)
    }
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
    /// RTP clock of the codec of the leg this stream goes to.
    clock: u32,
    /// RTP clock of the source leg's codec.
    source_clock: u32,
    last: Option<Sent<T>>,
    source: Option<Source>,
    /// The last packet (SSRC, sequence) whose audio was rebuilt from its successor.
    recovered: Option<(u32, u16)>,
    counters: DirectionCounters,
}

impl<T: Moment> Stream<T> {
    fn new(start: StreamStart<T>, clock: u32, source_clock: u32) -> Self {
        Stream {
            start,
            clock,
            source_clock,
            last: None,
            source: None,
            recovered: None,
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
                    .wrapping_add(samples_since(now, self.start.at, self.clock)),
            ),
            Some(last) => (
                last.seq.wrapping_add(1),
                last.timestamp
                    .wrapping_add(samples_since(now, last.at, self.clock).max(last.samples)),
            ),
        }
    }

    /// The source timestamp units between the newest packet and `h` when exactly one
    /// packet of the current source is missing between them (not DTX: that skips time,
    /// not sequence numbers).
    fn gap_after_one_lost(&self, h: &RtpHeader) -> Option<u32> {
        let s = self.source.filter(|s| s.ssrc == h.ssrc && h.sequence == s.max_seq.wrapping_add(2))?;
        let gap = h.timestamp.wrapping_sub(s.anchor_source_ts);
        (gap > 0 && gap < self.source_clock).then_some(gap)
    }

    /// Our sequence number and timestamp for a packet of the source with header `h`,
    /// `samples` long, and whether it starts a new source (module doc): maps the
    /// source's numbering onto our stream and remembers the newest packet sent.
    fn renumber(&mut self, now: T, h: &RtpHeader, samples: u32) -> (u16, u32, bool) {
        let same_source = self.source.filter(|s| {
            let d = h.sequence.wrapping_sub(s.max_seq) as i16;
            s.ssrc == h.ssrc && (-MAX_MISORDER..=MAX_DROPOUT).contains(&d)
        });
        let (mut source, new_source) = match same_source {
            Some(s) => (s, false),
            None => {
                let (seq, ts) = self.next(now);
                self.counters.source_changes += 1;
                let s = Source {
                    ssrc: h.ssrc,
                    max_seq: h.sequence,
                    seq_offset: seq.wrapping_sub(h.sequence),
                    anchor_source_ts: h.timestamp,
                    anchor_ts: ts,
                };
                (s, true)
            }
        };
        let seq = h.sequence.wrapping_add(source.seq_offset);
        let timestamp = source.map_ts(h.timestamp, self.source_clock, self.clock);
        if (h.sequence.wrapping_sub(source.max_seq) as i16) > 0 {
            source.max_seq = h.sequence;
        }
        self.source = Some(source);
        let newest = self
            .last
            .is_none_or(|l| new_source || (seq.wrapping_sub(l.seq) as i16) > 0);
        if newest {
            // Re-anchor on the newest packet: distances stay short, scaling stays exact.
            source.anchor_source_ts = h.timestamp;
            source.anchor_ts = timestamp;
            self.source = Some(source);
            self.last = Some(Sent {
                seq,
                timestamp,
                at: now,
                samples,
            });
        }
        (seq, timestamp, new_source)
    }
}

/// Units of a `clock` Hz RTP clock in `now - at`, modulo 2^32 like the timestamp itself.
fn samples_since<T: Moment>(now: T, at: T, clock: u32) -> u32 {
    let units = now
        .since(at)
        .as_micros()
        .saturating_mul(u128::from(clock))
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
#[derive(Debug)]
pub struct Relay<T> {
    caller: LegMedia,
    operator: LegMedia,
    /// Our stream to the operator (fed by the caller).
    to_operator: Stream<T>,
    /// Our stream to the caller (fed by the operator).
    to_caller: Stream<T>,
    /// Caller's codec → operator's, when they differ and are not the two G.711 laws.
    caller_to_operator: Option<Transcoder>,
    /// Operator's codec → caller's, likewise.
    operator_to_caller: Option<Transcoder>,
}

/// The PCM transcoder `from` → `to` needs, `None` for a pass-through or a G.711 table
/// (or, should libopus fail to allocate, nothing: the packets are then dropped, counted).
fn transcoder(from: Codec, to: Codec) -> Option<Transcoder> {
    if from == to || (from.is_g711() && to.is_g711()) {
        None
    } else {
        Transcoder::new(from, to).ok()
    }
}

/// How the audio of one direction is carried.
enum Carry<'a> {
    /// Same codec, or an event: the payload as it came.
    Pass,
    /// µ-law↔A-law.
    Table(&'static [u8; 256]),
    /// Through PCM.
    Pcm(&'a mut Transcoder),
    /// The transcoder is missing (allocation failed): drop.
    Broken,
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
            telephone_event_rate: c.telephone_event_rate,
        };
        let (c, o) = (caller.codec, operator.codec);
        Relay {
            caller: media(&caller),
            operator: media(&operator),
            to_operator: Stream::new(operator.start, o.clock_rate(), c.clock_rate()),
            to_caller: Stream::new(caller.start, c.clock_rate(), o.clock_rate()),
            caller_to_operator: transcoder(c, o),
            operator_to_caller: transcoder(o, c),
        }
    }

    /// Change a leg's negotiated media (a re-INVITE or UPDATE with new SDP). Our streams
    /// keep their SSRC, sequence numbers and timestamps.
    pub fn reconfigure(&mut self, leg: Leg, negotiated: &Negotiated) {
        let m = LegMedia {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
            telephone_event_rate: negotiated.telephone_event_rate,
        };
        match leg {
            Leg::Caller => self.caller = m,
            Leg::Operator => self.operator = m,
        }
        let (c, o) = (self.caller.codec, self.operator.codec);
        self.to_operator.clock = o.clock_rate();
        self.to_operator.source_clock = c.clock_rate();
        self.to_caller.clock = c.clock_rate();
        self.to_caller.source_clock = o.clock_rate();
        self.caller_to_operator = transcoder(c, o);
        self.operator_to_caller = transcoder(o, c);
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
        let (src, dst, stream, pcm) = match from {
            Leg::Caller => (self.caller, self.operator, &mut self.to_operator, &mut self.caller_to_operator),
            Leg::Operator => (self.operator, self.caller, &mut self.to_caller, &mut self.operator_to_caller),
        };
        let pkt = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                stream.counters.malformed += 1;
                return Err(RelayDrop::Malformed(e));
            }
        };
        let kind = match classify(&src, &dst, &mut stream.counters, pkt.header.payload_type) {
            Ok(k) => k,
            Err(drop) => {
                close_hole(stream, &pkt.header);
                return Err(drop);
            }
        };
        let h = pkt.header;
        if matches!(kind, Kind::Audio) && stream.recovered == Some((h.ssrc, h.sequence)) {
            stream.counters.late_after_recovery += 1;
            return Err(RelayDrop::AlreadyRecovered);
        }
        // The payload first, behind room for the header: a transcoding failure must not
        // advance our numbering.
        let lost = match (&kind, src.codec, pcm.as_mut()) {
            (Kind::Audio, Codec::Opus, Some(t)) => stream.gap_after_one_lost(&h).map(|gap| (t, gap)),
            _ => None,
        };
        let carried = match lost {
            Some((t, gap)) => recover_payload(t, gap, pkt.payload, out),
            None => carry_payload(&kind, src.codec, dst.codec, pcm.as_mut(), pkt.payload, out).map(|(u, t)| (u, t, 0)),
        };
        let Some((samples, transcoded, recovered_units)) = carried else {
            out.clear();
            stream.counters.malformed += 1;
            close_hole(stream, &pkt.header);
            return Err(RelayDrop::Untranscodable);
        };
        if recovered_units > 0 {
            stream.counters.fec_recovered += 1;
            stream.recovered = Some((h.ssrc, h.sequence.wrapping_sub(1)));
        }
        let (seq, timestamp, new_source) = stream.renumber(now, &h, samples);
        let timestamp = timestamp.wrapping_sub(recovered_units);
        let payload_type = match kind {
            Kind::Audio => dst.payload_type,
            Kind::Event(out_pt) => out_pt,
        };
        let header = RtpHeader {
            marker: h.marker || new_source,
            payload_type,
            sequence: seq,
            timestamp,
            ssrc: stream.start.ssrc,
        };
        stream.counters.relayed += 1;
        if let Some(slot) = out.first_chunk_mut::<RTP_HEADER_LEN>() {
            *slot = header.to_bytes();
        }
        if transcoded {
            stream.counters.transcoded += 1;
        }
        if let Kind::Event(_) = kind {
            stream.counters.events += 1;
            rescale_event(out, src.telephone_event_rate, dst.telephone_event_rate);
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

/// Our timestamp units for a packet relayed as it came: G.711 and G.722 are one octet
/// per 8 kHz unit; an Opus packet or an event is taken as 20 ms (only used for the
/// "at least one packet" step when the source changes).
fn packet_units(kind: &Kind, dst: Codec, len: usize) -> u32 {
    match (kind, dst) {
        (Kind::Audio, Codec::Pcmu | Codec::Pcma | Codec::G722) => {
            u32::try_from(len).unwrap_or(u32::MAX)
        }
        _ => dst.units_per_20ms(),
    }
}

/// Writes the payload for the destination into `out`, after room for the header:
/// as it came, through the G.711 table, or through PCM. Returns the RTP units it spans
/// on the destination's clock and whether it was transcoded; `None` when it cannot be.
fn carry_payload(
    kind: &Kind,
    src: Codec,
    dst: Codec,
    pcm: Option<&mut Transcoder>,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Option<(u32, bool)> {
    let carry = match kind {
        Kind::Event(_) => Carry::Pass,
        Kind::Audio => match (table(src, dst), pcm) {
            (Some(t), _) => Carry::Table(t),
            (None, Some(t)) => Carry::Pcm(t),
            (None, None) if src == dst => Carry::Pass,
            (None, None) => Carry::Broken,
        },
    };
    out.resize(RTP_HEADER_LEN, 0);
    match carry {
        Carry::Pass => {
            out.extend_from_slice(payload);
            Some((packet_units(kind, dst, payload.len()), false))
        }
        Carry::Table(table) => {
            out.extend(
                payload
                    .iter()
                    .map(|c| table.get(usize::from(*c)).copied().unwrap_or(*c)),
            );
            Some((u32::try_from(payload.len()).unwrap_or(u32::MAX), true))
        }
        Carry::Pcm(t) => t.transcode(payload, out).ok().map(|units| (units, true)),
        Carry::Broken => None,
    }
}

/// Writes, after room for the header, the audio of the packet lost before `payload`
/// (rebuilt by `t` from `payload`'s FEC) followed by `payload`'s own. Returns the units
/// of the whole, that it was transcoded, and the units rebuilt.
fn recover_payload(t: &mut Transcoder, gap: u32, payload: &[u8], out: &mut Vec<u8>) -> Option<(u32, bool, u32)> {
    out.resize(RTP_HEADER_LEN, 0);
    let r = t.transcode_after_loss(payload, gap, out).ok()?;
    Some((r.units, true, r.recovered_units))
}

/// An event's duration (RFC 4733 §2.3.5, octets 2–3 of the payload) from one leg's
/// telephone-event clock to the other's (48 kHz on an Opus leg that asked for it).
fn rescale_event(datagram: &mut [u8], from: u32, to: u32) {
    if from == to || from == 0 {
        return;
    }
    let field = datagram.get_mut(RTP_HEADER_LEN + 2..RTP_HEADER_LEN + 4).and_then(|d| <&mut [u8; 2]>::try_from(d).ok());
    if let Some(d) = field {
        let units = u64::from(u16::from_be_bytes(*d)) * u64::from(to) / u64::from(from);
        *d = u16::try_from(units).unwrap_or(u16::MAX).to_be_bytes();
    }
}

/// What a packet with payload type `pt` from leg `src` is for leg `dst`: audio,
/// an RFC 4733 event to send with `dst`'s event payload type, or a drop, counted.
fn classify(
    src: &LegMedia,
    dst: &LegMedia,
    counters: &mut DirectionCounters,
    pt: u8,
) -> Result<Kind, RelayDrop> {
    if pt == src.payload_type {
        Ok(Kind::Audio)
    } else if Some(pt) == src.telephone_event {
        match dst.telephone_event {
            Some(out_pt) => Ok(Kind::Event(out_pt)),
            None => {
                counters.events_dropped += 1;
                Err(RelayDrop::NoTelephoneEvent)
            }
        }
    } else if pt == COMFORT_NOISE_PT {
        counters.comfort_noise_dropped += 1;
        Err(RelayDrop::ComfortNoise)
    } else {
        counters.unknown_dropped += 1;
        Err(RelayDrop::UnknownPayloadType(pt))
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
mod tests;
