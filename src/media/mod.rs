//! Media: codecs and SDP offer/answer now; RTP sessions, prompts and DTMF next.

pub mod codec;
pub mod g711;
pub mod goertzel;
pub mod moment;
pub mod prompt;
pub mod rfc4733;
pub mod rtp;
pub mod wav;

pub use codec::Codec;
