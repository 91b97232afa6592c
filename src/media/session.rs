//! One call leg's media, sans-IO: RTP in, prompt RTP out, digits and timers as events.
//!
//! The runtime's media shard owns the sockets and the clock and drives one
//! [`MediaSession`] with the shape of every sans-IO machine of the crate (the SIP
//! transactions, the IVR, the ACD): it never reads a clock or a socket; feed it with
//! [`handle_rtp`](MediaSession::handle_rtp), [`handle_timeout`](MediaSession::handle_timeout)
//! and the engine's commands ([`play`](MediaSession::play),
//! [`stop_prompt`](MediaSession::stop_prompt), [`set_remote`](MediaSession::set_remote)),
//! then drain [`poll_transmit`](MediaSession::poll_transmit) and
//! [`poll_event`](MediaSession::poll_event) until both are empty, and sleep until
//! [`poll_timeout`](MediaSession::poll_timeout). The engine sees only [`MediaEvent`]s,
//! never the 50 packets per second of the leg.
//!
//! What it guarantees, and why:
//! - **RTP bleed (CVE-2017-14099).** Media is sent only to the address of the SDP
//!   (RFC 3264 §5, c=/m= lines). When the SDP gives no usable address (0.0.0.0, a name,
//!   absent: [`Negotiated::remote`] is `None`, typically a phone behind NAT), the session
//!   latches once to the source of the first valid RTP packet of ours (audio or
//!   telephone-event payload type) and never switches afterwards: an attacker who sprays
//!   packets at the port later can neither redirect the prompts nor inject digits.
//!   Packets from any other source are dropped before parsing and counted.
//! - **One digit per press.** RFC 4733 telephone-event is read when it was negotiated
//!   (de-duplicated by [`DtmfReceiver`]); in-band tones are detected by Goertzel on the
//!   caller's audio decoded to 8 kHz PCM (G.711 by table, G.722 and Opus by their
//!   decoders, [`PcmDecoder`]; a lost Opus packet rebuilt from the next one's FEC) by
//!   [`InbandDtmfDetector`] as long as no telephone-event packet has arrived. The first
//!   telephone-event packet switches in-band detection off for the rest of the call, dropping any tone it was following: senders that do both
//!   (RFC 4733 §2.6 allows it) would otherwise give every key twice. The start packet of
//!   an event arrives at key-down, while the in-band detector reports only at key-up, so
//!   the first press of such a sender is not doubled either.
//! - **Prompts** are paced by [`PromptPlayer`] on absolute 20 ms deadlines, one
//!   continuous stream (RFC 3550 §5.1) across prompts. Between prompts nothing is sent:
//!   G.711 needs no keep-alive and the marker bit tells the receiver a new talkspurt
//!   starts (RFC 3551 §4.1). We send no RTCP yet; RTCP received is counted, not acted on.
//!   A prompt whose packets have nowhere to go (no SDP address, nothing latched yet)
//!   still runs on the clock, so the IVR's timing does not depend on the network.
//! - **Silence** from the caller for the configured time is reported once per silent
//!   stretch as [`MediaEvent::RtpTimeout`]; the session never ends the call itself:
//!   an emergency caller may be unable to make a sound.
//! - **Hostile input** never panics: every datagram is parsed with bounds checks, and
//!   malformed ones are counted, not logged: a log line per bad packet would let any
//!   sender flood the log at packet rate.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::g711;
use super::goertzel::InbandDtmfDetector;
use super::vad::{Activity, VoiceActivity};
use super::moment::Moment;
use super::prompt::{PlayId, PromptEvent, PromptPlayer, FRAME_SAMPLES};
use super::transcode::PcmDecoder;
use super::rfc4733::{Digit, DtmfReceiver};
use super::rtp::{parse_rtcp_compound, RtpHeader, RtpPacket, MAX_MISORDER};
use super::sdp::Negotiated;
use super::Codec;

/// Default for [`SessionConfig::rtp_timeout`]: a caller silent this long is reported.
pub const DEFAULT_RTP_TIMEOUT: Duration = Duration::from_secs(30);


