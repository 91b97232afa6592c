//! The opening of a call's media: a small task per call, on the shared runtime, that
//! binds the call's RTP and RTCP ports, waits (bounded) for the call's first record to
//! reach the disk, hands the sockets to a media shard ([`super::media_shard`]) as a
//! [`CallMedia`], and then tells the engine, which answers the call.
//!
//! This is where the rule "a call's record is committed before its 200 OK" is kept: the
//! engine emits the call's start before asking for its media, the engine task hands the
//! start's commit to this task ([`Opening::commit`]), and the engine sends the 200 only
//! once it hears [`EngineInput::MediaOpened`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::call_media::CallMedia;
use super::input::EngineInput;
use super::media_shard::{ShardInput, ShardRef};
use super::record::CommitWait;
use crate::call::CallId;
use crate::media::prompts::PromptStore;

/// How long a call's answer may wait for its first record to reach the disk. Commits
/// take well under a millisecond on a healthy disk; on a stalled one the caller is
/// answered anyway (logged) and the record follows when the disk recovers.
const COMMIT_WAIT: Duration = Duration::from_millis(250);

/// How a call's media came to be opened: the commit its answer waits for, and when the
/// engine asked for it (its wait for a worker is one of the delays the overload limits
/// read).
pub(super) struct Opening {
    /// The commit of the call's first record (none without a record store).
    pub(super) commit: Option<CommitWait>,
    /// When the engine task spawned the opening.
    pub(super) spawned: Instant,
}

/// Opens a call's media: binds its RTP and RTCP ports, waits (bounded) for the call's
/// first record to reach the disk, hands the sockets to its shard, then tells the engine,
/// which answers the call. The shard gets the call before the engine hears of it, so
/// every command the engine sends afterwards, on the same shard queue, finds it there.
pub(super) async fn open(
    call: CallId,
    rtp: SocketAddr,
    tx: mpsc::Sender<EngineInput>,
    shard: ShardRef,
    prompts: Arc<PromptStore>,
    opening: Opening,
    shutdown: CancellationToken,
) {
    let Opening { commit, spawned } = opening;
    let start_delay = spawned.elapsed();
    let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
    let socks = match (bind(rtp), bind(rtcp)) {
        (Ok(a), Ok(b)) => Some((a, b)),
        _ => None,
    };
    // The call's record reaches the disk before its 200 OK (which follows MediaOpened).
    if let Some(wait) = commit {
        tokio::select! {
            r = tokio::time::timeout(COMMIT_WAIT, wait) => match r {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => warn!(%call, error = %e, "answering before the call's record is on disk"),
                Ok(Err(_)) | Err(_) => warn!(%call, "call record not committed within {:?}; answering anyway", COMMIT_WAIT),
            },
            _ = shutdown.cancelled() => return,
        }
    }
    let ok = match socks {
        Some((rtp, rtcp)) => shard.send(ShardInput::Open(Box::new(CallMedia::new(call, rtp, rtcp, prompts)))),
        None => false,
    };
    // How far behind a new call's media would start: this task's wait for a worker,
    // plus how late its shard is running its calls' timers.
    let media_delay = start_delay + shard.lag();
    let _ = tx.send(EngineInput::MediaOpened { call, port: rtp.port(), ok, media_delay }).await;
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = std::net::UdpSocket::bind(addr)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}
