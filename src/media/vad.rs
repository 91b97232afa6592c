//! Voice activity on the caller's audio (issue 16): whether a caller spoke, made noise
//! or stayed silent, and for how long, from their decoded audio (8 kHz PCM).
//!
//! The detector is `earshot` (pure Rust, a small neural network over 16 ms frames at
//! 16 kHz), chosen over the WebRTC VAD (`webrtc-vad`, GMM) by measurement on the
//! labelled set of `scripts/make-vad-set`, through G.711 µ-law as a call carries it:
//! both find every speech clip within 1 s, but the WebRTC VAD in its default mode calls
//! 9 of 10 silence clips (a line's hiss) and every breathing clip speech, and even in
//! its most aggressive mode 1 silence and 2 breathing clips; earshot calls none of them
//! speech. A caller who breathes into the phone and says nothing is exactly the caller
//! the silent-call procedure is for, so that error matters more than anything else.
//! (README, "Voice activity", has the table.)
//!
//! Cost: earshot takes about 10 µs per 16 ms frame, the WebRTC VAD about 2 µs per
//! 20 ms. Frames quieter than [`SILENCE_DBFS`] (RMS) are silence without asking the
//! network: a silent caller, the common case, costs an energy sum per frame.
//!
//! Contract: [`VoiceActivity::push`] takes the caller's audio in any slice length
//! (samples are buffered into frames); [`VoiceActivity::activity`] says what was heard
//! so far. Nothing here allocates per frame or panics on any input.

use earshot::Detector;

/// Frames quieter than this RMS level (dBFS) are silence, not run through the network.
pub const SILENCE_DBFS: f64 = -55.0;
/// A frame whose network score reaches this is speech.
pub const SPEECH_SCORE: f32 = 0.5;
/// The caller "spoke" once this many of the last [`WINDOW`] frames were speech (64 of
/// 96 ms): one frame alone is a click.
pub const SPEECH_FRAMES: u32 = 4;
/// The frames [`SPEECH_FRAMES`] are counted in.
pub const WINDOW: u32 = 6;
/// One frame: 16 ms at 16 kHz.
const FRAME: usize = 256;
/// Milliseconds per frame.
const FRAME_MS: u32 = 16;

/// What a caller's audio held so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Speech heard: [`SPEECH_FRAMES`] speech frames within [`WINDOW`].
    pub spoke: bool,
    /// Milliseconds of audio into the call when it first did (`None`: not yet).
    pub first_speech_ms: Option<u32>,
    /// Milliseconds classed speech.
    pub speech_ms: u32,
    /// Milliseconds above the silence level but not speech (noise, music, breath, tones).
    pub noise_ms: u32,
    /// Milliseconds below the silence level.
    pub silence_ms: u32,
}

impl Activity {
    /// Milliseconds of the caller's audio classified so far (speech, noise, silence).
    pub fn heard_ms(&self) -> u32 {
        self.speech_ms.saturating_add(self.noise_ms).saturating_add(self.silence_ms)
    }

    /// `speech`, `noise`, `silence` or `no_audio`: what the caller mostly did (speech
    /// if they spoke at all; else noise if there was at least a second of it; no audio
    /// when their phone sent none).
    pub fn verdict(&self) -> &'static str {
        if self.spoke {
            "speech"
        } else if self.heard_ms() == 0 {
            "no_audio"
        } else if self.noise_ms >= 1_000 {
            "noise"
        } else {
            "silence"
        }
    }
}

/// The detector of one call's audio.
pub struct VoiceActivity {
    /// Made at the first frame above the silence level: a silent caller never pays
    /// for its 8 KiB.
    detector: Option<Box<Detector>>,
    /// 16 kHz samples waiting for a whole frame.
    frame: [i16; FRAME],
    filled: usize,
    /// The last 8 kHz sample, for interpolation.
    last: i16,
    /// One bit per recent frame, newest lowest: speech or not.
    recent: u32,
    activity: Activity,
}

impl Default for VoiceActivity {
    fn default() -> Self {
        VoiceActivity::new()
    }
}

