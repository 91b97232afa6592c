//! SIP request methods (RFC 3261 §7.1): the method of a request line and of CSeq.

use std::fmt;

/// A request method; unknown extension methods are kept by name (they get 501).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 3261 §13: starts a call (or changes it, as a re-INVITE).
    Invite,
    /// RFC 3261 §17.1.1.3: acknowledges a final response to an INVITE.
    Ack,
    /// RFC 3261 §15: ends a call.
    Bye,
    /// RFC 3261 §9: cancels a pending INVITE.
    Cancel,
    /// RFC 3261 §11: asks for capabilities (also a keep-alive ping).
    Options,
    /// RFC 3261 §10: binds a contact to an address of record.
    Register,
    /// RFC 6086: mid-dialog information (some phones send DTMF this way).
    Info,
    /// RFC 3262: acknowledges a reliable provisional response.
    Prack,
    /// RFC 3311: changes session parameters before the answer.
    Update,
    /// RFC 6665: asks for event notifications.
    Subscribe,
    /// RFC 6665: an event notification.
    Notify,
    /// RFC 3515: asks the peer to contact a third party (transfer).
    Refer,
    /// RFC 3428: an instant message.
    Message,
    /// RFC 3903: publishes event state.
    Publish,
    /// An extension method, by name (case kept).
    Other(String),
}

impl Method {
    /// Methods are case-sensitive (RFC 3261 §7.1): `invite` is an unknown method.
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        }
    }

    /// The token on the wire (upper case for the known methods).
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
