//! RTP/RTCP framing: hostile datagrams get typed errors and never a panic; what we write we
//! read back; and on well-formed packets we agree with `rtc-rtp`.

use cc112::media::rtp::{
    extend_seq, parse_rtcp_compound, RtcpError, RtpError, RtpHeader, RtpPacket, SeqExtender, SeqNo,
    RTCP_RR,
};
use proptest::prelude::*;
use rtc_shared::marshal::Unmarshal;

fn header(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
    RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
}

/// A PCMU packet as a phone sends it: 12-byte header, 160 bytes of µ-law.
fn pcmu_packet() -> Vec<u8> {
    let mut out = Vec::new();
    header(true, 0, 4242, 160_000, 0xDEAD_BEEF).write(&[0xFF; 160], &mut out);
    out
}

#[test]
fn a_phone_packet_parses_to_its_fields() {
    let bytes = pcmu_packet();
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.header, header(true, 0, 4242, 160_000, 0xDEAD_BEEF));
    assert_eq!(p.payload.len(), 160);
    assert_eq!(p.csrc_count(), 0);
    assert_eq!(p.extension, None);
    assert_eq!(p.padding, 0);
}

#[test]
fn a_sipp_telephone_event_packet_parses() {
    // First packet of sipp_dtmf_2833_0.pcap.
    let bytes = hex::decode("80e52f30000044e00e05384e000a0000").unwrap();
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.header, header(true, 101, 12080, 17632, 0x0e05_384e));
    assert_eq!(p.payload, &[0x00, 0x0a, 0x00, 0x00]);
}

#[test]
fn csrcs_extension_and_padding_are_stripped_from_the_payload() {
    let mut b = vec![0xB2, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // V=2 P X CC=2
    b.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // two CSRCs
    b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // extension, 1 word
    b.extend_from_slice(&[1, 2, 3]); // payload
    b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding, count included
    let p = RtpPacket::parse(&b).unwrap();
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![10, 11]);
    assert_eq!(p.extension, Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
    assert_eq!(p.payload, &[1, 2, 3]);
    assert_eq!(p.padding, 3);
}

#[test]
fn reserved_one_byte_extension_id_does_not_leak_into_the_payload() {
    // rtc-rtp stops at id 15 and leaves the rest of the extension block in the payload.
    let mut b = vec![0x90, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    b.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0xF0, 1, 2, 3, 4, 5, 6, 7]);
    b.extend_from_slice(&[0x55; 4]);
    assert_eq!(RtpPacket::parse(&b).unwrap().payload, &[0x55; 4]);
}

#[test]
fn short_packets_are_too_short() {
    for len in 0..12 {
        assert_eq!(
            RtpPacket::parse(&pcmu_packet()[..len]),
            Err(RtpError::TooShort { len })
        );
    }
}

#[test]
fn other_versions_are_rejected() {
    for v in [0u8, 1, 3] {
        let mut b = pcmu_packet();
        b[0] = (b[0] & 0x3F) | (v << 6);
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadVersion(v)));
    }
}

#[test]
fn csrc_count_past_the_end_is_an_error() {
    let mut b = pcmu_packet();
    b.truncate(20); // room for two CSRCs
    b[0] |= 0x0F;
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::CsrcPastEnd { count: 15, len: 20 })
    );
}

#[test]
fn lying_extension_length_is_an_error() {
    let mut b = vec![
        0x90, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0xFF, 0xFF, 0, 0,
    ];
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::ExtensionPastEnd {
            words: 0xFFFF,
            len: 18
        })
    );
    b.truncate(14); // extension header itself cut off
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::ExtensionPastEnd { words: 0, len: 14 })
    );
}

#[test]
fn padding_longer_than_the_packet_is_an_error() {
    let mut b = pcmu_packet();
    b[0] |= 0x20;
    *b.last_mut().unwrap() = 200; // 160 bytes follow the header
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::BadPadding {
            count: 200,
            available: 160
        })
    );
}

#[test]
fn padding_count_zero_is_an_error() {
    let mut b = pcmu_packet();
    b[0] |= 0x20;
    *b.last_mut().unwrap() = 0;
    assert_eq!(
        RtpPacket::parse(&b),
        Err(RtpError::BadPadding {
            count: 0,
            available: 160
        })
    );
}

