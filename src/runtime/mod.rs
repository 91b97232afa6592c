//! The tokio shell: the only place with sockets, tasks and the clock.
//!
//! One engine task owns the [`Engine`](crate::engine::Engine) and all signalling state;
//! UDP and TCP tasks only cut bytes into messages and forward them. The engine task and
//! the SIP UDP readers run on a thread of their own (`cc112-engine`, a current-thread
//! runtime), the TCP tasks on the shared workers, and the calls' RTP/RTCP in media
//! shards (`cc112-media-N`, one thread per core, each an event loop over many calls):
//! signalling never waits behind thousands of calls' RTP. Channels into the engine are
//! bounded; between the engine and a media shard, the queues (commands one way, events
//! waiting for room the other) hold a handful of entries per call, so their calls bound
//! them. Stopping is a drain: SIP is read on every transport all along, new INVITEs
//! and OPTIONS get 503, calls in progress go on for `[shutdown] grace`, then the engine
//! hangs up every call and closes its record, the writer flushes, and the process
//! exits 0. A supervisor (systemd) hears of it all through `sd_notify`.
//!
//! What each file owns:
//! - `run.rs`: the process's life: start, reload the config on SIGHUP or a change of
//!   the file, drain on SIGINT/SIGTERM, exit when the drain is over.
//! - `stop.rs`: a stop, from a signal or `cc112 drain`: the first drains, the next hurries.
//! - `vitals.rs`: the node's vital signs (the engine's beat, calls, the drain, the
//!   writer's stall) and the state they make: taking calls, draining, stalled.
//! - `watchdog.rs`: watches the engine and the record writer; `READY`, `STOPPING`,
//!   `STATUS` and `WATCHDOG` to a supervisor.
//! - `gateway.rs`: [`Gateway`]: binds the listeners, starts the tasks, opens the record
//!   store, stops gracefully and flushes the records last.
//! - `error.rs`: [`RuntimeError`], why the gateway could not start.
//! - `input.rs`: the engine task's input (`EngineInput`); `queues.rs`: its two bounded
//!   queues, new INVITEs served in turn between sources.
//! - `engine_task.rs`: the signalling thread and its engine task: feeds the engine,
//!   carries out its outputs (sends, media, records), watches load and memory.
//! - `udp.rs`: SIP UDP sockets and their readers.
//! - `tcp.rs`: SIP TCP listeners and connections (framing, limits, writers).
//! - `control.rs`: the supervisor's control socket and its client (operators, health,
//!   drain).
//! - `media_open.rs`: the opening of a call's media; then reports the commit of the
//!   call's first record, which the engine waits for before it answers.
//! - `call_media.rs`: one call's media state inside a shard (session, relay, sockets).
//! - `media_shard.rs`: the media shards' threads and their event loop.
//! - `record.rs`: the engine's call and operator events as call records.
//! - `call_log.rs`: the engine's call events as log lines.
//! - `memory.rs`: giving memory back to the system after a surge.
//! - `prompts.rs`: where the prompts come from (files or the built-in recordings).
//! - `central/`: shipping the records to the central view in PostgreSQL
//!   (`[store] central`), the takeover of a silent node's calls there, and the CLI's
//!   reader of that view.

mod call_log;
mod call_media;
pub mod central;
pub mod control;
mod engine_task;
mod error;
mod queues;
mod gateway;
mod input;
mod media_open;
mod media_shard;
mod memory;
pub mod prompts;
mod record;
mod run;
mod stop;
mod tcp;
mod udp;
mod vitals;
mod watchdog;

pub use error::RuntimeError;
pub use gateway::{Gateway, TEST_FAULTS_ENV};
pub use run::run;
