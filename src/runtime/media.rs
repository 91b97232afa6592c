//! One task per call owning its RTP and RTCP sockets.
//!
//! For now the task binds the ports the SDP announced and reads what arrives (so the
//! caller's RTP does not bounce as ICMP errors); playing prompts and reading DTMF come
//! with the media issue. Packets are counted, never logged one by one.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::EngineInput;
use crate::engine::{CallId, MediaCommand};

pub(super) async fn run(call: CallId, rtp: SocketAddr, tx: mpsc::Sender<EngineInput>, mut commands: mpsc::Receiver<MediaCommand>, stop: CancellationToken) {
    let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
    let socks = match (UdpSocket::bind(rtp).await, UdpSocket::bind(rtcp).await) {
        (Ok(a), Ok(b)) => Some((a, b)),
        _ => None,
    };
    let ok = socks.is_some();
    if tx.send(EngineInput::MediaOpened { call, port: rtp.port(), ok }).await.is_err() {
        return;
    }
    let Some((rtp_sock, rtcp_sock)) = socks else { return };
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let (mut rtp_packets, mut rtcp_packets) = (0u64, 0u64);
    loop {
        tokio::select! {
            r = rtp_sock.recv_from(&mut buf) => if r.is_ok() { rtp_packets += 1 },
            r = rtcp_sock.recv_from(&mut rtcp_buf) => if r.is_ok() { rtcp_packets += 1 },
            // Prompt playback and DTMF come with the media session (issue 6); until then
            // commands are read and logged so the engine never blocks on this task.
            Some(cmd) = commands.recv() => debug!(%call, ?cmd, "media command"),
            _ = stop.cancelled() => break,
        }
    }
    debug!(%call, rtp_packets, rtcp_packets, "media closed");
}
