//! SIP over TCP: a listener, one task per connection, framing by Content-Length.
//!
//! A TCP peer can hold memory and sockets in ways a UDP peer cannot, so each limit here
//! closes a door: the framer caps a message's size, the idle timer closes silent
//! connections, the message timer closes peers that trickle a message byte by byte
//! (slowloris), a cap per source address keeps one host from taking every socket, and
//! a cap on all connections ([`MAX_TCP_CONNECTIONS`]) keeps many hosts (or one with many
//! addresses: an IPv6 /64, 127.0.0.0/8) from taking the descriptors that calls' RTP
//! ports and the record store need. At either cap a new connection is closed at once;
//! the connections open go on.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::error::RuntimeError;
use super::input::EngineInput;
use crate::config::SipConfig;
use crate::sip::framing::{Frame, FrameError, Framer};
use crate::sip::{Peer, Transport};

/// Open SIP TCP connections at most, from all addresses together. The gateway's TCP
/// peers are a few carriers' trunks and the operators' phones; each connection holds a
/// descriptor, a task and up to `max_message_bytes` of buffer.
pub(super) const MAX_TCP_CONNECTIONS: usize = 4_096;

/// Messages waiting to be written to one connection before we give up on it.
const WRITE_QUEUE: usize = 256;

/// Writers of open TCP connections, by connection id, shared by the TCP tasks (which
/// add and remove them) and the engine task (which sends on them).
pub(super) type TcpWriters = Arc<Mutex<HashMap<u64, mpsc::Sender<Bytes>>>>;

/// The doors a TCP peer finds closed (from `[sip]` in the config).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Largest message in bytes; a larger one closes the connection.
    pub max_message: usize,
    /// A connection silent this long is closed.
    pub idle: Duration,
    /// A message started must be complete within this (slowloris).
    pub message: Duration,
    /// Open connections from one source address at most.
    pub per_ip: usize,
}

