//! Media: codecs and SDP offer/answer now; RTP sessions, prompts and DTMF next.

pub mod codec;
pub mod ports;
pub mod sdp;

pub use codec::Codec;
