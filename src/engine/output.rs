//! What the engine says to the world and hears from a call's media: the [`Output`]s the
//! runtime carries out (datagrams, media commands, records), the [`MediaInput`]s a call's
//! media reports back, the call events the records are made of, and the counters.
//!
//! Plain values with no behaviour, so every part of the engine can produce them and the
//! runtime can consume them without knowing the parts.

use std::time::SystemTime;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::call::ivr::{IvrPath, PromptRef, Routing};
use crate::call::CallId;
use crate::store::record::{HangupBy, Outcome};
use crate::media::vad::Activity;
use crate::media::Codec;
use crate::sip::{Peer, Transport};

/// What the engine asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a SIP message.
    Send {
        /// Where to (and on TCP, on which connection).
        peer: Peer,
        /// The whole message.
        bytes: Bytes,
    },
    /// Bind RTP on `port` (and RTCP on `port + 1`) at the media address, then answer
    /// with [`Engine::handle_media_opened`].
    OpenMedia {
        /// The call the port is for.
        call: CallId,
        /// The RTP port (even).
        port: u16,
    },
    /// The call ended: close its RTP and RTCP sockets (the port is free again).
    CloseMedia {
        /// The call whose media closes.
        call: CallId,
        /// Its RTP port.
        port: u16,
    },
    /// A command for the call's media (in its media shard).
    Media {
        /// The call.
        call: CallId,
        /// What to do.
        cmd: MediaCommand,
    },
    /// A step of a call, for its record and the log.
    Event(CallEvent),
    /// About a second of refused new calls from one source for one reason, for the
    /// store's `refusals` table (refusals have no call record of their own).
    Refused(RefusalSummary),
    /// Where a drain stands (its start, each minute, a second stop, the grace's end),
    /// for the log.
    Drain(DrainReport),
    /// An operator's contact registered, refreshed or removed: the store keeps a copy
    /// so that a restart does not lose it.
    Registration(RegistrationChange),
    /// An operator's state changed (registration, ACD state), for the history.
    Operator {
        /// The operator's id.
        operator: String,
        /// What changed.
        kind: OperatorEventKind,
        /// The contact (login, logout) or the new ACD state and its reason.
        detail: Option<String>,
    },
}

/// A change of the registrar's contacts, for the copy the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationChange {
    /// A contact registered or refreshed: the whole row.
    Saved(Box<crate::store::registrations::SavedBinding>),
    /// A contact removed (by its phone, replaced, expired, or its operator removed).
    Removed {
        /// The operator.
        operator: String,
        /// The Contact URI.
        contact: String,
    },
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
    /// A supervisor acted on the operator (`detail`: what, by whom, why).
    Supervisor,
}

/// What the engine asks of a call's media.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// The 200 OK went out: send to `remote` (or latch once if it is unusable) with
    /// this codec, and read DTMF as RFC 4733 on `telephone_event` or in-band.
    Start {
        /// The caller's RTP address from its SDP; `None`: latch on the first packet.
        remote: Option<SocketAddr>,
        /// The negotiated codec.
        codec: Codec,
        /// Its RTP payload type in this call.
        payload_type: u8,
        /// The RFC 4733 payload type, if the caller offered telephone-event.
        telephone_event: Option<u8>,
        /// Its RTP clock: 8000, or 48000 for an Opus caller that offered it.
        telephone_event_rate: u32,
    },
    /// Play this prompt now, replacing any prompt still playing.
    Play {
        /// The prompt, in the caller's language.
        prompt: PromptRef,
    },
    /// Cut the prompt being played (barge-in).
    StopPrompt,
    /// The IVR is done with the call: stop analysing its audio for in-band DTMF, the
    /// costliest per-frame work (RFC 4733 digits are still read).
    StopInband,
    /// An operator answered: relay the caller's RTP to `remote` (the operator's SDP
    /// address) and the operator's back to the caller, transcoding if needed.
    Bridge {
        /// The operator's RTP address from its SDP; `None`: latch on its first packet.
        remote: Option<SocketAddr>,
        /// The operator leg's codec (transcoded to the caller's when they differ).
        codec: Codec,
        /// Its RTP payload type on the operator leg.
        payload_type: u8,
        /// The operator leg's RFC 4733 payload type, if any.
        telephone_event: Option<u8>,
        /// Its RTP clock (8000, or 48000 on Opus).
        telephone_event_rate: u32,
    },
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// An RFC 4733 telephone-event in the RTP stream.
    Rfc4733,
    /// A tone pair detected in the caller's audio (Goertzel).
    Inband,
    /// A SIP INFO request (application/dtmf-relay or application/dtmf).
    SipInfo,
}

