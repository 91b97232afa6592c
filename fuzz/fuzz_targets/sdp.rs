//! SDP offer/answer (`cc112::media::sdp`) on any body: as an offer in an INVITE
//! (`answer`) and as the answer to our offer (`accept_answer`).
//!
//! The input is an SDP body, or a whole SIP message whose body (after the first empty
//! line) is taken, so the captured INVITEs and 200s of the shared corpora seed it in place.
//!
//! Checks, beyond "no panic":
//! - our answer to an offer is SDP that we read back (`accept_answer`) as the same
//!   decision: codec, payload type, telephone-event payload type, our address and port,
//!   the mirrored direction and our 20 ms ptime;
//! - the codec chosen is one of the preferences given (all four codecs, PCMU and PCMA,
//!   or PCMA alone);
//! - an error quotes the peer's text only up to a bound.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cc112::media::sdp::{accept_answer, answer, LocalMedia};
use cc112::media::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = body_of(data);
    let local = LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        port: 40_000,
        session_id: 7,
        session_version: 1,
    };
    for prefs in [&Codec::ALL[..], &[Codec::Pcmu, Codec::Pcma][..], &[Codec::Pcma]] {
        match answer(body, &local, prefs) {
            Ok((text, chosen)) => {
                assert!(prefs.contains(&chosen.codec));
                let back = accept_answer(text.as_bytes(), prefs)
                    .unwrap_or_else(|e| panic!("our answer does not read back: {e}\n{text}"));
                assert_eq!(back.codec, chosen.codec, "{text}");
                assert_eq!(back.payload_type, chosen.payload_type, "{text}");
                assert_eq!(back.telephone_event, chosen.telephone_event, "{text}");
                assert_eq!(back.remote, Some(SocketAddr::new(local.addr, local.port)), "{text}");
                assert_eq!(back.direction, chosen.direction.mirror(), "{text}");
                assert_eq!(back.ptime_ms, Some(20), "{text}");
            }
            Err(e) => assert!(e.to_string().len() < 1024, "an error quoting too much: {} bytes", e.to_string().len()),
        }
        if let Ok(n) = accept_answer(body, prefs) {
            assert!(prefs.contains(&n.codec));
        }
    }
});

/// The SDP in the input: all of it, or what follows the first empty line of a SIP message.
fn body_of(data: &[u8]) -> &[u8] {
    if data.starts_with(b"v=") {
        return data;
    }
    (0..data.len())
        .find_map(|i| {
            if data[i..].starts_with(b"\r\n\r\n") {
                Some(&data[i + 4..])
            } else if data[i..].starts_with(b"\n\n") {
                Some(&data[i + 2..])
            } else {
                None
            }
        })
        .unwrap_or(data)
}
