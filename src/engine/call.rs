//! One emergency call as the engine keeps it: the caller's dialog (RFC 3261 §12), its
//! media port and SDP (RFC 3264), its IVR and where it is in its life.
//!
//! The methods here are the caller's side of the dialog: the call made from an INVITE,
//! the SDP of our 200 and of a re-INVITE's answer, the ACK that confirms it, our BYE.
//! They change the call and return what to send; the engine sends it through its
//! transaction layer.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use tracing::warn;

use super::ids::OfferId;
use super::output::{CallEventKind, Effects, MediaCommand, Output};
use super::timers::TimerKey;
use crate::call::ivr::{Entry, Ivr, IvrAction, PromptRef, Routing};
use crate::call::CallId;
use crate::config::{Lang, OperatorId};
use crate::media::sdp::{self, LocalMedia, Negotiated, SdpError};
use crate::media::vad::Activity;
use crate::media::Codec;
use crate::sip::source::SourceKey;
use crate::sip::body::sdp_of;
use crate::sip::header::split_list;
use crate::sip::transaction::TxKey;
use crate::sip::{sent_by, HeaderName, Method, Outgoing, Peer, Request, Transport};

/// A dialog is found by Call-ID and both tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// Our tag (the To tag of our responses to the caller; the From tag of our INVITE
    /// to an operator).
    pub local_tag: String,
    /// The other side's tag.
    pub remote_tag: String,
}

impl DialogKey {
    /// The dialog an in-dialog request names from our side: its To tag is ours, its
    /// From tag the other side's. `None` without a To tag (not in a dialog).
    pub fn of_request(req: &Request) -> Option<DialogKey> {
        Some(DialogKey {
            call_id: req.head.call_id.clone(),
            local_tag: req.head.to.tag()?.to_string(),
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
        })
    }
}

/// The operator side of a bridged call: which operator, and which fork of which offer
/// carries their dialog.
#[derive(Debug, Clone)]
pub struct OperatorDialog {
    /// The operator who answered.
    pub operator: OperatorId,
    /// The offer that rang them.
    pub offer: OfferId,
    /// The fork (phone) that answered.
    pub fork: usize,
}

/// Where a call is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// INVITE accepted, waiting for the media port to be opened and the call's first
    /// record to be durable (or the wait for it to run out) before the 200 OK.
    Opening {
        /// The RTP port being opened.
        port: u16,
        /// Ports tried so far.
        tries: u32,
        /// The port is open.
        opened: bool,
        /// The record is durable, or we stopped waiting for it.
        recorded: bool,
    },
    /// 200 OK sent, waiting for the ACK.
    Answered,
    /// ACK received: the call is up.
    Confirmed,
    /// We sent a BYE and wait for its answer.
    Ending,
}

