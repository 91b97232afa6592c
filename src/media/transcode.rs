//! Codec state for one stream: payload ↔ linear PCM, and the two together as the
//! bridge's [`Transcoder`].
//!
//! Everything in the gateway that reads audio works on PCM: the in-band DTMF detector
//! (8 kHz, [`PcmDecoder`] at 8000), the bridge between a caller and an operator whose
//! codecs differ, and the prompt encoder at load. The rules:
//! - **Rates.** G.711 is 8 kHz, G.722 16 kHz (its octets are resampled with
//!   [`Resampler`] when the other side is narrowband), Opus is decoded and encoded by
//!   libopus directly at the rate asked for (it resamples internally, so no second
//!   filter is stacked on it). A transcoder works at the lower of the two sides' rates:
//!   G.722 ↔ Opus stays wideband, anything ↔ G.711 is narrowband.
//! - **State.** ADPCM and Opus carry state from packet to packet, so a decoder or
//!   encoder belongs to one stream for its life; G.711 has none.
//! - **Hostile payloads** decode to audio or to a [`TranscodeError`] (counted by the
//!   caller), never a panic; G.711 and G.722 accept any octets, Opus validates the packet.
//! - **Loss and DTX** (Opus): a packet that follows a lost one (the relay, or the
//!   session's detectors, saw a sequence gap of one) brings back the lost frame from
//!   its in-band FEC
//!   ([`Transcoder::transcode_after_loss`]), or libopus conceals it when the packet
//!   carries no FEC. A timestamp jump without a sequence gap is DTX, not loss: nothing is
//!   made up for it (the other side hears the silence it is, not a concealment burst).
//! - **Buffers** are the caller's or kept inside and reused: no allocation per packet
//!   in the steady state, except inside ezk-g722 (one `Vec` per call of its API).

use thiserror::Error;

use super::g711;
use super::g722::{G722Decoder, G722Encoder};
use super::opus::{EncoderSettings, OpusDecoder, OpusEncoder, OpusError, BRIDGE_SETTINGS};
use super::resample::Resampler;
use super::Codec;

/// Why a payload could not be transcoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TranscodeError {
    /// libopus refused the packet (invalid) or the frame (not a legal Opus duration).
    #[error(transparent)]
    Opus(#[from] OpusError),
    /// A rate we do not convert between (only integer factors of 8 kHz are used).
    #[error("unsupported PCM rate {0} Hz for {1}")]
    Rate(u32, Codec),
}

/// Payloads of one codec → PCM at a chosen rate.
#[derive(Debug)]
pub struct PcmDecoder {
    codec: Codec,
    rate: u32,
    inner: Dec,
    scratch: Vec<i16>,
}

#[derive(Debug)]
enum Dec {
    G711,
    G722(Box<G722Decoder>, Option<Resampler>),
    Opus(Box<OpusDecoder>),
}

/// A converter from `from` Hz to `to` Hz (integer ratio), `None` when equal.
fn converter(from: u32, to: u32, codec: Codec) -> Result<Option<Resampler>, TranscodeError> {
    if from == to {
        Ok(None)
    } else if from > to && to > 0 && from.is_multiple_of(to) {
        Ok(Some(Resampler::down((from / to) as usize)))
    } else if to > from && from > 0 && to.is_multiple_of(from) {
        Ok(Some(Resampler::up((to / from) as usize)))
    } else {
        Err(TranscodeError::Rate(to, codec))
    }
}

impl PcmDecoder {
    /// A decoder of `codec` producing PCM at `rate` Hz (8000 or 16000 in practice).
    pub fn new(codec: Codec, rate: u32) -> Result<Self, TranscodeError> {
        let inner = match codec {
            Codec::Pcmu | Codec::Pcma => {
                if rate != 8000 {
                    return Err(TranscodeError::Rate(rate, codec));
                }
                Dec::G711
            }
            Codec::G722 => Dec::G722(Box::default(), converter(16000, rate, codec)?),
            Codec::Opus => Dec::Opus(Box::new(OpusDecoder::new(rate)?)),
        };
        Ok(PcmDecoder { codec, rate, inner, scratch: Vec::new() })
    }

