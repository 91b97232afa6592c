//! G.711 against reference values: decoders against sox 14.4.2 (`sox -D`) on every code,
//! encoders against Sun's g711.c algorithm on edge samples, plus round-trip properties.

use cc112::media::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

/// `sox -D -t ul -r 8000 codes.raw -t s16 -L out.raw` with codes.raw = bytes 0..=255.
const SOX_ULAW_DECODED: [i16; 256] = [
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884, -20860,
    -19836, -18812, -17788, -16764, -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
    -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316, -7932, -7676, -7420, -7164, -6908,
    -6652, -6396, -6140, -5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092, -3900, -3772,
    -3644, -3516, -3388, -3260, -3132, -3004, -2876, -2748, -2620, -2492, -2364, -2236, -2108,
    -1980, -1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436, -1372, -1308, -1244, -1180,
    -1116, -1052, -988, -924, -876, -844, -812, -780, -748, -716, -684, -652, -620, -588, -556,
    -524, -492, -460, -428, -396, -372, -356, -340, -324, -308, -292, -276, -260, -244, -228, -212,
    -196, -180, -164, -148, -132, -120, -112, -104, -96, -88, -80, -72, -64, -56, -48, -40, -32,
    -24, -16, -8, 0, 32124, 31100, 30076, 29052, 28028, 27004, 25980, 24956, 23932, 22908, 21884,
    20860, 19836, 18812, 17788, 16764, 15996, 15484, 14972, 14460, 13948, 13436, 12924, 12412,
    11900, 11388, 10876, 10364, 9852, 9340, 8828, 8316, 7932, 7676, 7420, 7164, 6908, 6652, 6396,
    6140, 5884, 5628, 5372, 5116, 4860, 4604, 4348, 4092, 3900, 3772, 3644, 3516, 3388, 3260, 3132,
    3004, 2876, 2748, 2620, 2492, 2364, 2236, 2108, 1980, 1884, 1820, 1756, 1692, 1628, 1564, 1500,
    1436, 1372, 1308, 1244, 1180, 1116, 1052, 988, 924, 876, 844, 812, 780, 748, 716, 684, 652,
    620, 588, 556, 524, 492, 460, 428, 396, 372, 356, 340, 324, 308, 292, 276, 260, 244, 228, 212,
    196, 180, 164, 148, 132, 120, 112, 104, 96, 88, 80, 72, 64, 56, 48, 40, 32, 24, 16, 8, 0,
];

/// `sox -D -t al -r 8000 codes.raw -t s16 -L out.raw` with codes.raw = bytes 0..=255.
const SOX_ALAW_DECODED: [i16; 256] = [
    -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736, -7552, -7296, -8064, -7808, -6528,
    -6272, -7040, -6784, -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368, -3776, -3648,
    -4032, -3904, -3264, -3136, -3520, -3392, -22016, -20992, -24064, -23040, -17920, -16896,
    -19968, -18944, -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136, -11008, -10496,
    -12032, -11520, -8960, -8448, -9984, -9472, -15104, -14592, -16128, -15616, -13056, -12544,
    -14080, -13568, -344, -328, -376, -360, -280, -264, -312, -296, -472, -456, -504, -488, -408,
    -392, -440, -424, -88, -72, -120, -104, -24, -8, -56, -40, -216, -200, -248, -232, -152, -136,
    -184, -168, -1376, -1312, -1504, -1440, -1120, -1056, -1248, -1184, -1888, -1824, -2016, -1952,
    -1632, -1568, -1760, -1696, -688, -656, -752, -720, -560, -528, -624, -592, -944, -912, -1008,
    -976, -816, -784, -880, -848, 5504, 5248, 6016, 5760, 4480, 4224, 4992, 4736, 7552, 7296, 8064,
    7808, 6528, 6272, 7040, 6784, 2752, 2624, 3008, 2880, 2240, 2112, 2496, 2368, 3776, 3648, 4032,
    3904, 3264, 3136, 3520, 3392, 22016, 20992, 24064, 23040, 17920, 16896, 19968, 18944, 30208,
    29184, 32256, 31232, 26112, 25088, 28160, 27136, 11008, 10496, 12032, 11520, 8960, 8448, 9984,
    9472, 15104, 14592, 16128, 15616, 13056, 12544, 14080, 13568, 344, 328, 376, 360, 280, 264,
    312, 296, 472, 456, 504, 488, 408, 392, 440, 424, 88, 72, 120, 104, 24, 8, 56, 40, 216, 200,
    248, 232, 152, 136, 184, 168, 1376, 1312, 1504, 1440, 1120, 1056, 1248, 1184, 1888, 1824, 2016,
    1952, 1632, 1568, 1760, 1696, 688, 656, 752, 720, 560, 528, 624, 592, 944, 912, 1008, 976, 816,
    784, 880, 848,
];

