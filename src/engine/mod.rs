//! The engine: the sans-IO state machine that owns all signalling state.
//!
//! It is fed bytes from the network, media-port results and time, and it returns
//! [`Output`]s: bytes to send, media ports to open or close, call events to record.
//! One engine task in the runtime owns it, so nothing here needs a lock, and every
//! scenario — retransmissions, CANCEL races, lost ACKs — is testable on a virtual
//! clock (see `tests` below).
//!
//! Life of an emergency INVITE here: 100 Trying at once; the protocol checks a UAS must
//! make (RFC 3261 §8.2: scheme 416, Require 420, body 415) and whether the Request-URI is
//! a configured emergency identity (404 if not); codec negotiation (488 if no common
//! codec); then a media port is opened and, once it is, the 200 OK with our SDP goes out
//! and is retransmitted until the ACK. Nothing about queues, IVR or configuration state
//! can refuse it; no credentials are ever asked of it.

mod admission;
pub mod b2bua;
pub mod call;
pub mod control;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, warn};


use crate::call::acd::{Acd, AcdAction};
use crate::call::ivr::{Entry, IvrAction, IvrPath, PromptRef, Routing};
use crate::call::registrar::{RegisterOutcome, Registrar, RegistrarEvent};
use crate::config::{Lang, PromptId};
use crate::config::Config;
use crate::media::ports::PortPool;
use crate::media::sdp::{self, LocalMedia, SdpError};
use crate::media::Codec;
use crate::sip::body::sdp_of;
use crate::sip::header::split_list;
use crate::sip::message::reason_phrase;
use crate::sip::transaction::{InviteServerTx, NonInviteClientTx, NonInviteServerTx, Timers, TxAction, TxKey};
use crate::sip::{parse, HeaderName, Peer, Transport, Message, Method, Outgoing, ParseError, Request, Response, Uri, UriKind};

pub use b2bua::OperatorDialog;
pub use call::{Call, CallState, DialogKey, EndReason};
pub use crate::call::CallId;

/// The methods we implement, as sent in Allow.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

/// How many ports are tried for one call before it gets 503: a port can fail to bind
/// when another process holds it.
const MAX_PORT_TRIES: u32 = 8;

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

struct IstEntry {
    tx: InviteServerTx,
    peer: Peer,
    /// The INVITE, to build our responses from; dropped once the final response is
    /// out (the transaction lives on for 32 s, and a surge holds tens of thousands).
    req: Option<Request>,
    /// Its key in `ist_index`, and its Call-ID, which outlive `req`.
    key: TxKey,
    call_id: String,
    to_tag: String,
    call: Option<CallId>,
    scheduled: Option<Instant>,
}

struct NistEntry {
    tx: NonInviteServerTx,
    peer: Peer,
    /// Its key in `nist_index`, to remove it in O(1) when it ends.
    key: TxKey,
    scheduled: Option<Instant>,
}

struct NictEntry {
    tx: NonInviteClientTx,
    peer: Peer,
    branch: String,
    scheduled: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Ist(u64),
    Nist(u64),
    Nict(u64),
    Ivr(CallId),
    Registrar,
    Acd,
    Fork(u64, usize),
}

/// At most one log line per source address per second for bad input.
struct LogLimiter {
    last: HashMap<IpAddr, Instant>,
}

impl LogLimiter {
    fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.last.len() > 4096 {
            self.last.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(1));
        }
        match self.last.get(&ip) {
            Some(t) if now.saturating_duration_since(*t) < Duration::from_secs(1) => false,
            _ => {
                self.last.insert(ip, now);
                true
            }
        }
    }
}

pub struct Engine {
    config: Arc<Config>,
    timers: Timers,
    rng: SmallRng,
    next_id: u64,
    ist_index: HashMap<TxKey, u64>,
    /// Boxed: a transaction lives 32 s after its final response (Timers H, L), so a
    /// surge leaves a large table behind; boxed entries keep it at 16 bytes a slot.
    ists: HashMap<u64, Box<IstEntry>>,
    nist_index: HashMap<TxKey, u64>,
    nists: HashMap<u64, Box<NistEntry>>,
    nict_index: HashMap<String, u64>,
    nicts: HashMap<u64, NictEntry>,
    calls: HashMap<CallId, Call>,
    dialogs: HashMap<DialogKey, CallId>,
    /// Calls that ended while their port was still being opened: close it when it is.
    closing: HashMap<CallId, u16>,
    ports: PortPool,
    heap: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    out: VecDeque<Output>,
    stats: Stats,
    limiter: LogLimiter,
    draining: bool,
    /// A monotonic instant and the wall-clock time it corresponds to: the IVR's time
    /// rules need local time, and the core never reads a clock.
    wall_anchor: (Instant, SystemTime),
    registrar: Registrar,
    registrar_scheduled: Option<Instant>,
    acd: Acd,
    acd_scheduled: Option<Instant>,
    offers: HashMap<u64, b2bua::Offer>,
    /// Branch of an operator INVITE → (offer, fork).
    fork_index: HashMap<String, (u64, usize)>,
    /// Operator-side dialogs of bridged calls.
    op_dialogs: HashMap<DialogKey, CallId>,
    /// The latest time the engine was told, for the few paths that drain the ACD
    /// without a `now` of their own.
    last_now: Instant,
    /// How long the message being handled waited between its socket and the engine.
    waited: Duration,
    /// Whether the gateway is behind (the `[overload]` limits).
    admission: admission::Admission,
    /// Overload refusals not yet logged, and when the last log line was written: one
    /// line per second at most, however many calls are refused.
    overload_log: (u64, Option<Instant>),
}

impl Engine {
    /// `seed` feeds the generator of tags, branches and SDP session ids.
    pub fn new(config: Arc<Config>, seed: u64) -> Engine {
        Engine::with_timers(config, seed, Timers::default())
    }

    pub fn with_timers(config: Arc<Config>, seed: u64, timers: Timers) -> Engine {
        let ports = PortPool::new(config.media.port_min, config.media.port_max);
        let mut rng = SmallRng::seed_from_u64(seed);
        let now = Instant::now();
        let registrar = Registrar::new(now, SystemTime::UNIX_EPOCH, config.registrar.clone(), &config.operators, rng.gen());
        let acd = Acd::new(config.acd.clone(), &config.routing, &config.operators);
        Engine {
            config,
            timers,
            rng,
            next_id: 1,
            ist_index: HashMap::new(),
            ists: HashMap::new(),
            nist_index: HashMap::new(),
            nists: HashMap::new(),
            nict_index: HashMap::new(),
            nicts: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            closing: HashMap::new(),
            ports,
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
            limiter: LogLimiter { last: HashMap::new() },
            draining: false,
            wall_anchor: (now, SystemTime::UNIX_EPOCH),
            registrar,
            registrar_scheduled: None,
            acd,
            acd_scheduled: None,
            offers: HashMap::new(),
            fork_index: HashMap::new(),
            op_dialogs: HashMap::new(),
            last_now: now,
            waited: Duration::ZERO,
            admission: admission::Admission::default(),
            overload_log: (0, None),
        }
    }

