//! The operator side: who is logged in (the registrar), who takes which call (the ACD)
//! and the phones being rung and bridged (the operator legs), driven as one part.
//!
//! The engine hands this part a call when the IVR routes it, the end of a call, a
//! REGISTER, a response or timer of an operator leg, and a supervisor's command; the
//! part drains the registrar's and the ACD's actions and the legs' events into the
//! calls (prompts, the bridge), the transaction layer (our INVITEs, CANCELs and BYEs)
//! and call events, through a [`Ctx`] of the engine's other parts.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use tracing::{info, warn};

mod dial_out;
mod registrations;

use super::call::Call;
use super::callers::{CallerBook, PastCall};
use super::dial_outs::DialOuts;
use super::calls::Calls;
use super::control::{self, Command, Reply};
use super::ids::{Ids, OfferId};
use super::legs::{LegEvent, OfferedCall, OperatorLegs};
use super::output::{CallEventKind, Effects, EndReason, MediaCommand, OperatorEventKind, Output, RegistrationChange};
use super::timers::TimerKey;
use super::transactions::{Answer, Transactions};
use crate::call::acd::{Acd, AcdAction, OfferFailure, Priority};
use crate::call::registrar::{RegisterOutcome, RegisterResponse, Registrar, RegistrarEvent, Relay};
use crate::call::CallId;
use crate::clock::UtcMs;
use crate::config::{Config, OperatorId, QueueId};
use crate::media::sdp::{self, LocalMedia};
use crate::media::Codec;
use crate::sip::transaction::TxKey;
use crate::sip::header::split_list;
use crate::sip::{source, HeaderName, Peer, Request, Response, UriKind};

/// The engine's other parts, lent to the operator side for one input.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) calls: &'a mut Calls,
    pub(crate) ids: &'a mut Ids,
    pub(crate) txs: &'a mut Transactions,
    pub(crate) fx: &'a mut Effects,
}

/// The registrar, the ACD and the operator legs.
pub(crate) struct OperatorSide {
    registrar: Registrar,
    acd: Acd,
    legs: OperatorLegs,
    /// Repeat callers and open callback items (issue 16).
    callers: CallerBook,
    /// A monotonic instant and its wall-clock time (the book is in UTC).
    wall: (Instant, SystemTime),
    /// Click-to-call-back calls in progress (`dial_out.rs`).
    dial_outs: DialOuts,
    /// The nonce secret shared with the other nodes (`[registrar] nonce_secret_file`);
    /// `None`: the engine's random one.
    nonce_secret: Option<[u8; 32]>,
}

impl OperatorSide {
    pub(crate) fn new(config: &Config, now: Instant, utc: SystemTime, secret: [u8; 32]) -> OperatorSide {
        OperatorSide {
            registrar: Registrar::new(now, utc, config.registrar.clone(), &config.operators, secret),
            acd: Acd::new(config.acd.clone(), &config.routing, &config.operators),
            legs: OperatorLegs::default(),
            callers: CallerBook::new(config.callbacks.keep),
            wall: (now, utc),
            dial_outs: DialOuts::default(),
            nonce_secret: None,
        }
    }

    /// Whether `call` is a call back the gateway placed.
    pub(crate) fn is_dial_out(&self, call: CallId) -> bool {
        self.dial_outs.contains(call)
    }

    /// The registrar again, its nonces keyed by the secret the nodes share.
    pub(crate) fn set_nonce_secret(&mut self, config: &Config, secret: [u8; 32]) {
        self.nonce_secret = Some(secret);
        let (now, utc) = self.wall;
        self.registrar = Registrar::new(now, utc, config.registrar.clone(), &config.operators, secret);
    }

    /// The registrar again, tied to wall-clock time (its Date headers).
    pub(crate) fn set_wall_clock(&mut self, config: &Config, now: Instant, utc: SystemTime, secret: [u8; 32]) {
        let secret = self.nonce_secret.unwrap_or(secret);
        self.registrar = Registrar::new(now, utc, config.registrar.clone(), &config.operators, secret);
        self.wall = (now, utc);
    }

