//! Opus (RFC 6716, RTP payload RFC 7587) through the reference libopus 1.3.1, as
//! translated to Rust by C2Rust (`unsafe-libopus`): the same code as the C library,
//! built by cargo with no C compiler and no cmake.
//!
//! This is the only module of the crate that calls `unsafe` code besides
//! `malloc_trim`: the translation keeps libopus' C API (raw pointers to encoder and
//! decoder states). The wrappers here keep that contained:
//! - each state is created by libopus, owned by exactly one wrapper and destroyed in
//!   `Drop`; creation failure is an error, never a null pointer kept;
//! - every pointer/length pair handed to libopus comes from a live Rust slice whose
//!   length bounds what libopus may write (`max_data_bytes`, `frame_size`);
//! - payloads from the network are passed as slices with their true length: libopus
//!   validates them (RFC 6716 §3.4) and returns `OPUS_INVALID_PACKET`, which becomes
//!   [`OpusError`].
//!
//! Mono voice: we create mono states (RFC 7587 §7: `/2` in SDP is only the signalling
//! of the maximum; a mono decoder decodes stereo packets by down-mixing). DTX packets
//! decode like any other (a DTX update yields its comfort-noise frame). In-band FEC:
//! [`OpusDecoder::decode_fec`] rebuilds a lost frame from the redundancy (LBRR, RFC 6716
//! §4.2.4) the next packet carries, and libopus itself falls back to concealment
//! ([`OpusDecoder::conceal`]) when that packet carries none.

use thiserror::Error;

/// Longest Opus packet duration (RFC 6716 §3.2.5: 120 ms), in samples at 16 kHz.
const MAX_FRAME_16K: usize = 1920;

/// 120 ms (the longest Opus packet) in samples at `rate`.
fn max_frame(rate: u32) -> usize {
    usize::try_from(rate / 1000 * 120).unwrap_or(MAX_FRAME_16K)
}

/// Largest packet we produce (RFC 7587 suggests nothing; 20 ms at 510 kbit/s is 1275).
const MAX_PACKET: usize = 1275;

/// A libopus error code, with its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("opus error {code}: {}", describe(*.code))]
pub struct OpusError {
    /// The negative `OPUS_*` code.
    pub code: i32,
}

fn describe(code: i32) -> &'static str {
    match code {
        unsafe_libopus::OPUS_BAD_ARG => "bad argument",
        unsafe_libopus::OPUS_BUFFER_TOO_SMALL => "buffer too small",
        unsafe_libopus::OPUS_INTERNAL_ERROR => "internal error",
        unsafe_libopus::OPUS_INVALID_PACKET => "invalid packet",
        unsafe_libopus::OPUS_UNIMPLEMENTED => "unimplemented",
        unsafe_libopus::OPUS_INVALID_STATE => "invalid state",
        unsafe_libopus::OPUS_ALLOC_FAIL => "allocation failed",
        _ => "unknown",
    }
}

fn check(ret: i32) -> Result<usize, OpusError> {
    usize::try_from(ret).map_err(|_| OpusError { code: ret })
}

/// How an encoder is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Sampling rate of the PCM given (8000, 12000, 16000, 24000 or 48000).
    pub rate: u32,
    /// Target bit rate, bit/s.
    pub bitrate: i32,
    /// Constant bit rate: every 20 ms packet the same size (prompts are cut in fixed
    /// frames, see [`super::prompt`]).
    pub cbr: bool,
    /// libopus complexity 0–10 (CPU against quality).
    pub complexity: i32,
}

/// Prompts: 24 kbit/s CBR, 60 octets every 20 ms (the rate is the one of the PCM given,
/// 8 kHz for the recordings: see [`super::prompt::encode_prompt`]).
pub const PROMPT_SETTINGS: EncoderSettings = EncoderSettings {
    rate: 8000,
    bitrate: 24000,
    cbr: true,
    complexity: 9,
};

/// Octets of one 20 ms prompt packet at [`PROMPT_SETTINGS`].
pub const PROMPT_FRAME_BYTES: usize = (PROMPT_SETTINGS.bitrate as usize) / 8 / 50;

/// The bridge: 24 kbit/s VBR at complexity 5 (half the CPU of the default 10 for a
/// voice quality difference nobody hears on a phone call).
pub const BRIDGE_SETTINGS: EncoderSettings = EncoderSettings {
    rate: 16000,
    bitrate: 24000,
    cbr: false,
    complexity: 5,
};

