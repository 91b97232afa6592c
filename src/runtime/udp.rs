//! SIP over UDP: one datagram is one message (RFC 3261 §18.3).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::EngineInput;
use crate::engine::{Peer, Transport};

/// The largest UDP payload; a datagram can never be larger, so the buffer is fixed.
const MAX_DATAGRAM: usize = 65_535;

pub(super) async fn receive(sock: Arc<UdpSocket>, local: SocketAddr, tx: mpsc::Sender<EngineInput>, shutdown: CancellationToken) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let got = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = shutdown.cancelled() => {
                // Keep reading during the grace period? No: the engine answers from its
                // own state; late datagrams are retransmitted to whoever replaces us.
                return;
            }
        };
        match got {
            Ok((n, remote)) => {
                let bytes = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                let peer = Peer { transport: Transport::Udp, remote, local, conn: None };
                if tx.send(EngineInput::Sip { peer, bytes, received: std::time::Instant::now() }).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable from an earlier send shows up here on some systems;
            // it concerns one peer, never the listener.
            Err(e) => warn!(%local, error = %e, "UDP receive error"),
        }
    }
}
