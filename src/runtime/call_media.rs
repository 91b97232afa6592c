//! One call's media inside a media shard ([`CallMedia`]): its sockets, its media session
//! and, once an operator answers, the relay bridging the two legs. The shard
//! ([`super::media_shard`]) owns the loop and calls in here for each datagram, timer and
//! command.
//!
//! The engine never sees packets: a call's media turns them into digits,
//! prompt-finished and RTP-timeout events, and turns the engine's commands into paced
//! RTP. Nothing here logs per packet; the counters are logged once when the call's media
//! closes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use tracing::{debug, info};

use super::input::EngineInput;
use crate::call::ivr::PromptRef;
use crate::call::CallId;
use crate::engine::{DigitSource, MediaCommand, MediaInput};
use crate::media::prompts::PromptStore;
use crate::media::relay::{Leg, LegConfig, Relay, StreamStart};
use crate::media::sdp::{Direction, Negotiated};
use crate::media::session::{self, MediaEvent, MediaSession, SessionConfig};
use crate::media::totals::RtpTotals;
use crate::media::Codec;

/// One call's media inside a shard: its sockets, its [`MediaSession`] (prompts, digits,
/// silence) and, once an operator answers, the [`Relay`] bridging the two legs.
pub(super) struct CallMedia {
    pub(super) call: CallId,
    pub(super) rtp: mio::net::UdpSocket,
    pub(super) rtcp: mio::net::UdpSocket,
    prompts: Arc<PromptStore>,
    session: Option<MediaSession<Instant, PromptRef>>,
    codec: Codec,
    caller_leg: Option<(u8, Option<u8>, u32)>,
    bridge: Option<(Relay<Instant>, Option<SocketAddr>)>,
    rtcp_packets: u64,
    /// Datagrams read on the RTP port, and sends the socket refused (for `/metrics`).
    rtp_datagrams: u64,
    send_failed: u64,
}

impl CallMedia {
    pub(super) fn new(call: CallId, rtp: std::net::UdpSocket, rtcp: std::net::UdpSocket, prompts: Arc<PromptStore>) -> Self {
        let (rtp, rtcp) = (mio::net::UdpSocket::from_std(rtp), mio::net::UdpSocket::from_std(rtcp));
        CallMedia { call, rtp, rtcp, prompts, session: None, codec: Codec::Pcmu, caller_leg: None, bridge: None, rtcp_packets: 0, rtp_datagrams: 0, send_failed: 0 }
    }