    /// The codec decoded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The PCM rate produced.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Decodes one RTP payload, appending PCM to `out`.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), TranscodeError> {
        match &mut self.inner {
            Dec::G711 => g711::decode(self.codec, payload, out),
            Dec::G722(dec, None) => dec.decode(payload, out),
            Dec::G722(dec, Some(down)) => {
                self.scratch.clear();
                dec.decode(payload, &mut self.scratch);
                down.process(&self.scratch, out);
            }
            Dec::Opus(dec) => {
                dec.decode(payload, out)?;
            }
        }
        Ok(())
    }

    /// The samples (at this decoder's rate) lost between a packet `previous` samples
    /// long and the next one received, `gap` RTP units after it, when exactly one
    /// packet was lost between them: the gap less the previous packet, and 0 when that
    /// is longer than the previous packet (whatever the timestamps claim, one packet
    /// is not rebuilt into more: a sender cannot make a packet cost more than two) or
    /// when the codec has no FEC to rebuild it from (all but Opus).
    pub fn lost_samples(&self, gap: u32, previous: usize) -> usize {
        if self.codec != Codec::Opus {
            return 0;
        }
        let clock = u64::from(self.codec.clock_rate().max(1));
        let gap = usize::try_from(u64::from(gap) * u64::from(self.rate) / clock).unwrap_or(usize::MAX);
        let lost = gap.saturating_sub(previous);
        if lost <= previous { lost } else { 0 }
    }

    /// Decodes `payload` after `missing` samples (at this decoder's rate) were lost just
    /// before it: Opus first rebuilds them from the payload's in-band FEC (or conceals
    /// them), the other codecs have no FEC and add nothing; with `missing` 0 it is
    /// [`decode`](Self::decode). Returns the samples added for the loss (0 when nothing
    /// could be done: `missing` is not a span Opus can decode).
    pub fn decode_after_loss(&mut self, payload: &[u8], missing: usize, out: &mut Vec<i16>) -> Result<usize, TranscodeError> {
        let recovered = match &mut self.inner {
            Dec::Opus(dec) if missing > 0 => {
                let start = out.len();
                dec.decode_fec(payload, missing, out).unwrap_or_else(|_| {
                    out.truncate(start);
                    0
                })
            }
            Dec::Opus(_) | Dec::G711 | Dec::G722(..) => 0,
        };
        self.decode(payload, out)?;
        Ok(recovered)
    }
}

/// PCM at a chosen rate → payloads of one codec.
#[derive(Debug)]
pub struct PcmEncoder {
    codec: Codec,
    rate: u32,
    inner: Enc,
    scratch: Vec<i16>,
}

#[derive(Debug)]
enum Enc {
    G711,
    G722(Box<G722Encoder>, Option<Resampler>),
    Opus(Box<OpusEncoder>),
}

impl PcmEncoder {
    /// An encoder of `codec` taking PCM at `rate` Hz; Opus with `opus` settings (their
    /// `rate` is replaced by `rate`).
    pub fn with_settings(codec: Codec, rate: u32, opus: EncoderSettings) -> Result<Self, TranscodeError> {
        let inner = match codec {
            Codec::Pcmu | Codec::Pcma => {
                if rate != 8000 {
                    return Err(TranscodeError::Rate(rate, codec));
                }
                Enc::G711
            }
            Codec::G722 => Enc::G722(Box::default(), converter(rate, 16000, codec)?),
            Codec::Opus => Enc::Opus(Box::new(OpusEncoder::new(EncoderSettings { rate, ..opus })?)),
        };
        Ok(PcmEncoder { codec, rate, inner, scratch: Vec::new() })
    }

    /// An encoder for the bridge (Opus: [`BRIDGE_SETTINGS`]).
    pub fn new(codec: Codec, rate: u32) -> Result<Self, TranscodeError> {
        Self::with_settings(codec, rate, BRIDGE_SETTINGS)
    }