impl DigitSource {
    /// The name in records and logs.
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
    /// A key the caller pressed.
    Digit {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        key: char,
        /// How it came.
        source: DigitSource,
    },
    /// A prompt played to its end, or could not be played at all (missing file).
    PromptFinished {
        /// The prompt that finished.
        prompt: PromptRef,
    },
    /// No RTP from the caller for a while: reported, never a reason to hang up.
    RtpTimeout,
    /// What the voice-activity detector heard of the caller so far (each second of
    /// audio while it listens; `spoke` set once, when the caller first speaks).
    Heard(Activity),
}

/// One step of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The engine's id of the call.
    pub call: CallId,
    /// The caller's SIP Call-ID, for the log and the record.
    pub sip_call_id: String,
    /// What happened.
    pub kind: CallEventKind,
}

/// The steps of a call, in the order they can happen.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEventKind {
    /// An emergency INVITE was accepted; recorded before the 200 OK goes out.
    Started {
        /// The call record's id (a ULID), also sent to the operator's phone as
        /// `X-CC112-Call` so a desk application can open the record.
        record: String,
        /// The caller's number (the From user part, unescaped), or the whole From URI.
        caller: String,
        /// The From display name, as the caller's phone sent it.
        caller_name: Option<String>,
        /// The Request-URI as dialled.
        dialed: String,
        /// The configured emergency identity it matched (`112`, `urn:service:sos.fire`).
        identity: String,
        /// Where the INVITE came from.
        remote: SocketAddr,
        /// Over which transport.
        transport: Transport,
        /// The version (content hash) of the configuration the call runs under.
        config_version: String,
    },
    /// The 200 OK went out.
    Answered {
        /// The codec of the caller's leg.
        codec: Codec,
        /// The RFC 4733 payload type, if negotiated.
        telephone_event: Option<u8>,
        /// Our RTP port for the call.
        rtp_port: u16,
        /// The caller's RTP address from its SDP.
        remote_rtp: Option<SocketAddr>,
    },
    /// The ACK arrived.
    Confirmed,
    /// The INVITE was refused with 488: its offer has no codec of ours. Comes between
    /// the refused call's `Started` and its `Ended { reason: NoCommonCodec }`, so the
    /// caller who could not be heard is on record for a call back.
    NoCommonCodec {
        /// What the offer had (`RTP/AVP 18:G729/8000 ...`), bounded and reduced to
        /// printable ASCII (the engine's `uas::sanitize_offered`).
        offered: String,
    },
    /// A DTMF digit, from RTP (RFC 4733 or in-band) or SIP INFO.
    Digit {
        /// The key.
        key: char,
        /// How it came.
        source: DigitSource,
    },
    /// A prompt started (the IVR's, or the queue's hold announcements).
    Prompt {
        /// Which, in which language.
        prompt: PromptRef,
    },
    /// The IVR chose a queue.
    Routed {
        /// The queue, what was asked for and why.
        routing: Routing,
    },
    /// What the gateway knows of the caller's number (issue 16), looked up on the
    /// INVITE: shown to the operator, kept in the record.
    Caller {
        /// `24h=N;7d=M;last=OUTCOME,DEPARTMENT,AGE` (`X-CC112-History`), when the number
        /// called in the last 7 days.
        history: Option<String>,
        /// One of the number's abandoned calls waits in the callback worklist: this call
        /// is flagged `callback` and served first.
        callback: bool,
    },
    /// A call back of a worklist item (issue 16): placed (`result: None`), or over
    /// (`answered`, `busy 486`, `no answer`, `operator did not answer`...).
    CallBack {
        /// The item called back.
        item: String,
        /// The operator who calls.
        operator: String,
        /// How it went, once over.
        result: Option<String>,
    },
    /// `[routing.nuisance]` lowered a repeat silent caller to the low class (flag
    /// `nuisance`, in the record and on the operator's phone); comes before `Queued`.
    Nuisance,
    /// The call joined its queue.
    Queued {
        /// The queue's id.
        queue: String,
        /// Its place on joining (1 = next).
        position: usize,
    },
    /// The call may now also be answered by operators of another queue.
    Overflowed {
        /// The queue whose operators may now answer.
        to: String,
    },
    /// The ACD offered the call to an operator: their phones ring.
    Offered {
        /// The operator's id.
        operator: String,
    },
    /// One of the operator's phones is ringing (first 180/183).
    OperatorRinging {
        /// The operator's id.
        operator: String,
    },
    /// The operator answered; caller and operator are bridged.
    OperatorAnswered {
        /// The operator's id.
        operator: String,
    },
    /// The operator did not answer, rejected, or could not be reached.
    OperatorNoAnswer {
        /// The operator's id.
        operator: String,
    },
    /// The caller's whole path through the IVR (when it routed, or the caller left).
    IvrPath {
        /// Every step, with its time.
        path: IvrPath,
    },
    /// No RTP from the caller for a while (reported once; the call goes on).
    RtpTimeout,
    /// What the voice-activity detector heard of the caller between the answer and
    /// the bridge (or the end): comes just before `Ended` of every answered call.
    Voice {
        /// Speech, noise and silence heard, and when the caller first spoke.
        heard: Activity,
    },
    /// The call is over.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// Counters read by health output and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// SIP messages handed to the engine, parsed or not.
    pub messages: u64,
    /// Unparseable requests answered with a 4xx naming the problem.
    pub malformed_answered: u64,
    /// Unparseable messages dropped (no headers to answer with, or an ACK).
    pub malformed_dropped: u64,
    /// Responses that matched none of our transactions, or came from an address our
    /// request did not go to (forged).
    pub stray_responses: u64,
    /// ACKs that matched no transaction and no dialog.
    pub stray_acks: u64,
    /// Emergency calls accepted (a record started, a port opened).
    pub calls_started: u64,
    /// Emergency calls answered 200.
    pub calls_answered: u64,
    /// Calls that ended, whatever the reason.
    pub calls_ended: u64,
    /// INVITEs to identities that are no emergency number (404).
    pub not_emergency: u64,
    /// Offers with no codec in common with ours (488).
    pub no_common_codec: u64,
    /// Calls refused because no RTP port could be had (503).
    pub no_media_port: u64,
    /// INVITEs refused while draining (503).
    pub refused_shutting_down: u64,
    /// New calls answered 503 by the `[overload]` limits.
    pub refused_overload: u64,
    /// New calls answered 503 because the record store had no room for their record
    /// (its queue at its capacity while the disk fails).
    pub refused_no_record: u64,
    /// REGISTERs dropped unanswered (a source locked out for brute force).
    pub register_dropped: u64,
    /// SIP messages in and out by method and status.
    pub sip: super::tally::SipTally,
    /// Calls ended and answer times, per department.
    pub calls: super::tally::CallTally,
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

