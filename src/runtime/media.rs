//! One task per call owning its RTP and RTCP sockets and its [`MediaSession`].
//!
//! The engine never sees packets: this task turns them into digits, prompt-finished and
//! RTP-timeout events, and turns the engine's commands into paced RTP. Nothing here logs
//! per packet; the counters are logged once when the call's media closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::rtp_socket::RtpSocket;
use super::EngineInput;
use crate::call::ivr::PromptRef;
use crate::engine::{CallId, DigitSource, MediaCommand, MediaInput};
use crate::media::prompts::PromptStore;
use crate::media::relay::{Leg, LegConfig, Relay, StreamStart};
use crate::media::sdp::{Direction, Negotiated};
use crate::media::session::{self, MediaEvent, MediaSession, SessionConfig};
use crate::media::Codec;

/// Largest RTP/RTCP datagram we read; G.711 packets are 172 bytes.
const MAX_RTP: usize = 2048;

/// How a call's media task came to be: the commit its answer waits for, and when the
/// engine spawned it (its wait for a worker is what the overload limits read).
pub(super) struct Opening {
    pub(super) commit: Option<super::record::CommitWait>,
    pub(super) spawned: Instant,
}

pub(super) async fn run(
    call: CallId,
    rtp: SocketAddr,
    tx: mpsc::Sender<EngineInput>,
    mut commands: mpsc::Receiver<MediaCommand>,
    stop: CancellationToken,
    prompts: Arc<PromptStore>,
    opening: Opening,
) {
    let Opening { commit, spawned } = opening;
    let start_delay = spawned.elapsed();
    let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
    let socks = match (RtpSocket::bind(rtp), RtpSocket::bind(rtcp)) {
        (Ok(a), Ok(b)) => Some((a, b)),
        _ => None,
    };
    let ok = socks.is_some();
    // The call's record reaches the disk before its 200 OK (which follows MediaOpened).
    if let Some(wait) = commit {
        match tokio::time::timeout(super::COMMIT_WAIT, wait).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(%call, error = %e, "answering before the call's record is on disk"),
            Ok(Err(_)) | Err(_) => warn!(%call, "call record not committed within {:?}; answering anyway", super::COMMIT_WAIT),
        }
    }
    if tx.send(EngineInput::MediaOpened { call, port: rtp.port(), ok, start_delay }).await.is_err() {
        return;
    }
    let Some((rtp_sock, rtcp_sock)) = socks else { return };
    let mut buf = vec![0u8; MAX_RTP];
    let mut rtcp_buf = vec![0u8; MAX_RTP];
    // One output buffer for the bridge: relaying allocates nothing per packet.
    let mut relayed: Vec<u8> = Vec::with_capacity(MAX_RTP);
    let mut session: Option<MediaSession<Instant, PromptRef>> = None;
    let mut codec = Codec::Pcmu;
    let mut caller_leg: Option<(u8, Option<u8>)> = None;
    let mut bridge: Option<(Relay<Instant>, Option<SocketAddr>)> = None;
    let mut rtcp_packets = 0u64;
    // One timer for the task's life, moved only when the session's deadline changes: a
    // new timer per loop would register and cancel one for every packet (~100 a second
    // per call).
    let timer = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(timer);
    let mut armed: Option<tokio::time::Instant> = None;
    loop {
        let deadline = session.as_ref().and_then(MediaSession::poll_timeout).map(tokio::time::Instant::from_std);
        if deadline != armed {
            if let Some(d) = deadline {
                timer.as_mut().reset(d);
            }
            armed = deadline;
        }
        tokio::select! {
            r = rtp_sock.recv_from(&mut buf) => {
                if let (Ok((n, from)), Some(s)) = (r, session.as_mut()) {
                    let data = buf.get(..n).unwrap_or_default();
                    let now = Instant::now();
                    match bridge.as_mut() {
                        // Bridged: each leg's packets, from that leg's address only, go
                        // to the other leg; anything else still goes to the session,
                        // which drops and counts it (RTP bleed).
                        Some((relay, op)) if Some(from) == *op => {
                            if let (Ok(()), Some(to)) = (relay.relay_into(now, Leg::Operator, data, &mut relayed), s.remote()) {
                                let _ = rtp_sock.send_to(&relayed, to);
                            }
                        }
                        Some((relay, Some(op))) if Some(from) == s.remote() => {
                            if relay.relay_into(now, Leg::Caller, data, &mut relayed).is_ok() {
                                let _ = rtp_sock.send_to(&relayed, *op);
                            }
                        }
                        _ => s.handle_rtp(now, from, data),
                    }
                }
            }
            r = rtcp_sock.recv_from(&mut rtcp_buf) => if r.is_ok() { rtcp_packets += 1 },
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                match cmd {
                    MediaCommand::Start { remote, codec: c, payload_type, telephone_event } => {
                        codec = c;
                        caller_leg = Some((payload_type, telephone_event));
                        let mut rng = rand::thread_rng();
                        let cfg = SessionConfig {
                            codec: c,
                            payload_type,
                            telephone_event,
                            remote,
                            ssrc: rng.gen(),
                            initial_seq: rng.gen(),
                            initial_timestamp: rng.gen(),
                            rtp_timeout: Some(session::DEFAULT_RTP_TIMEOUT),
                        };
                        session = Some(MediaSession::new(now, cfg));
                    }
                    MediaCommand::Play { prompt } => match (session.as_mut(), prompts.frames(&prompt.lang, &prompt.id, codec)) {
                        (Some(s), Some(frames)) => s.play(now, frames, prompt),
                        // Nothing to play: the IVR must not wait for it.
                        _ => {
                            debug!(%call, lang = %prompt.lang, id = %prompt.id, "prompt unavailable; reported finished");
                            if tx.send(EngineInput::Media { call, input: MediaInput::PromptFinished { prompt } }).await.is_err() {
                                break;
                            }
                        }
                    },
                    MediaCommand::StopPrompt => {
                        if let Some(s) = session.as_mut() {
                            s.stop_prompt();
                        }
                    }
                    MediaCommand::StopInband => {
                        if let Some(s) = session.as_mut() {
                            s.stop_inband();
                        }
                    }
                    MediaCommand::Bridge { remote, codec: oc, payload_type, telephone_event } => {
                        if let Some(s) = session.as_mut() {
                            s.stop_prompt();
                        }
                        match bridge.as_mut() {
                            // The operator changed its media (hold, unhold): same bridge.
                            Some((relay, op)) => {
                                let n = Negotiated { codec: oc, payload_type, remote, telephone_event, direction: Direction::SendRecv, ptime_ms: None };
                                relay.reconfigure(Leg::Operator, &n);
                                *op = remote;
                            }
                            None => {
                                let (cpt, cte) = caller_leg.unwrap_or((codec.payload_type(), None));
                                let mut rng = rand::thread_rng();
                                let mut start = || StreamStart { ssrc: rng.gen(), seq: rng.gen(), timestamp: rng.gen(), at: now };
                                let caller_cfg = LegConfig { codec, payload_type: cpt, telephone_event: cte, start: start() };
                                let op_cfg = LegConfig { codec: oc, payload_type, telephone_event, start: start() };
                                bridge = Some((Relay::new(caller_cfg, op_cfg), remote));
                                debug!(%call, operator_rtp = ?remote, "bridged");
                            }
                        }
                    }
                }
            }
            _ = &mut timer, if armed.is_some() => {
                armed = None;
                if let Some(s) = session.as_mut() {
                    s.handle_timeout(Instant::now());
                }
            }
            _ = stop.cancelled() => break,
        }
        let Some(s) = session.as_mut() else { continue };
        while let Some((to, bytes)) = s.poll_transmit() {
            let _ = rtp_sock.send_to(&bytes, to);
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
            };
            if tx.send(EngineInput::Media { call, input }).await.is_err() {
                return;
            }
        }
    }
    if let Some((relay, _)) = &bridge {
        let c = relay.counters();
        info!(%call, from_caller = c.from_caller.relayed, from_operator = c.from_operator.relayed, transcoded = c.from_caller.transcoded + c.from_operator.transcoded, "bridge closed");
    }
    if let Some(s) = &session {
        let c = s.counters();
        info!(
            %call,
            received = c.received,
            sent = c.sent,
            dropped_foreign_source = c.dropped_foreign_source,
            malformed = c.malformed,
            rtcp = c.rtcp + rtcp_packets,
            "media closed"
        );
    }
}
