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
//! of the maximum; a mono decoder decodes stereo packets by down-mixing). In-band FEC
//! and DTX packets decode like any other: a DTX packet yields its comfort-noise frame.

use thiserror::Error;

/// Longest Opus packet duration (RFC 6716 §3.2.5: 120 ms), in samples at 16 kHz.
const MAX_FRAME_16K: usize = 1920;
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
        let len = i32::try_from(packet.len()).map_err(|_| OpusError { code: unsafe_libopus::OPUS_INVALID_PACKET })?;
        let max = MAX_FRAME_16K * (self.rate as usize).div_ceil(16000);
        let start = out.len();
        out.resize(start + max, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        // SAFETY: `packet` is `len` readable octets; `dst` has room for `max` mono
        // samples and that is the frame_size passed; `st` is live.
        let ret = unsafe {
            unsafe_libopus::opus_decode(self.st, packet.as_ptr(), len, dst.as_mut_ptr(), max as i32, 0)
        };
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
mod tests {
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
}
