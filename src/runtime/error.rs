//! [`RuntimeError`]: why the gateway could not start, or ended other than by a drain.
//! Once started, nothing in the shell fails the gateway: a socket, a call's media or the
//! record store that fails is logged and the rest keeps answering calls.

use std::net::SocketAddr;

use thiserror::Error;

/// Why [`Gateway::start`](super::Gateway::start) failed, or the gateway ended badly.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A SIP listener (`transport`: "UDP" or "TCP") could not be bound to `addr`.
    #[error("cannot bind SIP {transport} on {addr}: {source}")]
    Bind {
        /// "UDP" or "TCP".
        transport: &'static str,
        /// The address from `sip.listen_udp` / `sip.listen_tcp`.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An HTTP listener (`http.listen`) could not be bound to `addr`.
    #[error("cannot bind HTTP on {addr}: {source}")]
    HttpBind {
        /// The address from `http.listen`.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `registrar.nonce_secret_file` could not be read or holds fewer than 32 bytes: a
    /// node with a secret of its own would reject every answer to the other nodes'
    /// challenges, so it does not start.
    #[error("cannot use registrar.nonce_secret_file {path}: {why}")]
    NonceSecret {
        /// The configured path.
        path: std::path::PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The signalling thread (`cc112-engine`) could not be started.
    #[error("cannot start the engine thread: {0}")]
    EngineThread(std::io::Error),
    /// The HTTP server's thread (`cc112-http`) or its runtime could not be started.
    #[error("cannot start the HTTP thread: {0}")]
    HttpThread(std::io::Error),
    /// The media shards' threads or their pollers could not be started.
    #[error("cannot start the media threads: {0}")]
    MediaThreads(std::io::Error),
    /// The engine's thread ended without a drain (a bug): calls still up are closed as
    /// `interrupted` at the next start; a supervisor should restart the gateway.
    #[error("the engine thread ended without a drain")]
    EngineStopped,
}
