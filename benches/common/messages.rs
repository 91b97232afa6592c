//! Sample messages shared by the benchmarks: an emergency INVITE with SDP as a carrier
//! sends it, and the 200 OK of an operator's phone.

#![allow(dead_code)] // each benchmark uses what it needs

pub const INVITE: &[u8] = b"INVITE sip:112@gw.example.id;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:112@gw.example.id;user=phone>\r\n\
From: \"Budi Santoso\" <sip:+6281234567890@carrier.example.id;user=phone>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example.id\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+6281234567890@192.0.2.1:5060>\r\n\
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 142\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

pub const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
To: <sip:112@gw.example.id;user=phone>;tag=a6c85cf\r\n\
From: \"Budi Santoso\" <sip:+6281234567890@carrier.example.id;user=phone>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example.id\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:cc112@192.0.2.5:5060>\r\n\
Content-Length: 0\r\n\r\n";

/// The SDP offer carried by [`INVITE`].
pub const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