    fn utc(&self, now: Instant) -> UtcMs {
        UtcMs::from_system_time(self.wall.1 + now.saturating_duration_since(self.wall.0))
    }

    /// The store's recent calls and open callback items, at start.
    pub(crate) fn load_callers(&mut self, now: Instant, calls: Vec<(String, PastCall)>, open: Vec<(String, UtcMs)>) {
        let utc = self.utc(now);
        for (number, call) in calls {
            self.callers.ended(&number, call, utc);
        }
        for (number, since) in open {
            self.callers.open_callback(&number, since, utc);
        }
    }

    /// A new call: what the book knows of its number, kept with the call and recorded.
    pub(crate) fn new_call(&mut self, now: Instant, call: CallId, ctx: Ctx<'_>) {
        let utc = self.utc(now);
        let Some(c) = ctx.calls.get_mut(call) else { return };
        c.history = self.callers.summary(&c.caller, utc);
        c.callback = self.callers.calls_back(&c.caller, utc);
        if c.history.is_some() || c.callback {
            let kind = CallEventKind::Caller { history: c.history.clone(), callback: c.callback };
            ctx.calls.event(call, kind, ctx.fx);
        }
    }

    /// `caller`'s offer was refused with 488 (no common codec): the store makes it a
    /// callback item, and the book learns it at once, so the number's next call is
    /// flagged `callback` without waiting for a restart to load the item.
    pub(crate) fn codec_refused(&mut self, now: Instant, caller: &str) {
        let utc = self.utc(now);
        self.callers.ended(caller, PastCall { started: utc, outcome: crate::store::record::Outcome::Rejected, department: None, silent: false }, utc);
        self.callers.open_callback(caller, utc, utc);
    }

    /// Operator accounts and registrar settings apply at once; bindings of operators
    /// who remain stay registered.
    pub(crate) fn reconfigure(&mut self, config: &Config) {
        self.registrar.reconfigure(config.registrar.clone(), &config.operators);
        self.callers.set_keep(config.callbacks.keep);
    }

    /// Offers in progress or bridged.
    pub(crate) fn offers(&self) -> usize {
        self.legs.len()
    }

    /// Gives back the legs' table room after a surge.
    pub(crate) fn compact(&mut self) {
        self.legs.compact();
    }

    /// Where `call` waits: its queue and position (1 = next).
    #[cfg(test)]
    pub(crate) fn position(&self, call: CallId) -> Option<(QueueId, usize)> {
        self.acd.position(std::time::Instant::now(), call)
    }

    /// Every queue and operator as of `now` (for the engine's [`super::Snapshot`]).
    pub(crate) fn acd_snapshot(&self, now: Instant) -> crate::call::acd::AcdSnapshot {
        self.acd.snapshot(now)
    }

    /// An operator's ACD state.
    #[cfg(test)]
    pub(crate) fn operator_status(&self, operator: &OperatorId) -> Option<crate::call::acd::OperatorStatus> {
        self.acd.operator_status(operator)
    }

    /// The call whose operator leg an in-dialog request belongs to.
    pub(crate) fn leg_of(&self, req: &Request) -> Option<CallId> {
        self.legs.dialog_of(req)
    }

    /// Whether a dialog key is an operator leg's.
    pub(crate) fn has_leg(&self, dk: &super::call::DialogKey) -> bool {
        self.legs.has_dialog(dk)
    }

    /// A REGISTER from an operator's phone (RFC 7616/8760 Digest), answered through a
    /// new server transaction; `false` when it is dropped unanswered (a source locked
    /// out for guessing). Unknown users and wrong passwords get the same answer.
    pub(crate) fn register(&mut self, now: Instant, peer: Peer, req: &Request, key: TxKey, mut ctx: Ctx<'_>) -> bool {
        // A non-SIP address of record is malformed whoever sends it (RFC 4475 §3.3.4);
        // refusing it before authentication tells nothing about which users exist.
        let outcome = if matches!(req.head.to.uri.kind(), UriKind::Sip(_)) {
            let (origin, relay) = register_origin(ctx.config, &peer, req);
            let outcome = self.registrar.handle_relayed_register(now, origin, peer.transport, req, relay);
            self.drain_registrar(now, ctx.reborrow());
            outcome
        } else {
            RegisterOutcome::Respond(RegisterResponse { status: 400, reason: "Address of record must be a SIP URI", headers: Vec::new(), operator: None })
        };
        let RegisterOutcome::Respond(r) = outcome else { return false };
        let (tag, id) = (ctx.ids.tag(), ctx.ids.tx());
        ctx.txs.respond(now, id, peer, key, req, Answer::new(r.status, r.reason, &r.headers), Some(&tag), ctx.fx);
        true
    }