    /// When the session next needs [`on_timeout`](Self::on_timeout).
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.session.as_ref().and_then(MediaSession::poll_timeout)
    }

    /// One datagram on the RTP port. `relayed` is the shard's output buffer: relaying
    /// allocates nothing per packet.
    pub(super) fn on_rtp(&mut self, now: Instant, from: SocketAddr, data: &[u8], relayed: &mut Vec<u8>) {
        self.rtp_datagrams += 1;
        let Some(s) = self.session.as_mut() else { return };
        match self.bridge.as_mut() {
            // Bridged: each leg's packets, from that leg's address only, go to the other
            // leg; anything else still goes to the session, which drops and counts it
            // (RTP bleed).
            Some((relay, op)) if Some(from) == *op => {
                if let (Ok(()), Some(to)) = (relay.relay_into(now, Leg::Operator, data, relayed), s.remote()) {
                    self.send_failed += u64::from(self.rtp.send_to(relayed, to).is_err());
                }
            }
            Some((relay, Some(op))) if Some(from) == s.remote() => {
                if relay.relay_into(now, Leg::Caller, data, relayed).is_ok() {
                    self.send_failed += u64::from(self.rtp.send_to(relayed, *op).is_err());
                }
            }
            _ => s.handle_rtp(now, from, data),
        }
    }

    /// One datagram on the RTCP port: counted (RTCP is not acted on).
    pub(super) fn on_rtcp(&mut self) {
        self.rtcp_packets += 1;
    }

    pub(super) fn on_timeout(&mut self, now: Instant) {
        if let Some(s) = self.session.as_mut() {
            s.handle_timeout(now);
        }
    }

    /// One of the engine's commands. A prompt that cannot be played is reported finished
    /// at once into `out`: the IVR must not wait for it.
    pub(super) fn on_command(&mut self, now: Instant, cmd: MediaCommand, out: &mut VecDeque<EngineInput>) {
        let call = self.call;
        match cmd {
            MediaCommand::Start { remote, codec: c, payload_type, telephone_event, telephone_event_rate } => {
                self.codec = c;
                self.caller_leg = Some((payload_type, telephone_event, telephone_event_rate));
                let mut rng = rand::thread_rng();
                let cfg = SessionConfig {
                    codec: c,
                    payload_type,
                    telephone_event,
                    telephone_event_rate,
                    remote,
                    ssrc: rng.gen(),
                    initial_seq: rng.gen(),
                    initial_timestamp: rng.gen(),
                    rtp_timeout: Some(session::DEFAULT_RTP_TIMEOUT),
                };
                self.session = Some(MediaSession::new(now, cfg));
            }
            MediaCommand::Play { prompt } => match (self.session.as_mut(), self.prompts.frames(&prompt.lang, &prompt.id, self.codec)) {
                (Some(s), Some(frames)) => s.play(now, frames, prompt),
                _ => {
                    debug!(%call, lang = %prompt.lang, id = %prompt.id, "prompt unavailable; reported finished");
                    out.push_back(EngineInput::Media { call, input: MediaInput::PromptFinished { prompt } });
                }
            },
            MediaCommand::StopPrompt => {
                if let Some(s) = self.session.as_mut() {
                    s.stop_prompt();
                }
            }
            MediaCommand::StopInband => {
                if let Some(s) = self.session.as_mut() {
                    s.stop_inband();
                }
            }
            MediaCommand::Bridge { remote, codec: oc, payload_type, telephone_event, telephone_event_rate } => {
                if let Some(s) = self.session.as_mut() {
                    s.stop_prompt();
                    s.stop_listening();
                }
                match self.bridge.as_mut() {
                    // The operator changed its media (hold, unhold): same bridge.
                    Some((relay, op)) => {
                        let n = Negotiated { codec: oc, payload_type, remote, telephone_event, telephone_event_rate, direction: Direction::SendRecv, ptime_ms: None };
                        relay.reconfigure(Leg::Operator, &n);
                        *op = remote;
                    }
                    None => {
                        let (cpt, cte, cte_rate) = self.caller_leg.unwrap_or((self.codec.payload_type(), None, 8000));
                        let mut rng = rand::thread_rng();
                        let mut start = || StreamStart { ssrc: rng.gen(), seq: rng.gen(), timestamp: rng.gen(), at: now };
                        let caller_cfg = LegConfig { codec: self.codec, payload_type: cpt, telephone_event: cte, telephone_event_rate: cte_rate, start: start() };
                        let op_cfg = LegConfig { codec: oc, payload_type, telephone_event, telephone_event_rate, start: start() };
                        self.bridge = Some((Relay::new(caller_cfg, op_cfg), remote));
                        debug!(%call, operator_rtp = ?remote, "bridged");
                    }
                }
            }
        }
    }

    /// Sends what the session has to send and queues its events for the engine.
    pub(super) fn flush(&mut self, out: &mut VecDeque<EngineInput>) {
        let Some(s) = self.session.as_mut() else { return };
        while let Some((to, bytes)) = s.poll_transmit() {
            self.send_failed += u64::from(self.rtp.send_to(&bytes, to).is_err());
        }
        while let Some(ev) = s.poll_event() {
            let input = match ev {
                MediaEvent::Digit { key, source, .. } => MediaInput::Digit {
                    key,
                    source: match source {
                        session::DigitSource::Rfc4733 => DigitSource::Rfc4733,
                        session::DigitSource::Inband => DigitSource::Inband,
                    },
                },
                MediaEvent::PromptFinished(prompt) => MediaInput::PromptFinished { prompt },
                MediaEvent::PromptStopped(_) => continue,
                MediaEvent::RtpTimeout { .. } => MediaInput::RtpTimeout,
                MediaEvent::Heard(heard) => MediaInput::Heard(heard),
            };
            out.push_back(EngineInput::Media { call: self.call, input });
        }
    }

    /// Adds the call's packet counts to `t` (see [`RtpTotals`]).
    pub(super) fn add_to(&self, t: &mut RtpTotals) {
        t.received += self.rtp_datagrams;
        t.rtcp_received += self.rtcp_packets;
        t.send_failed += self.send_failed;
        if let Some(s) = &self.session {
            t.add_session(&s.counters());
        }
        if let Some((relay, _)) = &self.bridge {
            t.add_relay(&relay.counters());
        }
    }

    /// The call's counters, once, when its media closes.
    pub(super) fn log_closed(&self) {
        let call = self.call;
        if let Some((relay, _)) = &self.bridge {
            let c = relay.counters();
            info!(%call, from_caller = c.from_caller.relayed, from_operator = c.from_operator.relayed, transcoded = c.from_caller.transcoded + c.from_operator.transcoded, "bridge closed");
        }
        if let Some(s) = &self.session {
            let c = s.counters();
            info!(
                %call,
                received = c.received,
                sent = c.sent,
                dropped_foreign_source = c.dropped_foreign_source,
                malformed = c.malformed,
                rtcp = c.rtcp + self.rtcp_packets,
                "media closed"
            );
        }
    }
}