#[test]
fn padding_bit_on_a_header_only_packet_is_an_error() {
    let mut b = pcmu_packet();
    b.truncate(12);
    b[0] |= 0x20;
    assert_eq!(RtpPacket::parse(&b), Err(RtpError::PaddingWithoutCount));
}

/// An RR with one report block followed by an SDES with a CNAME, as phones send it.
fn rr_sdes() -> Vec<u8> {
    let mut b = vec![0x81, 201, 0, 7, 0, 0, 0, 1];
    b.extend_from_slice(&[0u8; 24]);
    b.extend_from_slice(&[
        0x81, 202, 0, 3, 0, 0, 0, 1, 1, 4, b'c', b'c', b'1', b'2', 0, 0,
    ]);
    b
}

#[test]
fn a_compound_rr_and_sdes_is_two_packets() {
    let b = rr_sdes();
    let packets = parse_rtcp_compound(&b).unwrap();
    assert_eq!(packets.len(), 2);
    assert_eq!(
        (
            packets[0].packet_type,
            packets[0].count,
            packets[0].body.len()
        ),
        (RTCP_RR, 1, 28)
    );
    assert_eq!((packets[1].packet_type, packets[1].body.len()), (202, 12));
}

#[test]
fn rtcp_lying_length_is_an_error() {
    let mut b = rr_sdes();
    b[35] = 9; // SDES claims 10 words, the datagram has 4
    assert_eq!(
        parse_rtcp_compound(&b),
        Err(RtcpError::LengthPastEnd {
            words: 9,
            offset: 32,
            len: 48
        })
    );
}

#[test]
fn rtcp_must_start_with_a_report() {
    let b = rr_sdes();
    assert_eq!(
        parse_rtcp_compound(&b[32..]),
        Err(RtcpError::NotReportFirst(202))
    );
}

#[test]
fn rtcp_padding_only_on_the_last_packet() {
    let mut b = rr_sdes();
    b[0] |= 0x20;
    assert_eq!(
        parse_rtcp_compound(&b),
        Err(RtcpError::PaddingNotLast { offset: 0 })
    );
    let mut b = rr_sdes();
    b[32] |= 0x20;
    *b.last_mut().unwrap() = 2;
    assert_eq!(parse_rtcp_compound(&b).unwrap()[1].body.len(), 10);
    *b.last_mut().unwrap() = 13;
    assert_eq!(
        parse_rtcp_compound(&b),
        Err(RtcpError::BadPadding {
            count: 13,
            available: 12
        })
    );
}

#[test]
fn rtcp_trailing_garbage_and_empty_datagrams_are_errors() {
    let mut b = rr_sdes();
    b.extend_from_slice(&[0x80, 201]);
    assert_eq!(
        parse_rtcp_compound(&b),
        Err(RtcpError::Truncated {
            offset: 48,
            len: 50
        })
    );
    assert_eq!(
        parse_rtcp_compound(&[]),
        Err(RtcpError::Truncated { offset: 0, len: 0 })
    );
    assert!(matches!(
        parse_rtcp_compound(&[0x40, 201, 0, 0]),
        Err(RtcpError::BadVersion { version: 1, .. })
    ));
}

#[test]
fn sequence_numbers_extend_across_the_wrap() {
    let mut x = SeqExtender::new();
    let first = x.extend(65534);
    assert_eq!(x.extend(65535).0, first.0 + 1);
    assert_eq!(x.extend(0).0, first.0 + 2);
    assert_eq!(x.extend(1).0, first.0 + 3);
    // A late packet from before the wrap lands below the maximum, not a cycle above.
    assert_eq!(x.extend(65533).0, first.0 - 1);
    assert_eq!(x.max(), Some(SeqNo(first.0 + 3)));
    assert_eq!(SeqNo(first.0 + 3).wire(), 1);
}