/// One emergency call: the caller's dialog and everything the engine knows of the call.
#[derive(Debug)]
pub struct Call {
    /// The engine's id of the call, in logs.
    pub id: CallId,
    /// The call record's id (ULID), as in `calls.id`.
    pub record: String,
    /// The caller's Call-ID.
    pub sip_call_id: String,
    /// Where the caller's INVITE came from: where our requests in the dialog go.
    pub peer: Peer,
    /// When the INVITE was accepted.
    pub started: Instant,
    /// Where the call is in its life.
    pub state: CallState,
    /// Our To tag.
    pub local_tag: String,
    /// The caller's From tag.
    pub remote_tag: String,
    /// The INVITE server transaction whose final response is still waiting for its ACK
    /// (the initial INVITE, or a re-INVITE).
    pub invite_tx: Option<TxKey>,
    /// Raw header values of the caller's INVITE, for the requests we send in the dialog.
    pub remote_from: String,
    /// The INVITE's To, our From in the dialog (with `local_tag` added).
    pub local_to: String,
    /// The caller's Contact (or From URI): the Request-URI of our BYE.
    pub remote_target: String,
    /// Record-Route of the INVITE, as Route headers of our requests (RFC 3261 §12.1.1).
    pub route_set: Vec<String>,
    /// Our CSeq in the dialog (our BYE).
    pub local_cseq: u32,
    /// The caller's latest CSeq.
    pub remote_cseq: u32,
    /// The offer the caller made; `None` if we made the offer in the 200.
    pub remote_offer: Option<bytes::Bytes>,
    /// Our RTP address and SDP session, once the port is open.
    pub local_media: Option<LocalMedia>,
    /// The codec and the caller's address agreed in SDP.
    pub negotiated: Option<Negotiated>,
    /// The matched emergency identity (`112`, `urn:service:sos.fire`...).
    pub identity: String,
    /// The caller's menu, from the 200 OK until it routes (or the caller hangs up).
    pub ivr: Option<Ivr>,
    /// Where the IVR sent the call.
    pub routing: Option<Routing>,
    /// The language the caller is hearing (the IVR's, kept after it routes).
    pub language: Option<Lang>,
    /// The prompt being played, until its media reports it finished.
    pub playing: Option<PromptRef>,
    /// Queue prompts waiting for the current prompt to finish.
    pub queued_prompts: VecDeque<PromptRef>,
    /// The caller's number, shown to the operator.
    pub caller: String,
    /// The caller's display name, shown to the operator.
    pub caller_name: Option<String>,
    /// The caller's recent calls, as the operator is shown them (`X-CC112-History`).
    pub history: Option<String>,
    /// An abandoned call of this number waits in the callback worklist.
    pub callback: bool,
    /// `[routing.nuisance]` lowered this repeat silent caller's class (flag `nuisance`).
    pub nuisance: bool,
    /// What the voice-activity detector heard of the caller (from the answer, when
    /// its media starts, to the bridge): recorded when the call ends.
    pub heard: Option<Activity>,
    /// The operator leg once an operator answered.
    pub operator: Option<OperatorDialog>,
    /// Who sent the INVITE, as the fair sharing of capacity counts it.
    pub source: SourceKey,
    /// A call the gateway placed to call a worklist item back (its id): the caller's
    /// dialog is ours as UAC, up once the number answers (`operator_side/dial_out.rs`).
    pub dial_out: Option<String>,
}

impl Call {
    /// The caller's dialog.
    pub fn dialog_key(&self) -> DialogKey {
        DialogKey { call_id: self.sip_call_id.clone(), local_tag: self.local_tag.clone(), remote_tag: self.remote_tag.clone() }
    }

    /// The call's RTP port, being opened or open.
    pub fn port(&self) -> Option<u16> {
        match self.state {
            CallState::Opening { port, .. } => Some(port),
            _ => self.local_media.as_ref().map(|m| m.port),
        }
    }
}

/// What a call is made of, from its INVITE and the engine's parts.
pub(crate) struct NewCall<'a> {
    pub(crate) id: CallId,
    pub(crate) record: String,
    pub(crate) req: &'a Request,
    pub(crate) peer: Peer,
    pub(crate) now: Instant,
    pub(crate) port: u16,
    /// Our To tag, as the INVITE transaction's responses carry it.
    pub(crate) local_tag: String,
    pub(crate) invite_tx: TxKey,
    pub(crate) offer: Option<Bytes>,
    pub(crate) identity: String,
    /// The record is durable already (no store to wait for).
    pub(crate) recorded: bool,
    /// Who sent the INVITE (fair sharing).
    pub(crate) source: SourceKey,
}

/// Why a re-INVITE of the caller's is refused.
pub(crate) enum ReInviteError {
    /// RFC 3261 §14.2: ours still awaits its ACK (500 + Retry-After).
    Pending,
    /// The body is not SDP (415).
    Body,
    /// The offer cannot be answered (488).
    Sdp(SdpError),
}

impl Call {
    /// A call from its INVITE, opening its port.
    pub(crate) fn from_invite(n: NewCall<'_>) -> Call {
        let req = n.req;
        let remote_target = req.head.contact.first().map_or_else(|| req.head.from.uri.to_string(), |c| c.uri.to_string());
        let route_set = req.head.get_all(&HeaderName::RecordRoute).filter_map(|v| split_list(v).ok()).flatten().map(str::to_string).collect();
        Call {
            id: n.id,
            record: n.record,
            sip_call_id: req.head.call_id.clone(),
            peer: n.peer,
            started: n.now,
            state: CallState::Opening { port: n.port, tries: 1, opened: false, recorded: n.recorded },
            local_tag: n.local_tag,
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
            invite_tx: Some(n.invite_tx),
            remote_from: req.head.get(&HeaderName::From).unwrap_or_default().to_string(),
            local_to: req.head.get(&HeaderName::To).unwrap_or_default().to_string(),
            remote_target,
            route_set,
            local_cseq: 0,
            remote_cseq: req.head.cseq.seq,
            remote_offer: n.offer,
            local_media: None,
            negotiated: None,
            identity: n.identity,
            ivr: None,
            routing: None,
            language: None,
            playing: None,
            queued_prompts: VecDeque::new(),
            caller: req.head.from.uri.dialed().unwrap_or_else(|| req.head.from.uri.to_string()),
            caller_name: req.head.from.display.clone(),
            history: None,
            callback: false,
            nuisance: false,
            heard: None,
            operator: None,
            source: n.source,
            dial_out: None,
        }
    }

