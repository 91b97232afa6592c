//! What the engine says to the world and hears from a call's media: the [`Output`]s the
//! runtime carries out (datagrams, media commands, records), the [`MediaInput`]s a call's
//! media reports back, the call events the records are made of, and the counters.
//!
//! Plain values with no behaviour, so every part of the engine can produce them and the
//! runtime can consume them without knowing the parts.

use std::net::SocketAddr;

use bytes::Bytes;

use super::call::EndReason;
use crate::call::ivr::{IvrPath, PromptRef, Routing};
use crate::call::CallId;
use crate::media::Codec;
use crate::sip::{Peer, Transport};

/// What the engine asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { peer: Peer, bytes: Bytes },
    /// Bind RTP on `port` (and RTCP on `port + 1`) at the media address, then answer
    /// with [`Engine::handle_media_opened`].
    OpenMedia { call: CallId, port: u16 },
    CloseMedia { call: CallId, port: u16 },
    /// A command for the call's media (in its media shard).
    Media { call: CallId, cmd: MediaCommand },
    Event(CallEvent),
    /// An operator's state changed (registration, ACD state), for the history.
    Operator { operator: String, kind: OperatorEventKind, detail: Option<String> },
}

/// Operator history entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorEventKind {
    /// First contact registered: the operator is reachable.
    Login,
    /// Last contact gone (unregistered or expired).
    Logout,
    /// The ACD changed the operator's state (`detail` says which).
    State,
}

/// What the engine asks of a call's media.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// The 200 OK went out: send to `remote` (or latch once if it is unusable) with
    /// this codec, and read DTMF as RFC 4733 on `telephone_event` or in-band.
    Start { remote: Option<SocketAddr>, codec: Codec, payload_type: u8, telephone_event: Option<u8> },
    /// Play this prompt now, replacing any prompt still playing.
    Play { prompt: PromptRef },
    /// Cut the prompt being played (barge-in).
    StopPrompt,
    /// The IVR is done with the call: stop analysing its audio for in-band DTMF, the
    /// costliest per-frame work (RFC 4733 digits are still read).
    StopInband,
    /// An operator answered: relay the caller's RTP to `remote` (the operator's SDP
    /// address) and the operator's back to the caller, transcoding if needed.
    Bridge { remote: Option<SocketAddr>, codec: Codec, payload_type: u8, telephone_event: Option<u8> },
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    Inband,
    SipInfo,
}

impl DigitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DigitSource::Rfc4733 => "rfc4733",
            DigitSource::Inband => "inband",
            DigitSource::SipInfo => "sip_info",
        }
    }
}

/// What a call's media reports to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaInput {
    Digit { key: char, source: DigitSource },
    /// A prompt played to its end, or could not be played at all (missing file).
    PromptFinished { prompt: PromptRef },
    /// No RTP from the caller for a while: reported, never a reason to hang up.
    RtpTimeout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub call: CallId,
    pub sip_call_id: String,
    pub kind: CallEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallEventKind {
    /// An emergency INVITE was accepted; recorded before the 200 OK goes out.
    Started {
        /// The call record's id (a ULID), also sent to the operator's phone as
        /// `X-CC112-Call` so a desk application can open the record.
        record: String,
        caller: String,
        caller_name: Option<String>,
        dialed: String,
        identity: String,
        remote: SocketAddr,
        transport: Transport,
        config_version: String,
    },
    /// The 200 OK went out.
    Answered { codec: Codec, telephone_event: Option<u8>, rtp_port: u16, remote_rtp: Option<SocketAddr> },
    /// The ACK arrived.
    Confirmed,
    /// A DTMF digit, from RTP (RFC 4733 or in-band) or SIP INFO.
    Digit { key: char, source: DigitSource },
    /// The IVR asked for a prompt.
    Prompt { prompt: PromptRef },
    /// The IVR chose a queue.
    Routed { routing: Routing },
    /// The call joined its queue at this position (1 = next).
    Queued { queue: String, position: usize },
    /// The call may now also be answered by operators of another queue.
    Overflowed { to: String },
    /// The ACD offered the call to an operator: their phones ring.
    Offered { operator: String },
    /// One of the operator's phones is ringing (first 180/183).
    OperatorRinging { operator: String },
    /// The operator answered; caller and operator are bridged.
    OperatorAnswered { operator: String },
    /// The operator did not answer, rejected, or could not be reached.
    OperatorNoAnswer { operator: String },
    /// The caller's whole path through the IVR (when it routed, or the caller left).
    IvrPath { path: IvrPath },
    RtpTimeout,
    Ended { reason: EndReason },
}

/// Counters read by health output and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub messages: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub stray_responses: u64,
    pub stray_acks: u64,
    pub calls_started: u64,
    pub calls_answered: u64,
    pub calls_ended: u64,
    pub not_emergency: u64,
    pub no_common_codec: u64,
    pub no_media_port: u64,
    pub refused_shutting_down: u64,
    /// New calls answered 503 by the `[overload]` limits.
    pub refused_overload: u64,
    pub register_dropped: u64,
}

/// What the engine's parts produce while they handle one input: the outputs for the
/// runtime, in order, and their deadlines. Each part gets it by `&mut`, so no part holds
/// a reference to another.
#[derive(Default)]
pub(crate) struct Effects {
    /// Drained by [`super::Engine::poll_output`].
    pub(crate) out: std::collections::VecDeque<Output>,
    /// Read by [`super::Engine::poll_timeout`].
    pub(crate) timers: super::timers::TimerTable,
}
