//! Media: codecs and SDP offer/answer now; RTP sessions, prompts and DTMF next.

pub mod codec;

pub use codec::Codec;
