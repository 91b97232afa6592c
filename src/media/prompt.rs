//! Prompt playback: pacing pre-encoded frames into one continuous RTP stream
//! (RFC 3550 §5.1 sequence/timestamp rules, RFC 3551 §4.1 marker on talkspurts).
//!
//! Why a state machine and not a loop with `sleep(20ms)`: sleep-after-send drifts by the
//! scheduling delay of every packet, so a 30 s prompt arrives late and a receiver's jitter
//! buffer under-runs. Deadlines here are absolute (`start + n × 20 ms`), the caller sleeps
//! until [`PromptPlayer::poll_timeout`] and drains [`PromptPlayer::poll_packet`]; a late
//! wake-up sends the overdue packets at once with their correct timestamps.
//!
//! Prompts are encoded once at load ([`encode_prompt`]) and shared as `Arc<[u8]>`: no
//! transcoding and no copying per packet. Every codec's prompt frames have one fixed
//! size ([`frame_bytes`]): 160 octets for G.711 and G.722 (64 kbit/s), and for Opus the
//! size of its constant-bit-rate packets ([`super::opus::PROMPT_FRAME_BYTES`]), so the
//! player cuts frames by arithmetic and needs no index. The RTP timestamp advances on
//! the codec's clock (8 kHz for G.711 and G.722, 48 kHz for Opus).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::g711;
use super::moment::Moment;
use super::opus::{PROMPT_FRAME_BYTES, PROMPT_SETTINGS};
use super::resample::Resampler;
use super::rtp::RtpHeader;
use super::transcode::PcmEncoder;
use super::Codec;

/// Samples (= G.711 bytes) per 20 ms packet at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Packet interval.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Octets of one 20 ms prompt frame in `codec`.
pub const fn frame_bytes(codec: Codec) -> usize {
    match codec {
        Codec::Pcmu | Codec::Pcma | Codec::G722 => FRAME_SAMPLES,
        Codec::Opus => PROMPT_FRAME_BYTES,
    }
}

/// Encodes a prompt (8 kHz samples) in `codec`, padding the last frame with silence so
/// every packet carries exactly 20 ms. G.722 gets the audio resampled to 16 kHz first
/// ([`upsample_prompt`]); Opus is given the 8 kHz audio as it is (libopus takes 8 kHz
/// input natively: the recordings hold nothing above 4 kHz, and coding them at 16 kHz
/// took four times the CPU at start for the same sound). Empty if the encoder cannot be
/// created (libopus out of memory): the prompt then finishes at once.
pub fn encode_prompt(samples: &[i16], codec: Codec) -> Arc<[u8]> {
    if codec.is_g711() {
        let mut out = Vec::with_capacity(samples.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES);
        g711::encode(codec, samples, &mut out);
        let padded = out.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
        out.resize(padded, g711::silence(codec));
        return Arc::from(out);
    }
    match codec {
        Codec::Opus => {
            let mut pcm = samples.to_vec();
            pcm.resize(samples.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0);
            match PcmEncoder::with_settings(codec, 8000, PROMPT_SETTINGS) {
                Ok(encoder) => encode_frames(&pcm, FRAME_SAMPLES, encoder, frame_bytes(codec)),
                Err(_) => Arc::from(Vec::new()),
            }
        }
        _ => encode_wideband_prompt(&upsample_prompt(samples), codec),
    }
}

/// A prompt's 8 kHz samples padded with silence to whole 20 ms frames and resampled to
/// 16 kHz ([`Resampler`]): two samples per input sample, so frames stay whole. Done once
/// per prompt for both wideband codecs.
pub fn upsample_prompt(samples: &[i16]) -> Vec<i16> {
    let frames = samples.len().div_ceil(FRAME_SAMPLES);
    let mut pcm = samples.to_vec();
    pcm.resize(frames * FRAME_SAMPLES, 0);
    let mut wide = Vec::with_capacity(pcm.len() * 2);
    Resampler::up(2).process(&pcm, &mut wide);
    wide
}