    /// A response whose CSeq method is INVITE: `false` unless it answers one of our
    /// operator INVITEs and comes from where that INVITE went (a response from
    /// anywhere else is forged: a 200 would bridge the caller to whoever sent it).
    pub(crate) fn invite_response(&mut self, now: Instant, from: &Peer, branch: &str, resp: &Response, mut ctx: Ctx<'_>) -> bool {
        if self.trunk_response(now, from, branch, resp, ctx.reborrow()) {
            return true;
        }
        let Some(fork) = self.legs.fork_of(branch).filter(|f| self.legs.came_from_fork(*f, from)) else { return false };
        self.fork_response(now, fork, resp, ctx);
        true
    }

    /// A supervisor's command.
    /// One carried out on an operator goes to their history first, naming who asked
    /// (then the state change it caused); a refused one leaves no trace here.
    pub(crate) fn command(&mut self, now: Instant, cmd: Command, ctx: Ctx<'_>) -> Reply {
        if let Command::CallBack { item, number, operator, .. } = cmd {
            return self.call_back(now, item, &number, &operator, ctx);
        }
        let action = cmd.action().map(|a| (a.operator.to_string(), a.describe()));
        let reply = control::apply(cmd, now, &mut self.acd, &self.registrar, ctx.config);
        if let (Some((operator, detail)), Reply::State { .. }) = (action, &reply) {
            ctx.fx.out.push_back(Output::Operator { operator, kind: OperatorEventKind::Supervisor, detail: Some(detail) });
        }
        self.drain_acd(now, ctx);
        reply
    }

    /// The IVR routed `call` to `queue`: it waits there; returns its position.
    pub(crate) fn enqueue(&mut self, now: Instant, call: CallId, queue: &QueueId, class: Priority, ctx: Ctx<'_>) {
        // A caller calling back after an abandoned call is served first.
        let class = if ctx.calls.get(call).is_some_and(|c| c.callback) { Priority::High } else { class };
        // [routing.nuisance] (off by default): a repeat silent caller one class lower,
        // never below the silent class (a 5 5 caller or a caller calling back keeps high).
        let rule = &ctx.config.routing.nuisance;
        let utc = self.utc(now);
        let repeat = rule.enabled && class == Priority::Normal && ctx.calls.get(call).is_some_and(|c| self.callers.silent_calls(&c.caller, utc, rule.within) >= rule.silent_calls);
        if repeat {
            info!(%call, "repeat silent caller ([routing.nuisance]): queued in the low class");
            if let Some(c) = ctx.calls.get_mut(call) {
                c.nuisance = true;
            }
            ctx.calls.event(call, CallEventKind::Nuisance, ctx.fx);
        }
        let class = if repeat { Priority::Low } else { class };
        self.acd.enqueue_with(now, call, queue, class);
        let position = self.acd.position(now, call).map_or(0, |(_, p)| p);
        ctx.calls.event(call, CallEventKind::Queued { queue: queue.to_string(), position }, ctx.fx);
        self.drain_acd(now, ctx);
    }

