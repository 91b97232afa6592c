//! The one integration test binary (one link, one process): the real gateway driven on
//! loopback by SIPp and by raw sockets, the shared corpora read in place, config
//! fixtures, and the media modules' scenario tests.

// A panic in a test is a failed test: the crate's no-panic lints are for the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod harness;
mod pg;

mod baresip;
mod bounds;
mod callbacks;
mod central;
mod cli;
mod codecs;
mod config_fixtures;
mod corpus;
mod drain;
mod fuzz_regressions;
mod g722_itu;
mod g722_spandsp;
mod gateway;
mod ha;
mod http;
mod http_api;
mod media_e2e;
mod media_g711;
mod media_goertzel;
mod media_prompt;
mod media_rfc4733;
mod media_rtp;
mod media_session;
mod media_vad;
mod operators;
mod overload;
mod records;
mod registrar_lockout;
mod restart;
mod silent_calls;
mod store;
mod tcp_framing;
mod tdos;
mod wallboard;