    /// Tie the monotonic clock to wall-clock time; the runtime does this at start,
    /// before any traffic (the registrar is rebuilt so its Date headers are right).
    pub fn set_wall_clock(&mut self, now: Instant, utc: SystemTime) {
        self.wall_anchor = (now, utc);
        self.registrar = Registrar::new(now, utc, self.config.registrar.clone(), &self.config.operators, self.rng.gen());
    }

    fn utc(&self, now: Instant) -> SystemTime {
        let (at, utc) = self.wall_anchor;
        match now.checked_duration_since(at) {
            Some(d) => utc + d,
            None => utc.checked_sub(at.duration_since(now)).unwrap_or(utc),
        }
    }

    /// Shutting down: new INVITEs get 503 with Retry-After so the carrier tries another
    /// gateway at once, while calls in progress go on until they end or the grace period
    /// runs out.
    pub fn begin_shutdown(&mut self) {
        self.draining = true;
    }

    /// New calls use the new configuration; calls in progress keep what they have.
    /// Operator accounts and registrar settings apply at once (bindings of operators
    /// who remain stay registered).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.registrar.reconfigure(config.registrar.clone(), &config.operators);
        self.config = config;
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Calls, transactions and offers held now: what the gateway's memory follows.
    pub fn live_state(&self) -> usize {
        self.calls.len() + self.ists.len() + self.nists.len() + self.nicts.len() + self.offers.len()
    }

