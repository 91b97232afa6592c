//! G.722 bit for bit against SpanDSP (issue 17). `ezk-g722`, the crate cc112 encodes
//! and decodes G.722 with, is a Rust translation of Steve Underwood's SpanDSP codec,
//! which Asterisk and FreeSWITCH carry too. The ITU-T G.722 Appendix II test sequences
//! (`g722_itu.rs`) check the sub-band ADPCM with the QMF filters bypassed, and run only
//! where the user supplies them (they are © ITU, with no licence to redistribute them); this
//! test always runs and covers the whole codec, QMF included, on any signal: Debian's
//! `libspandsp2` (a dependency of baresip, which `.ci/run` installs), loaded at run time,
//! encodes and decodes the same signals at 64 kbit/s and 16 kHz, and every octet and
//! every sample must be equal (but for decoded samples past full scale: SpanDSP 0.0.6
//! wraps them around, the crate saturates them, see [`same_but_clipping`]).
//!
//! Signals: a chirp over the whole wideband (50 Hz to 7.9 kHz), white noise at full
//! scale, a clipped square wave (the ADPCM's limits), silence, the shipped greeting
//! upsampled to 16 kHz; for the decoder, random octets too (a damaged payload).

#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr};
use std::io::Write as _;
use std::path::Path;

use cc112::media::g722::{G722Decoder, G722Encoder};

type Init = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void) -> c_int;
type Encode = unsafe extern "C" fn(*mut c_void, *mut u8, *const i16, c_int) -> c_int;
type Decode = unsafe extern "C" fn(*mut c_void, *mut i16, *const u8, c_int) -> c_int;

/// SpanDSP's G.722, loaded with `dlopen`.
struct SpanDsp {
    lib: *mut c_void,
}

impl SpanDsp {
    fn load() -> Option<SpanDsp> {
        let name: &CStr = c"libspandsp.so.2";
        // SAFETY: dlopen with a valid C string; a null result is handled.
        let lib = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!lib.is_null()).then_some(SpanDsp { lib })
    }

    fn sym<T: Copy>(&self, name: &CStr) -> T {
        // SAFETY: the library stays open while `self` lives; the symbol's C type is the
        // one SpanDSP 0.0.6's g722.h declares for it, which `T` names.
        unsafe {
            let p = libc::dlsym(self.lib, name.as_ptr());
            assert!(!p.is_null(), "{name:?} not in libspandsp");
            std::mem::transmute_copy(&p)
        }
    }

    /// `pcm` (16 kHz) encoded at 64 kbit/s, unpacked, by a fresh encoder.
    fn encode(&self, pcm: &[i16]) -> Vec<u8> {
        let (init, encode, free): (Init, Encode, Free) = (self.sym(c"g722_encode_init"), self.sym(c"g722_encode"), self.sym(c"g722_encode_free"));
        let mut out = vec![0u8; pcm.len() / 2 + 1];
        // SAFETY: SpanDSP allocates the state (null in), writes at most len/2 octets
        // for len samples into `out`, and frees what it allocated.
        unsafe {
            let s = init(std::ptr::null_mut(), 64_000, 0);
            assert!(!s.is_null());
            let n = encode(s, out.as_mut_ptr(), pcm.as_ptr(), pcm.len() as c_int);
            free(s);
            out.truncate(n as usize);
        }
        out
    }

    /// `octets` decoded at 64 kbit/s to 16 kHz by a fresh decoder.
    fn decode(&self, octets: &[u8]) -> Vec<i16> {
        let (init, decode, free): (Init, Decode, Free) = (self.sym(c"g722_decode_init"), self.sym(c"g722_decode"), self.sym(c"g722_decode_free"));
        let mut out = vec![0i16; octets.len() * 2 + 2];
        // SAFETY: as for encode: two samples per octet at most.
        unsafe {
            let s = init(std::ptr::null_mut(), 64_000, 0);
            assert!(!s.is_null());
            let n = decode(s, out.as_mut_ptr(), octets.as_ptr(), octets.len() as c_int);
            free(s);
            out.truncate(n as usize);
        }
        out
    }
}

