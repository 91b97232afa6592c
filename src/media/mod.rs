//! Media: codecs, SDP offer/answer, the RTP port pool, and the sans-IO pieces of a call's
//! media — RTP framing, G.711, RFC 4733 and in-band DTMF, the paced prompt player.
//! The per-call session that combines them is the media issue's next step.

pub mod codec;
pub mod g711;
pub mod goertzel;
pub mod moment;
pub mod ports;
pub mod prompt;
pub mod rfc4733;
pub mod rtp;
pub mod sdp;
pub mod wav;

pub use codec::Codec;