    /// Answered on `local`: the SDP of our 200 (an answer to the caller's offer, or our
    /// offer if the INVITE had none), and the event that records it.
    pub(crate) fn answer(&mut self, local: LocalMedia, codecs: &[Codec]) -> (String, CallEventKind) {
        let port = local.port;
        let (body, negotiated) = match &self.remote_offer {
            Some(offer) => match sdp::answer(offer, &local, codecs) {
                Ok((b, n)) => (b, Some(n)),
                // Checked before the port was taken; an error here is a bug, not the caller's.
                Err(e) => {
                    warn!(call = %self.id, %e, "SDP answer failed after the offer was checked");
                    (sdp::offer(&local, codecs), None)
                }
            },
            None => (sdp::offer(&local, codecs), None),
        };
        self.state = CallState::Answered;
        self.heard = Some(Activity::default());
        self.local_media = Some(local);
        self.negotiated = negotiated.clone();
        let default = codecs.first().copied().unwrap_or(Codec::Pcmu);
        let event = match negotiated {
            Some(n) => CallEventKind::Answered { codec: n.codec, telephone_event: n.telephone_event, rtp_port: port, remote_rtp: n.remote },
            None => CallEventKind::Answered { codec: default, telephone_event: None, rtp_port: port, remote_rtp: None },
        };
        (body, event)
    }

    /// What the call's media starts with once the 200 is out, and where its IVR starts.
    pub(crate) fn media_start(&self, default: Codec) -> (MediaCommand, Entry) {
        let start = match &self.negotiated {
            Some(n) => MediaCommand::Start { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event, telephone_event_rate: n.telephone_event_rate },
            None => MediaCommand::Start { remote: None, codec: default, payload_type: default.payload_type(), telephone_event: None, telephone_event_rate: 8000 },
        };
        let entry = if self.identity.starts_with("urn:") { Entry::Menu } else { Entry::Number(self.identity.clone()) };
        (start, entry)
    }

    /// The caller's re-INVITE `req` (transaction `key`): the SDP of our 200, on the same port.
    pub(crate) fn reinvite(&mut self, key: TxKey, req: &Request, codecs: &[Codec]) -> Result<String, ReInviteError> {
        if self.invite_tx.is_some() || self.local_media.is_none() {
            return Err(ReInviteError::Pending);
        }
        let offer = sdp_of(&req.head, &req.body).map_err(|_| ReInviteError::Body)?;
        let Some(mut local) = self.local_media.clone() else { return Err(ReInviteError::Pending) };
        local.session_version += 1;
        let body = match &offer {
            Some(o) => {
                let (b, n) = sdp::answer(o, &local, codecs).map_err(ReInviteError::Sdp)?;
                self.negotiated = Some(n);
                b
            }
            None => sdp::offer(&local, codecs),
        };
        self.remote_offer = offer;
        self.local_media = Some(local);
        self.remote_cseq = req.head.cseq.seq;
        self.invite_tx = Some(key);
        Ok(body)
    }

    /// The operator's re-INVITE (hold, unhold, codec change): the SDP of our 200 on the
    /// same port, and where the bridge now sends the caller's audio.
    pub(crate) fn operator_reinvite(&self, req: &Request, codecs: &[Codec]) -> Option<Result<(String, Option<MediaCommand>), SdpError>> {
        let local = self.local_media.clone()?;
        let local = LocalMedia { session_version: local.session_version + 2, ..local };
        Some(match sdp_of(&req.head, &req.body) {
            Ok(Some(o)) => sdp::answer(&o, &local, codecs).map(|(b, n)| {
                let cmd = MediaCommand::Bridge { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event, telephone_event_rate: n.telephone_event_rate };
                (b, Some(cmd))
            }),
            _ => Ok((sdp::offer(&local, codecs), None)),
        })
    }