    /// After a surge: gives back the tables' room beyond twice what is live now. A
    /// `HashMap` never shrinks by itself, so without this the peak's tables would stay.
    pub fn compact(&mut self) {
        fn shrink<K: Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 1024 && m.len().saturating_mul(4) < m.capacity() {
                m.shrink_to(m.len().saturating_mul(2));
            }
        }
        shrink(&mut self.ist_index);
        shrink(&mut self.ists);
        shrink(&mut self.nist_index);
        shrink(&mut self.nists);
        shrink(&mut self.nict_index);
        shrink(&mut self.nicts);
        shrink(&mut self.calls);
        shrink(&mut self.dialogs);
        shrink(&mut self.offers);
        shrink(&mut self.fork_index);
        shrink(&mut self.op_dialogs);
        if self.heap.capacity() > 4096 && self.heap.len().saturating_mul(4) < self.heap.capacity() {
            self.heap.shrink_to(self.heap.len().saturating_mul(2));
        }
    }

    pub fn call(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// Open transactions of every kind (for leak checks in tests and health output).
    pub fn open_transactions(&self) -> usize {
        self.ists.len() + self.nists.len() + self.nicts.len()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// One SIP message (a datagram, or a frame cut from a TCP stream), handled the
    /// moment it arrived.
    pub fn handle_sip(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        self.handle_sip_received(now, now, peer, bytes);
    }

    /// One SIP message that arrived at `received` and reaches the engine at `now`: the
    /// difference is how far behind the gateway is, which the overload limits read.
    pub fn handle_sip_received(&mut self, now: Instant, received: Instant, peer: Peer, bytes: &[u8]) {
        self.tick(now);
        self.waited = now.saturating_duration_since(received);
        self.stats.messages += 1;
        match parse(bytes) {
            Ok(Message::Request(req)) => self.on_request(now, peer, req),
            Ok(Message::Response(resp)) => self.on_response(now, resp),
            Err(e) => self.on_parse_error(peer, now, e),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while let Some(Reverse((t, r))) = self.heap.peek().copied() {
            if t > now {
                break;
            }
            self.heap.pop();
            match r {
                TimerRef::Ist(id) => {
                    if let Some(e) = self.ists.get_mut(&id) {
                        if e.scheduled == Some(t) {
                            e.scheduled = None;
                            e.tx.handle_timeout(now);
                            self.drain_ist(now, id);
                        }
                    }
                }
                TimerRef::Nist(id) => {
                    if let Some(e) = self.nists.get_mut(&id) {
                        if e.scheduled == Some(t) {
                            e.scheduled = None;
                            e.tx.handle_timeout(now);
                            self.drain_nist(id);
                        }
                    }
                }
                TimerRef::Nict(id) => {
                    if let Some(e) = self.nicts.get_mut(&id) {
                        if e.scheduled == Some(t) {
                            e.scheduled = None;
                            e.tx.handle_timeout(now);
                            self.drain_nict(id);
                        }
                    }
                }
                TimerRef::Registrar => {
                    if self.registrar_scheduled == Some(t) {
                        self.registrar_scheduled = None;
                        self.registrar.handle_timeout(now);
                        self.drain_registrar_at(now);
                    }
                }
                TimerRef::Acd => {
                    if self.acd_scheduled == Some(t) {
                        self.acd_scheduled = None;
                        self.acd.handle_timeout(now);
                        self.drain_acd_at(now);
                    }
                }
                TimerRef::Fork(offer, idx) => {
                    let due = self.offers.get_mut(&offer).and_then(|o| o.forks.get_mut(idx)).filter(|f| f.scheduled == Some(t));
                    if let Some(f) = due {
                        f.scheduled = None;
                        if let Some(tx) = f.tx.as_mut() {
                            tx.handle_timeout(now);
                        }
                        self.drain_fork(now, offer, idx);
                    }
                }
                TimerRef::Ivr(id) => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        if c.ivr_scheduled == Some(t) {
                            c.ivr_scheduled = None;
                            if let Some(ivr) = c.ivr.as_mut() {
                                ivr.handle_timeout(now);
                            }
                            self.drain_ivr(now, id);
                        }
                    }
                }
            }
        }
    }

    /// The runtime opened (or failed to open) the RTP/RTCP sockets of a call.
    pub fn handle_media_opened(&mut self, now: Instant, id: CallId, port: u16, ok: bool) {
        self.tick(now);
        if let Some(p) = self.closing.remove(&id) {
            if ok {
                self.out.push_back(Output::CloseMedia { call: id, port: p });
            }
            self.ports.release(p);
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        let CallState::Opening { port: expected, tries } = call.state else { return };
        if expected != port {
            return;
        }
        if !ok {
            warn!(call = %id, port, "RTP port could not be opened; trying the next one");
            self.ports.release(port);
            match self.ports.take() {
                Some(next) if tries < MAX_PORT_TRIES => {
                    call.state = CallState::Opening { port: next, tries: tries + 1 };
                    self.out.push_back(Output::OpenMedia { call: id, port: next });
                }
                other => {
                    if let Some(p) = other {
                        self.ports.release(p);
                    }
                    self.stats.no_media_port += 1;
                    warn!(call = %id, "no RTP port can be opened: answering 503");
                    if let Some(key) = call.invite_tx.clone() {
                        self.final_ist(now, &key, 503, "No media port available", &[("Retry-After", "5".into())], None);
                    }
                    self.end_call(now, id, EndReason::NoMediaPort);
                }
            }
            return;
        }
        self.answer_call(now, id, port);
    }

    /// A new call's media started `delay` late: its opening's wait for a worker plus how
    /// late its media shard runs its timers. The overload limits read it to see whether
    /// the media keeps up (the engine's own queue can be short while the media threads
    /// are saturated by the calls' RTP).
    pub fn observe_media_delay(&mut self, now: Instant, delay: Duration) {
        self.admission.observe_media_delay(now, delay, &self.config.overload);
    }

    /// An event from a call's media.
    pub fn handle_media(&mut self, now: Instant, id: CallId, input: MediaInput) {
        self.tick(now);
        match input {
            MediaInput::Digit { key, source } => self.on_digit(now, id, key, source),
            MediaInput::PromptFinished { prompt } => {
                let Some(call) = self.calls.get_mut(&id) else { return };
                if call.playing.as_ref() == Some(&prompt) {
                    call.playing = None;
                }
                if let Some(ivr) = call.ivr.as_mut() {
                    ivr.handle_prompt_finished(now, &prompt);
                    self.drain_ivr(now, id);
                } else if let Some(next) = call.queued_prompts.pop_front() {
                    self.play(id, next);
                }
            }
            MediaInput::RtpTimeout => {
                if self.calls.contains_key(&id) {
                    self.event(id, CallEventKind::RtpTimeout);
                }
            }
        }
    }

    fn on_digit(&mut self, now: Instant, id: CallId, key: char, source: DigitSource) {
        if !self.calls.contains_key(&id) {
            return;
        }
        self.event(id, CallEventKind::Digit { key, source });
        if let Some(ivr) = self.calls.get_mut(&id).and_then(|c| c.ivr.as_mut()) {
            ivr.handle_digit(now, key);
        }
        self.drain_ivr(now, id);
    }

    /// Start the media and the IVR once the 200 OK is out: the caller hears the
    /// greeting as soon as media can flow.
    fn start_media_and_ivr(&mut self, now: Instant, id: CallId) {
        let utc = self.utc(now);
        let plan = self.config.routing.clone();
        let default_codec = self.config.media.codecs.first().copied().unwrap_or(Codec::Pcmu);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let start = match &call.negotiated {
            Some(n) => MediaCommand::Start { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event },
            None => MediaCommand::Start { remote: None, codec: default_codec, payload_type: default_codec.payload_type(), telephone_event: None },
        };
        let entry = if call.identity.starts_with("urn:") { Entry::Menu } else { Entry::Number(call.identity.clone()) };
        call.ivr = Some(crate::call::ivr::Ivr::new(plan, now, utc, entry));
        self.out.push_back(Output::Media { call: id, cmd: start });
        self.drain_ivr(now, id);
    }

    fn drain_ivr(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(ivr) = call.ivr.as_mut() else { return };
        let mut events = Vec::new();
        while let Some(a) = ivr.poll_action() {
            match a {
                IvrAction::Play { prompt } => {
                    call.playing = Some(prompt.clone());
                    self.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
                    events.push(CallEventKind::Prompt { prompt });
                }
                IvrAction::StopPrompt => self.out.push_back(Output::Media { call: id, cmd: MediaCommand::StopPrompt }),
                IvrAction::Route(routing) => {
                    if let Some(prompt) = routing.announce.clone() {
                        call.playing = Some(prompt.clone());
                        self.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
                        events.push(CallEventKind::Prompt { prompt });
                    }
                    call.routing = Some(routing.clone());
                    events.push(CallEventKind::Routed { routing });
                }
            }
        }
        call.language = Some(ivr.language().clone());
        let next = ivr.poll_timeout();
        if ivr.is_done() {
            events.push(CallEventKind::IvrPath { path: ivr.path().clone() });
            self.out.push_back(Output::Media { call: id, cmd: MediaCommand::StopInband });
            call.ivr = None;
            call.ivr_scheduled = None;
        } else if next != call.ivr_scheduled {
            call.ivr_scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Ivr(id))));
            }
        }
        let route = events.iter().find_map(|e| match e {
            CallEventKind::Routed { routing } => Some(routing.queue.clone()),
            _ => None,
        });
        for e in events {
            self.event(id, e);
        }
        if let Some(queue) = route {
            self.acd.enqueue(now, id, &queue);
            let position = self.acd.position(id).map_or(0, |(_, p)| p);
            self.event(id, CallEventKind::Queued { queue: queue.to_string(), position });
            self.drain_acd();
        }
    }

    /// Play a prompt on a call now, or after the one it is hearing (an announcement
    /// is never cut by the queue's own prompts).
    fn play(&mut self, id: CallId, prompt: PromptRef) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.playing.is_some() {
            call.queued_prompts.push_back(prompt);
            return;
        }
        call.playing = Some(prompt.clone());
        self.out.push_back(Output::Media { call: id, cmd: MediaCommand::Play { prompt: prompt.clone() } });
        self.event(id, CallEventKind::Prompt { prompt });
    }

    /// A queue prompt (`hold`, `stay_on_line`) in the language the caller chose.
    fn queue_prompt(&self, id: CallId, prompt: &str) -> Option<PromptRef> {
        let call = self.calls.get(&id)?;
        let lang: Lang = call.language.clone().or_else(|| self.config.routing.default_language().cloned())?;
        Some(PromptRef { lang, id: PromptId::new(prompt) })
    }

    /// Every input brings the time: the few paths without a `now` of their own (the ACD
    /// drained after a queue change) must never act on a stale one, or an offer's
    /// INVITE transaction would start in the past (duplicate INVITEs, and after a
    /// quiet spell an offer failing at once on an expired Timer B).
    fn tick(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
    }

    fn drain_acd(&mut self) {
        let now = self.last_now;
        self.drain_acd_at(now);
    }

    fn drain_acd_at(&mut self, now: Instant) {
        self.tick(now);
        while let Some(a) = self.acd.poll_action() {
            match a {
                AcdAction::PlayHold { call } => {
                    if let Some(p) = self.queue_prompt(call, "hold") {
                        self.play(call, p);
                    }
                }
                AcdAction::PlayStayOnLine { call } => {
                    if let Some(p) = self.queue_prompt(call, "stay_on_line") {
                        self.play(call, p);
                    }
                }
                AcdAction::Overflowed { call, to } => self.event(call, CallEventKind::Overflowed { to: to.to_string() }),
                AcdAction::OperatorState { op, state, reason } => self.out.push_back(Output::Operator {
                    operator: op.to_string(),
                    kind: OperatorEventKind::State,
                    detail: Some(match reason {
                        Some(r) => format!("{} ({r})", state.as_str()),
                        None => state.as_str().to_string(),
                    }),
                }),
                AcdAction::Offer { call, operator } => self.offer(now, call, operator),
                AcdAction::CancelOffer { call, .. } => self.withdraw(now, call),
            }
        }
        let next = self.acd.poll_timeout();
        if next != self.acd_scheduled {
            self.acd_scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Acd)));
            }
        }
    }

    fn drain_registrar_at(&mut self, now: Instant) {
        while let Some(ev) = self.registrar.poll_event() {
            match ev {
                RegistrarEvent::Registered { operator, binding, first } => {
                    info!(%operator, contact = %binding.contact, "operator registered");
                    if first {
                        self.out.push_back(Output::Operator { operator: operator.to_string(), kind: OperatorEventKind::Login, detail: Some(binding.contact.clone()) });
                        self.acd.operator_registered(now, &operator);
                    }
                }
                RegistrarEvent::Unregistered { operator, contact, remaining } | RegistrarEvent::Expired { operator, contact, remaining } => {
                    info!(%operator, %contact, remaining, "operator contact removed");
                    if remaining == 0 {
                        self.out.push_back(Output::Operator { operator: operator.to_string(), kind: OperatorEventKind::Logout, detail: Some(contact) });
                        self.acd.operator_unregistered(now, &operator);
                    }
                }
                RegistrarEvent::LockedOut { source, user, .. } => {
                    warn!(%source, %user, "too many failed REGISTERs: this address is ignored for this user for a while");
                }
            }
        }
        let next = self.registrar.poll_timeout();
        if next != self.registrar_scheduled {
            self.registrar_scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Registrar)));
            }
        }
        self.drain_acd_at(now);
    }

    // ----- requests -------------------------------------------------------------------

    fn on_request(&mut self, now: Instant, peer: Peer, req: Request) {
        if req.method == Method::Ack {
            return self.on_ack(now, req);
        }
        let Some(key) = TxKey::server(&req) else { return };
        // A retransmission goes to its transaction, which answers with its latest response.
        if req.method == Method::Invite {
            // How long INVITEs wait is what tells whether new calls can be served (the
            // runtime serves them after everything else).
            self.admission.observe(now, self.waited, &self.config.overload);
            if let Some(&id) = self.ist_index.get(&key) {
                if let Some(e) = self.ists.get_mut(&id) {
                    e.tx.handle_retransmission();
                }
                return self.drain_ist(now, id);
            }
        } else if let Some(&id) = self.nist_index.get(&key) {
            if let Some(e) = self.nists.get_mut(&id) {
                e.tx.handle_retransmission();
            }
            return self.drain_nist(id);
        }
        // RFC 3261 §8.2.1–8.2.2: method, then Request-URI scheme, then Require, for every
        // request outside a dialog as well as inside.
        match &req.method {
            Method::Other(_) => {
                return self.respond_nist(now, peer, key, &req, (501, "Not Implemented"), &[("Allow", ALLOW.into())]);
            }
            Method::Invite | Method::Cancel | Method::Bye | Method::Options | Method::Info | Method::Register => {}
            _ => return self.respond_nist(now, peer, key, &req, (405, "Method Not Allowed"), &[("Allow", ALLOW.into())]),
        }
        if req.method == Method::Invite {
            return self.on_invite(now, peer, req, key);
        }
        if let UriKind::Other { .. } = req.uri.kind() {
            return self.respond_nist(now, peer, key, &req, (416, "Unsupported URI Scheme"), &[]);
        }
        let require = req.head.list(&HeaderName::Require);
        if !require.is_empty() && req.method != Method::Cancel {
            return self.respond_nist(now, peer, key, &req, (420, "Bad Extension"), &[("Unsupported", require.join(", "))]);
        }
        match req.method {
            Method::Cancel => self.on_cancel(now, peer, req, key),
            Method::Bye => self.on_bye(now, peer, req, key),
            Method::Options => {
                let hdrs = capabilities();
                self.respond_nist(now, peer, key, &req, (200, "OK"), &hdrs);
            }
            Method::Info => self.on_info(now, peer, req, key),
            _ => self.on_register(now, peer, req, key),
        }
    }

    /// Operators register with Digest credentials (RFC 7616/8760); unknown users and
    /// wrong passwords get the same answer, and repeated failures from one address for
    /// one user are dropped silently for a while.
    fn on_register(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        // A non-SIP address of record is malformed whoever sends it (RFC 4475 §3.3.4);
        // refusing it before authentication tells nothing about which users exist.
        if !matches!(req.head.to.uri.kind(), UriKind::Sip(_)) {
            return self.respond_nist(now, peer, key, &req, (400, "Address of record must be a SIP URI"), &[]);
        }
        match self.registrar.handle_register(now, peer.remote, peer.transport, &req) {
            RegisterOutcome::Respond(r) => {
                let hdrs: Vec<(&str, String)> = r.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
                self.respond_nist(now, peer, key, &req, (r.status, r.reason), &hdrs);
            }
            RegisterOutcome::Drop => self.stats.register_dropped += 1,
        }
        self.drain_registrar_at(now);
    }

    /// The first event of a call's record, accepted or refused.
    fn started_event(&self, record: String, req: &Request, identity: String, peer: Peer) -> CallEventKind {
        CallEventKind::Started {
            record,
            caller: req.head.from.uri.dialed().unwrap_or_else(|| req.head.from.uri.to_string()),
            caller_name: req.head.from.display.clone(),
            dialed: req.uri.to_string(),
            identity,
            remote: peer.remote,
            transport: peer.transport,
            config_version: self.config.version.clone(),
        }
    }

    /// `100 Trying` on INVITE server transaction `id`.
    fn trying(&mut self, now: Instant, id: u64) {
        let Some(e) = self.ists.get(&id) else { return };
        let Some(req) = &e.req else { return };
        let bytes = self.response(req, 100, "Trying", None, &[]).to_bytes();
        if let Some(e) = self.ists.get_mut(&id) {
            e.tx.respond(now, 100, bytes);
        }
        self.drain_ist(now, id);
    }

    /// 503 with Retry-After for a new emergency call the gateway cannot serve (the
    /// `[overload]` limits, or no RTP port free). The carrier can send it elsewhere at
    /// once; the refusal is still recorded (outcome `rejected`, with the caller's
    /// number) so the shift can call back.
    fn refuse_overload(&mut self, now: Instant, peer: Peer, req: &Request, key: &TxKey, identity: String, reason: &'static str) {
        self.stats.refused_overload += 1;
        self.overload_log.0 += 1;
        if self.overload_log.1.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            warn!(
                refused = self.overload_log.0,
                reason,
                calls = self.calls.len(),
                waited_ms = self.waited.as_millis() as u64,
                "overload: new calls answered 503 with Retry-After"
            );
            self.overload_log = (0, Some(now));
        }
        let retry = admission::retry_after(&self.config.overload);
        self.final_ist(now, key, 503, reason, &[("Retry-After", retry)], None);
        let call = CallId(self.next_id());
        let sip_call_id = req.head.call_id.clone();
        let record = self.new_record_id(now);
        let started = self.started_event(record, req, identity, peer);
        for kind in [started, CallEventKind::Ended { reason: EndReason::Overload }] {
            self.out.push_back(Output::Event(CallEvent { call, sip_call_id: sip_call_id.clone(), kind }));
        }
    }

    fn on_invite(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        let id = self.next_id();
        let to_tag = self.random_tag();
        let tx = InviteServerTx::new(peer.transport.reliable(), self.timers);
        let call_id = req.head.call_id.clone();
        self.ists.insert(id, Box::new(IstEntry { tx, peer, req: Some(req.clone()), key: key.clone(), call_id, to_tag, call: None, scheduled: None }));
        self.ist_index.insert(key.clone(), id);
        self.drain_ist(now, id);

        if let Some(remote_tag) = req.head.to.tag() {
            let dk = DialogKey {
                call_id: req.head.call_id.clone(),
                local_tag: remote_tag.to_string(),
                remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
            };
            if let Some(call) = self.op_dialogs.get(&dk).copied() {
                self.trying(now, id);
                return self.on_operator_reinvite(now, call, key, &req);
            }
            return match self.dialogs.get(&dk).copied() {
                Some(call) => {
                    self.trying(now, id);
                    self.on_reinvite(now, call, key, &req)
                }
                None => self.final_ist(now, &key, 481, "Call/Transaction Does Not Exist", &[], None),
            };
        }
        if let UriKind::Other { .. } = req.uri.kind() {
            return self.final_ist(now, &key, 416, "Unsupported URI Scheme", &[], None);
        }
        let require = req.head.list(&HeaderName::Require);
        if !require.is_empty() {
            let tags = require.join(", ");
            return self.final_ist(now, &key, 420, "Bad Extension", &[("Unsupported", tags)], None);
        }
        let offer = match sdp_of(&req.head, &req.body) {
            Ok(o) => o,
            Err(e) => {
                debug!(%e, "INVITE body refused");
                return self.final_ist(now, &key, 415, "Unsupported Media Type", &[("Accept", "application/sdp".into())], None);
            }
        };
        if self.draining {
            self.stats.refused_shutting_down += 1;
            return self.final_ist(now, &key, 503, "Shutting down", &[("Retry-After", "1".into())], None);
        }
        if !accepts_sdp(&req) {
            return self.final_ist(now, &key, 406, "Not Acceptable", &[("Accept", "application/sdp".into())], None);
        }
        let Some(identity) = self.match_emergency(&req.uri) else {
            self.stats.not_emergency += 1;
            debug!(uri = %req.uri, "INVITE to a non-emergency identity");
            return self.final_ist(now, &key, 404, "Not an emergency number", &[], None);
        };
        // Admission before the answer to the offer is tried: in a surge most INVITEs
        // are refused, and building an SDP answer (about 7 µs) for each would be spent
        // by the thread that must keep up with the calls it accepted.
        if let Err(refusal) = self.admission.admit(now, self.calls.len(), self.waited, &self.config.overload) {
            return self.refuse_overload(now, peer, &req, &key, identity, refusal.reason());
        }
        if let Some(offer) = &offer {
            let probe = LocalMedia { addr: self.config.media.address, port: 0, session_id: 0, session_version: 0 };
            if let Err(e) = sdp::answer(offer, &probe, &self.config.media.codecs) {
                return self.refuse_offer(now, &key, &e);
            }
        }
        // Refusals above go out as the only response: a refused emergency call costs the
        // gateway as little as possible, which matters most when it is overloaded.
        let Some(port) = self.ports.take() else {
            self.stats.no_media_port += 1;
            return self.refuse_overload(now, peer, &req, &key, identity, "No media port available");
        };
        // 100 Trying at once: the 200 waits for the RTP port and the call's record, and
        // the caller's INVITE retransmissions must stop (§17.2.1).
        self.trying(now, id);
        let call_id = CallId(self.next_id());
        let local_tag = self.ists.get(&id).map(|e| e.to_tag.clone()).unwrap_or_default();
        let remote_target = req.head.contact.first().map_or_else(|| req.head.from.uri.to_string(), |c| c.uri.to_string());
        let route_set = req
            .head
            .get_all(&HeaderName::RecordRoute)
            .filter_map(|v| split_list(v).ok())
            .flatten()
            .map(str::to_string)
            .collect();
        let call = Call {
            id: call_id,
            record: self.new_record_id(now),
            sip_call_id: req.head.call_id.clone(),
            peer,
            started: now,
            state: CallState::Opening { port, tries: 1 },
            local_tag,
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
            invite_tx: Some(key),
            remote_from: req.head.get(&HeaderName::From).unwrap_or_default().to_string(),
            local_to: req.head.get(&HeaderName::To).unwrap_or_default().to_string(),
            remote_target,
            route_set,
            local_cseq: 0,
            remote_cseq: req.head.cseq.seq,
            remote_offer: offer,
            local_media: None,
            negotiated: None,
            identity: identity.clone(),
            ivr: None,
            ivr_scheduled: None,
            routing: None,
            language: None,
            playing: None,
            queued_prompts: std::collections::VecDeque::new(),
            caller: req.head.from.uri.dialed().unwrap_or_else(|| req.head.from.uri.to_string()),
            caller_name: req.head.from.display.clone(),
            offer: None,
            operator: None,
        };
        self.dialogs.insert(call.dialog_key(), call_id);
        if let Some(e) = self.ists.get_mut(&id) {
            e.call = Some(call_id);
        }
        let event = self.started_event(call.record.clone(), &req, identity, peer);
        self.calls.insert(call_id, call);
        self.stats.calls_started += 1;
        self.event(call_id, event);
        self.out.push_back(Output::OpenMedia { call: call_id, port });
    }

    /// The port is open: send the 200 OK with our SDP (answer, or offer if the INVITE had none).
    fn answer_call(&mut self, now: Instant, id: CallId, port: u16) {
        let session_id = self.rng.gen::<u32>() as u64;
        let Some(call) = self.calls.get_mut(&id) else { return };
        let local = LocalMedia { addr: self.config.media.address, port, session_id, session_version: 1 };
        let (body, negotiated) = match &call.remote_offer {
            Some(offer) => match sdp::answer(offer, &local, &self.config.media.codecs) {
                Ok((b, n)) => (b, Some(n)),
                // Checked before the port was taken; an error here is a bug, not the caller's.
                Err(e) => {
                    warn!(call = %id, %e, "SDP answer failed after the offer was checked");
                    (sdp::offer(&local, &self.config.media.codecs), None)
                }
            },
            None => (sdp::offer(&local, &self.config.media.codecs), None),
        };
        call.state = CallState::Answered;
        call.local_media = Some(local);
        call.negotiated = negotiated.clone();
        let Some(key) = call.invite_tx.clone() else { return };
        let peer = call.peer;
        let contact = self.contact_for(peer);
        let hdrs = [("Contact", contact), ("Allow", ALLOW.into()), ("Supported", String::new()), ("Accept", "application/sdp".into())];
        self.final_ist(now, &key, 200, "OK", &hdrs, Some(Bytes::from(body)));
        self.stats.calls_answered += 1;
        let kind = match negotiated.clone() {
            Some(n) => CallEventKind::Answered { codec: n.codec, telephone_event: n.telephone_event, rtp_port: port, remote_rtp: n.remote },
            None => CallEventKind::Answered {
                codec: self.config.media.codecs.first().copied().unwrap_or(Codec::Pcmu),
                telephone_event: None,
                rtp_port: port,
                remote_rtp: None,
            },
        };
        self.event(id, kind);
        self.start_media_and_ivr(now, id);
    }

    fn refuse_offer(&mut self, now: Instant, key: &TxKey, e: &SdpError) {
        let (reason, warning) = match e {
            SdpError::NoCommonCodec { .. } => {
                self.stats.no_common_codec += 1;
                ("Not Acceptable Here", "305 cc112 \"Incompatible media format: PCMU or PCMA required\"")
            }
            SdpError::NoAudio => ("Not Acceptable Here", "304 cc112 \"Media type not available: audio required\""),
            SdpError::Malformed(_) => ("Not Acceptable Here", "399 cc112 \"Malformed SDP\""),
        };
        info!(%e, "INVITE offer refused");
        self.final_ist(now, key, 488, reason, &[("Warning", warning.into())], None);
    }

    fn on_reinvite(&mut self, now: Instant, id: CallId, key: TxKey, req: &Request) {
        let codecs = self.config.media.codecs.clone();
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.invite_tx.is_some() || call.local_media.is_none() {
            // RFC 3261 §14.2: an INVITE arriving while ours awaits its ACK gets 500 + Retry-After.
            return self.final_ist(now, &key, 500, "Previous INVITE still pending", &[("Retry-After", "1".into())], None);
        }
        let offer = match sdp_of(&req.head, &req.body) {
            Ok(o) => o,
            Err(_) => return self.final_ist(now, &key, 415, "Unsupported Media Type", &[("Accept", "application/sdp".into())], None),
        };
        let Some(mut local) = call.local_media.clone() else { return };
        local.session_version += 1;
        let body = match &offer {
            Some(o) => match sdp::answer(o, &local, &codecs) {
                Ok((b, n)) => {
                    call.negotiated = Some(n);
                    b
                }
                Err(e) => return self.refuse_offer(now, &key, &e),
            },
            None => sdp::offer(&local, &codecs),
        };
        call.remote_offer = offer;
        call.local_media = Some(local);
        call.remote_cseq = req.head.cseq.seq;
        call.invite_tx = Some(key.clone());
        let peer = call.peer;
        let contact = self.contact_for(peer);
        let hdrs = [("Contact", contact), ("Allow", ALLOW.into()), ("Supported", String::new())];
        self.final_ist(now, &key, 200, "OK", &hdrs, Some(Bytes::from(body)));
    }

    /// The operator's re-INVITE (hold, unhold, codec change): answer on the same port
    /// and point the bridge at what the operator now offers.
    fn on_operator_reinvite(&mut self, now: Instant, id: CallId, key: TxKey, req: &Request) {
        let codecs = self.config.media.codecs.clone();
        let Some(local) = self.calls.get(&id).and_then(|c| c.local_media.clone()) else { return };
        let local = LocalMedia { session_version: local.session_version + 2, ..local };
        let body = match sdp_of(&req.head, &req.body) {
            Ok(Some(o)) => match sdp::answer(&o, &local, &codecs) {
                Ok((b, n)) => {
                    let cmd = MediaCommand::Bridge { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event };
                    self.out.push_back(Output::Media { call: id, cmd });
                    b
                }
                Err(e) => return self.refuse_offer(now, &key, &e),
            },
            _ => sdp::offer(&local, &codecs),
        };
        let contact = self.contact_for(self.calls.get(&id).map_or(self.dummy_peer(), |c| c.peer));
        self.final_ist(now, &key, 200, "OK", &[("Contact", contact), ("Allow", ALLOW.into())], Some(Bytes::from(body)));
    }

    fn dummy_peer(&self) -> Peer {
        let a = SocketAddr::new(self.config.media.address, 5060);
        Peer { transport: Transport::Udp, remote: a, local: a, conn: None }
    }

    fn on_ack(&mut self, now: Instant, req: Request) {
        // ACK to a non-2xx (same branch as the INVITE); for RFC 2543 peers also the ACK
        // to a 2xx, which their transaction key cannot tell apart.
        if let Some(key) = TxKey::server(&req) {
            if let Some(&tid) = self.ist_index.get(&key) {
                let call = self.ists.get_mut(&tid).and_then(|e| {
                    e.tx.handle_ack(now);
                    e.call
                });
                self.drain_ist(now, tid);
                if let Some(c) = call {
                    self.confirm(now, c, &req);
                }
                return;
            }
        }
        let dk = DialogKey {
            call_id: req.head.call_id.clone(),
            local_tag: req.head.to.tag().unwrap_or_default().to_string(),
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
        };
        if self.op_dialogs.contains_key(&dk) {
            // The operator's ACK for our 200 to its re-INVITE: stop retransmitting it.
            let tids: Vec<u64> = self.ists.iter().filter(|(_, e)| e.call_id == req.head.call_id).map(|(id, _)| *id).collect();
            for tid in tids {
                if let Some(e) = self.ists.get_mut(&tid) {
                    e.tx.handle_ack(now);
                }
                self.drain_ist(now, tid);
            }
            return;
        }
        match self.dialogs.get(&dk).copied() {
            Some(c) => self.confirm(now, c, &req),
            None => self.stats.stray_acks += 1, // an ACK is never answered
        }
    }

    fn confirm(&mut self, now: Instant, id: CallId, ack: &Request) {
        let codecs = self.config.media.codecs.clone();
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(key) = call.invite_tx.take() else { return };
        if let Some(&tid) = self.ist_index.get(&key) {
            if let Some(e) = self.ists.get_mut(&tid) {
                e.tx.handle_ack(now);
            }
        }
        let was_answered = call.state == CallState::Answered;
        call.state = CallState::Confirmed;
        // INVITE without SDP: the answer comes in the ACK (RFC 3264 §4).
        if call.remote_offer.is_none() {
            if let Ok(Some(answer)) = sdp_of(&ack.head, &ack.body) {
                match sdp::accept_answer(&answer, &codecs) {
                    Ok(n) => call.negotiated = Some(n),
                    // An emergency call is never dropped for this: media may still flow.
                    Err(e) => warn!(call = %id, %e, "unusable SDP answer in ACK; keeping the call"),
                }
            }
        }
        if let Some(&tid) = self.ist_index.get(&key) {
            self.drain_ist(now, tid);
        }
        if was_answered {
            self.event(id, CallEventKind::Confirmed);
        }
    }

    fn on_cancel(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        let Some(target) = TxKey::cancel_target(&req) else { return };
        let found = self.ist_index.get(&target).copied().and_then(|tid| self.ists.get(&tid).map(|e| (tid, e.tx.is_proceeding(), e.call, e.to_tag.clone())));
        match found {
            Some((_, proceeding, call, to_tag)) => {
                self.respond_nist_tagged(now, peer, key, &req, (200, "OK"), &[], Some(&to_tag));
                if proceeding {
                    // RFC 3261 §9.2: 487 to the INVITE; the call never started.
                    self.final_ist(now, &target, 487, "Request Terminated", &[], None);
                    if let Some(c) = call {
                        self.end_call(now, c, EndReason::CallerCancelled);
                    }
                }
            }
            None => self.respond_nist(now, peer, key, &req, (481, "Call/Transaction Does Not Exist"), &[]),
        }
    }

    fn on_bye(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        if let Some(id) = self.op_dialog_of(&req) {
            // The operator hung up: end the caller's leg too.
            self.respond_nist(now, peer, key, &req, (200, "OK"), &[]);
            self.send_bye(now, id);
            return self.end_call(now, id, EndReason::OperatorHangup);
        }
        let Some(id) = self.dialog_of(&req) else {
            return self.respond_nist(now, peer, key, &req, (481, "Call/Transaction Does Not Exist"), &[]);
        };
        self.respond_nist(now, peer, key, &req, (200, "OK"), &[]);
        // A BYE before the ACK also stops our 2xx retransmissions.
        if let Some(tkey) = self.calls.get_mut(&id).and_then(|c| c.invite_tx.take()) {
            if let Some(&tid) = self.ist_index.get(&tkey) {
                if let Some(e) = self.ists.get_mut(&tid) {
                    e.tx.handle_ack(now);
                }
                self.drain_ist(now, tid);
            }
        }
        self.end_call(now, id, EndReason::CallerHangup);
    }

    fn on_info(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        if self.op_dialog_of(&req).is_some() {
            return self.respond_nist(now, peer, key, &req, (200, "OK"), &[]);
        }
        let Some(id) = self.dialog_of(&req) else {
            return self.respond_nist(now, peer, key, &req, (481, "Call/Transaction Does Not Exist"), &[]);
        };
        let digit = info_digit(&req);
        self.respond_nist(now, peer, key, &req, (200, "OK"), &[]);
        if let Some(key) = digit {
            self.on_digit(now, id, key, DigitSource::SipInfo);
        }
    }

    fn on_response(&mut self, now: Instant, resp: Response) {
        let branch = resp.head.top_via().and_then(|v| v.branch()).unwrap_or_default().to_string();
        if resp.head.cseq.method == Method::Invite {
            return match self.fork_index.get(&branch).copied() {
                Some((offer, idx)) => self.on_fork_response(now, offer, idx, &resp),
                None => self.stats.stray_responses += 1,
            };
        }
        let key = if resp.head.cseq.method == Method::Cancel { format!("CANCEL {branch}") } else { branch };
        match self.nict_index.get(&key).copied() {
            Some(id) => {
                if let Some(e) = self.nicts.get_mut(&id) {
                    e.tx.handle_response(now, resp.status);
                }
                self.drain_nict(id);
            }
            None => self.stats.stray_responses += 1,
        }
    }

    fn on_parse_error(&mut self, peer: Peer, now: Instant, e: ParseError) {
        let log = self.limiter.allow(now, peer.remote.ip());
        match (&e.echo, &e.method) {
            (Some(echo), m) if *m != Some(Method::Ack) => {
                self.stats.malformed_answered += 1;
                if log {
                    warn!(remote = %peer.remote, error = %e, "malformed request answered {}", e.status());
                }
                let reason = e.kind.to_string();
                let bytes = Outgoing::response_raw(e.status(), &reason, echo)
                    .header("Server", self.config.sip.user_agent.clone())
                    .to_bytes();
                self.out.push_back(Output::Send { peer, bytes });
            }
            _ => {
                self.stats.malformed_dropped += 1;
                if log {
                    warn!(remote = %peer.remote, error = %e, "malformed message dropped");
                }
            }
        }
    }

    // ----- call end -------------------------------------------------------------------

    fn end_call(&mut self, now: Instant, id: CallId, reason: EndReason) {
        // A caller who hangs up in the IVR: the path says so.
        if let Some(mut ivr) = self.calls.get_mut(&id).and_then(|c| c.ivr.take()) {
            ivr.abandon(now);
            self.event(id, CallEventKind::IvrPath { path: ivr.path().clone() });
        }
        let Some(call) = self.calls.remove(&id) else { return };
        self.dialogs.remove(&call.dialog_key());
        if let Some(op) = &call.operator {
            // A bridged call: the other leg ends too, and the operator goes to wrap-up.
            if reason != EndReason::OperatorHangup {
                self.bye_fork(now, op.offer, op.fork);
            }
            self.op_dialogs.retain(|_, c| *c != id);
            self.acd.call_ended(now, &op.operator);
            self.offers.remove(&op.offer);
            self.drain_acd_at(now);
        } else if call.routing.is_some() {
            self.acd.remove(now, id);
            self.drain_acd_at(now);
        }
        match call.state {
            CallState::Opening { port, .. } => {
                self.closing.insert(id, port);
            }
            _ => {
                if let Some(m) = &call.local_media {
                    self.out.push_back(Output::CloseMedia { call: id, port: m.port });
                    self.ports.release(m.port);
                }
            }
        }
        self.stats.calls_ended += 1;
        self.out.push_back(Output::Event(CallEvent { call: id, sip_call_id: call.sip_call_id, kind: CallEventKind::Ended { reason } }));
        // An INVITE transaction may still name this call: call ids are never reused,
        // so every use of that back-reference finds the call gone and does nothing.
    }

    /// Our BYE: the caller is gone from our side (no ACK, shutdown...).
    fn send_bye(&mut self, now: Instant, id: CallId) {
        let branch = format!("z9hG4bK{:016x}", self.rng.gen::<u64>());
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.local_cseq += 1;
        let sent_by = sent_by(call.peer.local);
        let mut o = Outgoing::request(&Method::Bye, &call.remote_target)
            .header("Via", format!("SIP/2.0/{} {sent_by};branch={branch};rport", call.peer.transport.as_str()))
            .header("Max-Forwards", "70")
            .header("From", format!("{};tag={}", call.local_to, call.local_tag))
            .header("To", call.remote_from.clone())
            .header("Call-ID", call.sip_call_id.clone())
            .header("CSeq", format!("{} BYE", call.local_cseq));
        for r in &call.route_set {
            o.push_header("Route", r.clone());
        }
        o.push_header("User-Agent", self.config.sip.user_agent.clone());
        let peer = call.peer;
        let tx = NonInviteClientTx::new(now, peer.transport.reliable(), self.timers, o.to_bytes());
        let tid = self.next_id();
        self.nicts.insert(tid, NictEntry { tx, peer, branch: branch.clone(), scheduled: None });
        self.nict_index.insert(branch, tid);
        self.drain_nict(tid);
    }

    // ----- transaction plumbing -------------------------------------------------------

    fn final_ist(&mut self, now: Instant, key: &TxKey, status: u16, reason: &str, extra: &[(&str, String)], body: Option<Bytes>) {
        let Some(&tid) = self.ist_index.get(key) else { return };
        let Some(e) = self.ists.get(&tid) else { return };
        // Only one final response per transaction: nothing to answer any more.
        let Some(req) = &e.req else { return };
        let mut o = self.response(req, status, reason, Some(&e.to_tag), extra);
        if let Some(b) = body {
            o = o.body("application/sdp", b);
        }
        let bytes = o.to_bytes();
        if let Some(e) = self.ists.get_mut(&tid) {
            e.tx.respond(now, status, bytes);
            if status >= 200 {
                e.req = None;
            }
        }
        self.drain_ist(now, tid);
    }

    /// Answer a non-INVITE request through a new server transaction; `answer` is the
    /// status and reason phrase.
    fn respond_nist(&mut self, now: Instant, peer: Peer, key: TxKey, req: &Request, answer: (u16, &str), extra: &[(&str, String)]) {
        let tag = self.random_tag();
        self.respond_nist_tagged(now, peer, key, req, answer, extra, Some(&tag));
    }

    #[allow(clippy::too_many_arguments)]
    fn respond_nist_tagged(&mut self, now: Instant, peer: Peer, key: TxKey, req: &Request, answer: (u16, &str), extra: &[(&str, String)], tag: Option<&str>) {
        let (status, reason) = answer;
        let mut tx = NonInviteServerTx::new(peer.transport.reliable(), self.timers);
        tx.respond(now, status, self.response(req, status, reason, tag, extra).to_bytes());
        let id = self.next_id();
        self.nists.insert(id, Box::new(NistEntry { tx, peer, key: key.clone(), scheduled: None }));
        self.nist_index.insert(key, id);
        self.drain_nist(id);
    }

    fn response(&self, req: &Request, status: u16, reason: &str, to_tag: Option<&str>, extra: &[(&str, String)]) -> Outgoing {
        let reason = if reason.is_empty() { reason_phrase(status) } else { reason };
        let mut o = Outgoing::response(req, status, reason, to_tag);
        for (n, v) in extra {
            o.push_header(*n, v.clone());
        }
        o.push_header("Server", self.config.sip.user_agent.clone());
        o
    }

    fn drain_ist(&mut self, now: Instant, id: u64) {
        let mut no_ack = None;
        let mut done = false;
        let Some(e) = self.ists.get_mut(&id) else { return };
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => self.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::NoAck { two_xx } => no_ack = Some((two_xx, e.call)),
                TxAction::Terminated => done = true,
                TxAction::Final(_) | TxAction::Provisional(_) | TxAction::Accepted(_) | TxAction::Timeout => {}
            }
        }
        let next = e.tx.poll_timeout();
        if done {
            if self.ist_index.get(&e.key) == Some(&id) {
                self.ist_index.remove(&e.key);
            }
            self.ists.remove(&id);
        } else if next != e.scheduled {
            e.scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Ist(id))));
            }
        }
        if let Some((true, Some(call))) = no_ack {
            warn!(call = %call, "no ACK for our 200 OK within 64*T1: ending the call with BYE");
            self.send_bye(now, call);
            self.end_call(now, call, EndReason::NoAck);
        }
    }

    fn drain_nist(&mut self, id: u64) {
        let Some(e) = self.nists.get_mut(&id) else { return };
        let mut done = false;
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => self.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::Terminated => done = true,
                _ => {}
            }
        }
        let next = e.tx.poll_timeout();
        if done {
            if let Some(e) = self.nists.remove(&id) {
                if self.nist_index.get(&e.key) == Some(&id) {
                    self.nist_index.remove(&e.key);
                }
            }
        } else if next != e.scheduled {
            e.scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Nist(id))));
            }
        }
    }

    fn drain_nict(&mut self, id: u64) {
        let Some(e) = self.nicts.get_mut(&id) else { return };
        let mut done = false;
        while let Some(a) = e.tx.poll_action() {
            match a {
                TxAction::Send(bytes) => self.out.push_back(Output::Send { peer: e.peer, bytes }),
                TxAction::Timeout => debug!(branch = %e.branch, "no answer to our BYE"),
                TxAction::Terminated => done = true,
                _ => {}
            }
        }
        let next = e.tx.poll_timeout();
        if done {
            let branch = e.branch.clone();
            self.nicts.remove(&id);
            self.nict_index.remove(&branch);
        } else if next != e.scheduled {
            e.scheduled = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, TimerRef::Nict(id))));
            }
        }
    }

    // ----- small helpers --------------------------------------------------------------

    /// The call whose operator leg this in-dialog request belongs to (the operator's
    /// tag is the From tag, ours the To tag).
    fn op_dialog_of(&self, req: &Request) -> Option<CallId> {
        let dk = DialogKey {
            call_id: req.head.call_id.clone(),
            local_tag: req.head.to.tag()?.to_string(),
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
        };
        self.op_dialogs.get(&dk).copied()
    }

    fn dialog_of(&self, req: &Request) -> Option<CallId> {
        let dk = DialogKey {
            call_id: req.head.call_id.clone(),
            local_tag: req.head.to.tag()?.to_string(),
            remote_tag: req.head.from.tag().unwrap_or_default().to_string(),
        };
        self.dialogs.get(&dk).copied()
    }

    /// The configured emergency identity a Request-URI names, exactly: `112` but not
    /// `1120`, `0112` or `112a`.
    fn match_emergency(&self, uri: &Uri) -> Option<String> {
        let em = &self.config.emergency;
        let number = |n: &str| em.numbers.iter().find(|e| e.number == n).map(|e| e.number.clone());
        match uri.kind() {
            UriKind::Sip(s) => {
                let user = s.user_unescaped()?;
                // With user=phone the user part is a telephone-subscriber that may carry
                // its own parameters (RFC 3261 §19.1.1): `112;phone-context=+62`.
                let user = if s.param("user").and_then(|p| p.value.as_deref()) == Some("phone") {
                    user.split(';').next().unwrap_or_default().to_string()
                } else {
                    user
                };
                number(&user)
            }
            UriKind::Tel(t) => number(&t.number),
            UriKind::Urn(_) => {
                let full = uri.dialed()?;
                em.service_urns
                    .iter()
                    .find(|s| full == **s || full.strip_prefix(s.as_str()).is_some_and(|r| r.starts_with('.')))
                    .map(|_| full)
            }
            UriKind::Other { .. } => None,
        }
    }

    fn contact_for(&self, peer: Peer) -> String {
        let mut local = peer.local;
        if local.ip().is_unspecified() {
            local.set_ip(self.config.media.address);
        }
        let transport = if peer.transport == Transport::Tcp { ";transport=tcp" } else { "" };
        format!("<sip:cc112@{}{transport}>", sent_by(local))
    }

    fn event(&mut self, call: CallId, kind: CallEventKind) {
        let sip_call_id = self.calls.get(&call).map(|c| c.sip_call_id.clone()).unwrap_or_default();
        self.out.push_back(Output::Event(CallEvent { call, sip_call_id, kind }));
    }

    /// A ULID for a new call record, from the engine's clock and seeded generator
    /// (scenario tests stay reproducible).
    fn new_record_id(&mut self, now: Instant) -> String {
        crate::store::RecordId::generate(crate::store::UtcMs::from_system_time(self.utc(now)), &mut self.rng).0
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn random_tag(&mut self) -> String {
        format!("{:012x}", self.rng.gen::<u64>() & 0xffff_ffff_ffff)
    }
}