/// How a session starts: the negotiated media and the stream's random initial values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The codec both sides send.
    pub codec: Codec,
    /// Payload type of `codec` on this call (static 0/8 unless the remote remapped it).
    pub payload_type: u8,
    /// The remote's telephone-event payload type, `None` when it does not do RFC 4733.
    pub telephone_event: Option<u8>,
    /// Its RTP clock: 8000, or 48000 when an Opus caller offered telephone-event/48000
    /// (event durations are in these units, RFC 4733 §2.3.5).
    pub telephone_event_rate: u32,
    /// Where to send, from the SDP; `None` latches to the first source (see module doc).
    pub remote: Option<SocketAddr>,
    /// Our SSRC, random (RFC 3550 §8.1), from the caller's seeded RNG.
    pub ssrc: u32,
    /// First sequence number, random (RFC 3550 §5.1).
    pub initial_seq: u16,
    /// First timestamp, random (RFC 3550 §5.1).
    pub initial_timestamp: u32,
    /// Report [`MediaEvent::RtpTimeout`] after this long without RTP from the caller;
    /// `None` disables it (e.g. while the caller has put us on hold).
    pub rtp_timeout: Option<Duration>,
}

impl SessionConfig {
    /// The configuration for an SDP negotiation result, with the default RTP timeout.
    pub fn from_negotiated(
        negotiated: &Negotiated,
        ssrc: u32,
        initial_seq: u16,
        initial_timestamp: u32,
    ) -> Self {
        SessionConfig {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
            telephone_event_rate: negotiated.telephone_event_rate,
            remote: negotiated.remote,
            ssrc,
            initial_seq,
            initial_timestamp,
            rtp_timeout: Some(DEFAULT_RTP_TIMEOUT),
        }
    }
}

/// Which detector read a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigitSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// DTMF tones in the audio (Goertzel).
    Inband,
}

/// What the session tells the engine. `I` is the engine's own prompt identifier, given
/// to [`MediaSession::play`] and handed back here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent<T, I> {
    /// One key press, reported once, when the key was released.
    Digit {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        key: char,
        /// When the key went down.
        at: T,
        /// How long it was held.
        duration: Duration,
        /// How the digit arrived.
        source: DigitSource,
    },
    /// The prompt's last packet was sent (or it was empty).
    PromptFinished(I),
    /// The prompt was cut by [`MediaSession::stop_prompt`] or replaced by another `play`.
    PromptStopped(I),
    /// No valid RTP from the caller since `silent_since` (the last packet, or the start
    /// of the session), for the configured timeout. Reported once per silent stretch;
    /// the call goes on.
    RtpTimeout {
        /// The last valid packet from the caller, or the session's start.
        silent_since: T,
    },
    /// What the voice-activity detector heard of the caller so far: reported after
    /// each whole second of audio while it listens, and a last time when it stops
    /// (the caller spoke: `spoke` is set, reported once; or [`MediaSession::stop_listening`]).
    Heard(Activity),
}

/// Packet counters of one session, for the call record and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// Valid RTP packets accepted from the caller.
    pub received: u64,
    /// Datagrams from a source other than the SDP (or latched) address: dropped unread.
    pub dropped_foreign_source: u64,
    /// Datagrams from the caller that are not valid RTP or RTCP.
    pub malformed: u64,
    /// Valid RTP with a payload type that is neither the codec nor telephone-event
    /// (comfort noise, a codec not negotiated): ignored.
    pub unexpected_payload_type: u64,
    /// RTCP multiplexed on the RTP port (RFC 5761 §4) from the caller.
    pub rtcp: u64,
    /// Lost Opus packets whose audio the detectors got back from the next packet's
    /// in-band FEC (or libopus' concealment), while they listened.
    pub fec_recovered: u64,
    /// Prompt packets sent.
    pub sent: u64,
    /// Prompt packets not sent because no remote address is known yet.
    pub unsent_no_remote: u64,
}

