//! Reading prompt WAV files: RIFF/WAVE, PCM, 8 kHz, mono, 16-bit little-endian, nothing else.
//!
//! Why so narrow and why our own parser: prompts are encoded once at load into both G.711
//! laws, so one input format is enough, and an admin who drops in a 44.1 kHz stereo studio
//! file must get a clear error naming the field, not a chipmunk prompt. `hound` would do
//! for PCM but cannot read G.711 WAVs (format tags 6/7) either, and the format is ~60
//! lines of bounds-checked chunk walking. This module works on bytes; reading the file is
//! the caller's (the config loader's) job.

use thiserror::Error;

/// WAVE format tag for integer PCM.
const WAVE_FORMAT_PCM: u16 = 1;
/// WAVE format tag for WAVE_FORMAT_EXTENSIBLE, whose sub-format then says PCM or not.
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Why a byte string is not a usable prompt WAV.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WavError {
    /// Does not start with `RIFF....WAVE`.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// A chunk header or body runs past the end of the file.
    #[error("chunk {id:?} of {size} bytes at offset {offset} runs past the end of the file")]
    Truncated {
        /// The chunk's four-character id (lossy UTF-8; empty when cut off).
        id: String,
        /// The size its header declares; 0 when the header itself is cut off.
        size: u32,
        /// Where the chunk header starts in the file.
        offset: usize,
    },
    /// No `fmt ` chunk before the `data` chunk.
    #[error("no fmt chunk before the data chunk")]
    MissingFormat,
    /// No `data` chunk.
    #[error("no data chunk")]
    MissingData,
    /// The `fmt ` chunk is shorter than the 16 bytes of a PCM format.
    #[error("fmt chunk of {0} bytes is too short")]
    ShortFormat(u32),
    /// Not integer PCM (e.g. 6 = A-law, 7 = µ-law, 3 = float): convert with
    /// `sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav`.
    #[error("format tag {0} is not PCM; convert to 8 kHz mono 16-bit PCM")]
    NotPcm(u16),
    /// More than one channel.
    #[error("{0} channels; prompts must be mono")]
    Channels(u16),
    /// Not 8 kHz.
    #[error("sample rate {0} Hz; prompts must be 8000 Hz")]
    SampleRate(u32),
    /// Not 16 bits per sample.
    #[error("{0} bits per sample; prompts must be 16-bit")]
    BitsPerSample(u16),
    /// The data chunk holds half a sample.
    #[error("data chunk of {0} bytes is not a whole number of 16-bit samples")]
    OddData(u32),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|c| u16::from_le_bytes(*c))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..)?
        .first_chunk::<4>()
        .map(|c| u32::from_le_bytes(*c))
}

/// Parses a WAV file's bytes into 8 kHz mono samples. Unknown chunks (`LIST`, `fact`, ...)
/// are skipped; chunks are word-aligned (a pad byte follows odd sizes).
pub fn parse_wav(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut offset = 12;
    let mut format_seen = false;
    while offset < bytes.len() {
        let id_bytes = bytes.get(offset..offset + 4).unwrap_or(&[]);
        let id = String::from_utf8_lossy(id_bytes).into_owned();
        let Some(size) = u32_at(bytes, offset + 4) else {
            return Err(WavError::Truncated {
                id,
                size: 0,
                offset,
            });
        };
        let body_start = offset + 8;
        let body_end = usize::try_from(size)
            .ok()
            .and_then(|s| body_start.checked_add(s));
        let Some(body) = body_end.and_then(|end| bytes.get(body_start..end)) else {
            return Err(WavError::Truncated { id, size, offset });
        };
        match id_bytes {
            b"fmt " => {
                check_format(body, size)?;
                format_seen = true;
            }
            b"data" => {
                if !format_seen {
                    return Err(WavError::MissingFormat);
                }
                if size % 2 != 0 {
                    return Err(WavError::OddData(size));
                }
                return Ok(body
                    .chunks_exact(2)
                    .filter_map(|c| c.first_chunk::<2>())
                    .map(|c| i16::from_le_bytes(*c))
                    .collect());
            }
            _ => {}
        }
        offset = body_start + body.len() + body.len() % 2;
    }
    Err(WavError::MissingData)
}

fn check_format(fmt: &[u8], size: u32) -> Result<(), WavError> {
    let field = |at| u16_at(fmt, at).ok_or(WavError::ShortFormat(size));
    let mut tag = field(0)?;
    let channels = field(2)?;
    let rate = u32_at(fmt, 4).ok_or(WavError::ShortFormat(size))?;
    let bits = field(14)?;
    if tag == WAVE_FORMAT_EXTENSIBLE {
        // The sub-format GUID starts with the real format tag (offset 24).
        tag = field(24)?;
    }
    if tag != WAVE_FORMAT_PCM {
        return Err(WavError::NotPcm(tag));
    }
    if channels != 1 {
        return Err(WavError::Channels(channels));
    }
    if rate != 8000 {
        return Err(WavError::SampleRate(rate));
    }
    if bits != 16 {
        return Err(WavError::BitsPerSample(bits));
    }
    Ok(())
}
