//! In-band DTMF detection (ITU-T Q.23 tone pairs) on decoded 8 kHz audio, for trunks that
//! send no RFC 4733 telephone-event.
//!
//! Why these choices (measured, see NOTES.md):
//! - Goertzel at the exact tone frequencies (and ±1.5 %) on each 20 ms frame (160 samples), because that
//!   is the packet size and integer DFT bins at N = 160 (50 Hz apart) fall too far from
//!   852, 941 and 1477 Hz and lose `5`, `6` and `#`;
//! - a frame holds a key only if its strongest row and column tones are within ±8 dB of
//!   each other (twist), each 8 dB above the other tones of its group (relative peak),
//!   and together carry at least 70 % of the frame's energy: speech spreads its energy
//!   over many harmonics and fails the last test;
//! - a key turns on after two consecutive frames agree (≥ 40 ms, the Q.24 minimum) and off
//!   after two frames without it, so one lost or garbled packet inside a long press does
//!   not split it, while the 40 ms minimum pause between presses still separates them.
//!
//! The digit is reported when the key is released, with its duration, like
//! [`super::rfc4733::DtmfReceiver`] does, so the call logic sees one kind of event.

use std::collections::VecDeque;
use std::time::Duration;

use super::moment::Moment;
use super::rfc4733::Digit;

/// Sampling rate of G.711 audio.
const SAMPLE_RATE: f32 = 8000.0;
/// Row (low group) and column (high group) frequencies, Q.23.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keys by [row][column].
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Allowed level difference between the row and column tone.
const MAX_TWIST_DB: f32 = 8.0;
/// How far the chosen tone of each group must stand above the others of that group.
const RELATIVE_PEAK_DB: f32 = 8.0;
/// Share of the frame's energy the two tones must carry.
const MIN_TONE_SHARE: f32 = 0.70;
/// Weakest tone accepted, as a sine amplitude relative to full scale (−40 dBFS); the
/// quietest valid DTMF on a G.711 line (−25 dBm0 per tone, Q.24) is about −28 dBFS.
const MIN_TONE_AMPLITUDE: f32 = 0.01;
/// Consecutive agreeing frames to turn a key on, and key-less frames to turn it off.
const FRAMES_ON: u32 = 2;
const FRAMES_OFF: u32 = 2;

fn db_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Classifies one block of samples: the key whose tone pair it carries, if any.
/// Total over any input (empty, silent, clipped); exact-frequency coefficients make it
/// valid for any block length.
pub fn classify_frame(samples: &[i16]) -> Option<char> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f32;
    let mut energy = 0f32;
    for s in samples {
        let x = f32::from(*s) / 32768.0;
        energy += x * x;
    }
    // A sine of amplitude A carries A²N/2 of energy over N samples.
    let min_tone_energy = MIN_TONE_AMPLITUDE * MIN_TONE_AMPLITUDE * n / 2.0;
    if energy < 2.0 * min_tone_energy {
        return None;
    }
    let (rows, cols) = tone_energies(samples);
    let (row, row_e) = strongest(&rows)?;
    let (col, col_e) = strongest(&cols)?;
    let twist = db_ratio(MAX_TWIST_DB);
    let peak = db_ratio(RELATIVE_PEAK_DB);
    let holds = row_e >= min_tone_energy
        && col_e >= min_tone_energy
        && row_e <= col_e * twist
        && col_e <= row_e * twist
        && rows
            .iter()
            .enumerate()
            .all(|(i, e)| i == row || row_e >= e * peak)
        && cols
            .iter()
            .enumerate()
            .all(|(i, e)| i == col || col_e >= e * peak)
        && row_e + col_e >= MIN_TONE_SHARE * energy;
    if holds {
        KEYS.get(row)?.get(col).copied()
    } else {
        None
    }
}

/// Q.24 requires keys within ±1.5 % of nominal to be read. A 20 ms block is so short that
/// 1.5 % off at 1633 Hz already costs 3 dB at the nominal frequency, enough to fail the
/// 70 % share test, so each tone is also measured at ±1.5 % and the strongest counts.
const OFFSETS: [f32; 3] = [1.0, 0.985, 1.015];

/// The 24 filters: each of the 8 tones at its three offsets, tone-major.
const FILTERS: usize = 24;