    /// Asks an Opus encoder for in-band FEC; nothing for the other codecs.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), TranscodeError> {
        if let Enc::Opus(enc) = &mut self.inner {
            enc.set_inband_fec(on)?;
        }
        Ok(())
    }

    /// Encodes PCM (for Opus exactly one legal frame: 10, 20, 40 or 60 ms), appending
    /// the payload to `out`. Returns the RTP timestamp units the payload spans.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<u32, TranscodeError> {
        match &mut self.inner {
            Enc::G711 => g711::encode(self.codec, pcm, out),
            Enc::G722(enc, None) => enc.encode(pcm, out),
            Enc::G722(enc, Some(up)) => {
                self.scratch.clear();
                up.process(pcm, &mut self.scratch);
                enc.encode(&self.scratch, out);
            }
            Enc::Opus(enc) => enc.encode(pcm, out)?,
        }
        let units = pcm.len() as u64 * u64::from(self.codec.clock_rate()) / u64::from(self.rate.max(1));
        Ok(u32::try_from(units).unwrap_or(u32::MAX))
    }
}

/// One direction of the bridge: `from`'s payloads in, `to`'s out, through PCM at the
/// lower of the two codecs' rates.
#[derive(Debug)]
pub struct Transcoder {
    decoder: PcmDecoder,
    encoder: PcmEncoder,
    pcm: Vec<i16>,
    /// Samples (at the PCM rate) the last payload decoded to: what a timestamp gap is
    /// measured against when a packet was lost.
    last_samples: usize,
}

/// What [`Transcoder::transcode_after_loss`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// RTP units of the whole output (the lost frame and this packet), destination clock.
    pub units: u32,
    /// Of `units`, those rebuilt for the lost packet (0: nothing could be).
    pub recovered_units: u32,
}

impl Transcoder {
    /// A transcoder between two different codecs.
    pub fn new(from: Codec, to: Codec) -> Result<Self, TranscodeError> {
        let rate = from.audio_rate().min(to.audio_rate());
        Ok(Transcoder {
            decoder: PcmDecoder::new(from, rate)?,
            encoder: PcmEncoder::new(to, rate)?,
            pcm: Vec::with_capacity(960),
            last_samples: 0,
        })
    }

