//! Where a SIP message came from and where its answers go: the transport and the
//! addresses of one hop. Shared by the registrar (a binding remembers its transport), the
//! engine and the runtime's sockets.

use std::net::SocketAddr;

/// The transport a message arrived on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams: one message per datagram, retransmitted by the transactions.
    Udp,
    /// A stream cut into messages by Content-Length; reliable, so no retransmissions.
    Tcp,
}

impl Transport {
    /// The name as written in Via (`SIP/2.0/UDP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Reliable transports need no retransmission timers (RFC 3261 §17).
    pub fn reliable(self) -> bool {
        self == Transport::Tcp
    }
}

/// Where a message came from and where its answers go. Responses always go back to
/// the source address (as with `rport`, RFC 3581): it is the only address known to
/// reach a caller behind NAT. On TCP `conn` names the connection it arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
    pub transport: Transport,
    /// The other side's address (the datagram's source, or the connection's peer).
    pub remote: SocketAddr,
    /// Our address the message arrived at.
    pub local: SocketAddr,
    /// The TCP connection it arrived on.
    pub conn: Option<u64>,
}

/// `host:port` as written in a Via's sent-by and in our URIs (RFC 3261 §18.2.1; IPv6
/// in brackets, RFC 5118 §4.1).
pub fn sent_by(addr: SocketAddr) -> String {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}
