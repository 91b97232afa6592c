//! Prompt playback on a virtual clock: packets leave on an absolute 20 ms grid, the RTP
//! stream stays continuous across prompts, and prompt WAVs load or fail with a reason.

use std::sync::Arc;
use std::time::Duration;

use cc112::media::g711;
use cc112::media::prompt::{encode_prompt, OutgoingRtp, PlayId, PromptEvent, PromptPlayer};
use cc112::media::wav::{parse_wav, WavError};
use cc112::media::Codec;

const SSRC: u32 = 0x1122_3344;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A prompt of `frames` 20 ms frames whose bytes say which frame they are.
fn prompt(frames: usize) -> Arc<[u8]> {
    (0..frames * 160)
        .map(|i| (i / 160) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Runs the player like the media task does: sleep until poll_timeout (plus a scheduling
/// delay), then drain every due packet. Returns (send time, packet).
fn drive(
    player: &mut PromptPlayer<Duration>,
    late_by: impl Fn(usize) -> Duration,
) -> Vec<(Duration, OutgoingRtp)> {
    let mut sent = Vec::new();
    let mut wakeups = 0;
    while let Some(deadline) = player.poll_timeout() {
        let now = deadline + late_by(wakeups);
        wakeups += 1;
        while let Some(p) = player.poll_packet(now) {
            sent.push((now, p));
        }
    }
    sent
}

#[test]
fn ten_thousand_frames_leave_on_the_grid_without_drift() {
    let mut player = PromptPlayer::new(SSRC, 0, 100, 5000);
    let start = ms(1000);
    player.play(start, prompt(10_000));
    // Every wake-up is 3 ms late, as a busy tokio timer might be: a sleep-after-send
    // loop would end 30 s late; absolute deadlines keep every packet on its slot.
    let mut dues = Vec::new();
    while let Some(deadline) = player.poll_timeout() {
        dues.push(deadline);
        let p = player.poll_packet(deadline + ms(3)).unwrap();
        assert!(player.poll_packet(deadline + ms(3)).is_none());
        let n = dues.len() as u32 - 1;
        assert_eq!(p.header.sequence, 100u16.wrapping_add(n as u16));
        assert_eq!(p.header.timestamp, 5000 + 160 * n);
        assert_eq!(p.header.marker, n == 0);
        assert_eq!(p.header.ssrc, SSRC);
        assert_eq!(p.payload.len(), 160);
    }
    assert_eq!(dues.len(), 10_000);
    for (n, due) in dues.iter().enumerate() {
        assert_eq!(*due, start + ms(20) * n as u32);
    }
    assert_eq!(player.poll_event(), Some(PromptEvent::Finished(PlayId(0))));
}

#[test]
fn nothing_leaves_before_its_deadline() {
    let mut player = PromptPlayer::new(SSRC, 0, 0, 0);
    player.play(ms(0), prompt(3));
    assert!(player.poll_packet(ms(0)).is_some());
    assert_eq!(player.poll_timeout(), Some(ms(20)));
    assert!(player.poll_packet(ms(19)).is_none());
    assert!(player.poll_packet(ms(20)).is_some());
}

#[test]
fn a_late_wake_up_sends_the_overdue_packets_with_their_own_timestamps() {
    let mut player = PromptPlayer::new(SSRC, 8, 0, 0);
    player.play(ms(0), prompt(10));
    let burst: Vec<_> = std::iter::from_fn(|| player.poll_packet(ms(95))).collect();
    assert_eq!(
        burst.len(),
        5,
        "slots 0, 20, 40, 60, 80 ms are due at 95 ms"
    );
    let stamps: Vec<u32> = burst.iter().map(|p| p.header.timestamp).collect();
    assert_eq!(stamps, vec![0, 160, 320, 480, 640]);
    assert_eq!(player.poll_timeout(), Some(ms(100)));
}

#[test]
fn the_sequence_number_wraps_at_65535() {
    let mut player = PromptPlayer::new(SSRC, 0, 65534, u32::MAX - 159);
    player.play(ms(0), prompt(4));
    let sent = drive(&mut player, |_| ms(0));
    let seqs: Vec<u16> = sent.iter().map(|(_, p)| p.header.sequence).collect();
    assert_eq!(seqs, vec![65534, 65535, 0, 1]);
    let stamps: Vec<u32> = sent.iter().map(|(_, p)| p.header.timestamp).collect();
    assert_eq!(
        stamps,
        vec![u32::MAX - 159, 0, 160, 320],
        "the timestamp wraps too"
    );
}

#[test]
fn two_prompts_back_to_back_are_one_continuous_stream() {
    let mut player = PromptPlayer::new(SSRC, 0, 10, 0);
    let first = player.play(ms(0), prompt(3));
    let mut sent = Vec::new();
    let mut second = None;
    while let Some(deadline) = player.poll_timeout() {
        while let Some(p) = player.poll_packet(deadline) {
            sent.push((deadline, p));
        }
        // The IVR reacts to Finished by playing the menu, at the same instant.
        match player.poll_event() {
            Some(PromptEvent::Finished(id)) if id == first => {
                second = Some(player.play(deadline, prompt(2)));
            }
            Some(PromptEvent::Finished(id)) => assert_eq!(Some(id), second),
            other => assert_eq!(other, None),
        }
    }
    assert!(second.is_some());
    let times: Vec<Duration> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![ms(0), ms(20), ms(40), ms(60), ms(80)]);
    let seqs: Vec<u16> = sent.iter().map(|(_, p)| p.header.sequence).collect();
    assert_eq!(seqs, vec![10, 11, 12, 13, 14]);
    let stamps: Vec<u32> = sent.iter().map(|(_, p)| p.header.timestamp).collect();
    assert_eq!(stamps, vec![0, 160, 320, 480, 640]);
    let markers: Vec<bool> = sent.iter().map(|(_, p)| p.header.marker).collect();
    assert_eq!(
        markers,
        vec![true, false, false, false, false],
        "no new talkspurt"
    );
    assert_eq!(
        sent[3].1.payload[0], 0,
        "the second prompt starts at its first frame"
    );
}

#[test]
fn after_silence_a_new_talkspurt_has_the_marker_and_the_elapsed_timestamp() {
    let mut player = PromptPlayer::new(SSRC, 0, 0, 1000);
    player.play(ms(0), prompt(2));
    drive(&mut player, |_| ms(0));
    // Last packet went at 20 ms with timestamp 1160; the next prompt starts at 3 s.
    player.play(ms(3000), prompt(2));
    let sent = drive(&mut player, |_| ms(0));
    assert_eq!(sent[0].0, ms(3000));
    assert!(sent[0].1.header.marker);
    assert_eq!(sent[0].1.header.timestamp, 1160 + 2980 * 8);
    assert_eq!(
        sent[0].1.header.sequence, 2,
        "no sequence gap for the silence"
    );
    assert!(!sent[1].1.header.marker);
}

#[test]
fn stop_cuts_the_prompt_and_says_so() {
    let mut player = PromptPlayer::new(SSRC, 0, 0, 0);
    let id = player.play(ms(0), prompt(50));
    assert!(player.poll_packet(ms(0)).is_some());
    player.stop();
    assert_eq!(player.poll_event(), Some(PromptEvent::Stopped(id)));
    assert_eq!(player.poll_timeout(), None);
    assert!(player.poll_packet(ms(1000)).is_none());
    assert!(!player.is_playing());
}

#[test]
fn playing_over_a_prompt_replaces_it_on_the_same_grid() {
    let mut player = PromptPlayer::new(SSRC, 0, 0, 0);
    let greeting = player.play(ms(0), prompt(50));
    assert!(player.poll_packet(ms(0)).is_some());
    let menu = player.play(ms(5), prompt(1));
    assert_eq!(player.poll_event(), Some(PromptEvent::Stopped(greeting)));
    assert_eq!(player.poll_timeout(), Some(ms(20)));
    let p = player.poll_packet(ms(20)).unwrap();
    assert_eq!(
        (p.header.sequence, p.header.timestamp, p.header.marker),
        (1, 160, false)
    );
    assert_eq!(player.poll_event(), Some(PromptEvent::Finished(menu)));
}

#[test]
fn an_empty_prompt_finishes_at_once() {
    let mut player = PromptPlayer::<Duration>::new(SSRC, 0, 0, 0);
    let id = player.play(ms(0), Arc::from(Vec::new()));
    assert_eq!(player.poll_event(), Some(PromptEvent::Finished(id)));
    assert_eq!(player.poll_timeout(), None);
}

#[test]
fn a_packet_is_header_and_payload() {
    let mut player = PromptPlayer::new(SSRC, 8, 7, 9);
    player.play(ms(0), prompt(1));
    let d = player.poll_packet(ms(0)).unwrap().to_datagram();
    assert_eq!(d.len(), 172);
    assert_eq!(
        &d[..12],
        &[0x80, 0x88, 0, 7, 0, 0, 0, 9, 0x11, 0x22, 0x33, 0x44]
    );
}

#[test]
fn prompts_are_encoded_in_whole_frames_padded_with_silence() {
    let samples: Vec<i16> = (0..200).map(|i| (i * 100) as i16).collect();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let encoded = encode_prompt(&samples, codec);
        assert_eq!(encoded.len(), 320);
        let mut decoded = Vec::new();
        g711::decode(codec, &encoded, &mut decoded);
        assert!(
            decoded[200..].iter().all(|s| s.abs() <= 8),
            "{codec}: padding is silence"
        );
        assert_eq!(
            encoded[..200],
            samples
                .iter()
                .map(|s| match codec {
                    Codec::Pcma => g711::linear_to_alaw(*s),
                    _ => g711::linear_to_ulaw(*s),
                })
                .collect::<Vec<u8>>()[..]
        );
    }
}

/// A WAV file as sox writes it, with optional extra chunks before `data`.
fn wav(format_tag: u16, channels: u16, rate: u32, bits: u16, extra: &[u8], data: &[u8]) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&format_tag.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * u32::from(bits / 8) * u32::from(channels)).to_le_bytes());
    fmt.extend_from_slice(&(bits / 8 * channels).to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    body.extend_from_slice(&fmt);
    body.extend_from_slice(extra);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn an_8khz_mono_16bit_wav_loads_its_samples() {
    // A LIST chunk of odd size (with its pad byte) before the data, as editors write.
    let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc", &[0]].concat();
    let bytes = wav(1, 1, 8000, 16, &list, &[0x01, 0x00, 0xFF, 0xFF, 0x00, 0x80]);
    assert_eq!(parse_wav(&bytes), Ok(vec![1, -1, i16::MIN]));
}

#[test]
fn other_formats_get_an_error_naming_the_field() {
    assert_eq!(
        parse_wav(&wav(7, 1, 8000, 8, &[], &[0xFF])),
        Err(WavError::NotPcm(7))
    );
    assert_eq!(
        parse_wav(&wav(6, 1, 8000, 8, &[], &[0xD5])),
        Err(WavError::NotPcm(6))
    );
    assert_eq!(
        parse_wav(&wav(1, 2, 8000, 16, &[], &[0; 4])),
        Err(WavError::Channels(2))
    );
    assert_eq!(
        parse_wav(&wav(1, 1, 44100, 16, &[], &[0; 2])),
        Err(WavError::SampleRate(44100))
    );
    assert_eq!(
        parse_wav(&wav(1, 1, 8000, 8, &[], &[0; 2])),
        Err(WavError::BitsPerSample(8))
    );
    assert_eq!(
        parse_wav(&wav(1, 1, 8000, 16, &[], &[0; 3])),
        Err(WavError::OddData(3))
    );
    assert_eq!(parse_wav(b"RIFX\0\0\0\0WAVE"), Err(WavError::NotWave));
    assert_eq!(parse_wav(b""), Err(WavError::NotWave));
}

#[test]
fn truncated_and_lying_files_are_errors_not_panics() {
    let good = wav(1, 1, 8000, 16, &[], &[0; 320]);
    // data chunk claims 320 bytes; cut the file short.
    assert!(matches!(
        parse_wav(&good[..good.len() - 1]),
        Err(WavError::Truncated { .. })
    ));
    // No data chunk at all.
    assert_eq!(parse_wav(&good[..36]), Err(WavError::MissingData));
    // Every prefix and every single-byte corruption parses or fails, never panics.
    for len in 0..good.len() {
        let _ = parse_wav(&good[..len]);
    }
    for i in 0..44 {
        for v in [0u8, 0x7F, 0xFF] {
            let mut b = good.clone();
            b[i] = v;
            let _ = parse_wav(&b);
        }
    }
}
