//! RTP and RTCP packet parsing (`cc112::media::rtp`) on any datagram.
//!
//! The input is one datagram, or a pcap capture whose UDP payloads are each taken as a
//! datagram, so the RTP recordings of the shared corpora seed it in place.
//!
//! Checks, beyond "no panic":
//! - a parsed RTP packet accounts for every byte: 12 + 4·CC + extension + payload +
//!   padding is the datagram's length, and the payload is the datagram's own bytes;
//! - what we write (`RtpHeader::write`) from a parsed header and payload parses back to
//!   the same header and payload;
//! - a parsed compound RTCP packet starts with SR or RR, and its packets' bodies fit in
//!   the datagram.
#![no_main]

use cc112::media::rtp::{parse_rtcp_compound, RtpPacket, RTCP_RR, RTCP_SR, RTP_HEADER_LEN};
use cc112_fuzz::udp_payloads;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match udp_payloads(data) {
        Some(datagrams) => datagrams.into_iter().for_each(|(_, d)| check(d)),
        None => check(data),
    }
});

fn check(data: &[u8]) {
    if let Ok(p) = RtpPacket::parse(data) {
        let ext = p.extension.map_or(0, |(_, body)| 4 + body.len());
        let total = RTP_HEADER_LEN + 4 * p.csrc_count() + ext + p.payload.len() + usize::from(p.padding);
        assert_eq!(total, data.len(), "{p:?}");
        assert_eq!(p.csrcs().count(), p.csrc_count());
        let start = data.len() - usize::from(p.padding) - p.payload.len();
        assert_eq!(&data[start..start + p.payload.len()], p.payload);
        let mut out = Vec::new();
        p.header.write(p.payload, &mut out);
        let again = RtpPacket::parse(&out).expect("what we write parses");
        assert_eq!(again.header, p.header);
        assert_eq!(again.payload, p.payload);
        assert_eq!((again.csrc_count(), again.extension, again.padding), (0, None, 0));
    }
    if let Ok(packets) = parse_rtcp_compound(data) {
        let first = packets.first().expect("a compound packet has a first packet");
        assert!(first.packet_type == RTCP_SR || first.packet_type == RTCP_RR);
        let bodies: usize = packets.iter().map(|p| 4 + p.body.len()).sum();
        assert!(bodies <= data.len());
        assert!(packets.iter().all(|p| p.count < 32));
    }
}