    /// `call` ended: its operator leg is hung up (unless the operator hung up) and the
    /// operator goes to wrap-up, or it leaves its queue.
    pub(crate) fn call_ended(&mut self, now: Instant, call: &Call, reason: EndReason, mut ctx: Ctx<'_>) {
        let reached = self.dial_out_gone(now, call, ctx.reborrow());
        let (mut outcome, _, _) = reason.outcome(call.routing.is_some(), call.operator.is_some());
        if reached == Some(false) {
            // A call back the number did not answer: its item stays open.
            outcome = crate::store::record::Outcome::Failed;
        }
        let department = call.routing.as_ref().map(|r| r.queue.to_string());
        let silent = call.routing.as_ref().and_then(|r| r.reason.flag()) == Some("silent");
        let past = PastCall { started: self.utc(call.started), outcome, department, silent };
        self.callers.ended(&call.caller, past, self.utc(now));
        if let Some(op) = &call.operator {
            let hung_up = reason == EndReason::OperatorHangup;
            self.legs.call_ended(now, call.id, op, hung_up, ctx.ids, ctx.txs, ctx.fx);
            if reached == Some(false) {
                // Nobody to talk to: no wrap-up, the operator's place back.
                self.acd.release(now, &op.operator, call.id);
            } else {
                self.acd.call_ended(now, &op.operator);
            }
            self.drain_acd(now, ctx);
        } else if call.routing.is_some() {
            self.acd.remove(now, call.id);
            self.drain_acd(now, ctx);
        }
    }

    /// A deadline of this part came due.
    pub(crate) fn timeout(&mut self, now: Instant, key: TimerKey, ctx: Ctx<'_>) {
        match key {
            TimerKey::Registrar => {
                self.registrar.handle_timeout(now);
                self.drain_registrar(now, ctx);
            }
            TimerKey::Acd => {
                self.acd.handle_timeout(now);
                self.drain_acd(now, ctx);
            }
            TimerKey::Fork(offer, idx) => {
                self.legs.on_timeout(now, offer, idx, ctx.ids, ctx.txs, ctx.fx);
                self.drain_legs(now, ctx);
            }
            TimerKey::DialOut(_) | TimerKey::DialOutTx(_) => self.dial_out_timeout(now, key, ctx),
            _ => {}
        }
    }

    /// A response to one of our operator INVITEs.
    fn fork_response(&mut self, now: Instant, fork: (OfferId, usize), resp: &Response, ctx: Ctx<'_>) {
        let calls = &*ctx.calls;
        self.legs.on_response(now, fork, resp, |c| calls.contains(c), &ctx.config.media.codecs, ctx.ids, ctx.txs, ctx.fx);
        self.drain_legs(now, ctx);
    }

    fn drain_acd(&mut self, now: Instant, mut ctx: Ctx<'_>) {
        while let Some(a) = self.acd.poll_action() {
            match a {
                AcdAction::PlayHold { call } => queue_prompt(&mut ctx, call, "hold"),
                AcdAction::PlayStayOnLine { call } => queue_prompt(&mut ctx, call, "stay_on_line"),
                AcdAction::Overflowed { call, to } => ctx.calls.event(call, CallEventKind::Overflowed { to: to.to_string() }, ctx.fx),
                AcdAction::OperatorState { op, state, reason } => ctx.fx.out.push_back(Output::Operator {
                    operator: op.to_string(),
                    kind: OperatorEventKind::State,
                    detail: Some(match reason {
                        Some(r) => format!("{} ({r})", state.as_str()),
                        None => state.as_str().to_string(),
                    }),
                }),
                AcdAction::Offer { call, operator } => {
                    self.offer(now, call, &operator, ctx.reborrow());
                }
                AcdAction::CancelOffer { call, .. } => {
                    self.legs.withdraw(now, call, ctx.ids, ctx.txs, ctx.fx);
                    self.drain_legs(now, ctx.reborrow());
                }
            }
        }
        ctx.fx.timers.set(TimerKey::Acd, self.acd.poll_timeout());
    }

