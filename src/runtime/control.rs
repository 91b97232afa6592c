//! The supervisor's local control socket: `cc112 operators ...`, `cc112 health` and
//! `cc112 drain` talk to the running gateway through a Unix socket next to the
//! database, readable and writable by the gateway's user only (mode 0600): the file
//! system is the access control, so no secret travels and nothing listens on the
//! network. One JSON command per line, one JSON reply per line.
//!
//! Operator commands ([`Command`]) go to the engine, in order with everything else it
//! handles. The node's own ([`NodeCommand`]) are answered here from the [`Vitals`],
//! without the engine: `health` must say "stalled" when the engine thread is the thing
//! that is stuck.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::input::EngineInput;
use super::stop::{stop, Again};
use super::vitals::Vitals;
use crate::engine::control::{Command, Reply};

/// A command the node answers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum NodeCommand {
    /// Whether the node takes calls, drains or is stalled.
    Health,
    /// Begin the drain, as `SIGTERM` does (again: nothing changes).
    Drain,
    /// Test-only fault: block the engine thread for `ms` (refused unless the gateway
    /// was started with `CC112_TEST_FAULTS=1`).
    TestStallEngine {
        /// How long, in milliseconds (at most a minute).
        ms: u64,
    },
}

/// The node's answer to a [`NodeCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum NodeReply {
    /// Where the node stands (after the command).
    State {
        /// `taking_calls`, `draining` or `stalled`.
        state: String,
        /// Whether a load balancer should send it new calls.
        takes_calls: bool,
        /// One line for a person, with the reason.
        line: String,
    },
    /// The command was refused.
    Error {
        /// Why.
        message: String,
    },
}

/// What the control socket needs of the node.
pub(super) struct Node {
    pub(super) vitals: Arc<Vitals>,
    /// Test faults allowed (`CC112_TEST_FAULTS=1` at start).
    pub(super) faults: bool,
}

impl Node {
    async fn answer(&self, cmd: NodeCommand, tx: &mpsc::Sender<EngineInput>) -> NodeReply {
        match cmd {
            NodeCommand::Health => {}
            NodeCommand::Drain => {
                stop(&self.vitals, tx, "cc112 drain", Again::Ignored).await;
            }
            NodeCommand::TestStallEngine { ms } if self.faults => {
                if tx.send(EngineInput::Stall(Duration::from_millis(ms))).await.is_err() {
                    return NodeReply::Error { message: "gateway stopping".into() };
                }
            }
            NodeCommand::TestStallEngine { .. } => return NodeReply::Error { message: "test faults are off".into() },
        }
        let state = self.vitals.assess(Instant::now());
        NodeReply::State { state: state.name().to_string(), takes_calls: state.takes_calls(), line: state.line() }
    }
}

/// Longest command line accepted.
const MAX_LINE: usize = 4096;

/// The socket for a database path: `data/cc112.db` → `data/cc112.sock`.
pub fn socket_path(db: &Path) -> PathBuf {
    db.with_extension("sock")
}

/// Listens on `path` until `shutdown`, answering the node's commands and passing the
/// others to the engine task over `tx`; the socket file is removed when it stops.
pub(super) async fn serve(path: PathBuf, tx: mpsc::Sender<EngineInput>, shutdown: CancellationToken, node: Node) {
    let node = Arc::new(node);
    let listener = match bind_private(&path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "control socket unavailable: `cc112 operators` will not reach this gateway");
            return;
        }
    };
    info!(path = %path.display(), "supervisor control socket");
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = shutdown.cancelled() => break,
        };
        let (tx, node) = (tx.clone(), node.clone());
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            // A bounded read: one connection cannot make us buffer without limit.
            let mut lines = BufReader::new(rd.take(MAX_LINE as u64 * 16)).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(mut out) = answer(&line, &tx, &node).await else { break };
                out.push('\n');
                if wr.write_all(out.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// The reply to one command line, as JSON; `None` when the engine has gone.
async fn answer(line: &str, tx: &mpsc::Sender<EngineInput>, node: &Node) -> Option<String> {
    if let Ok(cmd) = serde_json::from_str::<NodeCommand>(line) {
        return Some(serde_json::to_string(&node.answer(cmd, tx).await).unwrap_or_default());
    }
    let reply = match serde_json::from_str::<Command>(line) {
        Ok(cmd) => {
            let (rtx, rrx) = oneshot::channel();
            tx.send(EngineInput::Command(cmd, rtx)).await.ok()?;
            rrx.await.unwrap_or(Reply::Error { message: "gateway stopping".into() })
        }
        Err(e) => Reply::Error { message: format!("bad command: {e}") },
    };
    Some(serde_json::to_string(&reply).unwrap_or_default())
}

/// Binds the socket so that nobody but our user can ever reach it: it is made in a
/// directory of its own with mode 0700, set to 0600 there (a failure is an error, not
/// ignored), and only then renamed into place. Binding at `path` directly would leave it
/// open to every local user between the bind and the chmod.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let private = dir.join(format!(".cc112-control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("sock");
    let result = UnixListener::bind(&staged).and_then(|l| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_dir_all(&private);
    result
}

/// Send one operator command to a running gateway (for the CLI).
pub fn send(path: &Path, cmd: &Command) -> std::io::Result<Reply> {
    exchange(path, cmd)
}

/// Ask a running gateway about itself, or to drain (for the CLI).
pub fn ask(path: &Path, cmd: &NodeCommand) -> std::io::Result<NodeReply> {
    exchange(path, cmd)
}

fn exchange<C: Serialize, R: serde::de::DeserializeOwned>(path: &Path, cmd: &C) -> std::io::Result<R> {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    let mut line = serde_json::to_string(cmd).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut reply = String::new();
    std::io::BufReader::new(s).read_line(&mut reply)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}