/// The newest audio packet the detectors decoded: its source, number, timestamp and
/// length in decoded samples.
#[derive(Debug, Clone, Copy)]
struct AudioMark {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    samples: usize,
    /// The packet before it was lost and rebuilt from this one.
    rebuilt_before: bool,
}

/// What [`MediaSession::decode_for_detectors`] made of a packet.
enum Decoded {
    /// Its audio (after any rebuilt before it) is in `decoded`.
    Audio,
    /// The lost packet, late: its audio was rebuilt already.
    AlreadyRebuilt,
    /// Not a payload of the codec.
    Undecodable,
}

/// Where media goes and comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// The SDP address: the only one we send to and accept from.
    Sdp(SocketAddr),
    /// No usable SDP address yet: the first valid packet's source will be latched.
    AwaitingLatch,
    /// Latched to the first source; never changes again.
    Latched(SocketAddr),
}

impl Peer {
    fn address(self) -> Option<SocketAddr> {
        match self {
            Peer::Sdp(a) | Peer::Latched(a) => Some(a),
            Peer::AwaitingLatch => None,
        }
    }
}

/// In-band detection state: running (with a frame being filled) or switched off for
/// good because telephone-event packets arrived.
#[derive(Debug)]
enum Inband<T> {
    Listening {
        detector: InbandDtmfDetector<T>,
        /// Decoded samples of the 20 ms frame being filled: packets of 10 or 30 ms
        /// are re-cut into the frames the detector was tuned for.
        frame: Vec<i16>,
    },
    Off,
}

/// One call leg's media. `T` is the clock ([`Moment`]); `I` the engine's prompt id.
#[derive(Debug)]
pub struct MediaSession<T, I> {
    codec: Codec,
    /// G.722 and Opus → 8 kHz PCM for the DTMF detector (G.711 is decoded by table);
    /// `None` for G.711, or when libopus could not allocate (no in-band DTMF then).
    decoder: Option<PcmDecoder>,
    payload_type: u8,
    telephone_event: Option<u8>,
    peer: Peer,
    player: PromptPlayer<T>,
    /// The prompt playing, with the engine's id.
    current: Option<(PlayId, I)>,
    rfc4733: DtmfReceiver<T>,
    inband: Inband<T>,
    /// Scratch buffer for decoding one packet (reused: no allocation per packet).
    decoded: Vec<i16>,
    /// The newest audio packet decoded for the detectors (Opus loss recovery).
    last_audio: Option<AudioMark>,
    /// Voice activity on the caller's audio until it first hears speech (reported as
    /// [`MediaEvent::Heard`] with `spoke`, then dropped: its cost ends there).
    vad: Option<VoiceActivity>,
    /// Whole seconds of audio the detector has reported so far.
    heard_secs: u32,
    rtp_timeout: Option<Duration>,
    /// Last valid RTP from the caller, or the session start.
    last_received: T,
    /// The timeout of the current silent stretch has been reported.
    timeout_reported: bool,
    transmits: VecDeque<(SocketAddr, Bytes)>,
    events: VecDeque<MediaEvent<T, I>>,
    counters: MediaCounters,
}

impl<T: Moment, I: Clone> MediaSession<T, I> {
    /// A session for a call whose media starts at `now` (the answer).
    pub fn new(now: T, config: SessionConfig) -> Self {
        MediaSession {
            codec: config.codec,
            decoder: (!config.codec.is_g711())
                .then(|| PcmDecoder::new(config.codec, 8000).ok())
                .flatten(),
            payload_type: config.payload_type & 0x7F,
            telephone_event: config.telephone_event.map(|pt| pt & 0x7F),
            peer: config.remote.map_or(Peer::AwaitingLatch, Peer::Sdp),
            player: PromptPlayer::for_codec(
                config.codec,
                config.ssrc,
                config.payload_type & 0x7F,
                config.initial_seq,
                config.initial_timestamp,
            ),
            current: None,
            rfc4733: DtmfReceiver::new(config.telephone_event_rate),
            inband: inband_for(&config),
            decoded: Vec::with_capacity(FRAME_SAMPLES),
            last_audio: None,
            vad: Some(VoiceActivity::new()),
            heard_secs: 0,
            rtp_timeout: config.rtp_timeout,
            last_received: now,
            timeout_reported: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: MediaCounters::default(),
        }
    }