/// An Opus encoder (mono, VoIP application).
pub struct OpusEncoder {
    st: *mut unsafe_libopus::OpusEncoder,
    rate: u32,
}

// SAFETY: the state is plain memory owned by this wrapper alone (no thread-local or
// shared data in libopus); moving it between threads is what the C library allows too.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// A new encoder.
    pub fn new(settings: EncoderSettings) -> Result<Self, OpusError> {
        let rate = i32::try_from(settings.rate).map_err(|_| OpusError { code: unsafe_libopus::OPUS_BAD_ARG })?;
        let mut err = 0i32;
        // SAFETY: `err` is a valid out-pointer; libopus checks the arguments.
        let st = unsafe { unsafe_libopus::opus_encoder_create(rate, 1, unsafe_libopus::OPUS_APPLICATION_VOIP, &mut err) };
        if st.is_null() || err != unsafe_libopus::OPUS_OK {
            return Err(OpusError { code: err.min(-1) });
        }
        let enc = OpusEncoder { st, rate: settings.rate };
        enc.ctl(unsafe_libopus::OPUS_SET_BITRATE_REQUEST, settings.bitrate)?;
        enc.ctl(unsafe_libopus::OPUS_SET_VBR_REQUEST, i32::from(!settings.cbr))?;
        enc.ctl(unsafe_libopus::OPUS_SET_COMPLEXITY_REQUEST, settings.complexity)?;
        enc.ctl(unsafe_libopus::OPUS_SET_SIGNAL_REQUEST, unsafe_libopus::OPUS_SIGNAL_VOICE)?;
        enc.ctl(unsafe_libopus::OPUS_SET_MAX_BANDWIDTH_REQUEST, unsafe_libopus::OPUS_BANDWIDTH_WIDEBAND)?;
        Ok(enc)
    }

    fn ctl(&self, request: i32, value: i32) -> Result<(), OpusError> {
        // SAFETY: `st` is live (created in `new`, freed only in Drop); SET requests take
        // one i32 argument, which is what is passed.
        let ret = unsafe { unsafe_libopus::opus_encoder_ctl!(self.st, request, value) };
        check(ret).map(|_| ())
    }

    /// Asks for in-band FEC (the receiver said `useinbandfec=1`, RFC 7587 §7.1).
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), OpusError> {
        self.ctl(unsafe_libopus::OPUS_SET_INBAND_FEC_REQUEST, i32::from(on))?;
        self.ctl(unsafe_libopus::OPUS_SET_PACKET_LOSS_PERC_REQUEST, if on { 10 } else { 0 })
    }

    /// Discontinuous transmission: in silence libopus returns packets of at most 2
    /// octets, which a sender does not transmit (RFC 7587 §3.1.3).
    pub fn set_dtx(&mut self, on: bool) -> Result<(), OpusError> {
        self.ctl(unsafe_libopus::OPUS_SET_DTX_REQUEST, i32::from(on))
    }

    /// The loss rate the encoder plans its FEC for, in percent (0–100).
    pub fn set_packet_loss(&mut self, percent: i32) -> Result<(), OpusError> {
        self.ctl(unsafe_libopus::OPUS_SET_PACKET_LOSS_PERC_REQUEST, percent)
    }

    /// The PCM rate this encoder takes.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Encodes one frame (2.5, 5, 10, 20, 40 or 60 ms of mono PCM at [`rate`](Self::rate)),
    /// appending the packet to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), OpusError> {
        let frame = i32::try_from(pcm.len()).map_err(|_| OpusError { code: unsafe_libopus::OPUS_BAD_ARG })?;
        let start = out.len();
        out.resize(start + MAX_PACKET, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        // SAFETY: `pcm` holds `frame` samples (one channel); `dst` is MAX_PACKET writable
        // octets and that bound is passed; `st` is live.
        let ret = unsafe {
            unsafe_libopus::opus_encode(self.st, pcm.as_ptr(), frame, dst.as_mut_ptr(), MAX_PACKET as i32)
        };
        match check(ret) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once, here.
        unsafe { unsafe_libopus::opus_encoder_destroy(self.st) }
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpusEncoder({} Hz)", self.rate)
    }
}

/// An Opus decoder (mono output).
pub struct OpusDecoder {
    st: *mut unsafe_libopus::OpusDecoder,
    rate: u32,
}

