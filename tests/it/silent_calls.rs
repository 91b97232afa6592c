//! The silent-call procedure against the real gateway with SIPp callers that send
//! recorded audio (issue 16): pcaps made here from clips of the labelled set of
//! `scripts/make-vad-set` (speech in Indonesian and English, speech under street noise,
//! breathing), played with `play_pcap_audio`; keys are RFC 4733 events (made here, or
//! the shared corpus' recordings).
//!
//! - A silent caller hears the silent prompt and, with 5 5, joins `general` at the head,
//!   ahead of 5 callers who spoke and waited longer, and is the first offered to the
//!   operator; a silent caller who presses nothing joins last (lowest class); the
//!   speaking callers go to `general` without the silent prompt.
//! - A silent caller who waited past `[acd] max_priority_wait` (60 s) is served before
//!   normal callers who joined after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::harness::{corpora, free_ports, scenario, sipp_from, Gateway};
use crate::operators::gateway_with_operators;

/// Writes `samples` (8 kHz) as a pcap of µ-law RTP packets of 20 ms.
fn write_pcap(path: &Path, samples: &[i16]) {
    let packets: Vec<(u64, Vec<u8>)> = samples
        .chunks(160)
        .enumerate()
        .map(|(i, chunk)| {
            let mut rtp = vec![0x80, 0x00];
            rtp.extend_from_slice(&(i as u16).to_be_bytes());
            rtp.extend_from_slice(&((i * 160) as u32).to_be_bytes());
            rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            cc112::media::g711::encode_ulaw(chunk, &mut rtp);
            (i as u64 * 20_000, rtp)
        })
        .collect();
    write_rtp_pcap(path, &packets);
}

