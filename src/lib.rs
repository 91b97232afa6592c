//! cc112: the telephony front of an emergency command center.
//!
//! Layers, lowest first; a layer uses only the ones above it in this list
//! (`scripts/check-layers` keeps it so, and finds import circles between files):
//! - [`sink`]: a value from the network made safe for a header, a log or a terminal.
//! - [`clock`]: UTC milliseconds, UTC offsets, local dates and the shifts of the day,
//!   with the one HH:MM parser.
//! - [`sip`]: the SIP message model, strict parser and writer, TCP framing, Digest, and
//!   the RFC 3261 §17 transaction state machines.
//! - [`media`]: codecs, SDP offer/answer, RTP, G.711, RFC 4733 and in-band DTMF, the
//!   prompt player, the media session and the bridge between a caller and an operator.
//! - [`config`]: the TOML configuration, parsed into raw structs and validated into a plan.
//! - [`call`]: what happens to a call between the answer and an operator: the IVR, the
//!   ACD's queues and the operators' registrar.
//! - [`store`]: call records in SQLite: schema, queries, shifts, the report, and the
//!   writer thread (the one part of the core that does IO).
//! - [`engine`]: the signalling state machine, a composition of owned parts (transactions,
//!   UAS checks, calls, operator legs, admission, one timer table).
//! - [`http`]: the HTTP server (`/healthz`, `/metrics`, the API), which reads the
//!   engine's published snapshots, never the engine.
//! - [`runtime`]: the shell: sockets, threads, the media shards, the record writer's
//!   feed, the control socket, signals.
//!
//! Everything but [`http`], [`runtime`] and the store's writer is sans-IO: state machines fed with
//! messages and time that return what to do, tested on a virtual clock.

#![warn(missing_docs)]

pub mod call;
pub mod clock;
pub mod config;
pub mod engine;
pub mod http;
pub mod media;
mod name;
pub mod runtime;
pub mod sink;
pub mod sip;
pub mod store;