// SAFETY: as for the encoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    /// A decoder producing PCM at `rate` (8000, 12000, 16000, 24000 or 48000).
    pub fn new(rate: u32) -> Result<Self, OpusError> {
        let fs = i32::try_from(rate).map_err(|_| OpusError { code: unsafe_libopus::OPUS_BAD_ARG })?;
        let mut err = 0i32;
        // SAFETY: `err` is a valid out-pointer; libopus checks the arguments.
        let st = unsafe { unsafe_libopus::opus_decoder_create(fs, 1, &mut err) };
        if st.is_null() || err != unsafe_libopus::OPUS_OK {
            return Err(OpusError { code: err.min(-1) });
        }
        Ok(OpusDecoder { st, rate })
    }

    /// The PCM rate this decoder produces.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Decodes one packet from the network, appending its PCM to `out`; returns the
    /// number of samples. An empty or invalid packet is an error (nothing appended).
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        if packet.is_empty() {
            // A zero length asks libopus for loss concealment: not what a packet means.
            return Err(OpusError { code: unsafe_libopus::OPUS_INVALID_PACKET });
        }
        let max = max_frame(self.rate);
        self.run(Some(packet), max, false, out)
    }

    /// The `samples` (at [`rate`](Self::rate)) lost just before `packet`, rebuilt from
    /// the in-band FEC that `packet` carries, or concealed by libopus when it carries
    /// none (or only covers the last 20 ms of a longer gap: the rest is concealed).
    /// `samples` must be a multiple of 2.5 ms and at most 120 ms. `packet` itself is
    /// then decoded with [`decode`](Self::decode), as usual.
    pub fn decode_fec(&mut self, packet: &[u8], samples: usize, out: &mut Vec<i16>) -> Result<usize, OpusError> {
        if packet.is_empty() {
            return Err(OpusError { code: unsafe_libopus::OPUS_INVALID_PACKET });
        }
        self.check_span(samples)?;
        self.run(Some(packet), samples, true, out)
    }

    /// Packet loss concealment for `samples` (a multiple of 2.5 ms, at most 120 ms).
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<usize, OpusError> {
        self.check_span(samples)?;
        self.run(None, samples, false, out)
    }

    fn check_span(&self, samples: usize) -> Result<(), OpusError> {
        let step = (self.rate / 400) as usize;
        let max = max_frame(self.rate);
        if samples == 0 || step == 0 || !samples.is_multiple_of(step) || samples > max {
            return Err(OpusError { code: unsafe_libopus::OPUS_BAD_ARG });
        }
        Ok(())
    }

    /// One `opus_decode` call: `packet` (or none: concealment) into at most `frame`
    /// samples appended to `out`.
    fn run(&mut self, packet: Option<&[u8]>, frame: usize, fec: bool, out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let (data, len) = match packet {
            Some(p) => (p.as_ptr(), i32::try_from(p.len()).map_err(|_| OpusError { code: unsafe_libopus::OPUS_INVALID_PACKET })?),
            None => (std::ptr::null(), 0),
        };
        let frame_i32 = i32::try_from(frame).map_err(|_| OpusError { code: unsafe_libopus::OPUS_BAD_ARG })?;
        let start = out.len();
        out.resize(start + frame, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        // SAFETY: `data` is `len` readable octets of a live slice, or null with length 0
        // (libopus' documented request for concealment); `dst` has room for `frame`
        // mono samples and that is the frame_size passed; `st` is live.
        let ret = unsafe { unsafe_libopus::opus_decode(self.st, data, len, dst.as_mut_ptr(), frame_i32, i32::from(fec)) };
        match check(ret) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once, here.
        unsafe { unsafe_libopus::opus_decoder_destroy(self.st) }
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpusDecoder({} Hz)", self.rate)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn cbr_packets_are_all_prompt_frame_bytes_long() {
        let mut enc = OpusEncoder::new(PROMPT_SETTINGS).unwrap();
        let mut out = Vec::new();
        for i in 0..50 {
            let pcm: Vec<i16> = (0..160)
                .map(|n| ((n + i * 160) as f64 * 0.2).sin().mul_add(9000.0, 0.0) as i16)
                .collect();
            out.clear();
            enc.encode(&pcm, &mut out).unwrap();
            assert_eq!(out.len(), PROMPT_FRAME_BYTES, "packet {i}");
        }
        let silence = [0i16; 160];
        out.clear();
        enc.encode(&silence, &mut out).unwrap();
        assert_eq!(out.len(), PROMPT_FRAME_BYTES);
    }

    #[test]
    fn hostile_packets_are_errors_or_audio_never_a_panic() {
        let mut dec = OpusDecoder::new(16000).unwrap();
        let mut out = Vec::new();
        assert!(dec.decode(&[], &mut out).is_err());
        let mut v: u32 = 7;
        for len in 1..400usize {
            let p: Vec<u8> = (0..len)
                .map(|_| {
                    v = v.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (v >> 16) as u8
                })
                .collect();
            out.clear();
            if let Ok(n) = dec.decode(&p, &mut out) {
                assert_eq!(out.len(), n);
                assert!(n <= MAX_FRAME_16K);
            } else {
                assert!(out.is_empty());
            }
        }
    }

    /// A voiced sound at 16 kHz: harmonics of a pitch gliding 110–190 Hz under a
    /// syllable envelope (4 Hz), so a lost frame is not predictable from the one before.
    pub(crate) fn voiced(n: usize) -> Vec<i16> {
        let mut phase = 0.0f64;
        (0..n)
            .map(|i| {
                let t = i as f64 / 16000.0;
                let f0 = 150.0 + 40.0 * (2.0 * std::f64::consts::PI * 1.3 * t).sin();
                phase += 2.0 * std::f64::consts::PI * f0 / 16000.0;
                let env = (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
                let s: f64 = (1..12).map(|k| (f64::from(k) * phase).sin() / f64::from(k)).sum();
                (7000.0 * env * s) as i16
            })
            .collect()
    }

    fn snr(x: &[i16], y: &[i16]) -> f64 {
        let (mut sig, mut noise) = (0.0f64, 0.0f64);
        for (a, b) in x.iter().zip(y) {
            sig += f64::from(*a).powi(2);
            noise += (f64::from(*a) - f64::from(*b)).powi(2);
        }
        10.0 * (sig / noise.max(1.0)).log10()
    }

    /// Every 8th packet lost: rebuilt from the next packet's in-band FEC it comes much
    /// closer to what the lossless decoder gives than libopus' concealment does.
    #[test]
    fn fec_of_the_next_packet_beats_concealment_on_a_lost_packet() {
        let mut enc = OpusEncoder::new(BRIDGE_SETTINGS).unwrap();
        enc.set_inband_fec(true).unwrap();
        enc.set_packet_loss(20).unwrap();
        let x = voiced(16000 * 4);
        let packets: Vec<Vec<u8>> = x
            .chunks(320)
            .map(|f| {
                let mut p = Vec::new();
                enc.encode(f, &mut p).unwrap();
                p
            })
            .collect();
        let lost = |i: usize| i >= 10 && i.is_multiple_of(8) && i + 1 < packets.len();
        let (mut clean, mut fec, mut plc) = (OpusDecoder::new(16000).unwrap(), OpusDecoder::new(16000).unwrap(), OpusDecoder::new(16000).unwrap());
        let (mut yc, mut yf, mut yp) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ref_lost, mut fec_lost, mut plc_lost) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in packets.iter().enumerate() {
            let at = yc.len();
            clean.decode(p, &mut yc).unwrap();
            if lost(i) {
                ref_lost.extend_from_slice(&yc[at..]);
                continue;
            }
            if i > 0 && lost(i - 1) {
                let (f, c) = (yf.len(), yp.len());
                assert_eq!(fec.decode_fec(p, 320, &mut yf).unwrap(), 320);
                assert_eq!(plc.conceal(320, &mut yp).unwrap(), 320);
                fec_lost.extend_from_slice(&yf[f..]);
                plc_lost.extend_from_slice(&yp[c..]);
            }
            fec.decode(p, &mut yf).unwrap();
            plc.decode(p, &mut yp).unwrap();
        }
        assert_eq!((yf.len(), yp.len()), (yc.len(), yc.len()));
        let (s_fec, s_plc) = (snr(&ref_lost, &fec_lost), snr(&ref_lost, &plc_lost));
        eprintln!("lost frames against the lossless decoding: FEC {s_fec:.1} dB, concealment {s_plc:.1} dB");
        assert!(s_fec > s_plc + 3.0, "FEC {s_fec:.1} dB, concealment {s_plc:.1} dB");
        // Nothing odd about spans: 2.5 ms steps up to 120 ms only.
        assert!(plc.conceal(100, &mut yp).is_err());
        assert!(plc.conceal(16000 / 400 * 49, &mut yp).is_err());
    }
}
