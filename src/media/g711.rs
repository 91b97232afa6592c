//! G.711 µ-law and A-law companding (ITU-T G.711, RTP payload types 0 and 8, RFC 3551 §4.5.14).
//!
//! Why our own 40 lines instead of a crate: this is Sun Microsystems' public-domain `g711.c`
//! algorithm, the one sox, Asterisk and most stacks descend from. The decoders match
//! `sox -D` bit for bit on all 256 codes of both laws (asserted in `tests/media_g711.rs`), so
//! a prompt recorded, encoded and decoded by our gateway sounds exactly like the same file
//! run through sox. Every function is total: no input can panic.
//!
//! Samples are signed 16-bit linear PCM. µ-law works on 14 significant bits, A-law on 13;
//! the low bits are dropped on encode and the decoders return values in the 16-bit range.

use super::Codec;

/// Bias added before µ-law segment search (G.711 §2, Sun `BIAS`).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude µ-law can represent before clipping (Sun `CLIP`).
const ULAW_CLIP: i32 = 8159;
/// Segment end points for µ-law (14-bit magnitudes after bias).
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Segment end points for A-law (13-bit magnitudes).
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// The µ-law code for digital silence (a decoded 0). Used to pad the last frame of a prompt.
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code for the smallest positive level (+8), A-law's silence. Used for padding.
pub const ALAW_SILENCE: u8 = 0xD5;

/// Index of the first segment whose end point is ≥ `value`, or 8 if none.
fn segment(value: i32, ends: &[i32; 8]) -> i32 {
    let mut seg = 0;
    for end in ends {
        if value <= *end {
            return seg;
        }
        seg += 1;
    }
    seg
}

/// Encodes one linear sample to µ-law (Sun `linear2ulaw`).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 2;
    let mask: i32 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(pcm, &ULAW_SEG_END);
    let code = if seg >= 8 {
        0x7F
    } else {
        (seg << 4) | ((pcm >> (seg + 1)) & 0xF)
    };
    // The masks keep the result within one octet.
    (code ^ mask) as u8
}

/// Decodes one µ-law code to a linear sample (Sun `ulaw2linear`). Total over all 256 codes;
/// 0x7F and 0xFF both decode to 0 (µ-law has a positive and a negative zero).
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = i32::from(!code);
    let t = (((u & 0x0F) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    let value = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    // |value| ≤ 32124 by construction.
    value as i16
}

/// Encodes one linear sample to A-law (Sun `linear2alaw`), even bits inverted per G.711.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &ALAW_SEG_END);
    let code = if seg >= 8 {
        0x7F
    } else if seg < 2 {
        (seg << 4) | ((pcm >> 1) & 0xF)
    } else {
        (seg << 4) | ((pcm >> seg) & 0xF)
    };
    (code ^ mask) as u8
}

/// Decodes one A-law code to a linear sample (Sun `alaw2linear`). Total over all 256 codes;
/// A-law has no zero code, the smallest levels are ±8.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    // |t| ≤ 32256 by construction.
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Encodes a block of samples into µ-law codes, appending to `out`.
pub fn encode_ulaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|s| linear_to_ulaw(*s)));
}

/// Encodes a block of samples into A-law codes, appending to `out`.
pub fn encode_alaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|s| linear_to_alaw(*s)));
}

/// Decodes a block of µ-law codes, appending to `out`.
pub fn decode_ulaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|c| ulaw_to_linear(*c)));
}

/// Decodes a block of A-law codes, appending to `out`.
pub fn decode_alaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|c| alaw_to_linear(*c)));
}

/// Encodes `samples` with the law of `codec`, appending to `out`. Other codecs are not
/// G.711 and append nothing (they need state: [`super::transcode::PcmEncoder`]).
pub fn encode(codec: Codec, samples: &[i16], out: &mut Vec<u8>) {
    match codec {
        Codec::Pcmu => encode_ulaw(samples, out),
        Codec::Pcma => encode_alaw(samples, out),
        Codec::G722 | Codec::Opus => {}
    }
}

/// Decodes `codes` with the law of `codec`, appending to `out`. Other codecs are not
/// G.711 and append nothing (see [`super::transcode::PcmDecoder`]).
pub fn decode(codec: Codec, codes: &[u8], out: &mut Vec<i16>) {
    match codec {
        Codec::Pcmu => decode_ulaw(codes, out),
        Codec::Pcma => decode_alaw(codes, out),
        Codec::G722 | Codec::Opus => {}
    }
}

/// The code a decoder turns into (near) silence, for padding a short last frame
/// (µ-law's for the codecs that are not G.711, which have no such single code).
pub const fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcma => ALAW_SILENCE,
        Codec::Pcmu | Codec::G722 | Codec::Opus => ULAW_SILENCE,
    }
}