/// Why a call ended; kept in the record and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    CallerHangup,
    /// The caller sent CANCEL before we answered.
    CallerCancelled,
    /// No ACK came for our 200 OK within 64×T1: we sent BYE.
    NoAck,
    /// No RTP port could be opened at all.
    NoMediaPort,
    /// The operator sent BYE.
    OperatorHangup,
    /// The drain's grace ran out: the gateway hung up (`[shutdown] grace`).
    GatewayShutdown,
    /// Refused with 503 before it was answered: the record store had no room for its
    /// record (the disk has not taken records for a while).
    NoRecord,
    /// Refused with 488: the offer had no codec we can decode (issue 17).
    NoCommonCodec,
}

impl EndReason {
    /// The name in records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHangup => "caller_hangup",
            EndReason::CallerCancelled => "caller_cancelled",
            EndReason::NoAck => "no_ack",
            EndReason::NoMediaPort => "no_media_port",
            EndReason::OperatorHangup => "operator_hangup",
            EndReason::GatewayShutdown => "gateway_shutdown",
            EndReason::NoRecord => "no_record",
            EndReason::NoCommonCodec => "no_common_codec",
        }
    }

    /// How a call ended, for the shift report and the metrics: its outcome, who hung up
    /// and the reason in words. `routed`: it reached a queue; `operator`: an operator
    /// answered it.
    pub fn outcome(self, routed: bool, operator: bool) -> (Outcome, Option<HangupBy>, &'static str) {
        let reason = self;
        if operator {
            return match reason {
                EndReason::OperatorHangup => (Outcome::Answered, Some(HangupBy::Operator), "operator hung up"),
                EndReason::CallerHangup | EndReason::CallerCancelled => (Outcome::Answered, Some(HangupBy::Caller), "caller hung up"),
                EndReason::GatewayShutdown => (Outcome::Answered, Some(HangupBy::Gateway), "gateway shutdown"),
                _ => (Outcome::Answered, Some(HangupBy::Gateway), "ended by the gateway"),
            };
        }
        match (reason, routed) {
            (EndReason::CallerHangup, true) => (Outcome::AbandonedQueue, Some(HangupBy::Caller), "caller hung up in the queue"),
            (EndReason::CallerHangup, false) => (Outcome::AbandonedIvr, Some(HangupBy::Caller), "caller hung up in the IVR"),
            (EndReason::CallerCancelled, _) => (Outcome::AbandonedIvr, Some(HangupBy::Caller), "caller cancelled before the answer"),
            (EndReason::NoAck, _) => (Outcome::Failed, Some(HangupBy::Gateway), "no ACK for our 200 OK"),
            (EndReason::NoMediaPort, _) => (Outcome::Failed, Some(HangupBy::Gateway), "no RTP port could be opened"),
            (EndReason::OperatorHangup, _) => (Outcome::Answered, Some(HangupBy::Operator), "operator hung up"),
            // The caller was not yet with an operator: not served, by our doing.
            (EndReason::GatewayShutdown, _) => (Outcome::Failed, Some(HangupBy::Gateway), "gateway shutdown"),
            (EndReason::NoRecord, _) => (Outcome::Rejected, Some(HangupBy::Gateway), "refused with 503: no room for the call record"),
            (EndReason::NoCommonCodec, _) => (Outcome::Rejected, Some(HangupBy::Gateway), crate::store::record::NO_COMMON_CODEC),
        }
    }
}

/// What a drain's report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainStep {
    /// A stop was asked for: new calls get 503 from now on.
    Started,
    /// Another minute of the drain went by.
    Minute,
    /// A second stop: at most 10 s left.
    Hurried,
    /// The grace ran out: every call still up is hung up now.
    GraceOver,
}

/// Where a drain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// What happened.
    pub step: DrainStep,
    /// Whole minutes since the drain began.
    pub minute: u64,
    /// Calls in progress.
    pub calls: usize,
    /// What is left of the grace.
    pub left: std::time::Duration,
}

/// The refusals of one (source, reason) over about a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalSummary {
    /// When the first of them came (wall-clock time).
    pub since: SystemTime,
    /// The source, as fairness counts it (`trunk 203.0.113.7`, `198.51.100.0/24`).
    pub source: String,
    /// Why: `max_calls`, `max_call_rate`, `behind`, `source_rate`, `source_calls`,
    /// `no_media_port`.
    pub reason: &'static str,
    /// How many INVITEs were refused.
    pub count: u64,
    /// The first `refusals::MAX_CALLERS` distinct caller numbers, made safe for a log line.
    pub callers: Vec<String>,
}

