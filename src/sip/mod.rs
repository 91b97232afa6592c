//! SIP: the message model, its strict parser and writer, and (in [`transaction`]) the
//! RFC 3261 §17 transaction state machines. Everything here is sans-IO: bytes and time
//! in, bytes and timers out.
//!
//! - [`parse`](mod@parse), [`message`], [`header`], [`uri`], [`method`]: reading a message from
//!   bytes and writing ours.
//! - [`framing`]: cutting a TCP byte stream into messages (Content-Length).
//! - [`transaction`]: the four transaction machines and how a request finds its own.
//! - [`digest`]: Digest authentication of REGISTER, with stateless nonces.
//! - [`body`]: finding the SDP in a request body.
//! - [`transport`]: the transport and addresses of one hop.
//! - [`source`]: who sent a request, for sharing capacity fairly under a flood.

pub mod body;
pub mod digest;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod parse;
pub mod source;
pub mod transaction;
pub mod transport;
pub mod uri;

pub use header::{CSeq, Header, HeaderName, NameAddr, Via};
pub use message::{Head, Message, Outgoing, Request, Response};
pub use method::Method;
pub use parse::{is_invite, parse, ParseError, ParseErrorKind};
pub use transport::{sent_by, Peer, Transport};
pub use uri::{Host, Uri, UriKind};
