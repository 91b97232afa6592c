//! One emergency call as the engine keeps it: the caller's dialog, media port, state.

use std::time::Instant;

use crate::call::ivr::{Ivr, PromptRef, Routing};
use crate::config::Lang;
use crate::media::sdp::{LocalMedia, Negotiated};
use crate::call::CallId;
use crate::sip::transaction::TxKey;

use super::ids::OfferId;
use crate::config::OperatorId;
use crate::sip::{Peer, Request};

/// A dialog is found by Call-ID and both tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
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
    /// Refused with 503 before it was answered: the gateway was over capacity
    /// (`[overload]` limits, or no RTP port free).
    Overload,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHangup => "caller_hangup",
            EndReason::CallerCancelled => "caller_cancelled",
            EndReason::NoAck => "no_ack",
            EndReason::NoMediaPort => "no_media_port",
            EndReason::OperatorHangup => "operator_hangup",
            EndReason::Overload => "overload",
        }
    }
}

#[derive(Debug)]
pub struct Call {
    pub id: CallId,
    /// The call record's id (ULID), as in `calls.id`.
    pub record: String,
    pub sip_call_id: String,
    pub peer: Peer,
    pub started: Instant,
    pub state: CallState,
    pub local_tag: String,
    pub remote_tag: String,
    /// The INVITE server transaction whose final response is still waiting for its ACK
    /// (the initial INVITE, or a re-INVITE).
    pub invite_tx: Option<TxKey>,
    /// Raw header values of the caller's INVITE, for the requests we send in the dialog.
    pub remote_from: String,
    pub local_to: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    /// The offer the caller made; `None` if we made the offer in the 200.
    pub remote_offer: Option<bytes::Bytes>,
    pub local_media: Option<LocalMedia>,
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
    pub queued_prompts: std::collections::VecDeque<PromptRef>,
    /// The caller's number and name, shown to the operator.
    pub caller: String,
    pub caller_name: Option<String>,
    /// The operator leg once an operator answered.
    pub operator: Option<OperatorDialog>,
}

impl Call {
    pub fn dialog_key(&self) -> DialogKey {
        DialogKey { call_id: self.sip_call_id.clone(), local_tag: self.local_tag.clone(), remote_tag: self.remote_tag.clone() }
    }

    pub fn port(&self) -> Option<u16> {
        match self.state {
            CallState::Opening { port, .. } => Some(port),
            _ => self.local_media.as_ref().map(|m| m.port),
        }
    }
}