impl std::fmt::Debug for VoiceActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceActivity").field("activity", &self.activity).finish_non_exhaustive()
    }
}

/// The mean square of a frame at the silence level.
fn silence_energy() -> f64 {
    let amplitude = 32768.0 * 10f64.powf(SILENCE_DBFS / 20.0);
    amplitude * amplitude
}

impl VoiceActivity {
    /// A detector that has heard nothing.
    pub fn new() -> VoiceActivity {
        VoiceActivity { detector: None, frame: [0; FRAME], filled: 0, last: 0, recent: 0, activity: Activity::default() }
    }

    /// What was heard so far.
    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// The caller's next 8 kHz samples (any count). Each is doubled to 16 kHz by
    /// linear interpolation: the network's features reach 4 kHz at most, where the
    /// telephone band ends anyway.
    pub fn push(&mut self, samples: &[i16]) {
        for &s in samples {
            let mid = ((i32::from(self.last) + i32::from(s)) / 2) as i16;
            self.last = s;
            self.put(mid);
            self.put(s);
        }
    }

    fn put(&mut self, sample: i16) {
        if let Some(slot) = self.frame.get_mut(self.filled) {
            *slot = sample;
            self.filled += 1;
        }
        if self.filled >= FRAME {
            self.filled = 0;
            self.classify();
        }
    }

    fn classify(&mut self) {
        let energy = self.frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / FRAME as f64;
        let a = &mut self.activity;
        let speech = if energy < silence_energy() {
            a.silence_ms = a.silence_ms.saturating_add(FRAME_MS);
            false
        } else if self.detector.get_or_insert_with(Detector::default_boxed).predict_i16(&self.frame) >= SPEECH_SCORE {
            a.speech_ms = a.speech_ms.saturating_add(FRAME_MS);
            true
        } else {
            a.noise_ms = a.noise_ms.saturating_add(FRAME_MS);
            false
        };
        self.recent = (self.recent << 1) | u32::from(speech);
        let window = self.recent & ((1 << WINDOW) - 1);
        if !a.spoke && window.count_ones() >= SPEECH_FRAMES {
            a.spoke = true;
            a.first_speech_ms = Some(a.heard_ms());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, amplitude: f64, ms: usize) -> Vec<i16> {
        (0..ms * 8).map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16).collect()
    }

    #[test]
    fn digital_silence_is_silence_and_costs_no_network() {
        let mut v = VoiceActivity::new();
        v.push(&vec![0; 8000]);
        let a = v.activity();
        assert!(!a.spoke);
        assert_eq!(a.speech_ms + a.noise_ms, 0);
        assert_eq!(a.silence_ms, 992, "62 whole frames of 16 ms in a second");
        assert!(v.detector.is_none(), "no network for a silent caller");
        assert_eq!(a.verdict(), "silence");
    }

    #[test]
    fn a_steady_loud_tone_is_not_speech_and_samples_come_in_any_slices() {
        let mut v = VoiceActivity::new();
        let t = tone(1000.0, 12_000.0, 2_000);
        for chunk in t.chunks(37) {
            v.push(chunk);
        }
        let a = v.activity();
        assert!(!a.spoke, "{a:?}");
        assert!(a.noise_ms >= 1_900, "{a:?}");
        assert_eq!(a.verdict(), "noise");
    }

    #[test]
    fn the_level_gate_sits_at_minus_55_dbfs() {
        let quiet = tone(300.0, 32768.0 * 10f64.powf(-60.0 / 20.0) * std::f64::consts::SQRT_2, 500);
        let mut v = VoiceActivity::new();
        v.push(&quiet);
        assert_eq!(v.activity().noise_ms + v.activity().speech_ms, 0, "a -60 dBFS RMS tone is below the gate");
        let louder = tone(300.0, 32768.0 * 10f64.powf(-50.0 / 20.0) * std::f64::consts::SQRT_2, 500);
        let mut v = VoiceActivity::new();
        v.push(&louder);
        assert!(v.activity().silence_ms <= 16, "a -50 dBFS RMS tone is above it: {:?}", v.activity());
    }
}
