//! [`RtpTotals`]: the gateway's RTP packet counts over all calls, for `/metrics`.
//!
//! Each call's media already counts its packets ([`MediaCounters`] for the session,
//! [`RelayCounters`] for the bridge). The media shards add those up (the calls in
//! progress and the ones closed) a few times a second and publish the sum: nothing is
//! counted twice per packet, and nothing shared is touched per packet.

use super::relay::RelayCounters;
use super::session::MediaCounters;

/// RTP and RTCP packets, over every call since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpTotals {
    /// Datagrams read on calls' RTP ports (valid or not, from anyone).
    pub received: u64,
    /// RTCP packets received (on the RTCP port, or multiplexed on the RTP port).
    pub rtcp_received: u64,
    /// RTP packets sent: prompts and relayed audio and events.
    pub sent: u64,
    /// Datagrams from an address other than the call's (RTP bleed, spoofing): dropped.
    pub dropped_foreign_source: u64,
    /// Datagrams that are not valid RTP: dropped.
    pub dropped_malformed: u64,
    /// Valid RTP of a payload type not negotiated (comfort noise included), or
    /// telephone-events the other leg cannot take: dropped.
    pub dropped_payload_type: u64,
    /// Prompt packets not sent: no address for the caller known yet.
    pub unsent_no_remote: u64,
    /// Sends the socket refused (its buffer full: late audio dropped, not queued).
    pub send_failed: u64,
}

impl RtpTotals {
    /// Adds one session's counters.
    pub fn add_session(&mut self, c: &MediaCounters) {
        self.rtcp_received += c.rtcp;
        self.sent += c.sent;
        self.dropped_foreign_source += c.dropped_foreign_source;
        self.dropped_malformed += c.malformed;
        self.dropped_payload_type += c.unexpected_payload_type;
        self.unsent_no_remote += c.unsent_no_remote;
    }

    /// Adds one bridge's counters.
    pub fn add_relay(&mut self, c: &RelayCounters) {
        for d in [&c.from_caller, &c.from_operator] {
            self.sent += d.relayed;
            self.dropped_malformed += d.malformed;
            self.dropped_payload_type += d.events_dropped + d.comfort_noise_dropped + d.unknown_dropped;
        }
    }

    /// Adds another sum (another call's, another shard's).
    pub fn add(&mut self, o: &RtpTotals) {
        self.received += o.received;
        self.rtcp_received += o.rtcp_received;
        self.sent += o.sent;
        self.dropped_foreign_source += o.dropped_foreign_source;
        self.dropped_malformed += o.dropped_malformed;
        self.dropped_payload_type += o.dropped_payload_type;
        self.unsent_no_remote += o.unsent_no_remote;
        self.send_failed += o.send_failed;
    }
}