/// (sample, µ-law, A-law) from Sun's g711.c (the ITU reference algorithm: truncation).
/// sox rounds at decision levels instead, so its encoder differs by one code on 508 of
/// 65,536 samples for µ-law and 1,020 for A-law; those rows carry sox's answer in a comment.
const SUN_ENCODED: [(i16, u8, u8); 40] = [
    (-32768, 0x00, 0x2A),
    (-32767, 0x00, 0x2A),
    (-32124, 0x00, 0x2A),
    (-31610, 0x00, 0x2B), // sox rounds: 0x01, 0x2B
    (-16384, 0x0F, 0x3A),
    (-8159, 0x1F, 0x0A),
    (-4096, 0x2F, 0x1A),
    (-1000, 0x4E, 0x7A),
    (-256, 0x67, 0x5A),
    (-100, 0x72, 0x53), // sox rounds: 0x72, 0x50
    (-33, 0x7A, 0x57),  // sox rounds: 0x7B, 0x54
    (-9, 0x7D, 0x55),   // sox rounds: 0x7E, 0x55
    (-8, 0x7E, 0x55),
    (-5, 0x7E, 0x55),
    (-4, 0x7E, 0x55), // sox rounds: 0x7E, 0xD5
    (-1, 0x7E, 0x55), // sox rounds: 0xFF, 0xD5
    (0, 0xFF, 0xD5),
    (1, 0xFF, 0xD5),
    (3, 0xFF, 0xD5), // sox rounds: 0xFE, 0xD5
    (4, 0xFE, 0xD5),
    (7, 0xFE, 0xD5),
    (8, 0xFE, 0xD5),
    (15, 0xFD, 0xD5), // sox rounds: 0xFD, 0xD4
    (16, 0xFD, 0xD4),
    (31, 0xFB, 0xD4), // sox rounds: 0xFB, 0xD7
    (32, 0xFB, 0xD7),
    (100, 0xF2, 0xD3),
    (255, 0xE7, 0xDA), // sox rounds: 0xE7, 0xC5
    (256, 0xE7, 0xC5),
    (1000, 0xCE, 0xFA),
    (1234, 0xCA, 0xE6),
    (4096, 0xAF, 0x85),
    (8158, 0x9F, 0x8A),
    (8159, 0x9F, 0x8A),
    (12345, 0x97, 0xBD),
    (16384, 0x8F, 0xA5),
    (31610, 0x81, 0xAB), // sox rounds: 0x80, 0xAB
    (32124, 0x80, 0xAA),
    (32256, 0x80, 0xAA),
    (32767, 0x80, 0xAA),
];

#[test]
fn ulaw_decoder_matches_sox_on_every_code() {
    for code in 0..=255u8 {
        assert_eq!(
            ulaw_to_linear(code),
            SOX_ULAW_DECODED[usize::from(code)],
            "µ-law code {code:#04x}"
        );
    }
}

#[test]
fn alaw_decoder_matches_sox_on_every_code() {
    for code in 0..=255u8 {
        assert_eq!(
            alaw_to_linear(code),
            SOX_ALAW_DECODED[usize::from(code)],
            "A-law code {code:#04x}"
        );
    }
}

#[test]
fn encoders_match_sun_reference_on_edge_samples() {
    for (sample, ulaw, alaw) in SUN_ENCODED {
        assert_eq!(linear_to_ulaw(sample), ulaw, "µ-law of {sample}");
        assert_eq!(linear_to_alaw(sample), alaw, "A-law of {sample}");
    }
}

#[test]
fn ulaw_decode_then_encode_is_identity_except_negative_zero() {
    // µ-law has two zeros: 0xFF (+0) and 0x7F (−0). Both decode to 0, which encodes as
    // 0xFF, so 0x7F is the one code that does not survive a round trip.
    let broken: Vec<u8> = (0..=255u8)
        .filter(|c| linear_to_ulaw(ulaw_to_linear(*c)) != *c)
        .collect();
    assert_eq!(broken, vec![0x7F]);
    assert_eq!(linear_to_ulaw(ulaw_to_linear(0x7F)), 0xFF);
}

#[test]
fn alaw_decode_then_encode_is_identity_on_every_code() {
    for code in 0..=255u8 {
        assert_eq!(
            linear_to_alaw(alaw_to_linear(code)),
            code,
            "A-law code {code:#04x}"
        );
    }
}

/// Every sample is encoded to one of the two decoded levels that bracket it (or to the
/// extreme level when it lies beyond the law's range): the quantiser never skips a level.
fn assert_encoder_picks_a_bracketing_level(
    name: &str,
    encode: fn(i16) -> u8,
    decode: fn(u8) -> i16,
) {
    let mut levels: Vec<i16> = (0..=255u8).map(decode).collect();
    levels.sort_unstable();
    levels.dedup();
    let lowest = levels[0];
    let highest = levels[levels.len() - 1];
    for sample in i16::MIN..=i16::MAX {
        let got = decode(encode(sample));
        if sample <= lowest {
            assert_eq!(got, lowest, "{name}: {sample}");
        } else if sample >= highest {
            assert_eq!(got, highest, "{name}: {sample}");
        } else {
            let upper = levels.partition_point(|l| *l < sample);
            let above = levels[upper];
            let below = if above == sample {
                above
            } else {
                levels[upper - 1]
            };
            assert!(
                got == below || got == above,
                "{name}: {sample} -> {got}, not in [{below}, {above}]"
            );
        }
    }
}

#[test]
fn ulaw_encoder_picks_a_bracketing_level_for_every_sample() {
    assert_encoder_picks_a_bracketing_level("µ-law", linear_to_ulaw, ulaw_to_linear);
}

#[test]
fn alaw_encoder_picks_a_bracketing_level_for_every_sample() {
    assert_encoder_picks_a_bracketing_level("A-law", linear_to_alaw, alaw_to_linear);
}

#[test]
fn encoding_is_monotonic_in_the_decoded_level() {
    let mut previous = (i16::MIN, i16::MIN);
    for sample in i16::MIN..=i16::MAX {
        let now = (
            ulaw_to_linear(linear_to_ulaw(sample)),
            alaw_to_linear(linear_to_alaw(sample)),
        );
        assert!(
            now.0 >= previous.0 && now.1 >= previous.1,
            "not monotonic at {sample}"
        );
        previous = now;
    }
}
