//! The engine task's input: what the shell's tasks tell the engine, and how many of
//! those messages may wait.
//!
//! Every task that feeds the engine (the SIP UDP readers, the TCP connections, the
//! control socket, the openings of calls' media, the media shards) holds a sender of
//! [`EngineInput`]; the engine task alone receives. Both queues are bounded, so a
//! surge waits in them (or in the kernel's socket buffers) rather than in memory
//! without limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::call::CallId;
use crate::config::Config;
use crate::engine::control::{Command, Reply};
use crate::engine::MediaInput;
use crate::media::prompts::PromptStore;
use crate::sip::Peer;

/// Capacity of the channel into the engine task. UDP readers wait when it is full (the
/// kernel buffer then absorbs bursts, and SIP retransmits what it drops).
const ENGINE_QUEUE: usize = 16_384;

/// New INVITEs over UDP wait in their own queue (served only when the main queue is
/// empty, see `EngineTask::run`); past this many the engine is seconds behind and
/// further ones are dropped at the socket (the caller retransmits, and the overload
/// limits answer 503 once the engine gets to it).
const INVITE_QUEUE: usize = 8_192;

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
}

/// Both ends of the engine task's two queues: `tx`/`rx` carry everything but new
/// INVITEs over UDP, which wait in `invites` (see [`INVITE_QUEUE`]).
pub(super) struct Queues {
    pub(super) tx: mpsc::Sender<EngineInput>,
    pub(super) rx: mpsc::Receiver<EngineInput>,
    pub(super) invites_tx: mpsc::Sender<EngineInput>,
    pub(super) invites: mpsc::Receiver<EngineInput>,
}

impl Queues {
    pub(super) fn new() -> Queues {
        let (tx, rx) = mpsc::channel(ENGINE_QUEUE);
        let (invites_tx, invites) = mpsc::channel(INVITE_QUEUE);
        Queues { tx, rx, invites_tx, invites }
    }
}
