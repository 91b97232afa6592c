//! The opening of a call's media: a small task per call, on the shared runtime, that
//! binds the call's RTP and RTCP ports, hands the sockets to a media shard
//! ([`super::media_shard`]) as a [`CallMedia`] and tells the engine
//! ([`EngineInput::MediaOpened`]); then it reports the commit of the call's first record
//! ([`EngineInput::RecordCommitted`]).
//!
//! The rule "a call's record is committed before its 200 OK" is the engine's: it sends
//! the 200 only once it has heard both, or when its own wait for the record runs out
//! (`Engine::set_record_wait`). This task only reports what happened.

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

/// Past this the engine has stopped waiting for the record (it waits [`super::record::RECORD_WAIT`]),
/// so a late commit is not worth reporting, and the task ends.
const REPORT_LIMIT: Duration = Duration::from_secs(1);

/// How a call's media came to be opened: the commit its answer waits for, and when the
/// engine asked for it (its wait for a worker is one of the delays the overload limits
/// read).
pub(super) struct Opening {
    /// The commit of the call's first record, to report (none without a record store).
    pub(super) commit: Option<CommitWait>,
    /// When the engine task spawned the opening.
    pub(super) spawned: Instant,
}

/// Opens a call's media: binds its RTP and RTCP ports, hands the sockets to its shard,
/// tells the engine, then reports the commit of the call's first record. The shard gets
/// the call before the engine hears of it, so every command the engine sends
/// afterwards, on the same shard queue, finds it there.
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
    let ok = match socks {
        Some((rtp, rtcp)) => shard.send(ShardInput::Open(Box::new(CallMedia::new(call, rtp, rtcp, prompts)))),
        None => false,
    };
    // How far behind a new call's media would start: this task's wait for a worker,
    // plus how late its shard is running its calls' timers.
    let media_delay = start_delay + shard.lag();
    if tx.send(EngineInput::MediaOpened { call, port: rtp.port(), ok, media_delay }).await.is_err() {
        return;
    }
    let Some(wait) = commit else { return };
    let ok = tokio::select! {
        r = tokio::time::timeout(REPORT_LIMIT, wait) => match r {
            Ok(Ok(Ok(()))) => true,
            Ok(Ok(Err(e))) => {
                warn!(%call, error = %e, "the call's first record could not be written");
                false
            }
            // The writer is gone, or the engine stopped waiting long ago.
            Ok(Err(_)) | Err(_) => return,
        },
        _ = shutdown.cancelled() => return,
    };
    let _ = tx.send(EngineInput::RecordCommitted { call, ok }).await;
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = std::net::UdpSocket::bind(addr)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}