fn sent_by(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}

/// What OPTIONS answers: carriers and monitors probe us with it.
fn capabilities() -> Vec<(&'static str, String)> {
    vec![
        ("Allow", ALLOW.into()),
        ("Accept", "application/sdp".into()),
        ("Accept-Encoding", "identity".into()),
        ("Supported", String::new()),
    ]
}

/// RFC 3261 §20.1: an Accept that excludes SDP means the caller cannot take our answer.
fn accepts_sdp(req: &Request) -> bool {
    let accept = req.head.list(&HeaderName::Accept);
    if req.head.get(&HeaderName::Accept).is_none() {
        return true;
    }
    accept.iter().any(|a| {
        let mime = a.split(';').next().unwrap_or_default().trim();
        ["application/sdp", "application/*", "*/*"].iter().any(|m| mime.eq_ignore_ascii_case(m))
    })
}

/// A DTMF digit from a SIP INFO body (`Signal=5` in application/dtmf-relay, or the bare
/// digit in application/dtmf).
fn info_digit(req: &Request) -> Option<char> {
    let ct = req.head.content_type()?.split(';').next()?.trim().to_ascii_lowercase();
    let body = std::str::from_utf8(&req.body).ok()?;
    let raw = match ct.as_str() {
        "application/dtmf-relay" => body
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
            .map(|(_, v)| v.trim())?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = raw.chars();
    let c = chars.next()?.to_ascii_uppercase();
    let c = match (c, raw) {
        (_, "10") => '*',
        (_, "11") => '#',
        (c, _) if chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) => c,
        _ => return None,
    };
    Some(c)
}

#[cfg(test)]
mod tests;
