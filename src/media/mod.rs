//! Media: codecs (G.711, G.722, Opus: [`transcode`] turns any of them into PCM), SDP offer/answer, the RTP port pool, and the sans-IO pieces of a call's
//! media — RTP framing, G.711, RFC 4733 and in-band DTMF, the paced prompt player — and
//! the per-call [`session::MediaSession`] that combines them, fed by the
//! [`prompts::PromptStore`] loaded once at start and reload. Once an operator answers,
//! [`relay::Relay`] carries the audio between the caller's and the operator's legs.

pub mod codec;
pub mod g711;
pub mod g722;
pub mod goertzel;
pub mod moment;
#[allow(unsafe_code)] // libopus' C API, contained: see the module doc.
pub mod opus;
pub mod ports;
pub mod prompt;
pub mod prompts;
pub mod relay;
pub mod resample;
pub mod rfc4733;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod vad;
pub mod totals;
pub mod transcode;
pub mod wav;

pub use codec::Codec;