    /// The ACD offers `call` to `operator`: ring every phone they registered; `false`
    /// when none could be rung.
    fn offer(&mut self, now: Instant, call: CallId, operator: &OperatorId, mut ctx: Ctx<'_>) -> bool {
        let contacts = self.registrar.contacts(operator);
        let config = ctx.config;
        let Some((c, Some(media))) = ctx.calls.get(call).map(|c| (c, c.local_media.clone())) else {
            self.acd.offer_failed(now, call, operator, OfferFailure::Unreachable);
            return false;
        };
        let department = c.routing.as_ref().map(|r| r.queue.clone());
        let department_name = department.as_ref().and_then(|q| config.routing.queue(q)).map_or_else(|| "112".to_string(), |q| q.name.clone());
        let department = department.map(|d| d.to_string());
        let offered = OfferedCall {
            call,
            operator,
            caller: &c.caller,
            caller_name: c.caller_name.as_deref(),
            record: &c.record,
            department: department.as_deref(),
            department_name: &department_name,
            flags: flags(c),
            history: c.history.as_deref(),
            sdp: sdp::offer(&LocalMedia { session_version: media.session_version + 1, ..media }, &config.media.codecs),
            local: local_udp(config),
            user_agent: &config.sip.user_agent,
        };
        let rung = match self.legs.offer(now, offered, &contacts, ctx.ids, ctx.txs, ctx.fx) {
            Ok(()) => {
                ctx.calls.event(call, CallEventKind::Offered { operator: operator.to_string() }, ctx.fx);
                true
            }
            Err(why) => {
                self.acd.offer_failed(now, call, operator, why);
                false
            }
        };
        self.drain_legs(now, ctx.reborrow());
        rung
    }

    /// What the operator legs reported, routed to the calls, their media and the ACD.
    fn drain_legs(&mut self, now: Instant, mut ctx: Ctx<'_>) {
        let mut acd = false;
        while let Some(ev) = self.legs.poll_event() {
            match ev {
                LegEvent::Ringing { call, operator } => ctx.calls.event(call, CallEventKind::OperatorRinging { operator: operator.to_string() }, ctx.fx),
                LegEvent::Answered { call, leg, media } => {
                    self.acd.offer_answered(now, call, &leg.operator);
                    let operator = leg.operator.clone();
                    if let Some(c) = ctx.calls.get_mut(call) {
                        c.operator = Some(leg);
                        c.playing = None;
                        c.queued_prompts.clear();
                    }
                    let codec = default_codec(ctx.config);
                    let cmd = match media {
                        Some(n) => MediaCommand::Bridge { remote: n.remote, codec: n.codec, payload_type: n.payload_type, telephone_event: n.telephone_event, telephone_event_rate: n.telephone_event_rate },
                        None => MediaCommand::Bridge { remote: None, codec, payload_type: codec.payload_type(), telephone_event: None, telephone_event_rate: 8000 },
                    };
                    if self.dial_outs.contains(call) {
                        // A call back: the number is called now, bridged when it answers.
                        self.dial_out_operator_answered(now, call, cmd, ctx.reborrow());
                        continue;
                    }
                    ctx.fx.out.push_back(Output::Media { call, cmd });
                    info!(%call, %operator, "operator answered; legs bridged");
                    ctx.calls.event(call, CallEventKind::OperatorAnswered { operator: operator.to_string() }, ctx.fx);
                    acd = true;
                }
                LegEvent::Failed { call, operator, why } => {
                    ctx.calls.event(call, CallEventKind::OperatorNoAnswer { operator: operator.to_string() }, ctx.fx);
                    if self.dial_outs.contains(call) {
                        self.dial_out_operator_failed(now, call, ctx.reborrow());
                        continue;
                    }
                    self.acd.offer_failed(now, call, &operator, why);
                    acd = true;
                }
            }
        }
        if acd {
            self.drain_acd(now, ctx.reborrow());
        }
    }

    fn drain_registrar(&mut self, now: Instant, ctx: Ctx<'_>) {
        while let Some(ev) = self.registrar.poll_event() {
            match ev {
                RegistrarEvent::Registered { operator, binding, first } => {
                    info!(%operator, contact = %binding.contact, "operator registered");
                    let saved = self.saved(&operator, &binding);
                    ctx.fx.out.push_back(saved);
                    if first {
                        ctx.fx.out.push_back(Output::Operator { operator: operator.to_string(), kind: OperatorEventKind::Login, detail: Some(binding.contact.clone()) });
                        self.acd.operator_registered(now, &operator);
                    }
                }
                RegistrarEvent::Refreshed { operator, binding } => {
                    let saved = self.saved(&operator, &binding);
                    ctx.fx.out.push_back(saved);
                }
                RegistrarEvent::Unregistered { operator, contact, remaining } | RegistrarEvent::Expired { operator, contact, remaining } => {
                    info!(%operator, %contact, remaining, "operator contact removed");
                    ctx.fx.out.push_back(Output::Registration(RegistrationChange::Removed { operator: operator.to_string(), contact: contact.clone() }));
                    if remaining == 0 {
                        ctx.fx.out.push_back(Output::Operator { operator: operator.to_string(), kind: OperatorEventKind::Logout, detail: Some(contact) });
                        self.acd.operator_unregistered(now, &operator);
                    }
                }
                RegistrarEvent::LockedOut { lock, until } => {
                    let secs = until.saturating_duration_since(now).as_secs();
                    warn!(%lock, secs, "too many failed REGISTERs: locked for the rest of the failure window");
                }
            }
        }
        ctx.fx.timers.set(TimerKey::Registrar, self.registrar.poll_timeout());
        self.drain_acd(now, ctx);
    }
}