impl From<&SipConfig> for Limits {
    fn from(c: &SipConfig) -> Self {
        Limits {
            max_message: c.max_message_bytes,
            idle: c.tcp_idle_timeout,
            message: c.tcp_message_timeout,
            per_ip: c.max_tcp_connections_per_ip,
        }
    }
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Open connections per source address and in all; the map holds only addresses with
/// a connection open, so it is bounded by [`MAX_TCP_CONNECTIONS`] too.
#[derive(Default)]
struct Open {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Why a connection was closed at once.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// [`Limits::per_ip`] from its address already.
    PerAddress,
    /// `total` connections open in all.
    Total,
}

impl Open {
    /// Counts a new connection from `ip`, or says which cap it meets.
    fn admit(&mut self, ip: IpAddr, per_ip: usize, total: usize) -> Result<(), Refused> {
        if self.total >= total {
            return Err(Refused::Total);
        }
        let n = self.per_ip.entry(ip).or_insert(0);
        if *n >= per_ip {
            return Err(Refused::PerAddress);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// A connection from `ip` has ended.
    fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

type Counts = Arc<Mutex<Open>>;

/// Releases the connection's place when its task ends, however it ends.
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.counts.lock() {
            m.release(self.ip);
        }
    }
}

/// Binds a SIP TCP listener; returns it with the address it got.
pub(super) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), RuntimeError> {
    let bind_err = |source| RuntimeError::Bind { transport: "TCP", addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Accepts connections on `listener` until `shutdown`, each in a task of its own
/// (tracked by `tracker`), refusing those past [`Limits::per_ip`] or
/// [`MAX_TCP_CONNECTIONS`].
pub(super) async fn accept(
    listener: TcpListener,
    local: SocketAddr,
    limits: Limits,
    tx: mpsc::Sender<EngineInput>,
    writers: TcpWriters,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let counts: Counts = Arc::new(Mutex::new(Open::default()));
    let mut full_logged: Option<std::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.cancelled() => return,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                warn!(%local, error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = remote.ip();
        let admitted = match counts.lock() {
            Ok(mut m) => m.admit(ip, limits.per_ip, MAX_TCP_CONNECTIONS),
            Err(_) => Err(Refused::Total),
        };
        match admitted {
            Ok(()) => {}
            Err(Refused::PerAddress) => {
                debug!(%remote, "TCP connection refused: too many from this address");
                continue;
            }
            Err(Refused::Total) => {
                if full_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    warn!(%remote, max = MAX_TCP_CONNECTIONS, "TCP connection refused: the gateway's connections are all taken");
                    full_logged = Some(std::time::Instant::now());
                }
                continue;
            }
        }
        let slot = Slot { counts: counts.clone(), ip };
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let peer = Peer { transport: Transport::Tcp, remote, local, conn: Some(conn) };
        tracker.spawn(connection(stream, peer, limits, tx.clone(), writers.clone(), shutdown.clone(), slot));
    }
}

/// One connection: its writer task (fed by the engine through [`TcpWriters`]) and its
/// reader, until the peer closes, a limit closes it, or the gateway stops.
async fn connection(
    stream: TcpStream,
    peer: Peer,
    limits: Limits,
    tx: mpsc::Sender<EngineInput>,
    writers: TcpWriters,
    shutdown: CancellationToken,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (wtx, wrx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let conn = peer.conn.unwrap_or_default();
    if let Ok(mut m) = writers.lock() {
        m.insert(conn, wtx.clone());
    }
    let writer = tokio::spawn(write(wr, wrx));
    let reason = read(rd, peer, limits, &tx, &wtx, &shutdown).await;
    debug!(remote = %peer.remote, conn, reason, "TCP connection closed");
    if let Ok(mut m) = writers.lock() {
        m.remove(&conn);
    }
    drop(wtx);
    let _ = writer.await;
}

/// Writes what is queued for the connection, in order, until the queue closes or a
/// write fails; then shuts the sending side.
async fn write(mut wr: OwnedWriteHalf, mut queue: mpsc::Receiver<Bytes>) {
    while let Some(b) = queue.recv().await {
        if wr.write_all(&b).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// Reads and frames messages until the connection must end; returns why it ended.
/// `pongs` is the connection's write queue (keep-alive answers go there).
async fn read(
    mut rd: OwnedReadHalf,
    peer: Peer,
    limits: Limits,
    tx: &mpsc::Sender<EngineInput>,
    pongs: &mpsc::Sender<Bytes>,
    shutdown: &CancellationToken,
) -> &'static str {
    let mut framer = Framer::new(limits.max_message);
    let mut buf = vec![0u8; 16 * 1024];
    let mut last_activity = Instant::now();
    let mut partial_since: Option<Instant> = None;
    loop {
        let deadline = match partial_since {
            Some(t) => t + limits.message,
            None => last_activity + limits.idle,
        };
        let n = tokio::select! {
            r = rd.read(&mut buf) => r,
            _ = tokio::time::sleep_until(deadline) => {
                return if partial_since.is_some() { "message timeout" } else { "idle timeout" };
            }
            _ = shutdown.cancelled() => return "shutdown",
        };
        let n = match n {
            Ok(0) => return "closed by peer",
            Ok(n) => n,
            Err(_) => return "read error",
        };
        last_activity = Instant::now();
        framer.push(buf.get(..n).unwrap_or_default());
        if let Some(reason) = forward(&mut framer, peer, last_activity, tx, pongs).await {
            return reason;
        }
        partial_since = match (framer.has_partial(), partial_since) {
            (true, None) => Some(last_activity),
            (true, since) => since,
            (false, _) => None,
        };
    }
}

/// Hands every complete message in `framer` to the engine (stamped `received`) and
/// answers keep-alive pings; `Some(reason)` when the connection must close.
async fn forward(
    framer: &mut Framer,
    peer: Peer,
    received: Instant,
    tx: &mpsc::Sender<EngineInput>,
    pongs: &mpsc::Sender<Bytes>,
) -> Option<&'static str> {
    loop {
        match framer.next_frame() {
            Ok(Some(Frame::Message(bytes))) => {
                if tx.send(EngineInput::Sip { peer, bytes, received: received.into_std() }).await.is_err() {
                    return Some("engine stopped");
                }
            }
            // RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF pong.
            Ok(Some(Frame::KeepAlive)) => {
                let _ = pongs.try_send(Bytes::from_static(b"\r\n"));
            }
            Ok(None) => return None,
            Err(e) => {
                warn!(remote = %peer.remote, error = %e, "closing TCP connection: bad framing");
                return Some(match e {
                    FrameError::TooLarge { .. } => "message too large",
                    _ => "bad framing",
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_places_come_back() {
        let mut open = Open::default();
        let ip = |n: u8| IpAddr::from([127, 0, 0, n]);
        // Two per address, five in all.
        assert_eq!(open.admit(ip(1), 2, 5), Ok(()));
        assert_eq!(open.admit(ip(1), 2, 5), Ok(()));
        assert_eq!(open.admit(ip(1), 2, 5), Err(Refused::PerAddress));
        for n in 2..5 {
            assert_eq!(open.admit(ip(n), 2, 5), Ok(()));
        }
        // Many addresses: the total holds whatever the address.
        assert_eq!(open.admit(ip(9), 2, 5), Err(Refused::Total));
        assert_eq!((open.total, open.per_ip.len()), (5, 4));
        open.release(ip(1));
        assert_eq!(open.admit(ip(9), 2, 5), Ok(()));
        for n in [1, 2, 3, 4, 9] {
            open.release(ip(n));
        }
        assert_eq!((open.total, open.per_ip.len()), (0, 0), "the table forgets closed addresses");
        open.release(ip(7));
        assert_eq!(open.total, 0, "a stray release changes nothing");
    }
}