    /// A new SDP from the remote (re-INVITE, UPDATE). An address replaces the current
    /// one: the signalling that carries it is the call's own dialog, not a stray packet.
    /// `None` keeps the current address (a hold with c=0.0.0.0 must not re-open the
    /// latch mid-call); it only leaves the session waiting to latch if nothing was ever
    /// known.
    pub fn set_remote(&mut self, remote: Option<SocketAddr>) {
        if let Some(addr) = remote {
            self.peer = Peer::Sdp(addr);
        }
    }

    /// Where media is sent now, if anywhere.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.peer.address()
    }

    /// Changes the silence timeout (`None`: off), counted from the last packet.
    pub fn set_rtp_timeout(&mut self, timeout: Option<Duration>) {
        self.rtp_timeout = timeout;
    }

    /// Starts a prompt (encoded frames in this session's codec, see
    /// [`super::prompts::PromptStore`]); a prompt still playing is stopped and reported
    /// as [`MediaEvent::PromptStopped`]. If the stream is on its 20 ms grid the new
    /// prompt continues it without a gap.
    pub fn play(&mut self, now: T, frames: Arc<[u8]>, id: I) {
        let old = self.current.take();
        let play_id = self.player.play(now, frames);
        self.current = Some((play_id, id));
        self.drain_player_events(old);
        self.drive(now);
    }

    /// Cuts the prompt playing, if any (barge-in, routing decided).
    pub fn stop_prompt(&mut self) {
        self.player.stop();
        self.drain_player_events(None);
    }

    /// Whether a prompt is playing.
    pub fn is_playing(&self) -> bool {
        self.player.is_playing()
    }

    /// One datagram received on the call's RTP port from `from`.
    pub fn handle_rtp(&mut self, now: T, from: SocketAddr, datagram: &[u8]) {
        self.drive(now);
        if let Some(peer) = self.peer.address() {
            if from != peer {
                self.counters.dropped_foreign_source += 1;
                return;
            }
        }
        // RFC 5761 §4: with RTP and RTCP on one port, the second octet of RTCP
        // (marker bit + payload type) falls in 192..=223.
        if let Some(b1) = datagram.get(1) {
            if (192..=223).contains(b1) {
                if self.peer == Peer::AwaitingLatch {
                    // Latch on RTP only: RTCP says nothing about where audio flows.
                    self.counters.dropped_foreign_source += 1;
                } else if parse_rtcp_compound(datagram).is_ok() {
                    self.counters.rtcp += 1;
                } else {
                    self.counters.malformed += 1;
                }
                return;
            }
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(_) => {
                if self.peer == Peer::AwaitingLatch {
                    // Garbage cannot latch, and it is nobody's yet.
                    self.counters.dropped_foreign_source += 1;
                } else {
                    self.counters.malformed += 1;
                }
                return;
            }
        };
        let pt = packet.header.payload_type;
        let is_event = self.telephone_event == Some(pt);
        if !is_event && pt != self.payload_type {
            if self.peer == Peer::AwaitingLatch {
                self.counters.dropped_foreign_source += 1;
            } else {
                self.counters.unexpected_payload_type += 1;
                self.last_audio = None;
            }
            return;
        }
        if self.peer == Peer::AwaitingLatch {
            self.peer = Peer::Latched(from);
            // Prompt packets produced before the latch went nowhere; the stream simply
            // starts being delivered from here, still on its grid.
        }
        self.counters.received += 1;
        self.last_received = now;
        self.timeout_reported = false;
        if is_event {
            // It takes a sequence number: the next audio packet's gap is no loss.
            self.last_audio = None;
            self.handle_telephone_event(now, &packet);
        } else {
            self.handle_audio(now, &packet.header, packet.payload);
        }
    }

    /// Call at (or after) [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: T) {
        self.drive(now);
        self.rfc4733.handle_timeout(now);
        self.drain_digits();
        if let Some(deadline) = self.rtp_deadline() {
            if now >= deadline {
                self.timeout_reported = true;
                self.events.push_back(MediaEvent::RtpTimeout {
                    silent_since: self.last_received,
                });
            }
        }
    }

    /// The next datagram to send and where, until `None`.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next event for the engine, until `None`.
    pub fn poll_event(&mut self) -> Option<MediaEvent<T, I>> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the next
    /// prompt packet, an RFC 4733 event whose end packets were lost, or the RTP timeout.
    pub fn poll_timeout(&self) -> Option<T> {
        [
            self.player.poll_timeout(),
            self.rfc4733.poll_timeout(),
            self.rtp_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Packet counters so far.
    pub fn counters(&self) -> MediaCounters {
        self.counters
    }

    /// Whether in-band detection is still running (no telephone-event seen yet).
    pub fn inband_active(&self) -> bool {
        matches!(self.inband, Inband::Listening { .. })
    }

    fn rtp_deadline(&self) -> Option<T> {
        if self.timeout_reported {
            return None;
        }
        self.rtp_timeout.map(|t| self.last_received.after(t))
    }

    /// Sends every prompt packet due at `now`.
    fn drive(&mut self, now: T) {
        while let Some(packet) = self.player.poll_packet(now) {
            match self.peer.address() {
                Some(to) => {
                    self.counters.sent += 1;
                    self.transmits
                        .push_back((to, Bytes::from(packet.to_datagram())));
                }
                None => self.counters.unsent_no_remote += 1,
            }
        }
        self.drain_player_events(None);
    }

    /// Turns the player's events into the engine's, with its ids. `old` is a prompt
    /// just replaced by `play`.
    fn drain_player_events(&mut self, mut old: Option<(PlayId, I)>) {
        while let Some(event) = self.player.poll_event() {
            let (PromptEvent::Finished(pid) | PromptEvent::Stopped(pid)) = event;
            let id = if self.current.as_ref().is_some_and(|(p, _)| *p == pid) {
                self.current.take().map(|(_, id)| id)
            } else if old.as_ref().is_some_and(|(p, _)| *p == pid) {
                old.take().map(|(_, id)| id)
            } else {
                None
            };
            if let Some(id) = id {
                self.events.push_back(match event {
                    PromptEvent::Finished(_) => MediaEvent::PromptFinished(id),
                    PromptEvent::Stopped(_) => MediaEvent::PromptStopped(id),
                });
            }
        }
    }

    /// No more in-band DTMF analysis: the IVR has nothing left to ask. RFC 4733
    /// digits are still read.
    pub fn stop_inband(&mut self) {
        self.inband = Inband::Off;
    }

    /// The detector stops listening (the call is bridged: the caller talks to an
    /// operator now) and reports what it heard a last time, if it was still listening.
    pub fn stop_listening(&mut self) {
        if let Some(vad) = self.vad.take() {
            self.events.push_back(MediaEvent::Heard(vad.activity()));
        }
    }

    fn handle_telephone_event(&mut self, now: T, packet: &RtpPacket<'_>) {
        if self
            .rfc4733
            .handle_packet(now, &packet.header, packet.payload)
            .is_err()
        {
            self.counters.malformed += 1;
            return;
        }
        // The sender does RFC 4733: from now on its digits come from here only.
        self.inband = Inband::Off;
        self.drain_digits();
    }

    fn handle_audio(&mut self, now: T, header: &RtpHeader, payload: &[u8]) {
        if self.vad.is_none() && !self.inband_active() {
            return;
        }
        match self.decode_for_detectors(header, payload) {
            Decoded::Audio => {}
            Decoded::AlreadyRebuilt => return,
            Decoded::Undecodable => {
                self.counters.malformed += 1;
                return;
            }
        }
        if let Some(vad) = &mut self.vad {
            vad.push(&self.decoded);
            let heard = vad.activity();
            let secs = heard.heard_ms() / 1000;
            if heard.spoke {
                self.vad = None;
                self.events.push_back(MediaEvent::Heard(heard));
            } else if secs > self.heard_secs {
                self.heard_secs = secs;
                self.events.push_back(MediaEvent::Heard(heard));
            }
        }
        let Inband::Listening { detector, frame } = &mut self.inband else {
            return;
        };
        let mut rest = self.decoded.as_slice();
        while !rest.is_empty() {
            let take = (FRAME_SAMPLES - frame.len()).min(rest.len());
            let (head, tail) = rest.split_at(take);
            frame.extend_from_slice(head);
            rest = tail;
            if frame.len() == FRAME_SAMPLES {
                detector.handle_frame(now, frame);
                frame.clear();
            }
        }
        while let Some(d) = detector.poll_digit() {
            self.events.push_back(digit_event(d, DigitSource::Inband));
        }
    }

    /// Decodes one audio packet into `decoded` (8 kHz) for the detectors. An Opus packet
    /// that follows exactly one lost packet of the same source (no other packet of the
    /// source between them: a telephone-event in the gap is no loss) brings the lost
    /// audio back first, from its in-band FEC (RFC 7587 §3.4; libopus conceals when it
    /// carries none), as the bridge does: a 60 ms key press that loses its middle packet
    /// is still 60 ms of tone. The span rebuilt is at most the previous packet's length,
    /// whatever the timestamps claim, so a sender cannot make a packet cost more than
    /// two; the lost packet turning up late after all is not heard a second time.
    fn decode_for_detectors(&mut self, h: &RtpHeader, payload: &[u8]) -> Decoded {
        self.decoded.clear();
        let Some(decoder) = self.decoder.as_mut() else {
            g711::decode(self.codec, payload, &mut self.decoded);
            return Decoded::Audio;
        };
        let same = self.last_audio.filter(|m| m.ssrc == h.ssrc);
        if same.is_some_and(|m| m.rebuilt_before && h.sequence == m.sequence.wrapping_sub(1)) {
            return Decoded::AlreadyRebuilt;
        }
        let missing = same
            .filter(|m| h.sequence == m.sequence.wrapping_add(2))
            .map_or(0, |m| decoder.lost_samples(h.timestamp.wrapping_sub(m.timestamp), m.samples));
        let Ok(recovered) = decoder.decode_after_loss(payload, missing, &mut self.decoded) else {
            return Decoded::Undecodable;
        };
        if recovered > 0 {
            self.counters.fec_recovered += 1;
        }
        // The newest packet, or a source that started over (RFC 3550 A.1: far behind).
        let newer = same.is_none_or(|m| !(-MAX_MISORDER..=0).contains(&(h.sequence.wrapping_sub(m.sequence) as i16)));
        if newer {
            let samples = self.decoded.len().saturating_sub(recovered);
            self.last_audio = Some(AudioMark { ssrc: h.ssrc, sequence: h.sequence, timestamp: h.timestamp, samples, rebuilt_before: recovered > 0 });
        }
        Decoded::Audio
    }

    fn drain_digits(&mut self) {
        while let Some(d) = self.rfc4733.poll_digit() {
            self.events.push_back(digit_event(d, DigitSource::Rfc4733));
        }
    }
}

/// In-band DTMF detection for a new session: on, except for a G.722 or Opus caller who
/// negotiated telephone-event. Such a caller's keys come by RFC 4733 (a wideband phone
/// or a WebRTC gateway that offers it sends them so; tones through Opus barely survive
/// its coding anyway), and listening for tones would mean decoding every packet of the
/// call (libopus: most of an Opus caller's cost in W2) where G.711 needs a table.
fn inband_for<T: Moment>(config: &SessionConfig) -> Inband<T> {
    if !config.codec.is_g711() && config.telephone_event.is_some() {
        return Inband::Off;
    }
    Inband::Listening { detector: InbandDtmfDetector::new(), frame: Vec::with_capacity(FRAME_SAMPLES) }
}

fn digit_event<T, I>(d: Digit<T>, source: DigitSource) -> MediaEvent<T, I> {
    MediaEvent::Digit {
        key: d.key,
        at: d.at,
        duration: d.duration,
        source,
    }
}
