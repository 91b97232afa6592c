//! The engine: the sans-IO state machine that owns all signalling state.
//!
//! It is fed bytes from the network, media-port results, record commits and time, and
//! it returns [`Output`]s: bytes to send, media ports to open or close, call events to
//! record. One engine task in the runtime owns it, so nothing here needs a lock, and
//! every scenario — retransmissions, CANCEL races, lost ACKs — is testable on a virtual
//! clock (see `tests` below).
//!
//! The contract: `handle_sip`, `handle_timeout`, `handle_media_opened`,
//! `handle_record_committed` (or `handle_record_refused`), `handle_media`,
//! `handle_command` and `stop` take the inputs; after each, drain
//! [`Engine::poll_output`], then sleep until [`Engine::poll_timeout`]; once
//! [`Engine::drained`] after a stop, the runtime ends.
//!
//! The engine is a composition of owned parts, each a struct with its own state and
//! tests; `Engine` keeps what routes between them (which part a request, a response or
//! a deadline goes to) and the short steps that join them (a CANCEL's 487, a BYE ending
//! both legs, the headers of our 200):
//! - [`transactions`]: the three transaction tables (RFC 3261 §17), matching,
//!   retransmissions, our responses;
//! - [`uas`]: the checks every request passes and what makes an INVITE an emergency call;
//! - [`calls`] and [`call`]: the calls in progress, their dialogs, SDP and RTP ports;
//! - [`operator_side`]: the call layer's registrar and ACD (`crate::call`) and the
//!   [`legs`] (offers, forks, bridged operator dialogs), driven as one part;
//! - [`admission`]: the `[overload]` limits, with [`fairness`] sharing them between
//!   sources and [`refusals`] answering and counting the calls refused;
//! - `recording`: a new call's 200 waits for its record, or 503 if it has no room;
//! - `drain`: stopping without cutting a call (the grace, its reports, its end) and
//!   what a probe is told;
//! - [`timers`]: one deadline per part and owner; [`ids`]: ids, tags and branches;
//! - [`output`]: what the engine says; [`control`]: supervisor commands; `snapshot`:
//!   what it publishes for readers (the HTTP server).
//!
//! Life of an emergency INVITE here: its server transaction absorbs retransmissions;
//! the protocol checks a UAS must make (RFC 3261 §8.2: scheme 416, Require 420, body 415)
//! and whether the Request-URI is a configured emergency identity (404 if not);
//! admission (503 when over capacity) and codec negotiation (488 if no common codec),
//! each refusal the only response; then 100 Trying, a media port is opened and the
//! call's `Started` event goes out for its record. Once the port is open and the record
//! is durable (or [`Engine::set_record_wait`]'s wait ran out) the 200 OK with our SDP goes
//! out and is retransmitted until the ACK, which starts the media and the IVR (no media
//! before it: no reflection). Nothing about queues, IVR or configuration state can
//! refuse it; no credentials are ever asked of it.

mod admission;
mod drain;
mod fairness;
pub mod call;
pub mod callers;
mod calls;
pub mod control;
mod dial_outs;
mod ids;
mod legs;
mod operator_side;
mod output;
mod recording;
mod responses;
mod restart;
mod refusals;
mod relay;
mod snapshot;
pub mod tally;
mod timers;
mod transactions;
mod uas;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tracing::warn;

use self::calls::{Calls, PortOpened};
use self::ids::Ids;
use self::operator_side::{Ctx, OperatorSide};
use self::timers::TimerKey;
use self::transactions::{Answer, Transactions};
use self::uas::{BadInput, Refusal};
use crate::call::CallId;
use crate::config::Config;
use crate::media::ports::PortPool;
use crate::media::sdp::{self, LocalMedia};
use crate::sip::transaction::{Timers, TxKey};
use crate::sip::{parse, Message, Method, Peer, Request};

pub use call::{Call, CallState, DialogKey, OperatorDialog};
use self::call::{NewCall, ReInviteError};
pub use ids::{OfferId, TxId};
pub use snapshot::{LiveCall, Snapshot, MAX_LISTED_CALLS};
pub use drain::{HURRY, LINGER};
pub use output::{CallEvent, CallEventKind, DigitSource, DrainReport, DrainStep, EndReason, MediaCommand, MediaInput, OperatorEventKind, Output, RefusalSummary, RegistrationChange, Stats};
pub use uas::ALLOW;
use self::output::Effects;

