use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

const BOTH: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

fn local4() -> LocalMedia {
    LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
        port: 40000,
        session_id: 4242,
        session_version: 1,
    }
}

fn local6() -> LocalMedia {
    LocalMedia {
        addr: IpAddr::V6("2001:db8::112".parse::<Ipv6Addr>().unwrap()),
        ..local4()
    }
}

/// An offer body from lines, CRLF-terminated like on the wire.
fn sdp(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n");
    s.into_bytes()
}

fn offer_with(media: &[&str]) -> Vec<u8> {
    let mut lines = vec![
        "v=0",
        "o=caller 1 1 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
    ];
    lines.extend_from_slice(media);
    sdp(&lines)
}

fn m_lines(text: &str) -> Vec<&str> {
    text.split("\r\n").filter(|l| l.starts_with("m=")).collect()
}

fn remote(ip: &str, port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip.parse().unwrap(), port))
}

fn corpus_sdp(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("CC112_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    let path = dir.join("rfc5118/wire-crlf").join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end")
        + 4;
    raw[split..].to_vec()
}

#[test]
fn pcmu_only_offer() {
    let o = offer_with(&["m=audio 5004 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.remote, remote("203.0.113.5", 5004));
    assert_eq!(n.telephone_event, None);
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.ptime_ms, None);
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 0"]);
    assert!(text.contains("\r\nc=IN IP4 198.51.100.7\r\n"));
    assert!(text.contains("\r\na=rtpmap:0 PCMU/8000\r\n"));
    assert!(text.contains("\r\na=ptime:20\r\n"));
    assert!(text.contains("\r\na=sendrecv\r\n"));
    assert!(!text.contains("telephone-event"));
    assert!(text.starts_with("v=0\r\no=cc112 4242 1 IN IP4 198.51.100.7\r\n"));
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in {text:?}"
    );
    assert!(text.ends_with("\r\n"));
}

