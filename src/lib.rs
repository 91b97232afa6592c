//! cc112: the telephony front of an emergency command center.
//!
//! Layout (see `README.md` and the design notes):
//! - [`sip`]: sans-IO SIP message model, parser/serializer, TCP framing, transactions.
//! - [`media`]: SDP offer/answer, and (later) RTP, G.711, DTMF.
//! - [`config`]: TOML configuration, parsed into raw structs and validated into a plan.
//! - [`engine`]: the sans-IO glue state machine: messages and time in, actions out.
//! - [`runtime`]: the tokio shell: sockets, timers, tasks.
//! - [`store`]: call records in SQLite: writer thread, migrations, shifts, queries.

pub mod call;
pub mod clock;
pub mod config;
pub mod engine;
pub mod media;
pub mod runtime;
pub mod sip;
pub mod store;