    /// Asks the encoder for in-band FEC (Opus receivers that signalled `useinbandfec=1`).
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), TranscodeError> {
        self.encoder.set_inband_fec(on)
    }

    /// Transcodes one payload, appending to `out`; returns the RTP timestamp units of
    /// the output (in the destination codec's clock).
    pub fn transcode(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<u32, TranscodeError> {
        self.pcm.clear();
        self.decoder.decode(payload, &mut self.pcm)?;
        self.last_samples = self.pcm.len();
        self.encoder.encode(&self.pcm, out)
    }

    /// Like [`transcode`](Self::transcode) for a packet that follows exactly one lost
    /// packet, `gap` source RTP units after the previous packet received: the lost
    /// frame (the gap less the previous packet's length, and no longer than that packet)
    /// is rebuilt from this packet's in-band FEC where the source is Opus, and goes out
    /// in the same payload, ahead of this packet's audio (the caller moves the output
    /// timestamp back by `recovered_units`).
    pub fn transcode_after_loss(&mut self, payload: &[u8], gap: u32, out: &mut Vec<u8>) -> Result<Recovered, TranscodeError> {
        let missing = self.decoder.lost_samples(gap, self.last_samples);
        self.pcm.clear();
        let recovered = self.decoder.decode_after_loss(payload, missing, &mut self.pcm)?;
        self.last_samples = self.pcm.len().saturating_sub(recovered);
        let units = self.encoder.encode(&self.pcm, out)?;
        let (rate, to_clock) = (u64::from(self.decoder.rate()), u64::from(self.encoder.codec.clock_rate()));
        let recovered_units = u64::try_from(recovered).unwrap_or(0) * to_clock / rate.max(1);
        Ok(Recovered { units, recovered_units: u32::try_from(recovered_units).unwrap_or(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::InbandDtmfDetector;

    fn tone(f: f64, rate: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (9000.0 * (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin()) as i16)
            .collect()
    }

    /// Relative level of `f` in `x`, dB re the signal's power (one-bin DFT).
    fn share_db(x: &[i16], f: f64, rate: f64) -> f64 {
        let (mut re, mut im, mut p) = (0.0, 0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * f * i as f64 / rate;
            re += f64::from(s) * ph.cos();
            im += f64::from(s) * ph.sin();
            p += f64::from(s).powi(2);
        }
        let bin = 2.0 * (re * re + im * im) / x.len() as f64;
        10.0 * (bin / p.max(1.0)).log10()
    }

    /// A 1 kHz tone crosses every pair of codecs, 20 ms per packet, and comes out as a
    /// 1 kHz tone (its energy dominates the output), with the right RTP units.
    #[test]
    fn every_codec_pair_carries_a_tone() {
        for from in Codec::ALL {
            for to in Codec::ALL {
                let rate = from.audio_rate();
                let mut src = PcmEncoder::new(from, rate).unwrap();
                let mut t = Transcoder::new(from, to).unwrap();
                let mut sink = PcmDecoder::new(to, 8000).unwrap();
                let x = tone(1000.0, f64::from(rate), rate as usize);
                let (mut pkt, mut out, mut y) = (Vec::new(), Vec::new(), Vec::new());
                for frame in x.chunks(rate as usize / 50) {
                    pkt.clear();
                    src.encode(frame, &mut pkt).unwrap();
                    out.clear();
                    let units = t.transcode(&pkt, &mut out).unwrap();
                    assert_eq!(units, to.units_per_20ms(), "{from}->{to}");
                    sink.decode(&out, &mut y).unwrap();
                }
                assert_eq!(y.len(), 8000, "{from}->{to}");
                let share = share_db(&y[2000..], 1000.0, 8000.0);
                assert!(share > -1.0, "{from}->{to}: 1 kHz holds {share:.1} dB of the power");
            }
        }
    }

    /// Opus carries in-band DTMF well enough for the detector (issue 17: a digit sent
    /// in Opus is detected). The pair for '5' is 770 + 1336 Hz.
    #[test]
    fn a_dtmf_digit_survives_opus() {
        let mut enc = PcmEncoder::new(Codec::Opus, 16000).unwrap();
        let mut dec = PcmDecoder::new(Codec::Opus, 8000).unwrap();
        let mut det = InbandDtmfDetector::<std::time::Instant>::new();
        let t0 = std::time::Instant::now();
        let mut x: Vec<i16> = (0..16000 / 10 * 2)
            .map(|i| {
                let t = i as f64 / 16000.0;
                let s = (2.0 * std::f64::consts::PI * 770.0 * t).sin()
                    + (2.0 * std::f64::consts::PI * 1336.0 * t).sin();
                (6000.0 * s) as i16
            })
            .collect();
        x.extend(std::iter::repeat_n(0i16, 16000 / 5));
        let (mut pkt, mut y) = (Vec::new(), Vec::new());
        for (n, frame) in x.chunks(320).enumerate() {
            pkt.clear();
            enc.encode(frame, &mut pkt).unwrap();
            y.clear();
            dec.decode(&pkt, &mut y).unwrap();
            assert_eq!(y.len(), 160);
            let at = t0 + std::time::Duration::from_millis(20 * n as u64);
            det.handle_frame(at, &y);
        }
        let d = det.poll_digit().expect("digit");
        assert_eq!(d.key, '5');
        assert!(det.poll_digit().is_none());
    }

    /// The bridge rebuilds at most one packet the length of the one before, whatever
    /// the timestamps claim; and libopus is never asked for more than 120 ms.
    #[test]
    fn a_loss_is_rebuilt_only_up_to_the_length_of_the_packet_before() {
        let mut src = PcmEncoder::new(Codec::Opus, 16000).unwrap();
        src.set_inband_fec(true).unwrap();
        let mut t = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
        let x = tone(1000.0, 16000.0, 320 * 4);
        let pkts: Vec<Vec<u8>> = x
            .chunks(320)
            .map(|f| {
                let mut p = Vec::new();
                src.encode(f, &mut p).unwrap();
                p
            })
            .collect();
        let mut out = Vec::new();
        t.transcode(&pkts[0], &mut out).unwrap();
        // 20 ms packets: a gap claiming 100 ms lost is not rebuilt, 20 ms is.
        let claimed = t.transcode_after_loss(&pkts[1], 960 * 6, &mut out).unwrap();
        assert_eq!(claimed.recovered_units, 0);
        let real = t.transcode_after_loss(&pkts[3], 960 * 2, &mut out).unwrap();
        assert_eq!(real.recovered_units, 160);
        let mut dec = crate::media::opus::OpusDecoder::new(8000).unwrap();
        let mut pcm = Vec::new();
        assert!(dec.decode_fec(&pkts[2], 960, &mut pcm).is_ok(), "120 ms at 8 kHz");
        assert!(dec.decode_fec(&pkts[2], 1920, &mut pcm).is_err(), "240 ms is no Opus span");
    }
}

#[cfg(test)]
mod prompt_tests {
    use super::*;
    use crate::media::prompt::{encode_prompt, frame_bytes, FRAME_SAMPLES};
    use crate::media::wav::parse_wav;

    /// SNR of `y` against `x` at the delay (0..max) that maximises it, in dB, and that delay.
    fn best_snr(x: &[i16], y: &[i16], max: usize) -> (f64, usize) {
        (0..max)
            .map(|d| {
                let (mut sig, mut noise) = (0.0f64, 0.0f64);
                for (a, b) in x.iter().zip(y.iter().skip(d)) {
                    sig += f64::from(*a).powi(2);
                    noise += (f64::from(*a) - f64::from(*b)).powi(2);
                }
                (10.0 * (sig / noise.max(1.0)).log10(), d)
            })
            .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
    }

    /// The greeting as the gateway ships it, encoded like at start and decoded like a
    /// phone would, back at 8 kHz. Floors (measured on this recording, then lowered by
    /// a margin so that only a broken pipeline fails): G.722 25 dB (34 measured); Opus 24 kbit/s
    /// wideband 8 dB (11.7 measured; Opus is a perceptual codec: its waveform SNR is low even when it
    /// sounds clean, so the floor checks the audio is the prompt's, aligned, at level).
    #[test]
    fn the_greeting_survives_g722_and_opus_prompt_encoding() {
        let wav = std::fs::read("config/prompts/en/greeting.wav").unwrap();
        let x = parse_wav(&wav).unwrap();
        for (codec, floor) in [(Codec::G722, 25.0), (Codec::Opus, 8.0)] {
            let t0 = std::time::Instant::now();
            let frames = encode_prompt(&x, codec);
            eprintln!("{codec}: {:.1} s of prompt encoded in {:?}", x.len() as f64 / 8000.0, t0.elapsed());
            let n = x.len().div_ceil(FRAME_SAMPLES);
            assert_eq!(frames.len(), n * frame_bytes(codec), "{codec}");
            let mut dec = PcmDecoder::new(codec, 8000).unwrap();
            let mut y = Vec::new();
            for f in frames.chunks(frame_bytes(codec)) {
                dec.decode(f, &mut y).unwrap();
            }
            assert_eq!(y.len(), n * FRAME_SAMPLES, "{codec}");
            let (snr, delay) = best_snr(&x, &y, 200);
            eprintln!("{codec}: SNR {snr:.1} dB at a delay of {delay} samples");
            assert!(snr > floor, "{codec}: SNR {snr:.1} dB (floor {floor})");
        }
    }
}
