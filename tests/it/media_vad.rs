//! The voice-activity detector measured on the labelled set (issue 16): the set is made
//! by `scripts/make-vad-set` (espeak-ng and sox), each clip carried through G.711
//! µ-law as a call carries it, then fed to [`VoiceActivity`] in 20 ms packets.
//!
//! Targets: speech detected within 1 s on at least 98 % of the speech clips of every
//! speech class; at most 2 % of the silence clips, and none of the breathing clips,
//! ever classed as speech. The table of every class is printed (README, "Voice
//! activity").

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cc112::media::g711::{linear_to_ulaw, ulaw_to_linear};
use cc112::media::vad::VoiceActivity;

/// Reads a 16-bit mono WAV's samples (the set's own format).
pub(crate) fn samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"data").expect("a data chunk") + 8;
    bytes[at..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
}

/// The set, made afresh in the test's own directory `name` (each test its own); `None`
/// (the test skipped) when espeak-ng or sox is missing outside CI.
pub(crate) fn make_set(name: &str) -> Option<PathBuf> {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("espeak-ng") || !have("sox") {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and espeak-ng or sox is missing: .ci/run must install them");
        let _ = writeln!(std::io::stdout(), "SKIPPED: espeak-ng or sox is not installed (apt-get install -y espeak-ng sox): the labelled audio set could not be made, {name} not tested");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-vad-set");
    let out = Command::new(script).arg(&dir).output().unwrap();
    assert!(out.status.success(), "make-vad-set failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(dir)
}

#[derive(Default)]
struct Tally {
    clips: usize,
    within_1s: usize,
    ever: usize,
    verdicts: BTreeMap<&'static str, usize>,
}

#[test]
fn speech_is_found_within_a_second_and_silence_and_breath_are_not_speech() {
    let Some(dir) = make_set("vad-set") else { return };
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let mut classes: BTreeMap<String, Tally> = BTreeMap::new();
    for line in manifest.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(file), Some(class)) = (cols.next(), cols.next()) else { panic!("bad manifest line {line:?}") };
        let pcm: Vec<i16> = samples(&dir.join(file)).into_iter().map(|s| ulaw_to_linear(linear_to_ulaw(s))).collect();
        let mut v = VoiceActivity::new();
        let mut within = false;
        for packet in pcm.chunks(160) {
            v.push(packet);
            let a = v.activity();
            if a.spoke && a.first_speech_ms.is_some_and(|t| t <= 1_000) {
                within = true;
            }
        }
        let a = v.activity();
        let t = classes.entry(class.to_string()).or_default();
        t.clips += 1;
        t.within_1s += usize::from(within);
        t.ever += usize::from(a.spoke);
        *t.verdicts.entry(a.verdict()).or_default() += 1;
    }
    let mut table = String::from("| class | clips | speech within 1 s | ever speech | verdicts |\n|---|---|---|---|---|\n");
    for (class, t) in &classes {
        let verdicts = t.verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
        table += &format!("| {class} | {} | {} | {} | {verdicts} |\n", t.clips, t.within_1s, t.ever);
    }
    let _ = writeln!(std::io::stdout(), "{table}");
    for class in ["speech_id", "speech_en", "speech_noise"] {
        let t = classes.get(class).unwrap_or_else(|| panic!("no {class} clips\n{table}"));
        assert!(t.clips >= 10 && t.within_1s * 100 >= t.clips * 98, "{class}: speech found within 1 s on {} of {}\n{table}", t.within_1s, t.clips);
    }
    let silence = classes.get("silence").expect("silence clips");
    assert!(silence.clips >= 10 && silence.ever * 100 <= silence.clips * 2, "silence classed speech: {} of {}\n{table}", silence.ever, silence.clips);
    let breathing = classes.get("breathing").expect("breathing clips");
    assert_eq!(breathing.ever, 0, "breathing classed speech\n{table}");
}
