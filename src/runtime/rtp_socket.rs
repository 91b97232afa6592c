//! A call's RTP or RTCP socket, registered with the reactor for reading only.
//!
//! A tokio `UdpSocket` asks epoll for both readable and writable events. On Linux every
//! datagram sent then comes back as an event: when the kernel frees the sent buffer it
//! wakes whoever waits for write space, and the reactor handles one more event. With a
//! prompt frame every 20 ms per call that doubled the reactor's work (measured in W2,
//! `perf`: epoll callbacks on send completion). Media never waits to send: a datagram
//! that does not fit in the socket's buffer is late audio, better dropped than queued,
//! so sends are plain non-blocking `sendto` and only reads go through the reactor.

use std::io;
use std::net::SocketAddr;

#[cfg(unix)]
pub(super) struct RtpSocket(tokio::io::unix::AsyncFd<std::net::UdpSocket>);

#[cfg(unix)]
impl RtpSocket {
    pub(super) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let sock = std::net::UdpSocket::bind(addr)?;
        sock.set_nonblocking(true)?;
        // SAFETY: the `UdpSocket` owns its descriptor and closes it only when dropped,
        // which happens when this `AsyncFd` is dropped; it is never taken out or
        // forgotten, so the registered descriptor stays the same open socket.
        unsafe { tokio::io::unix::AsyncFd::register_with_interest(sock, tokio::io::Interest::READABLE) }
            .map(RtpSocket)
            .map_err(|e| e.into())
    }

    pub(super) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let mut guard = self.0.readable().await?;
            match guard.try_io(|s| s.get_ref().recv_from(buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends now or not at all (see the module doc); errors are the caller's to count.
    pub(super) fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.get_ref().send_to(bytes, to)
    }

    #[cfg(test)]
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

#[cfg(not(unix))]
pub(super) struct RtpSocket(tokio::net::UdpSocket);

#[cfg(not(unix))]
impl RtpSocket {
    pub(super) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let sock = std::net::UdpSocket::bind(addr)?;
        sock.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(sock).map(RtpSocket)
    }

    pub(super) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_from(buf).await
    }

    pub(super) fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.try_send_to(bytes, to)
    }

    #[cfg(test)]
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn datagrams_go_both_ways_on_loopback() {
        let a = RtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = RtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.send_to(b"frame one", b_addr).unwrap(), 9);
        assert_eq!(a.send_to(b"frame two", b_addr).unwrap(), 9);
        let mut buf = [0u8; 64];
        for want in [&b"frame one"[..], b"frame two"] {
            let (n, from) = tokio::time::timeout(Duration::from_secs(5), b.recv_from(&mut buf)).await.unwrap().unwrap();
            assert_eq!((&buf[..n], from), (want, a_addr));
        }
        // Nothing more: the read waits rather than returning stale data.
        assert!(tokio::time::timeout(Duration::from_millis(50), b.recv_from(&mut buf)).await.is_err());
    }
}