/// Goertzel coefficients `2·cos(2πf/fs)` of the 24 filters, computed once: every frame
/// of every caller in the IVR runs them, so no `cos` per frame.
fn coefficients() -> &'static [f32; FILTERS] {
    static COEFFS: std::sync::OnceLock<[f32; FILTERS]> = std::sync::OnceLock::new();
    COEFFS.get_or_init(|| {
        let mut c = [0f32; FILTERS];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            for (j, k) in OFFSETS.iter().enumerate() {
                if let Some(slot) = c.get_mut(i * OFFSETS.len() + j) {
                    *slot = 2.0 * (2.0 * std::f32::consts::PI * f * k / SAMPLE_RATE).cos();
                }
            }
        }
        c
    })
}

/// Energy of each tone (rows, then columns), each the strongest of its three offsets,
/// scaled like the frame energy (a sine of amplitude A at exactly the filter's frequency
/// gives A²N/2): the 24 Goertzel recurrences run side by side in one pass over the
/// samples, which the compiler vectorises.
fn tone_energies(samples: &[i16]) -> ([f32; 4], [f32; 4]) {
    let coeff = coefficients();
    let mut s1 = [0f32; FILTERS];
    let mut s2 = [0f32; FILTERS];
    for s in samples {
        let x = f32::from(*s) * (1.0 / 32768.0);
        for ((a, b), c) in s1.iter_mut().zip(s2.iter_mut()).zip(coeff.iter()) {
            let s0 = x + c * *a - *b;
            *b = *a;
            *a = s0;
        }
    }
    let scale = 2.0 / samples.len().max(1) as f32;
    let mut tones = [0f32; 8];
    for (i, tone) in tones.iter_mut().enumerate() {
        for j in 0..OFFSETS.len() {
            let k = i * OFFSETS.len() + j;
            if let (Some(a), Some(b), Some(c)) = (s1.get(k), s2.get(k), coeff.get(k)) {
                // |X(f)|² from the last two states.
                let power = a * a + b * b - c * a * b;
                *tone = tone.max(scale * power);
            }
        }
    }
    let [r0, r1, r2, r3, c0, c1, c2, c3] = tones;
    ([r0, r1, r2, r3], [c0, c1, c2, c3])
}

fn strongest(energies: &[f32; 4]) -> Option<(usize, f32)> {
    energies
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A key that is on (or becoming on).
#[derive(Debug, Clone, Copy)]
struct Run<T> {
    key: char,
    at: T,
    frames: u32,
    frames_without: u32,
    frame_duration: Duration,
}

/// Turns a stream of 20 ms frames into [`Digit`]s, one per key press.
///
/// Sans-IO: [`handle_frame`](Self::handle_frame) per decoded frame, then drain
/// [`poll_digit`](Self::poll_digit).
#[derive(Debug, Clone, Default)]
pub struct InbandDtmfDetector<T> {
    run: Option<Run<T>>,
    digits: VecDeque<Digit<T>>,
}

impl<T: Moment> InbandDtmfDetector<T> {
    /// A detector for one call leg.
    pub fn new() -> Self {
        InbandDtmfDetector {
            run: None,
            digits: VecDeque::new(),
        }
    }

    /// Feeds one frame of decoded audio; `now` is the time of its first sample.
    pub fn handle_frame(&mut self, now: T, samples: &[i16]) {
        let frame_duration = Duration::from_micros(samples.len() as u64 * 125);
        let key = classify_frame(samples);
        match (self.run.as_mut(), key) {
            (Some(run), Some(k)) if run.key == k => {
                run.frames += run.frames_without + 1;
                run.frames_without = 0;
            }
            (Some(run), _) if run.frames >= FRAMES_ON => {
                // An established key: a different key or no key counts toward release.
                run.frames_without += 1;
                if run.frames_without >= FRAMES_OFF {
                    let done = *run;
                    self.digits.push_back(Digit {
                        key: done.key,
                        at: done.at,
                        duration: done.frame_duration.saturating_mul(done.frames),
                    });
                    self.run = None;
                    // A different key may be starting in this very frame.
                    if let Some(k) = key {
                        self.start(now, k, frame_duration);
                    }
                }
            }
            (_, Some(k)) => self.start(now, k, frame_duration),
            (_, None) => self.run = None,
        }
    }

    fn start(&mut self, now: T, key: char, frame_duration: Duration) {
        self.run = Some(Run {
            key,
            at: now,
            frames: 1,
            frames_without: 0,
            frame_duration,
        });
    }

    /// The next detected digit.
    pub fn poll_digit(&mut self) -> Option<Digit<T>> {
        self.digits.pop_front()
    }
}