/// Encodes 16 kHz prompt audio (whole 20 ms frames, see [`upsample_prompt`]) in G.722,
/// or Opus ([`PROMPT_SETTINGS`] at 16 kHz: constant bit rate, [`frame_bytes`] per frame).
pub fn encode_wideband_prompt(pcm16k: &[i16], codec: Codec) -> Arc<[u8]> {
    let encoder = match codec {
        Codec::Opus => PcmEncoder::with_settings(codec, 16000, PROMPT_SETTINGS),
        _ => PcmEncoder::new(codec, 16000),
    };
    match encoder {
        Ok(encoder) => encode_frames(pcm16k, 2 * FRAME_SAMPLES, encoder, frame_bytes(codec)),
        Err(_) => Arc::from(Vec::new()),
    }
}

/// Encodes `pcm` in frames of `frame` samples, each exactly `size` octets.
fn encode_frames(pcm: &[i16], frame: usize, mut encoder: PcmEncoder, size: usize) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(pcm.len().div_ceil(frame.max(1)) * size);
    for frame in pcm.chunks(frame.max(1)) {
        let start = out.len();
        if encoder.encode(frame, &mut out).is_err() {
            out.truncate(start);
        }
        // Constant bit rate makes every frame `size` long (unit-tested); this keeps the
        // fixed grid even if it did not (an Opus decoder ignores trailing zero padding
        // bits only in theory, so a test guards the invariant instead).
        out.resize(start + size, 0);
    }
    Arc::from(out)
}

/// Identifies one `play` call in the events it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayId(pub u64);

/// What happened to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptEvent {
    /// The last packet of the prompt was handed out.
    Finished(PlayId),
    /// The prompt was cut short by `stop` (barge-in) or replaced by another `play`.
    Stopped(PlayId),
}

/// One RTP packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRtp {
    /// Header to write in front of the payload.
    pub header: RtpHeader,
    /// One frame of the prompt, shared with it (no copy).
    pub payload: Bytes,
}

impl OutgoingRtp {
    /// The datagram: header and payload.
    pub fn to_datagram(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.header.write(&self.payload, &mut out);
        out
    }
}

#[derive(Debug, Clone)]
struct Playing<T> {
    id: PlayId,
    frames: Bytes,
    /// Deadline of frame 0; frame n is due at `start + n × 20 ms`.
    start: T,
    next_frame: u64,
    /// First packet of a talkspurt: set the marker.
    marker: bool,
}

/// The last packet sent: where the stream's timestamp and pacing grid stand.
#[derive(Debug, Clone, Copy)]
struct LastSent<T> {
    due: T,
    timestamp: u32,
}

/// Paces prompts into one RTP stream with continuous sequence numbers and timestamps.
#[derive(Debug, Clone)]
pub struct PromptPlayer<T> {
    ssrc: u32,
    payload_type: u8,
    /// Octets per 20 ms frame of the prompts played ([`frame_bytes`]).
    frame_bytes: usize,
    /// RTP clock rate of the codec.
    clock_rate: u64,
    next_seq: u16,
    /// Timestamp of the first packet when nothing has been sent yet.
    first_timestamp: u32,
    last: Option<LastSent<T>>,
    playing: Option<Playing<T>>,
    next_id: u64,
    events: VecDeque<PromptEvent>,
}

impl<T: Moment> PromptPlayer<T> {
    /// A G.711 player for one stream. `initial_seq` and `initial_timestamp` should be
    /// random (RFC 3550 §5.1), drawn by the caller from its seeded RNG.
    pub fn new(ssrc: u32, payload_type: u8, initial_seq: u16, initial_timestamp: u32) -> Self {
        Self::for_codec(Codec::Pcmu, ssrc, payload_type, initial_seq, initial_timestamp)
    }

