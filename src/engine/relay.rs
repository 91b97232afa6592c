//! Requests our own proxy relayed (`[sip] trusted_proxies`, issue 18): who really sent
//! them, and how a relayed REGISTER's phone is reached again.
//!
//! Behind Kamailio every packet comes from the proxy's address. Fairness, the
//! registrar's lockout, logs and records must still see the caller or phone behind
//! it, or one attacker behind the proxy would lock every operator out and one flood
//! would take every caller's share: [`crate::sip::source::origin`] reads the address
//! the proxy wrote in the Via below its own, and only when the packet came from a
//! trusted proxy. Responses still go to the packet's source (the proxy), and so do
//! INVITEs to a phone that registered through it, with the REGISTER's Path as their
//! Route set (RFC 3327), so the proxy takes them to the phone.

use std::net::SocketAddr;

use super::Engine;
use crate::sip::source;
use crate::sip::{Peer, Request};

impl Engine {
    /// The caller's address: the packet's source, or behind a trusted proxy the
    /// address that proxy saw.
    pub(super) fn origin(&self, peer: &Peer, req: &Request) -> SocketAddr {
        source::origin(peer.remote, &req.head, &self.config.sip.trusted_proxies)
    }

    /// Key the registrar's nonces with the secret the nodes behind one proxy share
    /// (`[registrar] nonce_secret_file`, read by the runtime): a nonce from any of them
    /// is valid at every one, so a phone's one answer registers it at all.
    pub fn set_nonce_secret(&mut self, secret: [u8; 32]) {
        self.ops.set_nonce_secret(&self.config, secret);
    }
}

#[cfg(test)]
mod tests {
    use super::super::operator_side::register_origin;
    use crate::config::Config;
    use crate::sip::{Message, Peer, Request, Transport};

    fn register(path: &str) -> Request {
        let text = format!(
            "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKk1\r\nVia: SIP/2.0/UDP 10.1.1.1:5062;rport=40000;received=198.51.100.3;branch=z9hG4bKp1\r\n\
From: <sip:op-1@gw>;tag=1\r\nTo: <sip:op-1@gw>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:op-1@10.1.1.1:5062>\r\n{path}Content-Length: 0\r\n\r\n"
        );
        match crate::sip::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn config(trusted: &str) -> Config {
        Config::from_toml(&format!("[sip]\ntrusted_proxies = [{trusted}]\n"), "t.toml").unwrap()
    }

    #[test]
    fn a_register_from_our_proxy_keeps_its_path_and_the_phone_behind_it() {
        let peer = Peer { transport: Transport::Udp, remote: "127.0.0.1:5060".parse().unwrap(), local: "127.0.0.2:5060".parse().unwrap(), conn: None };
        let req = register("Path: <sip:127.0.0.1:5060;lr;received=sip:198.51.100.3:40000>\r\n");
        let (origin, relay) = register_origin(&config("\"127.0.0.1\""), &peer, &req);
        assert_eq!(origin, "198.51.100.3:40000".parse().unwrap());
        let relay = relay.unwrap();
        assert_eq!(relay.next_hop, peer.remote);
        assert_eq!(relay.path, vec!["<sip:127.0.0.1:5060;lr;received=sip:198.51.100.3:40000>".to_string()]);
        // Relayed without a Path: the phone behind, reached directly.
        let (origin, relay) = register_origin(&config("\"127.0.0.1\""), &peer, &register(""));
        assert_eq!((origin, relay), ("198.51.100.3:40000".parse().unwrap(), None));
        // From anyone else: the packet's source, no Path.
        let (origin, relay) = register_origin(&config(""), &peer, &req);
        assert_eq!((origin, relay), (peer.remote, None));
    }
}
