//! The engine task's input: what the shell's tasks tell the engine. The queues it
//! waits in are in `queues.rs`.
//!
//! Every task that feeds the engine (the SIP UDP readers, the TCP connections, the
//! control socket, the openings of calls' media, the media shards) holds a sender of
//! [`EngineInput`]; the engine task alone receives. Both queues are bounded, so a
//! surge waits in them (or in the kernel's socket buffers) rather than in memory
//! without limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::call::CallId;
use crate::config::Config;
use crate::engine::control::{Command, Reply};
use crate::engine::MediaInput;
use crate::media::prompts::PromptStore;
use crate::sip::Peer;

/// What the shell tells the engine task.
#[derive(Debug)]
pub(super) enum EngineInput {
    /// A SIP message cut from a datagram or a TCP stream. `received`: when the bytes
    /// were read from the socket (the overload limits measure how long they waited for
    /// the engine).
    Sip { peer: Peer, bytes: Bytes, received: Instant },
    /// A call's media has been opened (`ok`) or could not be (its RTP `port` is
    /// unusable). `media_delay`: how long the opening waited for a worker, plus how late
    /// its media shard runs its calls' timers: it tells the overload limits whether the
    /// media keeps up.
    MediaOpened { call: CallId, port: u16, ok: bool, media_delay: Duration },
    /// A new call's first record is durable (`ok`), or could not be written: the
    /// engine sends its 200 OK once this and [`EngineInput::MediaOpened`] have come.
    RecordCommitted { call: CallId, ok: bool },
    /// What a call's media noticed: a digit, a prompt finished, RTP gone silent.
    Media { call: CallId, input: MediaInput },
    /// A new configuration and its prompts, for calls that start from now on.
    Reload(Arc<Config>, Arc<PromptStore>),
    /// A supervisor's command from the control socket, with where its reply goes.
    Command(Command, oneshot::Sender<Reply>),
    /// A stop (a signal, `cc112 drain`): the first begins the drain, the next hurries it.
    Stop,
    /// The watchdog's word on the node's health: `Some(why)` while a part is stalled.
    Unhealthy(Option<String>),
    /// Test-only fault (`CC112_TEST_FAULTS=1`): block the engine thread this long, as
    /// a bug or a blocking call would.
    Stall(Duration),
}
