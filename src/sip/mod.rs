//! SIP: the message model, its strict parser and writer, and (in [`transaction`]) the
//! RFC 3261 §17 transaction state machines. Everything here is sans-IO: bytes and time
//! in, bytes and timers out.

pub mod body;
pub mod digest;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod parse;
pub mod transaction;
pub mod transport;
pub mod uri;

pub use header::{CSeq, Header, HeaderName, NameAddr, Via};
pub use message::{Head, Message, Outgoing, Request, Response};
pub use method::Method;
pub use parse::{parse, ParseError, ParseErrorKind};
pub use transport::{Peer, Transport};
pub use uri::{Host, Uri, UriKind};