impl Ctx<'_> {
    /// The same parts, lent again for a nested call.
    fn reborrow(&mut self) -> Ctx<'_> {
        Ctx { config: self.config, calls: self.calls, ids: self.ids, txs: self.txs, fx: self.fx }
    }
}

/// A queue prompt (`hold`, `stay_on_line`) in the language the caller chose.
fn queue_prompt(ctx: &mut Ctx<'_>, call: CallId, prompt: &str) {
    if let Some(p) = ctx.calls.prompt(call, prompt, ctx.config) {
        ctx.calls.play(call, p, ctx.fx);
    }
}

/// The codec a call uses when its offer named none we could use.
pub(crate) fn default_codec(config: &Config) -> Codec {
    config.media.codecs.first().copied().unwrap_or(Codec::Pcmu)
}

/// Our UDP address for the operator leg (the first UDP listener; an unspecified
/// address becomes the media address).
fn local_udp(config: &Config) -> SocketAddr {
    let mut a = config.sip.listen_udp.first().copied().unwrap_or_else(|| SocketAddr::new(config.media.address, 5060));
    if a.ip().is_unspecified() {
        a.set_ip(config.media.address);
    }
    a
}

/// The flags the operator's phone is shown (`X-CC112-Flags`): `callback`, then the
/// IVR's (`silent_55`, `silent`), then `nuisance`, comma-separated; `None` for none.
pub(crate) fn flags(c: &Call) -> Option<String> {
    let ivr = c.routing.as_ref().and_then(|r| r.reason.flag());
    let all: Vec<&str> = c.callback.then_some("callback").into_iter().chain(ivr).chain(c.nuisance.then_some("nuisance")).collect();
    (!all.is_empty()).then(|| all.join(","))
}

/// Path entries kept per binding; a longer Path is cut (one proxy writes one or two).
const MAX_PATH: usize = 4;
/// A Path entry longer than this is dropped (a URI with a `received` parameter is
/// well under it).
const MAX_PATH_ENTRY: usize = 512;

/// A REGISTER's origin and, when a trusted proxy relayed it with a Path, where the
/// phone's INVITEs go (the proxy) with which Route set (the Path, bounded).
pub(crate) fn register_origin(config: &Config, peer: &Peer, req: &Request) -> (SocketAddr, Option<Relay>) {
    let origin = source::origin(peer.remote, &req.head, &config.sip.trusted_proxies);
    if !config.sip.trusted_proxies.contains(&peer.remote.ip()) {
        return (origin, None);
    }
    let path_name = HeaderName::Other("Path".to_string());
    let path: Vec<String> = req
        .head
        .headers
        .iter()
        .filter(|h| h.name == path_name || matches!(&h.name, HeaderName::Other(n) if n.eq_ignore_ascii_case("path")))
        .filter_map(|h| split_list(&h.value).ok())
        .flatten()
        .filter(|v| v.len() <= MAX_PATH_ENTRY && !v.chars().any(char::is_control))
        .take(MAX_PATH)
        .map(str::to_string)
        .collect();
    // Relayed without a Path: the proxy does not want the phone's INVITEs, so they go
    // to the phone directly, as for a phone that registered with us.
    if path.is_empty() {
        return (origin, None);
    }
    (origin, Some(Relay { next_hop: peer.remote, path }))
}
