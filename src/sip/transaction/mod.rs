//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-IO.
//!
//! Each machine has the shape used everywhere in cc112: `handle_*(now, …)` feeds it,
//! `poll_action()` drains what it wants sent, `poll_timeout()` says when it next needs
//! `handle_timeout(now)`. Time is passed in, so every timer is testable on a virtual
//! clock, and retransmission only happens on unreliable transports (UDP).

pub mod client;
pub mod invite_client;
pub mod server;

use std::time::Duration;

use bytes::Bytes;

use super::message::Request;
use super::method::Method;

pub use client::NonInviteClientTx;
pub use invite_client::{InviteClientError, InviteClientTx};
pub use server::{InviteServerTx, NonInviteServerTx};

/// The protocol timer base values (RFC 3261 §17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate; retransmissions start at T1 and give up after 64×T1.
    pub t1: Duration,
    /// Cap on the retransmission interval of non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// How long a message may linger in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl Timers {
    /// 64×T1: Timers B, F, H, J and L.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a transaction asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxAction {
    /// Send these bytes to the transaction's peer.
    Send(Bytes),
    /// A final response arrived for our client transaction (for an INVITE: a 3xx–6xx,
    /// already ACKed by the transaction).
    Final(u16),
    /// A provisional response arrived for our INVITE client transaction (RFC 3261
    /// §17.1.1.2); each one is reported (180 after 183, repeated 180s).
    Provisional(u16),
    /// A 2xx arrived for our INVITE client transaction — the first one and, during
    /// RFC 6026 Timer M, every retransmission or forked 2xx. The TU (dialog) ACKs each
    /// one itself (RFC 3261 §13.2.2.4).
    Accepted(u16),
    /// No ACK came for our final response (Timer H, or 64×T1 after a 2xx):
    /// the TU ends the dialog (with a BYE after a 2xx).
    NoAck {
        /// The unacknowledged response was a 2xx (the dialog exists: BYE it).
        two_xx: bool,
    },
    /// Our client request got no final response in time (Timer F).
    Timeout,
    /// The transaction is over and can be forgotten.
    Terminated,
}

/// How a server transaction is found again (RFC 3261 §17.2.3), with the RFC 2543
/// fallback for requests whose branch lacks the magic cookie (old phones must still
/// reach 112, RFC 4475 §3.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxKey {
    /// The top Via's branch starts with the magic cookie (RFC 3261 §17.2.3).
    Rfc3261 {
        /// The top Via's branch, cookie included.
        branch: String,
        /// The top Via's `host[:port]`.
        sent_by: String,
        /// The request's method, INVITE for an ACK or a CANCEL's target.
        method: Method,
    },
    /// No cookie: matched on the dialog fields and the Via instead (RFC 2543).
    Rfc2543 {
        /// The Call-ID.
        call_id: String,
        /// The From tag, empty when absent.
        from_tag: String,
        /// The CSeq number.
        cseq: u32,
        /// The top Via's `host[:port]`.
        sent_by: String,
        /// The request's method, INVITE for an ACK or a CANCEL's target.
        method: Method,
    },
}

impl TxKey {
    /// Key of the server transaction a request belongs to; an ACK maps to its INVITE.
    pub fn server(req: &Request) -> Option<TxKey> {
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        TxKey::with_method(req, method)
    }

    /// Key of the INVITE transaction a CANCEL targets (same branch, method INVITE).
    pub fn cancel_target(req: &Request) -> Option<TxKey> {
        TxKey::with_method(req, Method::Invite)
    }

    fn with_method(req: &Request, method: Method) -> Option<TxKey> {
        let via = req.head.top_via()?;
        let sent_by = via.sent_by();
        if via.has_rfc3261_branch() {
            let branch = via.branch()?.to_string();
            return Some(TxKey::Rfc3261 { branch, sent_by, method });
        }
        Some(TxKey::Rfc2543 {
            call_id: req.head.call_id.clone(),
            from_tag: req.head.from.tag().unwrap_or_default().to_string(),
            cseq: req.head.cseq.seq,
            sent_by,
            method,
        })
    }
}

/// Next retransmission interval: doubled, capped at T2 (RFC 3261 §17.1.2.2, §17.2.1).
pub(crate) fn backoff(interval: Duration, timers: &Timers) -> Duration {
    (interval * 2).min(timers.t2)
}