/// The signalling state of the gateway: the parts, and what routes between them.
pub struct Engine {
    config: Arc<Config>,
    ids: Ids,
    /// Outputs and deadlines the parts produced, drained by the runtime.
    fx: Effects,
    txs: Transactions,
    calls: Calls,
    /// The registrar, the ACD and the operator legs.
    ops: OperatorSide,
    admission: admission::Admission,
    refusals: refusals::Refusals,
    bad_input: BadInput,
    stats: Stats,
    drain: drain::Drain,
    /// How long a new call's 200 OK waits for its first record to be durable; `None`:
    /// no store to wait for.
    record_wait: Option<Duration>,
    /// A monotonic instant and the wall-clock time it corresponds to: the IVR's time
    /// rules need local time, and the core never reads a clock.
    wall_anchor: (Instant, SystemTime),
    /// The latest time the engine was told, for the few paths that drain the ACD
    /// without a `now` of their own.
    last_now: Instant,
    /// How long the message being handled waited between its socket and the engine.
    waited: Duration,
}

impl Engine {
    /// `seed` feeds the generator of tags and branches: the same seed, the same run.
    pub fn new(config: Arc<Config>, seed: u64) -> Engine {
        Engine::with_timers(config, seed, Timers::default())
    }

    /// The running gateway's engine: tags, branches and nonces nobody can predict.
    pub fn with_entropy(config: Arc<Config>) -> Engine {
        Engine::with_ids(config, Ids::from_entropy(), Timers::default())
    }

    /// With the SIP transaction timers given (tests shorten them).
    pub fn with_timers(config: Arc<Config>, seed: u64, timers: Timers) -> Engine {
        Engine::with_ids(config, Ids::new(seed), timers)
    }

    fn with_ids(config: Arc<Config>, mut ids: Ids, timers: Timers) -> Engine {
        let now = Instant::now();
        let ops = OperatorSide::new(&config, now, SystemTime::UNIX_EPOCH, ids.secret());
        Engine {
            ids,
            fx: Effects::default(),
            txs: Transactions::new(timers, config.sip.user_agent.clone()),
            calls: Calls::new(PortPool::new(config.media.port_min, config.media.port_max)),
            ops,
            admission: admission::Admission::new(&config.sip.trunks),
            refusals: refusals::Refusals::default(),
            bad_input: BadInput::new(),
            stats: Stats::default(),
            drain: drain::Drain::default(),
            record_wait: None,
            wall_anchor: (now, SystemTime::UNIX_EPOCH),
            last_now: now,
            waited: Duration::ZERO,
            config,
        }
    }

    /// Tie the monotonic clock to wall-clock time; the runtime does this at start,
    /// before any traffic (the registrar is rebuilt so its Date headers are right).
    pub fn set_wall_clock(&mut self, now: Instant, utc: SystemTime) {
        self.wall_anchor = (now, utc);
        let secret = self.ids.secret();
        self.ops.set_wall_clock(&self.config, now, utc, secret);
    }

    /// With a record store, a new call's 200 OK waits until the runtime reports its
    /// first record durable ([`Engine::handle_record_committed`]), at most `wait`:
    /// a call that was answered always has a record, unless the disk is failing, when
    /// answering matters more.
    pub fn set_record_wait(&mut self, wait: Option<Duration>) {
        self.record_wait = wait;
    }

    fn utc(&self, now: Instant) -> SystemTime {
        crate::clock::wall_clock_at(self.wall_anchor, now)
    }

    /// A stop was asked for. The first begins the drain (`drain`) with `[shutdown]
    /// grace`: new INVITEs and OPTIONS get 503 with Retry-After, calls in progress go on
    /// until they end or the grace runs out, when every call still up is hung up. The
    /// next leaves at most [`HURRY`] of the grace.
    pub fn stop(&mut self, now: Instant) {
        self.tick(now);
        let report = self.drain.stop(now, self.config.shutdown.grace, self.calls.len(), &mut self.fx);
        self.fx.out.extend(report.map(Output::Drain));
    }

    /// The drain is over: no call left, none of our BYEs waiting for its answer (or
    /// the wait for them spent). The runtime stops then.
    pub fn drained(&self) -> bool {
        self.drain.over(self.calls.len(), self.txs.awaiting_answers())
    }

    /// The runtime's word that a part of the node is stalled (`Some(why)`) or healthy
    /// again: OPTIONS get 503 meanwhile, so a load balancer sends new calls elsewhere.
    pub fn set_unhealthy(&mut self, why: Option<String>) {
        self.drain.set_unhealthy(why);
    }