/// RTP packets (microseconds, datagram) as a pcap (Ethernet, IPv4, UDP): what SIPp's
/// `play_pcap_audio` sends, at the recorded pace.
fn write_rtp_pcap(path: &Path, packets: &[(u64, Vec<u8>)]) {
    let mut out = Vec::new();
    // The pcap global header: microsecond timestamps, Ethernet links.
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (t, rtp) in packets {
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&[0x1f, 0x40, 0x1f, 0x42, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        frame.extend_from_slice(rtp);
        out.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// RFC 4733 key presses (payload type 101), each 100 ms with its end sent three
/// times, `gap_ms` apart, as a pcap: each press has its own timestamp, so the gateway
/// takes each (a replay of one recording twice would be one press, deduplicated).
fn write_keys_pcap(path: &Path, keys: &[u8], gap_ms: u32) {
    let mut packets: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut seq: u16 = 1;
    for (k, key) in keys.iter().enumerate() {
        let start_ms = k as u32 * gap_ms;
        let ts = start_ms * 8;
        for (i, dur_ms) in [20u32, 40, 60, 80, 100, 100, 100].iter().enumerate() {
            let end = i >= 4;
            let mut rtp = vec![0x80, if i == 0 { 0x80 | 101 } else { 101 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            rtp.extend_from_slice(&[*key, if end { 0x80 | 10 } else { 10 }]);
            rtp.extend_from_slice(&((dur_ms * 8) as u16).to_be_bytes());
            packets.push((u64::from(start_ms + 20 * i as u32) * 1000, rtp));
            seq = seq.wrapping_add(1);
        }
    }
    write_rtp_pcap(path, &packets);
}

/// Clips of the labelled set the five speaking callers send, one each: Indonesian and
/// English voices, and speech under street noise.
const SPEECH_CLIPS: [&str; 5] = ["speech_id_1", "speech_en_4", "speech_id_7", "speech_en_10", "speech_noise_1"];

/// A caller scenario from `caller_dtmf.xml`: number `number`, the `steps` (pauses in
/// ms and pcaps to play) after the ACK, then the BYE.
fn caller_scenario(dir: &Path, name: &str, number: &str, steps: &[Step]) -> PathBuf {
    let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    let body: String = steps
        .iter()
        .map(|s| match s {
            Step::Pause(ms) => format!("<pause milliseconds=\"{ms}\"/>\n  "),
            Step::Play(p) => format!("<nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  ", p.display()),
        })
        .collect();
    let start = template.find("<pause milliseconds=\"600\"/>").unwrap();
    let end = template.find("<pause milliseconds=\"2500\"/>").unwrap() + "<pause milliseconds=\"2500\"/>".len();
    let text = format!("{}{}{}", &template[..start], body, &template[end..]).replace("08123[call_number]", number);
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, text).unwrap();
    path
}

enum Step {
    Pause(u64),
    Play(PathBuf),
}

/// Runs one SIPp caller per scenario, each in its own thread; joins them all.
fn call_all(gw: &Gateway, scenarios: Vec<PathBuf>) -> Vec<thread::JoinHandle<crate::harness::Sipp>> {
    let uri = format!("sip:112@{}", gw.sip);
    scenarios
        .into_iter()
        .map(|sc| {
            let (uri, target) = (uri.clone(), gw.sip);
            thread::spawn(move || crate::harness::sipp_to(target, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]))
        })
        .collect()
}

/// The caller number of each call (by engine call id), from the `started` events.
fn numbers(gw: &Gateway) -> HashMap<String, String> {
    gw.events("started").iter().map(|e| (e["span"]["call"].as_str().unwrap_or_default().to_string(), e["fields"]["caller"].as_str().unwrap_or_default().to_string())).collect()
}

/// op-budi (medical, general) registers and answers one call.
fn operator_answers_one(gw: &Gateway) -> thread::JoinHandle<crate::harness::Sipp> {
    let op_port = free_ports(1);
    let op_media = free_ports(4);
    let reg = sipp_from(gw.sip, op_port, op_media, &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", "op-budi", "-au", "op-budi", "-ap", "secret-op-budi", "-m", "1"]);
    assert_eq!((reg.exit_code, reg.failed), (Some(0), 0), "register: {}", reg.stdout);
    let target = gw.sip;
    thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo"]))
}

#[test]
fn five_five_puts_a_silent_caller_ahead_of_five_who_spoke_and_silence_goes_last() {
    let Some(set) = crate::media_vad::make_set("vad-set-calls") else { return };
    let clip = |name: &str| crate::media_vad::samples(&set.join(format!("{name}.wav")));
    let gw = gateway_with_operators();
    let dir = tempfile::tempdir().unwrap();
    // A silent caller's phone still sends: breathing (peak -34 dBFS), looped to 40 s.
    let quiet = dir.path().join("breathing.pcap");
    write_pcap(&quiet, &clip("breathing_2").into_iter().cycle().take(40 * 8000).collect::<Vec<i16>>());
    let fives = dir.path().join("five_five.pcap");
    write_keys_pcap(&fives, &[5, 5], 700);
    let mut scenarios = Vec::new();
    // Five callers who speak at 1 s and press nothing: general at ~20 s, normal class.
    for (i, name) in (1..=5).zip(SPEECH_CLIPS) {
        let talk = dir.path().join(format!("{name}.pcap"));
        write_pcap(&talk, &clip(name));
        scenarios.push(caller_scenario(dir.path(), &format!("spoke{i}"), &format!("081100{i}"), &[Step::Pause(1_000), Step::Play(talk), Step::Pause(50_000)]));
    }
    // A silent caller (nothing sent) who presses 5 5 once the silent prompt plays
    // (it starts at 20 s, when the menu gives up).
    scenarios.push(caller_scenario(dir.path(), "silent55", "0812055", &[Step::Pause(22_500), Step::Play(fives), Step::Pause(20_000)]));
    // A silent caller who breathes into the phone and presses nothing.
    scenarios.push(caller_scenario(dir.path(), "breathing", "0812000", &[Step::Play(quiet), Step::Pause(51_000)]));
    let callers = call_all(&gw, scenarios);
    // Everybody has joined general by ~34 s.
    assert!(gw.wait_events("queued", 7, Duration::from_secs(60)), "{}", gw.log());
    let numbers = numbers(&gw);
    let number_of = |e: &serde_json::Value| numbers.get(e["span"]["call"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
    let routed: HashMap<String, String> = gw.events("routed").iter().map(|e| (number_of(e), e["fields"]["reason"].as_str().unwrap_or_default().to_string())).collect();
    for i in 1..=5 {
        assert!(routed[&format!("081100{i}")].contains("no_input"), "{routed:?}");
    }
    assert!(routed["0812055"].contains("silent_55"), "{routed:?}");
    assert!(routed["0812000"].contains("\"silent\""), "{routed:?}");
    // The silent prompt played to the two silent callers only.
    let silent_prompts: Vec<String> = gw.events("prompt").iter().filter(|e| e["fields"]["prompt"] == "silent_prompt").map(number_of).collect();
    assert_eq!(silent_prompts.len(), 2, "{silent_prompts:?}");
    assert!(silent_prompts.iter().all(|n| n == "0812055" || n == "0812000"), "{silent_prompts:?}");
    // Places on joining: 5 5 at the head although five waited longer; silence last.
    let joined: HashMap<String, u64> = gw.events("queued").iter().map(|e| (number_of(e), e["fields"]["position"].as_u64().unwrap_or(0))).collect();
    assert_eq!(joined["0812055"], 1, "{joined:?}");
    assert_eq!(joined["0812000"], 7, "{joined:?}");
    // The operator's phone rings first for the 5 5 caller, flagged.
    let operator = operator_answers_one(&gw);
    assert!(gw.wait_events("offered", 1, Duration::from_secs(10)), "{}", gw.log());
    assert_eq!(number_of(&gw.events("offered")[0]), "0812055");
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    for c in callers {
        let run = c.join().unwrap();
        assert_eq!(run.failed, 0, "{}", run.stdout);
    }
    // The shift report gives answer times per class: the 5 5 caller answered in the
    // high class; the five who spoke (normal) and the silent one (low) hung up waiting.
    assert!(gw.wait_events("ended", 7, Duration::from_secs(10)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let report = crate::records::report_json(&gw, "2000-01-01 00:00");
    let classes: Vec<(String, u64, u64)> = report["by_class"].as_array().unwrap().iter().map(|c| (c["class"].as_str().unwrap().to_string(), c["answered"].as_u64().unwrap(), c["abandoned_queue"].as_u64().unwrap())).collect();
    assert_eq!(classes, [("high".to_string(), 1, 0), ("normal".to_string(), 0, 5), ("low".to_string(), 0, 1)], "{report}");
    // Each record says what the caller's audio held: the five spoke, found within a
    // second of their audio (SIPp sends none before the recording starts); the
    // breathing caller made noise, never speech, for its whole wait; the 5 5 caller
    // sent no audio at all (only key events).
    let voice: HashMap<String, serde_json::Value> =
        crate::records::list(&gw, "2000-01-01 00:00").into_iter().map(|c| (c["caller"].as_str().unwrap_or_default().to_string(), c)).collect();
    for i in 1..=5 {
        let c = &voice[&format!("081100{i}")];
        assert_eq!(c["voice"], "speech", "{c}");
        let first = c["voice_first_speech_ms"].as_i64().unwrap();
        assert!(first <= 1_000, "speech found within a second of audio: {c}");
    }
    let breathing = &voice["0812000"];
    assert_eq!(breathing["voice"], "noise", "{breathing}");
    let heard = breathing["voice_noise_ms"].as_i64().unwrap() + breathing["voice_silence_ms"].as_i64().unwrap();
    assert!(heard >= 30_000 && breathing["voice_first_speech_ms"].is_null(), "{breathing}");
    assert_eq!(voice["0812055"]["voice"], "no_audio", "{}", voice["0812055"]);
}

#[test]
fn a_silent_caller_who_waited_past_max_priority_wait_is_served_before_later_callers() {
    let gw = gateway_with_operators();
    let dir = tempfile::tempdir().unwrap();
    // The silent caller reaches general, lowest class, at ~33 s.
    // It hangs up 100 s in, a few seconds after the operator answers it.
    let silent = caller_scenario(dir.path(), "silent", "0812000", &[Step::Pause(100_000)]);
    let early = call_all(&gw, vec![silent]);
    assert!(gw.wait_events("queued", 1, Duration::from_secs(45)), "{}", gw.log());
    let joined_at = std::time::Instant::now();
    // 20 s later two callers choose general (key 0) and join after it, normal class.
    thread::sleep(Duration::from_secs(20));
    let zero = corpora().join("rtp/sipp_dtmf_2833_0.pcap");
    let later: Vec<PathBuf> = (1..=2).map(|i| caller_scenario(dir.path(), &format!("zero{i}"), &format!("081100{i}"), &[Step::Pause(600), Step::Play(zero.clone()), Step::Pause(60_000)])).collect();
    let later = call_all(&gw, later);
    assert!(gw.wait_events("queued", 3, Duration::from_secs(10)), "{}", gw.log());
    let numbers = numbers(&gw);
    let number_of = |e: &serde_json::Value| numbers.get(e["span"]["call"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
    let joined: HashMap<String, u64> = gw.events("queued").iter().map(|e| (number_of(e), e["fields"]["position"].as_u64().unwrap_or(0))).collect();
    let mut places = [joined["0811001"], joined["0811002"]];
    places.sort_unstable();
    assert_eq!(places, [1, 2], "normal callers pass a low one at first: {joined:?}");
    // Once the silent caller has waited a minute it is served first.
    thread::sleep(Duration::from_secs(61).saturating_sub(joined_at.elapsed()));
    let operator = operator_answers_one(&gw);
    assert!(gw.wait_events("offered", 1, Duration::from_secs(10)), "{}", gw.log());
    assert_eq!(number_of(&gw.events("offered")[0]), "0812000", "{}", gw.log());
    assert!(gw.wait_events("operator_answered", 1, Duration::from_secs(10)), "{}", gw.log());
    assert_eq!(number_of(&gw.events("operator_answered")[0]), "0812000", "served: {}", gw.log());
    // The SIPp processes end by themselves (each within its bounded script).
    let _ = operator.join();
    for c in early.into_iter().chain(later) {
        let _ = c.join();
    }
}