    /// A player of prompts encoded in `codec` (frame size and RTP clock follow it).
    pub fn for_codec(
        codec: Codec,
        ssrc: u32,
        payload_type: u8,
        initial_seq: u16,
        initial_timestamp: u32,
    ) -> Self {
        PromptPlayer {
            ssrc,
            payload_type,
            frame_bytes: frame_bytes(codec),
            clock_rate: u64::from(codec.clock_rate()),
            next_seq: initial_seq,
            first_timestamp: initial_timestamp,
            last: None,
            playing: None,
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    /// Starts `prompt` (encoded frames, see [`encode_prompt`]); replaces any prompt playing.
    ///
    /// If the stream is still on its 20 ms grid (the previous prompt's next slot has not
    /// passed), the new prompt continues it without a gap and without a marker; otherwise
    /// it starts a new talkspurt now, with the marker set.
    pub fn play(&mut self, now: T, prompt: Arc<[u8]>) -> PlayId {
        if let Some(old) = self.playing.take() {
            self.events.push_back(PromptEvent::Stopped(old.id));
        }
        let id = PlayId(self.next_id);
        self.next_id += 1;
        if prompt.is_empty() {
            self.events.push_back(PromptEvent::Finished(id));
            return id;
        }
        let (start, marker) = match self.last {
            Some(last) if last.due.after(FRAME_DURATION) >= now => {
                (last.due.after(FRAME_DURATION), false)
            }
            _ => (now, true),
        };
        self.playing = Some(Playing {
            id,
            frames: Bytes::from_owner(prompt),
            start,
            next_frame: 0,
            marker,
        });
        id
    }

    /// Stops the prompt playing, if any (barge-in: the caller pressed a key).
    pub fn stop(&mut self) {
        if let Some(old) = self.playing.take() {
            self.events.push_back(PromptEvent::Stopped(old.id));
        }
    }

    /// Whether a prompt is playing.
    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// When the next packet is due, if a prompt is playing.
    pub fn poll_timeout(&self) -> Option<T> {
        self.playing.as_ref().map(Playing::due)
    }

    /// The next packet if it is due at `now`. Call until `None`: after a late wake-up
    /// several packets are due at once.
    pub fn poll_packet(&mut self, now: T) -> Option<OutgoingRtp> {
        let playing = self.playing.as_mut()?;
        let due = playing.due();
        if due > now {
            return None;
        }
        let offset = usize::try_from(playing.next_frame)
            .ok()?
            .checked_mul(self.frame_bytes)?;
        let end = offset
            .saturating_add(self.frame_bytes)
            .min(playing.frames.len());
        let payload = playing.frames.slice(offset..end);
        let timestamp = match self.last {
            None => self.first_timestamp,
            // The timestamp advances with the sampling clock between the two packets' slots
            // (RFC 3550 §5.1): +160 on the 20 ms grid, the elapsed time after a silence.
            Some(last) => {
                let elapsed = due.since(last.due);
                let units = elapsed.as_micros().saturating_mul(u128::from(self.clock_rate)) / 1_000_000;
                // Modulo 2^32: the timestamp wraps like the sampling clock it counts.
                last.timestamp
                    .wrapping_add((units & u128::from(u32::MAX)) as u32)
            }
        };
        let header = RtpHeader {
            marker: playing.marker,
            payload_type: self.payload_type,
            sequence: self.next_seq,
            timestamp,
            ssrc: self.ssrc,
        };
        playing.marker = false;
        playing.next_frame += 1;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last = Some(LastSent { due, timestamp });
        if end >= playing.frames.len() {
            self.events.push_back(PromptEvent::Finished(playing.id));
            self.playing = None;
        }
        Some(OutgoingRtp { header, payload })
    }

    /// The next prompt event.
    pub fn poll_event(&mut self) -> Option<PromptEvent> {
        self.events.pop_front()
    }
}

impl<T: Moment> Playing<T> {
    fn due(&self) -> T {
        let n = u32::try_from(self.next_frame).unwrap_or(u32::MAX);
        self.start.after(FRAME_DURATION.saturating_mul(n))
    }
}