#[test]
fn a_packet_reordered_before_the_first_one_is_still_placed_below_it() {
    let first = extend_seq(None, 3);
    assert_eq!(extend_seq(Some(first), 65530).0, first.0 - 9);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_ok_packets_account_for_every_byte(
        data in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        if let Ok(p) = RtpPacket::parse(&data) {
            let ext = p.extension.map_or(0, |(_, body)| 4 + body.len());
            prop_assert_eq!(12 + 4 * p.csrc_count() + ext + p.payload.len() + usize::from(p.padding), data.len());
        }
        if let Ok(packets) = parse_rtcp_compound(&data) {
            prop_assert!(!packets.is_empty());
        }
    }

    #[test]
    fn rtp_shaped_bytes_never_panic(
        b0 in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..120)
    ) {
        // Force V=2 so the fuzzing reaches the CSRC, extension and padding checks.
        let mut data = vec![(b0 & 0x3F) | 0x80];
        data.extend(rest);
        let _ = RtpPacket::parse(&data);
    }

    #[test]
    fn rtcp_shaped_bytes_never_panic(
        words in proptest::collection::vec((any::<u8>(), 200u8..=204, 0u16..12), 1..5),
        filler in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut data = Vec::new();
        for (b0, pt, len) in words {
            data.extend_from_slice(&[(b0 & 0x3F) | 0x80, pt]);
            data.extend_from_slice(&len.to_be_bytes());
            data.extend(filler.iter().take(usize::from(len) * 4));
        }
        let _ = parse_rtcp_compound(&data);
    }

    #[test]
    fn what_we_write_we_read_back(
        marker in any::<bool>(), pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(),
        ssrc in any::<u32>(), payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let h = header(marker, pt, seq, ts, ssrc);
        let mut out = Vec::new();
        h.write(&payload, &mut out);
        let p = RtpPacket::parse(&out).unwrap();
        prop_assert_eq!(p.header, h);
        prop_assert_eq!(p.payload, &payload[..]);
    }

    #[test]
    fn we_agree_with_rtc_rtp_on_packets_without_extensions(
        b0 in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 11..200)
    ) {
        let mut data = vec![(b0 & 0x2F) | 0x80]; // V=2, X=0, any P and CC
        data.extend(rest);
        if let Ok(ours) = RtpPacket::parse(&data) {
            let theirs = rtc_rtp::Packet::unmarshal(&mut &data[..]).unwrap();
            prop_assert_eq!(ours.header.marker, theirs.header.marker);
            prop_assert_eq!(ours.header.payload_type, theirs.header.payload_type);
            prop_assert_eq!(ours.header.sequence, theirs.header.sequence_number);
            prop_assert_eq!(ours.header.timestamp, theirs.header.timestamp);
            prop_assert_eq!(ours.header.ssrc, theirs.header.ssrc);
            prop_assert_eq!(ours.csrcs().collect::<Vec<_>>(), theirs.header.csrc);
            prop_assert_eq!(ours.payload, &theirs.payload[..]);
        }
    }

    #[test]
    fn extension_follows_a_reordered_stream_exactly(
        start in any::<u16>(),
        steps in proptest::collection::vec(-100i64..200, 1..500),
    ) {
        // A true position that wanders forward with reordering of up to 100 packets;
        // the extended number must always differ from the first by the true offset.
        let mut x = SeqExtender::new();
        let base = x.extend(start);
        let mut truth: i64 = 0;
        let mut max_truth: i64 = 0;
        for step in steps {
            truth = (truth + step).max(max_truth - 100);
            max_truth = max_truth.max(truth);
            let wire = (i64::from(start) + truth).rem_euclid(65536) as u16;
            let ext = x.extend(wire);
            prop_assert_eq!(ext.0 as i64 - base.0 as i64, truth);
        }
    }
}

/// The reasons `src/media/rtp.rs` gives for not using `rtc-rtp` 0.21. If this test starts
/// failing after an upgrade, `rtc-rtp` fixed them and the choice should be revisited.
#[test]
fn rtc_rtp_limitations_that_justify_our_codec() {
    let mut version1 = pcmu_packet();
    version1[0] = 0x40;
    assert!(
        rtc_rtp::Packet::unmarshal(&mut &version1[..]).is_ok(),
        "accepts version 1"
    );

    let mut zero_padding = pcmu_packet();
    zero_padding[0] |= 0x20;
    *zero_padding.last_mut().unwrap() = 0;
    assert!(
        rtc_rtp::Packet::unmarshal(&mut &zero_padding[..]).is_ok(),
        "accepts padding 0"
    );

    let mut reserved = vec![0x90, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    reserved.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0xF0, 1, 2, 3, 4, 5, 6, 7]);
    reserved.extend_from_slice(&[0x55; 4]);
    let theirs = rtc_rtp::Packet::unmarshal(&mut &reserved[..]).unwrap();
    assert_eq!(
        theirs.payload.len(),
        11,
        "extension bytes leak into the payload"
    );
}
