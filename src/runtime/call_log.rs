//! The call's story in the log: one line per engine event, each inside a `call` span
//! that carries the call's id and SIP Call-ID, so a call can be followed with a grep.

use tracing::{info, warn};

use crate::engine::{CallEvent, CallEventKind};
use crate::sink::printable;

/// Logs one of the engine's call events.
pub(super) fn log_event(ev: &CallEvent) {
    let span = tracing::info_span!("call", call = %ev.call, sip_call_id = %ev.sip_call_id);
    let _g = span.enter();
    match &ev.kind {
        CallEventKind::Started { record, caller, caller_name, dialed, identity, remote, transport, config_version } => info!(
            event = "started",
            record = %record,
            // What the caller wrote is data: one log line, whatever it contains.
            caller = %printable(caller),
            caller_name = %printable(caller_name.as_deref().unwrap_or("")),
            dialed = %printable(dialed),
            identity = %printable(identity),
            remote = %remote,
            transport = transport.as_str(),
            config_version = %config_version,
            "call started"
        ),
        CallEventKind::Answered { codec, telephone_event, rtp_port, remote_rtp } => info!(
            event = "answered",
            codec = %codec,
            telephone_event = ?telephone_event,
            rtp_port,
            remote_rtp = ?remote_rtp,
            "call answered"
        ),
        CallEventKind::Confirmed => info!(event = "confirmed", "ACK received"),
        CallEventKind::NoCommonCodec { offered } => info!(event = "rejected", offered = %printable(offered), "refused with 488: no common codec"),
        CallEventKind::Digit { key, source } => info!(event = "digit", key = %key, source = source.as_str(), "digit"),
        CallEventKind::Prompt { prompt } => info!(event = "prompt", lang = %prompt.lang, prompt = %prompt.id, "prompt"),
        CallEventKind::Routed { routing } => info!(
            event = "routed",
            queue = %routing.queue,
            requested = %routing.requested,
            overflowed = routing.overflowed(),
            reason = %serde_json::to_string(&routing.reason).unwrap_or_default(),
            "routed to queue"
        ),
        CallEventKind::IvrPath { path } => {
            info!(event = "ivr_path", path = %serde_json::to_string(path).unwrap_or_default(), "IVR path")
        }
        CallEventKind::RtpTimeout => warn!(event = "rtp_timeout", "no RTP from the caller"),
        CallEventKind::Voice { heard } => info!(
            event = "voice",
            verdict = heard.verdict(),
            first_speech_ms = heard.first_speech_ms,
            noise_ms = heard.noise_ms,
            silence_ms = heard.silence_ms,
            "what the caller's audio held"
        ),
        CallEventKind::Nuisance => info!(event = "nuisance", "repeat silent caller: low class ([routing.nuisance])"),
        CallEventKind::Queued { queue, position } => info!(event = "queued", %queue, position, "queued"),
        CallEventKind::Caller { history, callback } => info!(event = "caller", history = history.as_deref().unwrap_or(""), callback, "caller's history"),
        CallEventKind::CallBack { item, operator, result } => info!(event = "callback", %item, %operator, result = result.as_deref().unwrap_or("placed"), "call back"),
        CallEventKind::Overflowed { to } => info!(event = "overflowed", %to, "overflow: more operators may answer"),
        CallEventKind::Offered { operator } => info!(event = "offered", %operator, "offered to an operator"),
        CallEventKind::OperatorRinging { operator } => info!(event = "operator_ringing", %operator, "operator's phone rings"),
        CallEventKind::OperatorAnswered { operator } => info!(event = "operator_answered", %operator, "operator answered; bridged"),
        CallEventKind::OperatorNoAnswer { operator } => info!(event = "operator_no_answer", %operator, "operator did not answer"),
        CallEventKind::Ended { reason } => info!(event = "ended", reason = reason.as_str(), "call ended"),
    }
}