impl Drop for SpanDsp {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and is closed once.
        unsafe { libc::dlclose(self.lib) };
    }
}

fn xorshift(seed: u32) -> impl FnMut() -> u32 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    }
}

/// The test signals, 16 kHz, named.
fn signals() -> Vec<(&'static str, Vec<i16>)> {
    let n = 32_000;
    let chirp = (0..n)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            // 50 Hz → 7.9 kHz over 2 s: the phase of a linear sweep.
            let phase = 2.0 * std::f64::consts::PI * (50.0 * t + (7_850.0 / 4.0) * t * t);
            (20_000.0 * phase.sin()) as i16
        })
        .collect();
    let mut r = xorshift(0x1234_5678);
    let noise = (0..n).map(|_| r() as i16).collect();
    let square = (0..n).map(|i| if (i / 40) % 2 == 0 { i16::MAX } else { i16::MIN }).collect();
    let greeting8k = cc112::media::wav::parse_wav(&std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts/id/greeting.wav")).unwrap()).unwrap();
    let mut greeting = Vec::new();
    cc112::media::resample::Resampler::up(2).process(&greeting8k, &mut greeting);
    vec![("chirp", chirp), ("noise", noise), ("square", square), ("silence", vec![0; 3_200]), ("greeting", greeting)]
}

#[test]
fn g722_encodes_and_decodes_bit_for_bit_as_spandsp() {
    let Some(spandsp) = SpanDsp::load() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and libspandsp.so.2 is missing: .ci/run must install libspandsp2");
        let _ = writeln!(std::io::stdout(), "SKIPPED: libspandsp.so.2 is not installed (apt-get install -y libspandsp2); G.722 was not compared with SpanDSP");
        return;
    };
    let mut clipped = 0;
    for (name, pcm) in signals() {
        // Encoded in 20 ms packets (320 samples) by one encoder, as a call does.
        let mut ours = Vec::new();
        let mut enc = G722Encoder::new();
        for packet in pcm.chunks(320) {
            enc.encode(packet, &mut ours);
        }
        let theirs = spandsp.encode(&pcm);
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first, None, "{name}: the encoders part at octet {first:?}");
        // Decoded, also in packets.
        let mut decoded = Vec::new();
        let mut dec = G722Decoder::new();
        for packet in theirs.chunks(160) {
            dec.decode(packet, &mut decoded);
        }
        let reference = spandsp.decode(&theirs);
        clipped += same_but_clipping(name, &decoded, &reference);
    }
    // A damaged payload: random octets decode the same too.
    let mut r = xorshift(0x9E37_79B9);
    let octets: Vec<u8> = (0..16_000).map(|_| r() as u8).collect();
    let mut decoded = Vec::new();
    G722Decoder::new().decode(&octets, &mut decoded);
    clipped += same_but_clipping("random octets", &decoded, &spandsp.decode(&octets));
    println!("G.722: 5 signals encoded bit for bit as SpanDSP; they and 16,000 random octets decoded bit for bit but for {clipped} samples past full scale, saturated here and wrapped by SpanDSP 0.0.6");
}

/// Asserts that `ours` is `spandsp`'s output sample for sample, except where the
/// decoder's QMF output is past full scale: SpanDSP 0.0.6 casts it to 16 bits (it wraps
/// around, a loud click), the crate saturates it (as later SpanDSP versions and
/// sippy/libg722 do). Such a sample is ours at a rail and SpanDSP's of the other sign.
/// Returns how many there were.
fn same_but_clipping(name: &str, ours: &[i16], spandsp: &[i16]) -> usize {
    assert_eq!(ours.len(), spandsp.len(), "{name}");
    let mut clipped = 0;
    for (i, (a, b)) in ours.iter().zip(spandsp).enumerate() {
        if a == b {
            continue;
        }
        let saturated_here_wrapped_there = (*a == i16::MAX && *b < 0) || (*a == i16::MIN && *b >= 0);
        assert!(saturated_here_wrapped_there, "{name}: the decoders part at sample {i}: {a} here, {b} in SpanDSP");
        clipped += 1;
    }
    clipped
}
