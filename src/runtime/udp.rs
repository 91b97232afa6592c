//! SIP over UDP: one datagram is one message (RFC 3261 §18.3). This file binds the
//! sockets (with a large receive buffer) and runs their readers, which only cut
//! datagrams into [`EngineInput::Sip`] and forward them; the engine task sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::error::RuntimeError;
use super::queues::FairQueue;
use super::input::EngineInput;
use crate::sip::{Peer, Transport};

/// The largest UDP payload; a datagram can never be larger, so the buffer is fixed.
const MAX_DATAGRAM: usize = 65_535;

/// Receive buffer asked for each SIP UDP socket. The default (about 200 KB, a few
/// hundred datagrams) overflows in tens of milliseconds at thousands of messages a
/// second whenever the reader is not scheduled; SIP servers ask for megabytes. The
/// kernel caps it at `net.core.rmem_max`.
const SIP_UDP_RCVBUF: usize = 4 << 20;

/// Binds a SIP UDP socket, non-blocking, with a large receive buffer (best effort);
/// returns it with the address it got. Bound with std, so a failure is reported to the
/// caller of `Gateway::start`; the socket is registered later with the reactor of the
/// thread where its reader runs.
pub(super) fn bind(addr: SocketAddr) -> Result<(SocketAddr, std::net::UdpSocket), RuntimeError> {
    let bind_err = |source| RuntimeError::Bind { transport: "UDP", addr, source };
    let sock = bind_socket(addr).map_err(bind_err)?;
    let local = sock.local_addr().map_err(bind_err)?;
    Ok((local, sock))
}

fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(e) = sock.set_recv_buffer_size(SIP_UDP_RCVBUF) {
        warn!(%addr, error = %e, "SIP UDP receive buffer left at the system default");
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// `tx` takes everything but INVITEs, which go to `invites`: the engine serves the
/// calls it has before new ones, and new ones in turn between sources. An INVITE past
/// the queue's bounds is dropped (counted, logged at most once a second): the caller
/// retransmits it.
pub(super) async fn receive(
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    tx: mpsc::Sender<EngineInput>,
    invites: Arc<FairQueue>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut dropped = (0u64, None::<Instant>);
    loop {
        let got = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            // The token is cancelled once the drain is over: during the drain the
            // readers go on, so callers' BYEs are answered and new INVITEs get 503.
            _ = shutdown.cancelled() => return,
        };
        match got {
            Ok((n, remote)) => {
                let bytes = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                let peer = Peer { transport: Transport::Udp, remote, local, conn: None };
                let invite = crate::sip::is_invite(&bytes);
                let input = EngineInput::Sip { peer, bytes, received: Instant::now() };
                if !invite {
                    if tx.send(input).await.is_err() {
                        return;
                    }
                    continue;
                }
                if let Err(full) = invites.push(remote.ip(), input) {
                    dropped.0 += 1;
                    let now = Instant::now();
                    if dropped.1.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
                        warn!(%local, dropped = dropped.0, last_source = %remote.ip(), full = ?full, "INVITE queue full: INVITEs dropped at the socket (callers retransmit)");
                        dropped = (0, Some(now));
                    }
                }
            }
            // ICMP port unreachable from an earlier send shows up here on some systems;
            // it concerns one peer, never the listener.
            Err(e) => warn!(%local, error = %e, "UDP receive error"),
        }
    }
}