    /// New calls use the new configuration; calls in progress keep what they have.
    /// Operator accounts and registrar settings apply at once (bindings of operators
    /// who remain stay registered).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.ops.reconfigure(&config);
        self.txs.set_server(config.sip.user_agent.clone());
        self.admission.set_trunks(&config.sip.trunks);
        self.config = config;
    }

    /// The configuration new calls start with.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Calls in progress, from the accepted INVITE to the end.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Calls, transactions and offers held now: what the gateway's memory follows.
    pub fn live_state(&self) -> usize {
        self.calls.len() + self.txs.len() + self.ops.offers()
    }

    /// After a surge: gives back the tables' room beyond twice what is live now. A
    /// `HashMap` never shrinks by itself, so without this the peak's tables would stay.
    pub fn compact(&mut self) {
        self.txs.compact();
        self.calls.compact();
        self.ops.compact();
        self.fx.timers.compact();
    }

    /// One call in progress.
    pub fn call(&self, id: CallId) -> Option<&Call> {
        self.calls.get(id)
    }

    /// Open transactions of every kind (for leak checks in tests and health output).
    pub fn open_transactions(&self) -> usize {
        self.txs.len()
    }

    /// The next thing for the runtime to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.fx.out.pop_front()?;
        self.calls.tally(&out, &mut self.stats, self.last_now);
        Some(out)
    }

    /// When [`Engine::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.fx.timers.next()
    }

    /// One SIP message (a datagram, or a TCP stream's frame), handled as it arrived.
    pub fn handle_sip(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        self.handle_sip_received(now, now, peer, bytes);
    }

    /// One SIP message that arrived at `received` and reaches the engine at `now`: the
    /// difference is how far behind the gateway is, which the overload limits read.
    pub fn handle_sip_received(&mut self, now: Instant, received: Instant, peer: Peer, bytes: &[u8]) {
        self.tick(now);
        self.waited = now.saturating_duration_since(received);
        self.stats.messages += 1;
        self.stats.sip.received(bytes);
        match parse(bytes) {
            Ok(Message::Request(req)) => self.on_request(now, peer, req),
            Ok(Message::Response(resp)) => self.on_response(now, peer, resp),
            Err(e) => self.bad_input.answer(now, peer, &e, &self.config.sip.user_agent, &mut self.stats, &mut self.fx),
        }
    }

    /// Every deadline due at `now`, each handed to its part.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while let Some(key) = self.fx.timers.pop_due(now) {
            match key {
                TimerKey::Ist(id) => {
                    if let Some(call) = self.txs.ist_timeout(now, id, &mut self.fx) {
                        warn!(call = %call, "no ACK for our 200 OK within 64*T1: ending the call with BYE");
                        self.send_bye(now, call);
                        self.end_call(now, call, EndReason::NoAck);
                    }
                }
                TimerKey::Nist(id) => self.txs.nist_timeout(now, id, &mut self.fx),
                TimerKey::Nict(id) => self.txs.nict_timeout(now, id, &mut self.fx),
                TimerKey::Registrar | TimerKey::Acd | TimerKey::Fork(..) | TimerKey::DialOut(_) | TimerKey::DialOutTx(_) => {
                    let (ops, ctx) = self.split();
                    ops.timeout(now, key, ctx);
                }
                TimerKey::Ivr(id) => {
                    if let Some(ivr) = self.calls.get_mut(id).and_then(|c| c.ivr.as_mut()) {
                        ivr.handle_timeout(now);
                    }
                    self.drain_ivr(now, id);
                }
                TimerKey::Refusals => self.refusals.flush(&mut self.fx),
                TimerKey::Drain => {
                    let report = self.drain.timeout(now, self.calls.len(), &mut self.fx);
                    self.fx.out.extend(report.map(Output::Drain));
                    if report.is_some_and(|r| r.step == DrainStep::GraceOver) {
                        self.hang_up_all(now);
                    }
                }
                TimerKey::Record(id) => {
                    if self.calls.contains(id) {
                        warn!(call = %id, wait = ?self.record_wait, "call record not committed in time; answering anyway");
                    }
                    self.record_ready(now, id);
                }
            }
        }
    }

    /// The runtime opened (or failed to open) the RTP/RTCP sockets of a call.
    pub fn handle_media_opened(&mut self, now: Instant, id: CallId, port: u16, ok: bool) {
        self.tick(now);
        match self.calls.port_opened(id, port, ok, &mut self.fx) {
            PortOpened::Answer { port } => self.answer_call(now, id, port),
            PortOpened::Exhausted => {
                warn!(call = %id, "no RTP port can be opened: answering 503");
                if let Some(key) = self.calls.get(id).and_then(|c| c.invite_tx.clone()) {
                    self.refuse_invite(now, &key, &Refusal::NoMediaPort);
                }
                self.end_call(now, id, EndReason::NoMediaPort);
            }
            PortOpened::Ignored | PortOpened::WaitingForRecord | PortOpened::Retrying => {}
        }
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
                if self.calls.prompt_finished(now, id, &prompt, &mut self.fx) {
                    self.drain_ivr(now, id);
                }
            }
            MediaInput::RtpTimeout => {
                if self.calls.contains(id) {
                    self.event(id, CallEventKind::RtpTimeout);
                }
            }
            MediaInput::Heard(heard) => self.calls.heard(now, id, heard),
        }
    }

    /// The store's calls of the last 7 days and open callback items (at start).
    pub fn load_callers(&mut self, now: Instant, calls: Vec<(String, callers::PastCall)>, open: Vec<(String, crate::clock::UtcMs)>) {
        self.ops.load_callers(now, calls, open);
    }

    /// A supervisor command (CLI, control socket), answered at once, in order with
    /// everything else the engine handles.
    pub fn handle_command(&mut self, now: Instant, cmd: control::Command) -> control::Reply {
        self.tick(now);
        let (ops, ctx) = self.split();
        ops.command(now, cmd, ctx)
    }

    /// Every input brings the time: the few paths without a `now` of their own (the ACD
    /// drained after a queue change) must never act on a stale one, or an offer's
    /// INVITE transaction would start in the past (duplicate INVITEs, and after a
    /// quiet spell an offer failing at once on an expired Timer B).
    fn tick(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
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
            if self.txs.invite_retransmitted(now, &key, &mut self.fx) {
                return;
            }
        } else if self.txs.request_retransmitted(&key, &mut self.fx) {
            return;
        }
        // RFC 3261 §8.2.1–8.2.2: method, then Request-URI scheme, then Require, for every
        // request outside a dialog as well as inside.
        if let Err(r) = uas::check_method(&req.method) {
            return self.refuse(now, peer, key, &req, &r);
        }
        if req.method == Method::Invite {
            return self.on_invite(now, peer, req, key);
        }
        if let Err(r) = uas::check_scheme_and_require(&req) {
            return self.refuse(now, peer, key, &req, &r);
        }
        match req.method {
            Method::Cancel => self.on_cancel(now, peer, req, key),
            Method::Bye => self.on_bye(now, peer, req, key),
            Method::Options => {
                let (status, reason, headers) = self.drain.options_answer(&req, admission::retry_after(&self.config.overload));
                self.respond(now, peer, key, &req, Answer::new(status, reason, &headers))
            }
            Method::Info => self.on_info(now, peer, req, key),
            _ => {
                let (ops, ctx) = self.split();
                if !ops.register(now, peer, &req, key, ctx) {
                    self.stats.register_dropped += 1;
                }
            }
        }
    }

    /// A non-INVITE request refused by the UAS checks.
    fn refuse(&mut self, now: Instant, peer: Peer, key: TxKey, req: &Request, r: &Refusal) {
        let (status, reason, headers) = r.answer();
        self.respond(now, peer, key, req, Answer::new(status, reason, &headers));
    }

    /// 503 with Retry-After for a new call the gateway cannot serve ([`admission`]), so
    /// the carrier tries elsewhere at once: stateless and without a call record (see
    /// [`refusals`]).
    fn refuse_overload(&mut self, now: Instant, peer: Peer, req: &Request, reason: &'static str, code: &'static str) {
        self.stats.refused_overload += 1;
        self.admission.refused(now, reason, self.calls.len(), self.waited);
        let retry = [("Retry-After", admission::retry_after(&self.config.overload))];
        let tag = self.ids.tag();
        self.txs.respond_stateless(peer, req, Answer::new(503, reason, &retry), &tag, &mut self.fx);
        let (source, caller) = (self.admission.source_of(self.origin(&peer, req).ip()), req.head.from.uri.dialed().unwrap_or_default());
        self.refusals.add((now, self.utc(now)), source, code, &caller, &mut self.fx);
    }

    fn on_invite(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        if req.head.to.tag().is_some() {
            let tid = self.txs.new_ist(now, &mut self.ids, peer, &req, key.clone(), &mut self.fx);
            return self.on_invite_in_dialog(now, tid, req, key);
        }
        let screened = match uas::screen_invite(&req, &self.config, self.drain.refuses_calls()) {
            Ok(s) => s,
            Err(r) => {
                self.txs.new_ist(now, &mut self.ids, peer, &req, key.clone(), &mut self.fx);
                return self.refuse_invite(now, &key, &r);
            }
        };
        // Admission before the answer to the offer is tried: in a surge most INVITEs
        // are refused, and building an SDP answer (about 7 µs) for each would be spent
        // by the thread that must keep up with the calls it accepted.
        if let Err(refusal) = self.admission.admit(now, self.origin(&peer, &req).ip(), &self.calls, self.waited, &self.config.overload) {
            return self.refuse_overload(now, peer, &req, refusal.reason(), refusal.code());
        }
        if let Some(offer) = &screened.offer {
            let probe = LocalMedia { addr: self.config.media.address, port: 0, session_id: 0, session_version: 0 };
            if let Err(e) = sdp::answer(offer, &probe, &self.config.media.codecs) {
                self.txs.new_ist(now, &mut self.ids, peer, &req, key.clone(), &mut self.fx);
                if let sdp::SdpError::NoCommonCodec { offered } = &e {
                    let (id, record) = (self.ids.call(), self.ids.record(self.utc(now)));
                    let started = call::started_event(record, &req, screened.identity.clone(), Peer { remote: self.origin(&peer, &req), ..peer }, &self.config.version);
                    uas::codec_refusal(id, started, &req, offered, &mut self.fx);
                    self.ops.codec_refused(now, &req.head.from.uri.dialed().unwrap_or_else(|| req.head.from.uri.to_string()));
                }
                return self.refuse_invite(now, &key, &uas::offer_refusal(&e));
            }
        }
        // Refusals above go out as the only response: a refused emergency call costs the
        // gateway as little as possible, which matters most when it is overloaded.
        let Some(port) = self.calls.take_port() else {
            self.stats.no_media_port += 1;
            return self.refuse_overload(now, peer, &req, "No media port available", "no_media_port");
        };
        let tid = self.txs.new_ist(now, &mut self.ids, peer, &req, key.clone(), &mut self.fx);
        // 100 Trying at once: the 200 waits for the RTP port and the call's record, and
        // the caller's INVITE retransmissions must stop (§17.2.1).
        self.txs.trying(now, tid, &mut self.fx);
        self.new_call(now, tid, peer, &req, key, screened, port);
    }

    /// An INVITE with a To tag: a re-INVITE of the caller's or an operator's dialog, or 481.
    fn on_invite_in_dialog(&mut self, now: Instant, tid: TxId, req: Request, key: TxKey) {
        let Some(dk) = DialogKey::of_request(&req) else { return };
        if let Some(call) = self.ops.leg_of(&req) {
            self.txs.trying(now, tid, &mut self.fx);
            return self.on_operator_reinvite(now, call, key, &req);
        }
        match self.calls.by_dialog(&dk) {
            Some(call) => {
                self.txs.trying(now, tid, &mut self.fx);
                self.on_reinvite(now, call, key, &req)
            }
            None => self.txs.final_ist(now, &key, Answer::new(481, "Call/Transaction Does Not Exist", &[]), None, &mut self.fx),
        }
    }

    /// An accepted emergency INVITE becomes a call: its record starts, its port opens.
    #[allow(clippy::too_many_arguments)]
    fn new_call(&mut self, now: Instant, tid: TxId, peer: Peer, req: &Request, key: TxKey, screened: uas::Screened, port: u16) {
        let id = self.ids.call();
        let local_tag = self.txs.to_tag(tid).unwrap_or_default().to_string();
        let record = self.ids.record(self.utc(now));
        let recorded = self.record_wait.is_none();
        let identity = screened.identity.clone();
        let call = Call::from_invite(NewCall { id, record, req, peer, now, port, local_tag, invite_tx: key, offer: screened.offer, identity, recorded, source: self.admission.source_of(self.origin(&peer, req).ip()) });
        self.txs.set_call(tid, id);
        let event = call::started_event(call.record.clone(), req, screened.identity, Peer { remote: self.origin(&peer, req), ..peer }, &self.config.version);
        self.calls.insert(call);
        self.stats.calls_started += 1;
        // The record's first event goes out before anything else of the call, and the
        // 200 OK waits for the runtime to say it is durable.
        self.event(id, event);
        if let Some(wait) = self.record_wait {
            self.fx.timers.set(TimerKey::Record(id), Some(now + wait));
        }
        let (ops, ctx) = self.split();
        ops.new_call(now, id, ctx);
        self.fx.out.push_back(Output::OpenMedia { call: id, port });
    }

    /// The port is open and the record durable: send the 200 OK with our SDP (answer,
    /// or offer if the INVITE had none).
    fn answer_call(&mut self, now: Instant, id: CallId, port: u16) {
        if self.ops.is_dial_out(id) {
            let (ops, ctx) = self.split();
            return ops.dial_out_port_open(now, id, port, ctx);
        }
        let session_id = self.ids.session_id();
        let Some(call) = self.calls.get_mut(id) else { return };
        let local = LocalMedia { addr: self.config.media.address, port, session_id, session_version: 1 };
        let (body, event) = call.answer(local, &self.config.media.codecs);
        let (Some(key), peer) = (call.invite_tx.clone(), call.peer) else { return };
        let contact = call::contact_for(&self.config, peer);
        let hdrs = [("Contact", contact), ("Allow", ALLOW.into()), ("Supported", String::new()), ("Accept", "application/sdp".into())];
        self.txs.final_ist(now, &key, Answer::new(200, "OK", &hdrs), Some(Bytes::from(body)), &mut self.fx);
        self.stats.calls_answered += 1;
        self.event(id, event);
    }

    /// A refusal as the final answer to an INVITE (or re-INVITE), counted.
    fn refuse_invite(&mut self, now: Instant, key: &TxKey, r: &Refusal) {
        r.count(&mut self.stats);
        let (status, reason, headers) = r.answer();
        self.txs.final_ist(now, key, Answer::new(status, reason, &headers), None, &mut self.fx);
    }

    fn on_reinvite(&mut self, now: Instant, id: CallId, key: TxKey, req: &Request) {
        let Some(call) = self.calls.get_mut(id) else { return };
        match call.reinvite(key.clone(), req, &self.config.media.codecs) {
            Ok(body) => {
                let contact = call::contact_for(&self.config, call.peer);
                let hdrs = [("Contact", contact), ("Allow", ALLOW.into()), ("Supported", String::new())];
                self.txs.final_ist(now, &key, Answer::new(200, "OK", &hdrs), Some(Bytes::from(body)), &mut self.fx);
            }
            Err(ReInviteError::Pending) => self.refuse_invite(now, &key, &Refusal::Pending),
            Err(ReInviteError::Body) => self.refuse_invite(now, &key, &Refusal::Body),
            Err(ReInviteError::Sdp(e)) => self.refuse_invite(now, &key, &uas::offer_refusal(&e)),
        }
    }

    /// The operator's re-INVITE (hold, unhold, codec change): answer on the same port
    /// and point the bridge at what the operator now offers.
    fn on_operator_reinvite(&mut self, now: Instant, id: CallId, key: TxKey, req: &Request) {
        let Some(call) = self.calls.get(id) else { return };
        let contact = call::contact_for(&self.config, call.peer);
        match call.operator_reinvite(req, &self.config.media.codecs) {
            Some(Ok((body, bridge))) => {
                if let Some(cmd) = bridge {
                    self.fx.out.push_back(Output::Media { call: id, cmd });
                }
                let hdrs = [("Contact", contact), ("Allow", ALLOW.into())];
                self.txs.final_ist(now, &key, Answer::new(200, "OK", &hdrs), Some(Bytes::from(body)), &mut self.fx);
            }
            Some(Err(e)) => self.refuse_invite(now, &key, &uas::offer_refusal(&e)),
            None => {}
        }
    }

    fn on_ack(&mut self, now: Instant, req: Request) {
        // ACK to a non-2xx (same branch as the INVITE); for RFC 2543 peers also the ACK
        // to a 2xx, which their transaction key cannot tell apart.
        if let Some(key) = TxKey::server(&req) {
            if let Some(call) = self.txs.ack(now, &key, &mut self.fx) {
                if let Some(c) = call {
                    self.confirm(now, c, &req);
                }
                return;
            }
        }
        // An ACK without a To tag belongs to no dialog (a non-2xx ACK went above).
        let Some(dk) = DialogKey::of_request(&req) else {
            self.stats.stray_acks += 1;
            return;
        };
        if self.ops.has_leg(&dk) {
            // The operator's ACK for our 200 to its re-INVITE: stop retransmitting it.
            return self.txs.ack_all_of(now, &req.head.call_id, &mut self.fx);
        }
        match self.calls.by_dialog(&dk) {
            Some(c) => self.confirm(now, c, &req),
            None => self.stats.stray_acks += 1, // an ACK is never answered
        }
    }

    fn confirm(&mut self, now: Instant, id: CallId, ack: &Request) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let Some((key, first)) = call.confirm(ack, &self.config.media.codecs) else { return };
        self.txs.ack(now, &key, &mut self.fx);
        if first {
            self.event(id, CallEventKind::Confirmed);
            // Media only once the caller's ACK confirms the dialog: an INVITE with a
            // spoofed source and someone else's SDP address makes us send nothing there.
            // The caller hears the greeting as soon as media can flow.
            let codec = operator_side::default_codec(&self.config);
            self.calls.start_media_and_ivr(id, now, self.utc(now), self.config.routing.clone(), codec, &mut self.fx);
            self.drain_ivr(now, id);
        }
    }

    fn on_cancel(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        let Some(target) = TxKey::cancel_target(&req) else { return };
        match self.txs.cancel_target(&target) {
            Some((proceeding, call, to_tag)) => {
                self.respond_tagged(now, peer, key, &req, Answer::new(200, "OK", &[]), Some(&to_tag));
                if proceeding {
                    // RFC 3261 §9.2: 487 to the INVITE; the call never started.
                    self.txs.final_ist(now, &target, Answer::new(487, "Request Terminated", &[]), None, &mut self.fx);
                    if let Some(c) = call {
                        self.end_call(now, c, EndReason::CallerCancelled);
                    }
                }
            }
            None => self.respond(now, peer, key, &req, Answer::new(481, "Call/Transaction Does Not Exist", &[])),
        }
    }

    fn on_bye(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        if let Some(id) = self.ops.leg_of(&req) {
            // The operator hung up: end the caller's leg too.
            self.respond(now, peer, key, &req, Answer::new(200, "OK", &[]));
            self.send_bye(now, id);
            return self.end_call(now, id, EndReason::OperatorHangup);
        }
        let Some(id) = self.calls.dialog_of(&req) else {
            return self.respond(now, peer, key, &req, Answer::new(481, "Call/Transaction Does Not Exist", &[]));
        };
        self.respond(now, peer, key, &req, Answer::new(200, "OK", &[]));
        // A BYE before the ACK also stops our 2xx retransmissions.
        if let Some(tkey) = self.calls.get_mut(id).and_then(|c| c.invite_tx.take()) {
            self.txs.ack(now, &tkey, &mut self.fx);
        }
        self.end_call(now, id, EndReason::CallerHangup);
    }

    fn on_info(&mut self, now: Instant, peer: Peer, req: Request, key: TxKey) {
        if self.ops.leg_of(&req).is_some() {
            return self.respond(now, peer, key, &req, Answer::new(200, "OK", &[]));
        }
        let Some(id) = self.calls.dialog_of(&req) else {
            return self.respond(now, peer, key, &req, Answer::new(481, "Call/Transaction Does Not Exist", &[]));
        };
        let digit = uas::info_digit(&req);
        self.respond(now, peer, key, &req, Answer::new(200, "OK", &[]));
        if let Some(key) = digit {
            self.on_digit(now, id, key, DigitSource::SipInfo);
        }
    }

    /// Answer a non-INVITE request through a new server transaction, with a new To tag.
    fn respond(&mut self, now: Instant, peer: Peer, key: TxKey, req: &Request, answer: Answer<'_>) {
        let tag = self.ids.tag();
        self.respond_tagged(now, peer, key, req, answer, Some(&tag));
    }

    fn respond_tagged(&mut self, now: Instant, peer: Peer, key: TxKey, req: &Request, answer: Answer<'_>, tag: Option<&str>) {
        let id = self.ids.tx();
        self.txs.respond(now, id, peer, key, req, answer, tag, &mut self.fx);
    }

    // ----- call end -------------------------------------------------------------------

    fn end_call(&mut self, now: Instant, id: CallId, reason: EndReason) {
        // A caller who hangs up in the IVR: the path says so.
        if let Some(mut ivr) = self.calls.get_mut(id).and_then(|c| c.ivr.take()) {
            ivr.abandon(now);
            self.event(id, CallEventKind::IvrPath { path: ivr.path().clone() });
        }
        self.fx.timers.set(TimerKey::Ivr(id), None);
        self.fx.timers.set(TimerKey::Record(id), None);
        let Some(call) = self.calls.remove(id, &mut self.fx) else { return };
        // A bridged call: the other leg ends too, and the operator goes to wrap-up.
        let now = self.last_now.max(now);
        let (ops, ctx) = self.split();
        ops.call_ended(now, &call, reason, ctx);
        self.stats.calls_ended += 1;
        self.stats.calls.ended(call.routing.as_ref().map(|r| r.queue.as_str()), reason.outcome(call.routing.is_some(), call.operator.is_some()).0);
        if let Some(heard) = call.heard {
            self.fx.out.push_back(Output::Event(CallEvent { call: id, sip_call_id: call.sip_call_id.clone(), kind: CallEventKind::Voice { heard } }));
        }
        self.fx.out.push_back(Output::Event(CallEvent { call: id, sip_call_id: call.sip_call_id, kind: CallEventKind::Ended { reason } }));
        // An INVITE transaction may still name this call: call ids are never reused,
        // so every use of that back-reference finds the call gone and does nothing.
    }

    /// The drain's grace ran out: every call still up is hung up, both legs (a call
    /// not yet answered gets 503), and its record closed (`gateway shutdown`).
    fn hang_up_all(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.iter().map(|c| c.id).collect();
        for id in ids {
            let Some(call) = self.calls.get_mut(id) else { continue };
            match (matches!(call.state, CallState::Opening { .. }), call.invite_tx.take()) {
                (true, Some(key)) => self.refuse_invite(now, &key, &Refusal::ShuttingDown(self.config.overload.retry_after.as_secs().max(1))),
                (true, None) => {}
                // Our 200 is retransmitted no more: the BYE ends the dialog.
                (false, tx) => {
                    if let Some(key) = tx {
                        self.txs.ack(now, &key, &mut self.fx);
                    }
                    self.send_bye(now, id);
                }
            }
            self.end_call(now, id, EndReason::GatewayShutdown);
        }
    }

    /// Our BYE: the caller is gone from our side (no ACK, shutdown...).
    fn send_bye(&mut self, now: Instant, id: CallId) {
        let branch = self.ids.branch();
        // A call back's dialog exists once the number answered (`operator_side/dial_out.rs`).
        let Some(call) = self.calls.get_mut(id).filter(|c| c.dial_out.is_none() || c.state == CallState::Confirmed) else { return };
        let bytes = call.bye(&branch, &self.config.sip.user_agent);
        let peer = call.peer;
        self.txs.send_request(now, &mut self.ids, peer, branch, bytes, &mut self.fx);
    }

    // ----- the IVR, the ACD and the registrar ------------------------------------------

    fn on_digit(&mut self, now: Instant, id: CallId, key: char, source: DigitSource) {
        if !self.calls.contains(id) {
            return;
        }
        self.event(id, CallEventKind::Digit { key, source });
        if let Some(ivr) = self.calls.get_mut(id).and_then(|c| c.ivr.as_mut()) {
            ivr.handle_digit(now, key);
        }
        self.drain_ivr(now, id);
    }

    fn drain_ivr(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let events = call.run_ivr(&mut self.fx);
        let route = events.iter().find_map(|e| match e {
            CallEventKind::Routed { routing } => Some((routing.queue.clone(), routing.reason.priority())),
            _ => None,
        });
        for e in events {
            self.event(id, e);
        }
        if let Some((queue, class)) = route {
            let now = self.last_now.max(now);
            let (ops, ctx) = self.split();
            ops.enqueue(now, id, &queue, class, ctx);
        }
    }

    // ----- small things ---------------------------------------------------------------

    fn event(&mut self, call: CallId, kind: CallEventKind) {
        self.calls.event(call, kind, &mut self.fx);
    }

    /// The operator side and the parts it borrows for one input.
    fn split(&mut self) -> (&mut OperatorSide, Ctx<'_>) {
        let ctx = Ctx { config: &self.config, calls: &mut self.calls, ids: &mut self.ids, txs: &mut self.txs, fx: &mut self.fx };
        (&mut self.ops, ctx)
    }
}

#[cfg(test)]
mod tests;