#[test]
fn pcma_only_offer() {
    let o = offer_with(&[
        "m=audio 5004 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        "a=ptime:30",
    ]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(n.ptime_ms, Some(30));
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 8"]);
}

#[test]
fn both_offered_our_order_decides() {
    let o = offer_with(&[
        "m=audio 5004 RTP/AVP 8 0",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
    ]);
    let (_, n) = answer(&o, &local4(), &[Codec::Pcmu, Codec::Pcma]).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    let (text, n) = answer(&o, &local4(), &[Codec::Pcma, Codec::Pcmu]).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 8"]);
}

#[test]
fn static_types_without_rtpmap() {
    let o = offer_with(&["m=audio 5004 RTP/AVP 18 8 0"]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert!(text.contains("a=rtpmap:0 PCMU/8000"));
    let (_, n) = answer(&o, &local4(), &[Codec::Pcma]).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
}

#[test]
fn rtpmap_is_authoritative_over_static_numbers() {
    // Dynamic PCMU on 96, and a G.711 name at a clock rate we cannot use.
    let o = offer_with(&[
        "m=audio 5004 RTP/AVP 97 96",
        "a=rtpmap:97 PCMA/16000",
        "a=rtpmap:96 pcmu/8000",
    ]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 96));
    assert!(text.contains("a=rtpmap:96 PCMU/8000"));
    let err = answer(&o, &local4(), &[Codec::Pcma]).unwrap_err();
    assert!(matches!(err, SdpError::NoCommonCodec { .. }), "{err}");
}

#[test]
fn telephone_event_dynamic_96_and_101() {
    for pt in [96u8, 101] {
        let m = format!("m=audio 5004 RTP/AVP 0 {pt}");
        let rtpmap = format!("a=rtpmap:{pt} telephone-event/8000");
        let fmtp = format!("a=fmtp:{pt} 0-16");
        let o = offer_with(&[&m, "a=rtpmap:0 PCMU/8000", &rtpmap, &fmtp]);
        let (text, n) = answer(&o, &local4(), BOTH).unwrap();
        assert_eq!(n.telephone_event, Some(pt));
        assert_eq!(m_lines(&text), [format!("m=audio 40000 RTP/AVP 0 {pt}")]);
        assert!(text.contains(&format!("\r\na=rtpmap:{pt} telephone-event/8000\r\n")));
        assert!(text.contains(&format!("\r\na=fmtp:{pt} 0-16\r\n")));
    }
}

#[test]
fn telephone_event_0_15_is_mirrored_and_wrong_rate_ignored() {
    let o = offer_with(&[
        "m=audio 5004 RTP/AVP 0 100 101",
        "a=rtpmap:100 telephone-event/48000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.telephone_event, Some(101));
    assert!(text.contains("\r\na=fmtp:101 0-15\r\n"));
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 0 101"]);
}

#[test]
fn video_and_second_audio_are_rejected_in_place() {
    let o = offer_with(&[
        "m=video 6000 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "m=audio 5004 RTP/SAVP 0",
        "m=audio 5006 RTP/AVP 9 8",
        "c=IN IP4 203.0.113.9",
        "m=audio 5008 RTP/AVP 0",
    ]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(
        m_lines(&text),
        [
            "m=video 0 RTP/AVP 96",
            "m=audio 0 RTP/SAVP 0",
            "m=audio 40000 RTP/AVP 8",
            "m=audio 0 RTP/AVP 0",
        ]
    );
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.remote, remote("203.0.113.9", 5006));
}

#[test]
fn ipv6_offer_from_rfc5118_has_no_g711() {
    // Audio is G.726-32 only: a gateway without transcoding must refuse it.
    let body = corpus_sdp("ipv6-in-sdp.dat");
    let err = answer(&body, &local6(), BOTH).unwrap_err();
    match err {
        SdpError::NoCommonCodec { offered } => {
            assert!(offered.contains("G726-32"), "{offered}")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn ipv6_offer_from_rfc5118_with_g711_substituted() {
    let body = String::from_utf8(corpus_sdp("ipv6-in-sdp.dat")).unwrap();
    let body = body
        .replace("m=audio 6000 RTP/AVP 2", "m=audio 6000 RTP/AVP 0")
        .replace("a=rtpmap:2 G726-32/8000\r\n", "");
    let (text, n) = answer(body.as_bytes(), &local6(), BOTH).unwrap();
    assert_eq!(n.remote, remote("2001:db8::20", 6000));
    assert_eq!(n.codec, Codec::Pcmu);
    assert!(text.contains("\r\nc=IN IP6 2001:db8::112\r\n"));
    assert!(text.contains("\r\no=cc112 4242 1 IN IP6 2001:db8::112\r\n"));
    assert_eq!(
        m_lines(&text),
        ["m=audio 40000 RTP/AVP 0", "m=video 0 RTP/AVP 107"]
    );
}

#[test]
fn mult_ip_offer_from_rfc5118_uses_media_level_c() {
    let body = corpus_sdp("mult-ip-in-sdp.dat");
    let (text, n) = answer(&body, &local4(), BOTH).unwrap();
    assert_eq!(n.remote, remote("192.0.2.1", 22334));
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert_eq!(
        m_lines(&text),
        ["m=audio 40000 RTP/AVP 0", "m=video 0 RTP/AVP 107"]
    );
}

#[test]
fn g729_only_is_no_common_codec() {
    let o = offer_with(&[
        "m=audio 5004 RTP/AVP 18 101",
        "a=rtpmap:18 G729/8000",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    match answer(&o, &local4(), BOTH) {
        Err(SdpError::NoCommonCodec { offered }) => {
            assert!(offered.contains("18:G729/8000"), "{offered}")
        }
        other => panic!("{other:?}"),
    }
    // Empty preferences share nothing either.
    let o = offer_with(&["m=audio 5004 RTP/AVP 0"]);
    assert!(matches!(
        answer(&o, &local4(), &[]),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn no_audio() {
    let o = offer_with(&["m=video 6000 RTP/AVP 96"]);
    assert!(matches!(
        answer(&o, &local4(), BOTH),
        Err(SdpError::NoAudio)
    ));
    let o = offer_with(&["m=audio 0 RTP/AVP 0"]);
    assert!(matches!(
        answer(&o, &local4(), BOTH),
        Err(SdpError::NoAudio)
    ));
    let o = offer_with(&[]);
    assert!(matches!(
        answer(&o, &local4(), BOTH),
        Err(SdpError::NoAudio)
    ));
}

#[test]
fn garbage_is_malformed() {
    for body in [
        &b""[..],
        b"hello",
        b"\xff\xfe\x00garbage\r\n",
        b"v=0\r\no=x\r\n",
        b"v=1\r\n",
        b"INVITE sip:112@x SIP/2.0\r\n\r\n",
    ] {
        let err = answer(body, &local4(), BOTH).unwrap_err();
        assert!(matches!(err, SdpError::Malformed(_)), "{body:?}: {err}");
        assert!(matches!(
            accept_answer(body, BOTH),
            Err(SdpError::Malformed(_))
        ));
    }
}

#[test]
fn hold_offers() {
    // RFC 3264 hold: sendonly → we receive only.
    let o = offer_with(&["m=audio 5004 RTP/AVP 0", "a=sendonly"]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(text.contains("\r\na=recvonly\r\n"));
    assert_eq!(n.remote, remote("203.0.113.5", 5004));

    let o = offer_with(&["m=audio 5004 RTP/AVP 0", "a=inactive"]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.direction, Direction::Inactive);
    assert!(text.contains("\r\na=inactive\r\n"));

    let o = offer_with(&["m=audio 5004 RTP/AVP 0", "a=recvonly"]);
    let (text, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    assert!(text.contains("\r\na=sendonly\r\n"));

    // Session-level direction applies when the m-line has none.
    let o = sdp(&[
        "v=0",
        "o=a 1 2 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "a=sendonly",
        "m=audio 5004 RTP/AVP 0",
    ]);
    assert_eq!(
        answer(&o, &local4(), BOTH).unwrap().1.direction,
        Direction::RecvOnly
    );

    // RFC 2543 hold: c=0.0.0.0 leaves nowhere to send.
    let o = sdp(&[
        "v=0",
        "o=a 1 2 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    ]);
    let (_, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(n.remote, None);
    assert_eq!(n.codec, Codec::Pcmu);
}

#[test]
fn unusable_connection_addresses() {
    for c in [
        "c=IN IP4 pbx.example.net",
        "c=IN IP4 224.2.1.1/127",
        "c=IN IP6 ::",
    ] {
        let o = sdp(&[
            "v=0",
            "o=a 1 2 IN IP4 h",
            "s=-",
            c,
            "t=0 0",
            "m=audio 5004 RTP/AVP 0",
        ]);
        assert_eq!(answer(&o, &local4(), BOTH).unwrap().1.remote, None, "{c}");
    }
    let o = sdp(&[
        "v=0",
        "o=a 1 2 IN IP4 h",
        "s=-",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    ]);
    assert_eq!(answer(&o, &local4(), BOTH).unwrap().1.remote, None);
}

#[test]
fn sloppy_but_harmless_offers_are_repaired() {
    // c= after a=, no t=, and a 30-digit o= session id.
    let o = sdp(&[
        "v=0",
        "o=gw 123456789012345678901234567890 1 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 203.0.113.5",
        "m=audio 5004 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        "c=IN IP4 203.0.113.77",
    ]);
    let (_, n) = answer(&o, &local4(), BOTH).unwrap();
    assert_eq!(
        (n.codec, n.remote),
        (Codec::Pcma, remote("203.0.113.77", 5004))
    );
    // No s= line at all.
    let o = sdp(&[
        "v=0",
        "o=a 1 2 IN IP4 h",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    ]);
    assert_eq!(answer(&o, &local4(), BOTH).unwrap().1.codec, Codec::Pcmu);
}

#[test]
fn bare_lf_offer_is_read() {
    let o = b"v=0\no=a 1 2 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=audio 5004 RTP/AVP 8\n";
    let (text, n) = answer(o, &local4(), BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert!(!text.replace("\r\n", "").contains('\n'));
}

#[test]
fn our_offer() {
    let text = offer(&local4(), BOTH);
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 0 8 101"]);
    for line in [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
        "c=IN IP4 198.51.100.7",
    ] {
        assert!(
            text.contains(&format!("\r\n{line}\r\n")),
            "{line} missing in {text}"
        );
    }
    // Our own offer answered by our own answer logic: the loop closes.
    let (_, n) = answer(text.as_bytes(), &local6(), &[Codec::Pcma, Codec::Pcmu]).unwrap();
    assert_eq!(
        (n.codec, n.telephone_event, n.ptime_ms),
        (Codec::Pcma, Some(101), Some(20))
    );
    assert_eq!(n.remote, remote("198.51.100.7", 40000));
    let text6 = offer(&local6(), &[Codec::Pcma]);
    assert!(text6.contains("\r\nc=IN IP6 2001:db8::112\r\n"));
    assert_eq!(m_lines(&text6), ["m=audio 40000 RTP/AVP 8 101"]);
}

#[test]
fn answer_reparses_into_the_same_codec() {
    let offers = [
        offer_with(&["m=audio 5004 RTP/AVP 0"]),
        offer_with(&[
            "m=audio 5004 RTP/AVP 8 0 101",
            "a=rtpmap:101 telephone-event/8000",
        ]),
        offer_with(&[
            "m=audio 5004 RTP/AVP 96",
            "a=rtpmap:96 PCMA/8000",
            "a=sendonly",
        ]),
        offer(&local6(), BOTH).into_bytes(),
    ];
    for o in offers {
        for prefs in [BOTH, &[Codec::Pcma, Codec::Pcmu][..]] {
            let (text, ours) = answer(&o, &local4(), prefs).unwrap();
            let theirs = accept_answer(text.as_bytes(), prefs).unwrap();
            assert_eq!(theirs.codec, ours.codec);
            assert_eq!(theirs.payload_type, ours.payload_type);
            assert_eq!(theirs.telephone_event, ours.telephone_event);
            assert_eq!(theirs.remote, remote("198.51.100.7", 40000));
            assert_eq!(theirs.ptime_ms, Some(20));
            // Their view of the direction is the mirror of ours.
            assert_eq!(theirs.direction, ours.direction.mirror());
        }
    }
}

#[test]
fn accept_answer_follows_the_answerers_order() {
    let a = offer_with(&["m=audio 7000 RTP/AVP 8 0", "a=recvonly"]);
    let n = accept_answer(&a, BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.direction, Direction::SendOnly);
    let a = offer_with(&["m=audio 0 RTP/AVP 0"]);
    assert!(matches!(accept_answer(&a, BOTH), Err(SdpError::NoAudio)));
    let a = offer_with(&["m=audio 7000 RTP/AVP 18"]);
    assert!(matches!(
        accept_answer(&a, BOTH),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn error_text_is_bounded() {
    let mut body = b"v=0\r\no=".to_vec();
    body.extend(std::iter::repeat_n(b'x', 100_000));
    match answer(&body, &local4(), BOTH) {
        Err(SdpError::Malformed(m)) => assert!(m.len() < 1000, "{}", m.len()),
        other => panic!("{other:?}"),
    }
}

fn valid_offers() -> Vec<Vec<u8>> {
    vec![
        offer_with(&[
            "m=audio 5004 RTP/AVP 8 0 101",
            "c=IN IP4 203.0.113.9",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            "a=ptime:20",
            "a=sendonly",
            "m=video 6000 RTP/AVP 96",
            "a=rtpmap:96 H264/90000",
        ]),
        offer(&local6(), BOTH).into_bytes(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = answer(&body, &local4(), BOTH);
        let _ = accept_answer(&body, BOTH);
    }

    #[test]
    fn sdp_shaped_text_never_panics(body in "(([vosctmab]=[ -~]{0,40})\r?\n){0,20}") {
        let _ = answer(body.as_bytes(), &local4(), BOTH);
        let _ = accept_answer(body.as_bytes(), BOTH);
    }

    #[test]
    fn mutated_valid_offers_never_panic(
        which in 0usize..2,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..12),
    ) {
        let mut body = valid_offers().swap_remove(which);
        for (at, byte, op) in edits {
            if body.is_empty() {
                body.push(byte);
                continue;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                2 => { body.remove(i); }
                _ => {
                    // Splice in a huge or odd number where a digit was.
                    let s = ["99999999999999999999999", "-1", "65536", "256", "0"][usize::from(byte) % 5];
                    body.splice(i..i, s.bytes());
                }
            }
        }
        if let Ok((text, n)) = answer(&body, &local4(), BOTH) {
            let back = accept_answer(text.as_bytes(), BOTH).unwrap();
            prop_assert_eq!(back.codec, n.codec);
        }
        let _ = accept_answer(&body, BOTH);
    }
}

const ALL: &[Codec] = &Codec::ALL;

#[test]
fn opus_only_offer_is_answered_with_opus_on_the_callers_payload_type() {
    let offer = offer_with(&[
        "m=audio 5004 RTP/AVP 107 101",
        "a=rtpmap:107 opus/48000/2",
        "a=fmtp:107 useinbandfec=1; usedtx=1; maxplaybackrate=48000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ]);
    let (text, n) = answer(&offer, &local4(), ALL).unwrap();
    assert_eq!((n.codec, n.payload_type, n.telephone_event), (Codec::Opus, 107, Some(101)));
    assert!(text.contains("m=audio 40000 RTP/AVP 107 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:107 opus/48000/2\r\n"), "{text}");
    assert!(text.contains("a=fmtp:107 maxplaybackrate=16000;sprop-maxcapturerate=16000\r\n"), "{text}");
    // Opus must be /2 or plain: /6 (surround) is not ours.
    let six = offer_with(&["m=audio 5004 RTP/AVP 107", "a=rtpmap:107 opus/48000/6"]);
    assert!(matches!(answer(&six, &local4(), ALL), Err(SdpError::NoCommonCodec { .. })));
    // Not configured: refused like any unknown codec.
    assert!(matches!(answer(&offer, &local4(), BOTH), Err(SdpError::NoCommonCodec { .. })));
}

#[test]
fn g722_by_rtpmap_or_static_type_and_our_order_decides() {
    let g722 = offer_with(&["m=audio 5004 RTP/AVP 9", "a=rtpmap:9 G722/8000"]);
    let (text, n) = answer(&g722, &local4(), ALL).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::G722, 9));
    assert!(text.contains("a=rtpmap:9 G722/8000\r\n"), "{text}");
    let bare = offer_with(&["m=audio 5004 RTP/AVP 9"]);
    assert_eq!(answer(&bare, &local4(), ALL).unwrap().1.codec, Codec::G722);
    // The common mistake G722/16000 is still G.722.
    let sixteen = offer_with(&["m=audio 5004 RTP/AVP 9", "a=rtpmap:9 G722/16000"]);
    assert_eq!(answer(&sixteen, &local4(), ALL).unwrap().1.codec, Codec::G722);
    // Everything offered: our order (opus first here) decides, not the offer's.
    let many = offer_with(&["m=audio 5004 RTP/AVP 0 9 111", "a=rtpmap:111 opus/48000/2"]);
    let wide_first = [Codec::Opus, Codec::G722, Codec::Pcmu];
    assert_eq!(answer(&many, &local4(), &wide_first).unwrap().1.codec, Codec::Opus);
    assert_eq!(answer(&many, &local4(), ALL).unwrap().1.codec, Codec::Pcmu);
}

#[test]
fn our_offer_lists_every_configured_codec() {
    let text = offer(&local4(), ALL);
    assert!(text.contains("m=audio 40000 RTP/AVP 0 8 9 111 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"), "{text}");
    let n = accept_answer(&offer_with(&["m=audio 5004 RTP/AVP 111", "a=rtpmap:111 opus/48000/2"]), ALL).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Opus, 111));
}

/// RFC 4733 at the Opus clock: an Opus caller that offers telephone-event/48000 gets it
/// (durations then in 48 kHz units), even next to /8000; one offering only /8000 keeps
/// it; a G.711 caller never gets /48000.
#[test]
fn opus_callers_get_telephone_event_at_48_khz_when_they_offer_it() {
    let both = offer_with(&[
        "m=audio 5004 RTP/AVP 111 101 100",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:100 telephone-event/48000",
        "a=fmtp:100 0-15",
    ]);
    let (text, n) = answer(&both, &local4(), ALL).unwrap();
    assert_eq!((n.codec, n.telephone_event, n.telephone_event_rate), (Codec::Opus, Some(100), 48000));
    assert!(text.contains("\r\na=rtpmap:100 telephone-event/48000\r\na=fmtp:100 0-15\r\n"), "{text}");
    assert_eq!(m_lines(&text), ["m=audio 40000 RTP/AVP 111 100"]);
    let narrow = offer_with(&["m=audio 5004 RTP/AVP 111 101", "a=rtpmap:111 opus/48000/2", "a=rtpmap:101 telephone-event/8000"]);
    let (text, n) = answer(&narrow, &local4(), ALL).unwrap();
    assert_eq!((n.telephone_event, n.telephone_event_rate), (Some(101), 8000));
    assert!(text.contains("\r\na=rtpmap:101 telephone-event/8000\r\n"), "{text}");
    let g711 = offer_with(&["m=audio 5004 RTP/AVP 0 100", "a=rtpmap:100 telephone-event/48000"]);
    let (_, n) = answer(&g711, &local4(), ALL).unwrap();
    assert_eq!(n.telephone_event, None);
}
