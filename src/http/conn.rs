//! What a handler may know of the connection its request came on: the peer's address
//! (login attempts are counted per address) and whether the connection now carries an
//! event stream (`serve.rs` then keeps it past the usual connection lifetime, up to the
//! stream's own). `serve.rs` puts one [`Conn`] into every request's extensions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The request's connection (a request extension).
#[derive(Debug, Clone)]
pub(super) struct Conn {
    /// The peer's address.
    pub remote: SocketAddr,
    streaming: Arc<AtomicBool>,
}

impl Conn {
    /// A new connection from `remote`, not streaming.
    pub fn new(remote: SocketAddr) -> Conn {
        Conn { remote, streaming: Arc::new(AtomicBool::new(false)) }
    }

    /// The connection now carries an event stream (until it closes).
    pub fn set_streaming(&self) {
        self.streaming.store(true, Ordering::Relaxed);
    }

    /// Whether a response on it is an event stream.
    pub fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }
}

/// The longest an event stream lasts; then it ends and the client reconnects (with
/// `Last-Event-ID`), so no connection is held for ever.
pub(super) const STREAM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);
