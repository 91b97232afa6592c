//! Who sent a request, for sharing the gateway fairly between senders under a flood.
//!
//! A flood of INVITEs (a telephony denial of service) comes from one address, or from
//! many addresses of one network, or from spoofed addresses anywhere. Sharing capacity
//! per exact address would let an attacker with a /24 take 256 shares; sharing it per
//! network would put two carriers of one network in the same share. So:
//!
//! - each configured carrier trunk (`[sip] trunks`) is a source of its own, whatever
//!   else its network sends: the trunks a centre depends on are never grouped with
//!   anyone;
//! - any other IPv4 address counts as its /24, any other IPv6 address as its /56 (the
//!   size a provider gives one customer, RFC 6177): one attacker's network is one
//!   source.
//!
//! The key is all that leaves this module: the tables keyed by it (the fair INVITE
//! queue, admission's shares) bound their own size.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::message::Head;
use super::uri::{find_param, Host};

/// A sender, as fairness sees it: a trunk's address, or the network of anyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKey {
    /// A configured carrier trunk, by its exact address.
    Trunk(IpAddr),
    /// Any other sender, by its network: the /24 of an IPv4 address or the /56 of an
    /// IPv6 one (the address with its host bits cleared).
    Network(IpAddr),
    /// Every sender past the cap of a table keyed by source, together: a flood from
    /// more networks than a table holds shares one entry instead of growing it.
    Others,
}

impl SourceKey {
    /// Whether this is a configured trunk.
    pub fn is_trunk(&self) -> bool {
        matches!(self, SourceKey::Trunk(_))
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKey::Trunk(ip) => write!(f, "trunk {ip}"),
            SourceKey::Network(IpAddr::V4(ip)) => write!(f, "{ip}/24"),
            SourceKey::Network(IpAddr::V6(ip)) => write!(f, "{ip}/56"),
            SourceKey::Others => f.write_str("others"),
        }
    }
}

/// The configured trunks, and the rule that turns an address into its [`SourceKey`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    trunks: HashSet<IpAddr>,
}

impl Sources {
    /// The rule with these trunk addresses (IPv4-mapped IPv6 addresses are taken as
    /// IPv4, as the socket reports them either way).
    pub fn new(trunks: impl IntoIterator<Item = IpAddr>) -> Sources {
        Sources { trunks: trunks.into_iter().map(canonical).collect() }
    }

    /// The source an address belongs to.
    pub fn key(&self, ip: IpAddr) -> SourceKey {
        let ip = canonical(ip);
        if self.trunks.contains(&ip) {
            return SourceKey::Trunk(ip);
        }
        SourceKey::Network(match ip {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 72) - 1))),
        })
    }

}

/// Where a request really came from. From one of our `trusted` proxies (`[sip]
/// trusted_proxies`), a relayed request's origin is the Via below the proxy's own: its
/// `received`/`rport` (the proxy writes them from the packet it got: Kamailio's
/// `force_rport()`), else its sent-by. From anyone else, or when that Via names no IP
/// address, it is the packet's source, whatever the message claims: a Via is text
/// anyone can write, so only our proxy's word is taken.
pub fn origin(remote: SocketAddr, head: &Head, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&canonical(remote.ip())) {
        return remote;
    }
    let Some(via) = head.via.get(1) else { return remote };
    let received = find_param(&via.params, "received").and_then(|p| p.value.as_deref()).and_then(|v| v.trim_matches(['[', ']']).parse::<IpAddr>().ok());
    let sent_by = match &via.host {
        Host::V4(ip) => Some(IpAddr::V4(*ip)),
        Host::V6(ip) => Some(IpAddr::V6(*ip)),
        Host::Name(_) => None,
    };
    let Some(ip) = received.or(sent_by) else { return remote };
    let rport = find_param(&via.params, "rport").and_then(|p| p.value.as_deref()).and_then(|v| v.parse::<u16>().ok());
    SocketAddr::new(canonical(ip), rport.or(via.port).unwrap_or(5060))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trunks_are_their_own_source_everyone_else_counts_by_network() {
        let s = Sources::new([ip("203.0.113.7"), ip("2001:db8::5")]);
        assert_eq!(s.key(ip("203.0.113.7")), SourceKey::Trunk(ip("203.0.113.7")));
        assert_eq!(s.key(ip("::ffff:203.0.113.7")), SourceKey::Trunk(ip("203.0.113.7")));
        // The trunk's neighbours share one source, which is not the trunk's.
        assert_eq!(s.key(ip("203.0.113.8")), SourceKey::Network(ip("203.0.113.0")));
        assert_eq!(s.key(ip("203.0.113.200")), s.key(ip("203.0.113.8")));
        assert_ne!(s.key(ip("203.0.114.8")), s.key(ip("203.0.113.8")));
        assert_eq!(s.key(ip("2001:db8::5")), SourceKey::Trunk(ip("2001:db8::5")));
        assert_eq!(s.key(ip("2001:db8:0:ff::1")), SourceKey::Network(ip("2001:db8::")));
        assert_ne!(s.key(ip("2001:db8:0:100::1")), s.key(ip("2001:db8::1")));
        assert_eq!(s.key(ip("127.0.0.2")).to_string(), "127.0.0.0/24");
        assert_eq!(s.key(ip("203.0.113.7")).to_string(), "trunk 203.0.113.7");
        assert!(s.key(ip("203.0.113.7")).is_trunk());
    }

    fn head(vias: &str) -> Head {
        let text = format!("INVITE sip:112@gw SIP/2.0\r\n{vias}From: <sip:a@b>;tag=1\r\nTo: <sip:112@gw>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        match crate::sip::parse::parse(text.as_bytes()).unwrap() {
            crate::sip::Message::Request(r) => r.head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_trusted_proxy_says_where_a_request_came_from() {
        let proxy: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let trusted = [ip("127.0.0.1")];
        let relayed = head("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKc;received=198.51.100.4;rport=40001\r\n");
        assert_eq!(origin(proxy, &relayed, &trusted), "198.51.100.4:40001".parse().unwrap());
        // Without received/rport: the sent-by; a name there: the packet's source.
        let plain = head("Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP 198.51.100.5;branch=z9hG4bKc\r\n");
        assert_eq!(origin(proxy, &plain, &trusted), "198.51.100.5:5060".parse().unwrap());
        let named = head("Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP phone.example;branch=z9hG4bKc\r\n");
        assert_eq!(origin(proxy, &named, &trusted), proxy);
        // The same claim from anyone else, or one Via only: the packet's source.
        let stranger: SocketAddr = "203.0.113.9:5060".parse().unwrap();
        assert_eq!(origin(stranger, &relayed, &trusted), stranger);
        let direct = head("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp\r\n");
        assert_eq!(origin(proxy, &direct, &trusted), proxy);
        assert_eq!(origin(proxy, &relayed, &[]), proxy);
    }
}