    /// The ACK for our 2xx: the call is up. Returns the INVITE transaction it ends and
    /// whether this was the call's first answer (not a re-INVITE's).
    pub(crate) fn confirm(&mut self, ack: &Request, codecs: &[Codec]) -> Option<(TxKey, bool)> {
        let key = self.invite_tx.take()?;
        let was_answered = self.state == CallState::Answered;
        self.state = CallState::Confirmed;
        // INVITE without SDP: the answer comes in the ACK (RFC 3264 §4).
        if self.remote_offer.is_none() {
            if let Ok(Some(answer)) = sdp_of(&ack.head, &ack.body) {
                match sdp::accept_answer(&answer, codecs) {
                    Ok(n) => self.negotiated = Some(n),
                    // An emergency call is never dropped for this: media may still flow.
                    Err(e) => warn!(call = %self.id, %e, "unusable SDP answer in ACK; keeping the call"),
                }
            }
        }
        Some((key, was_answered))
    }

    /// Our BYE in the caller's dialog (no ACK came, shutdown...), sent from the address
    /// the INVITE came in on.
    pub(crate) fn bye(&mut self, branch: &str, user_agent: &str) -> Bytes {
        self.local_cseq += 1;
        let sent_by = sent_by(self.peer.local);
        let mut o = Outgoing::request(&Method::Bye, &self.remote_target)
            .header("Via", format!("SIP/2.0/{} {sent_by};branch={branch};rport", self.peer.transport.as_str()))
            .header("Max-Forwards", "70")
            .header("From", format!("{};tag={}", self.local_to, self.local_tag))
            .header("To", self.remote_from.clone())
            .header("Call-ID", self.sip_call_id.clone())
            .header("CSeq", format!("{} BYE", self.local_cseq));
        for r in &self.route_set {
            o.push_header("Route", r.clone());
        }
        o.push_header("User-Agent", user_agent.to_string());
        o.to_bytes()
    }
}

impl Call {
    /// Carries out what the call's IVR asks (prompts, barge-in, the route it chose) and
    /// schedules its next deadline; when the IVR is done, in-band DTMF stops and the IVR
    /// goes. Returns the events to record, in order.
    pub(crate) fn run_ivr(&mut self, fx: &mut Effects) -> Vec<CallEventKind> {
        let id = self.id;
        let Some(ivr) = self.ivr.as_mut() else { return Vec::new() };
        let mut events = Vec::new();
        while let Some(a) = ivr.poll_action() {
            match a {
                IvrAction::Play { prompt } => {
                    self.playing = Some(prompt.clone());
                    fx.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
                    events.push(CallEventKind::Prompt { prompt });
                }
                IvrAction::StopPrompt => fx.out.push_back(Output::Media { call: id, cmd: MediaCommand::StopPrompt }),
                IvrAction::Route(routing) => {
                    if let Some(prompt) = routing.announce.clone() {
                        self.playing = Some(prompt.clone());
                        fx.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
                        events.push(CallEventKind::Prompt { prompt });
                    }
                    self.routing = Some(routing.clone());
                    events.push(CallEventKind::Routed { routing });
                }
            }
        }
        self.language = Some(ivr.language().clone());
        if ivr.is_done() {
            events.push(CallEventKind::IvrPath { path: ivr.path().clone() });
            fx.out.push_back(Output::Media { call: id, cmd: MediaCommand::StopInband });
            self.ivr = None;
            fx.timers.set(TimerKey::Ivr(id), None);
        } else {
            fx.timers.set(TimerKey::Ivr(id), ivr.poll_timeout());
        }
        events
    }
}

/// The first event of a call's record, accepted or refused.
pub(crate) fn started_event(record: String, req: &Request, identity: String, peer: Peer, config_version: &str) -> CallEventKind {
    CallEventKind::Started {
        record,
        caller: req.head.from.uri.dialed().unwrap_or_else(|| req.head.from.uri.to_string()),
        caller_name: req.head.from.display.clone(),
        dialed: req.uri.to_string(),
        identity,
        remote: peer.remote,
        transport: peer.transport,
        config_version: config_version.to_string(),
    }
}

/// Our Contact for the caller's dialog, on the address the INVITE arrived at.
pub(crate) fn contact_for(config: &crate::config::Config, peer: Peer) -> String {
    let mut local = peer.local;
    if local.ip().is_unspecified() {
        local.set_ip(config.media.address);
    }
    let transport = if peer.transport == Transport::Tcp { ";transport=tcp" } else { "" };
    format!("<sip:cc112@{}{transport}>", sent_by(local))
}
