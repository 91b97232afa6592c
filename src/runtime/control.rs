//! The supervisor's local control socket: `cc112 operators ...` talks to the running
//! gateway through a Unix socket next to the database, readable and writable by the
//! gateway's user only (mode 0600): the file system is the access control, so no
//! secret travels and nothing listens on the network. One JSON command per line, one
//! JSON reply per line.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::input::EngineInput;
use crate::engine::control::{Command, Reply};

/// Longest command line accepted.
const MAX_LINE: usize = 4096;

/// The socket for a database path: `data/cc112.db` → `data/cc112.sock`.
pub fn socket_path(db: &Path) -> PathBuf {
    db.with_extension("sock")
}

/// Listens on `path` until `shutdown`, passing each command to the engine task over `tx`
/// and writing back its reply; the socket file is removed when it stops.
pub(super) async fn serve(path: PathBuf, tx: mpsc::Sender<EngineInput>, shutdown: CancellationToken) {
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
        let tx = tx.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            // A bounded read: one connection cannot make us buffer without limit.
            let mut lines = BufReader::new(rd.take(MAX_LINE as u64 * 16)).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = match serde_json::from_str::<Command>(&line) {
                    Ok(cmd) => {
                        let (rtx, rrx) = oneshot::channel();
                        if tx.send(EngineInput::Command(cmd, rtx)).await.is_err() {
                            break;
                        }
                        rrx.await.unwrap_or(Reply::Error { message: "gateway stopping".into() })
                    }
                    Err(e) => Reply::Error { message: format!("bad command: {e}") },
                };
                let mut out = serde_json::to_string(&reply).unwrap_or_default();
                out.push('\n');
                if wr.write_all(out.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
    let _ = std::fs::remove_file(&path);
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

/// Send one command to a running gateway (for the CLI).
pub fn send(path: &Path, cmd: &Command) -> std::io::Result<Reply> {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    let mut line = serde_json::to_string(cmd).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut reply = String::new();
    std::io::BufReader::new(s).read_line(&mut reply)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}
