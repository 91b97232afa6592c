//! The operators' registrar (RFC 3261 §10.3) with Digest authentication
//! ([`crate::sip::digest`]), sans-IO: `handle_register(now, ..)` answers one REGISTER,
//! `poll_event()` drains what changed, `poll_timeout()`/`handle_timeout(now)` expire
//! bindings.
//!
//! The rules, and why:
//! - **No enumeration.** An unknown user and a wrong password get the same answer (a
//!   fresh 401 with the same challenges) after the same work: a response is always
//!   hashed, against a dummy HA1 for unknown users. svwar-style tools learn nothing.
//! - **Only a real guess counts.** A failure is a well-formed Digest answer to a nonce
//!   we issued to that IP address that is still fresh, with a wrong response. A
//!   malformed header gets 400, a nonce that is not ours (or another address's) a new
//!   challenge, an expired one a new challenge with `stale=true`; none of these counts
//!   and none is hashed. So a spoofed packet or a stranger's garbage cannot lock anyone
//!   out: to count, one has to fetch a nonce, i.e. receive at that address. The stale
//!   flag goes on *every* answer to an expired nonce, right or wrong, unchecked: RFC
//!   7616 would set it for a right one only, but an uncounted answer that says "right"
//!   would be a guessing oracle with no limit.
//! - **Guessing stays slow, in two scopes** ([`lockout`]). After `failed_attempts`
//!   failures in `failed_window` from one source (IP address *and port*) for one user
//!   name, that source's REGISTERs for that name are dropped silently: no hash, no
//!   response, no state; the attacker waits for a timeout. The port is part of the key
//!   because a NAT or a shared host puts many phones behind one IP address: a guesser
//!   on another port must not cut the real phone off (issue 13: three spoofed REGISTERs
//!   from 127.0.0.1 used to silence op-budi's phone on 127.0.0.1). A source that fails
//!   ten times that often over any names is dropped as a whole (one socket spraying a
//!   password over every operator). Changing ports or addresses buys nothing past the
//!   second scope: after `failed_attempts_per_user` failures for one operator from all
//!   sources together, that operator's answers are no longer verified; they get the
//!   401 a wrong password gets. The guesser cannot tell the lock from a wrong password
//!   (so the lock tells no one which users exist either), and the hash is still
//!   computed, so the timing is the same too.
//! - **A live registration always refreshes.** A REGISTER with the Call-ID of one of
//!   the operator's live bindings, from that binding's source and transport, with a
//!   higher CSeq (RFC 3261 §10.3 step 7's order; a phone keeps one Call-ID for all
//!   its registrations, §10.2), passes every lock and is challenged and verified as
//!   usual. Another port of the phone's address cannot match it, and one who spoofs
//!   the phone's exact address must also know its Call-ID, i.e. see its traffic; and
//!   whoever sees a Digest exchange can guess offline anyway. A right answer also
//!   starts its own source's count over (not the operator's: a phone refreshing every
//!   few minutes would hand a guesser a new allowance each time).
//! - **The price.** An operator *without* a live registration is locked out with the
//!   guessers while attackers on several sources keep the per-operator lock closed:
//!   an answer from a new source cannot be told from a guess. The real phone's own
//!   source is never blocked by guesses from other sources, only by that lock, and
//!   with the defaults it takes four sources to close it.
//! - **Bounded memory.** Bindings per operator, the per-source failure tables and the
//!   nonce replay table are capped; the per-operator table holds configured operators
//!   only; nonces themselves are stateless.
//! - **Several contacts per operator** (desk phone and softphone): all ring.
//! - Challenge-free paths do not exist here: emergency calls never meet a challenge,
//!   but operators always do.
//!
//! Not handled here (the engine's part): transport and transaction layer, the To URI
//! scheme check, sending the response built from [`RegisterResponse`].

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Operator, OperatorId, RegistrarConfig};
use crate::sip::digest::{self, Algorithm, Credentials, NonceKeeper, NonceStatus};
use crate::sip::Transport;
use crate::sip::{HeaderName, Request};

mod date;
mod lockout;
mod restore;

use date::http_date;

use lockout::{Limits, Lockout};
pub use lockout::{Lock, MAX_FAILURE_ENTRIES};

/// Contacts kept per operator; a new one beyond this replaces the one expiring
/// soonest (phones that change address leave stale bindings behind).
pub const MAX_BINDINGS_PER_OPERATOR: usize = 8;
/// A user name longer than this is cut before it becomes a failure-table key.
const MAX_KEY_USER: usize = 64;

/// One registered contact of an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the phone wrote it: the Request-URI of INVITEs to it.
    pub contact: String,
    /// Where the REGISTER came from (behind our proxy: where the proxy says it came
    /// from); the phone may be behind NAT, RFC 3581 style.
    pub source: SocketAddr,
    /// Where INVITEs to the contact are sent: `source`, or our proxy that relayed the
    /// REGISTER.
    pub next_hop: SocketAddr,
    /// The REGISTER's Path (RFC 3327) when our proxy relayed it: the Route set of
    /// INVITEs to the contact, so they go back through the proxy to the phone.
    pub path: Vec<String>,
    /// The transport the REGISTER came over; INVITEs to the contact use it too.
    pub transport: Transport,
    /// The first REGISTER of this contact; refreshes keep it.
    pub registered_at: Instant,
    /// Without a refresh the binding ends here (granted expiry after the last
    /// REGISTER, capped by `max_expires`).
    pub expires_at: Instant,
    /// For RFC 3261 §10.3 step 7: an older REGISTER of the same Call-ID is ignored.
    pub call_id: String,
    /// The CSeq number of the REGISTER that last wrote the binding (same step 7).
    pub cseq: u32,
}

/// The answer to one REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Send this response.
    Respond(RegisterResponse),
    /// Locked out: send nothing at all.
    Drop,
}

/// A response for the engine to build with `Outgoing::response` plus these headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterResponse {
    /// 200, 400, 401, 403, 423 (RFC 3261 §10.3).
    pub status: u16,
    /// The reason phrase.
    pub reason: &'static str,
    /// In order: WWW-Authenticate (one per algorithm), Contact (one per binding),
    /// Min-Expires, Date.
    pub headers: Vec<(&'static str, String)>,
    /// The authenticated operator, for logs (never set on a 401).
    pub operator: Option<OperatorId>,
}

/// How a REGISTER relayed by our proxy reaches the phone back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The proxy the REGISTER came from: INVITEs to the phone go there.
    pub next_hop: SocketAddr,
    /// Its Path header values (RFC 3327), in order: their Route set.
    pub path: Vec<String>,
}

/// Changes for the operator-state history and the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A new contact; `first` when the operator had none before (now reachable:
    /// `Acd::operator_registered`).
    Registered {
        /// Whose contact.
        operator: OperatorId,
        /// The new binding.
        binding: Binding,
        /// The operator had no binding before this one.
        first: bool,
    },
    /// A contact registered again (a refresh): its new expiry, for the copy kept
    /// across a restart.
    Refreshed {
        /// Whose contact.
        operator: OperatorId,
        /// The binding as it is now.
        binding: Binding,
    },
    /// Removed by the phone (`Expires: 0`, `Contact: *`) or replaced when over the
    /// cap; `remaining == 0`: the operator is unreachable (`Acd::operator_unregistered`).
    Unregistered {
        /// Whose contact.
        operator: OperatorId,
        /// The Contact URI removed.
        contact: String,
        /// Bindings the operator still has.
        remaining: usize,
    },
    /// Not refreshed in time.
    Expired {
        /// Whose contact.
        operator: OperatorId,
        /// The Contact URI that expired.
        contact: String,
        /// Bindings the operator still has; 0: unreachable.
        remaining: usize,
    },
    /// A failure limit was reached: what is locked, until when. For the security log.
    LockedOut {
        /// The source, user name or operator locked, and what that means.
        lock: Lock,
        /// When the lock opens (one failure window after the window's first failure).
        until: Instant,
    },
}

/// The registrar for all operators.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    accounts: HashMap<String, Operator>,
    nonces: NonceKeeper,
    /// HA1s hashed for unknown users so they cost the same work as known ones.
    dummy_ha1: (String, String),
    bindings: HashMap<OperatorId, Vec<Binding>>,
    lockout: Lockout,
    events: VecDeque<RegistrarEvent>,
    /// Wall clock at `t0`, for the Date header without reading the clock here.
    wall0: SystemTime,
    t0: Instant,
}

/// What a request's Authorization headers amount to.
enum Auth {
    None,
    Malformed,
    Digest(Credentials),
}

impl Registrar {
    /// `secret` (32 random bytes from the engine's RNG) keys the nonces; `wall` is
    /// the UTC time at `now`.
    pub fn new(
        now: Instant,
        wall: SystemTime,
        cfg: RegistrarConfig,
        operators: &[Operator],
        secret: [u8; 32],
    ) -> Registrar {
        let dummy_pw = hex::encode(secret);
        let dummy_ha1 = (
            digest::ha1(Algorithm::Md5, "\u{0}unknown", &cfg.realm, &dummy_pw),
            digest::ha1(Algorithm::Sha256, "\u{0}unknown", &cfg.realm, &dummy_pw),
        );
        Registrar {
            nonces: NonceKeeper::new(now, secret, cfg.nonce_ttl).with_wall_epoch(wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)),
            accounts: operators
                .iter()
                .map(|o| (o.id.as_str().to_string(), o.clone()))
                .collect(),
            lockout: Lockout::new(limits(&cfg)),
            cfg,
            dummy_ha1,
            bindings: HashMap::new(),
            events: VecDeque::new(),
            wall0: wall,
            t0: now,
        }
    }

    /// Smaller per-source failure tables, for tests of the bounds.
    pub fn with_max_failure_entries(mut self, n: usize) -> Registrar {
        self.lockout.set_max_entries(n);
        self
    }

    /// A config reload: accounts are replaced; bindings of removed operators are
    /// dropped (with events), the others stay (their phones need not re-register).
    /// Nonces already issued stay valid only if the realm is unchanged.
    pub fn reconfigure(&mut self, cfg: RegistrarConfig, operators: &[Operator]) {
        self.accounts = operators
            .iter()
            .map(|o| (o.id.as_str().to_string(), o.clone()))
            .collect();
        let removed: Vec<OperatorId> = self
            .bindings
            .keys()
            .filter(|id| !self.accounts.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in removed {
            for b in self.bindings.remove(&id).unwrap_or_default() {
                self.events.push_back(RegistrarEvent::Unregistered {
                    operator: id.clone(),
                    contact: b.contact,
                    remaining: 0,
                });
            }
        }
        let accounts = &self.accounts;
        self.lockout
            .reconfigure(limits(&cfg), |id| accounts.contains_key(id.as_str()));
        self.cfg = cfg;
    }

    /// The configuration in force (the last [`reconfigure`](Self::reconfigure)'s).
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// Answers one REGISTER (already absorbed by the transaction layer, so a
    /// retransmission never reaches here).
    pub fn handle_register(&mut self, now: Instant, source: SocketAddr, transport: Transport, req: &Request) -> RegisterOutcome {
        self.handle_relayed_register(now, source, transport, req, None)
    }

    /// [`handle_register`](Self::handle_register) for a REGISTER our proxy relayed:
    /// `source` is the phone's address behind it (every lock, nonce and refresh keys on
    /// it, so one guesser behind the proxy locks out no one else), `relay` where its
    /// INVITEs go and with which Route set.
    pub fn handle_relayed_register(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        req: &Request,
        relay: Option<Relay>,
    ) -> RegisterOutcome {
        let ip = source.ip();
        let auth = self.authorization(req);
        let to_user = req
            .head
            .to
            .uri
            .as_sip()
            .and_then(|u| u.user.clone())
            .unwrap_or_default();
        let user = match &auth {
            Auth::Digest(c) => c.username.as_str(),
            _ => to_user.as_str(),
        };
        let refresh = user == to_user && self.refreshes_binding(now, source, transport, req);
        let key = (source, key_user(user));
        if !refresh && self.lockout.source_locked(now, &key) {
            return RegisterOutcome::Drop;
        }
        let creds = match auth {
            Auth::None => return self.challenge(now, ip, false),
            // Nothing was guessed: not counted.
            Auth::Malformed => {
                return self.respond(400, "Malformed Authorization header", Vec::new(), None)
            }
            Auth::Digest(c) => c,
        };
        match self.nonces.check(now, ip, &creds.nonce) {
            // Not ours, or another address's: nothing was guessed, start over.
            NonceStatus::Invalid => return self.challenge(now, ip, false),
            // Expired: not counted, so not checked either (see the module doc).
            NonceStatus::Stale => return self.challenge(now, ip, true),
            NonceStatus::Fresh => {}
        }
        let (operator, right) = self.verify(&creds);
        let locked = operator
            .as_ref()
            .is_some_and(|op| !refresh && self.lockout.user_locked(now, op));
        if locked {
            // Checked (same work) but not believed, and not counted: a guess is wasted.
            return self.challenge(now, ip, false);
        }
        if !right {
            for (lock, until) in self.lockout.fail(now, key, operator.as_ref()) {
                self.events
                    .push_back(RegistrarEvent::LockedOut { lock, until });
            }
            return self.challenge(now, ip, false);
        }
        let Some(operator) = operator else {
            return self.challenge(now, ip, false); // right implies an account
        };
        if !self.nonces.accept_nc(now, &creds.nonce, creds.nc) {
            // A replayed nc: the password was right once, the request is not new.
            return self.challenge(now, ip, true);
        }
        self.lockout.succeeded(&key);
        if to_user != creds.username {
            // Authenticated, but registering someone else's address of record.
            return self.respond(403, "Forbidden", Vec::new(), Some(operator));
        }
        let relay = relay.unwrap_or(Relay { next_hop: source, path: Vec::new() });
        self.update_bindings(now, (source, relay), transport, req, operator)
    }

    /// The configured operator `creds` names (if any) and whether its response proves
    /// the password. Always hashes, against a dummy HA1 when the account or its
    /// algorithm is missing, so unknown users cost what known ones cost.
    fn verify(&self, creds: &Credentials) -> (Option<OperatorId>, bool) {
        let account = self.accounts.get(&creds.username);
        let real_ha1 = account.and_then(|o| o.ha1(creds.algorithm));
        let dummy = match creds.algorithm {
            Algorithm::Md5 => self.dummy_ha1.0.as_str(),
            Algorithm::Sha256 => self.dummy_ha1.1.as_str(),
        };
        let right =
            digest::verify(creds, "REGISTER", real_ha1.unwrap_or(dummy)) && real_ha1.is_some();
        (account.map(|o| o.id.clone()), right)
    }

    /// Whether `req` refreshes a live binding of its address of record: that binding's
    /// Call-ID, from its source and transport, with a higher CSeq. Such a REGISTER
    /// passes every lock (see the module doc).
    fn refreshes_binding(
        &self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        req: &Request,
    ) -> bool {
        let Some(user) = req.head.to.uri.as_sip().and_then(|u| u.user.as_deref()) else {
            return false;
        };
        let Some(account) = self.accounts.get(user) else {
            return false;
        };
        self.bindings.get(&account.id).is_some_and(|list| {
            list.iter().any(|b| {
                b.expires_at > now
                    && b.source == source
                    && b.transport == transport
                    && b.call_id == req.head.call_id
                    && b.cseq < req.head.cseq.seq
            })
        })
    }

    /// The first Digest header for our realm, if any.
    fn authorization(&self, req: &Request) -> Auth {
        let mut saw_ours = false;
        for value in req.head.get_all(&HeaderName::Authorization) {
            match digest::parse_authorization(value) {
                Ok(c) if c.realm == self.cfg.realm => return Auth::Digest(c),
                Ok(_) => {}
                Err(digest::DigestError::NotDigest) => {}
                Err(_) => saw_ours = true,
            }
        }
        if saw_ours {
            Auth::Malformed
        } else {
            Auth::None
        }
    }

    fn challenge(&mut self, now: Instant, ip: IpAddr, stale: bool) -> RegisterOutcome {
        let nonce = self.nonces.issue(now, ip);
        let headers = self
            .cfg
            .algorithms
            .iter()
            .map(|a| ("WWW-Authenticate", digest::challenge(&self.cfg.realm, &nonce, *a, stale)))
            .collect();
        self.respond(401, "Unauthorized", headers, None)
    }

    fn respond(
        &self,
        status: u16,
        reason: &'static str,
        headers: Vec<(&'static str, String)>,
        operator: Option<OperatorId>,
    ) -> RegisterOutcome {
        RegisterOutcome::Respond(RegisterResponse {
            status,
            reason,
            headers,
            operator,
        })
    }

    /// Entries in the failure tables (for tests and metrics).
    pub fn failure_entries(&self) -> usize {
        self.lockout.entries()
    }

    // ----------------------------------------------------------------- bindings

    fn update_bindings(
        &mut self,
        now: Instant,
        (source, relay): (SocketAddr, Relay),
        transport: Transport,
        req: &Request,
        operator: OperatorId,
    ) -> RegisterOutcome {
        let header_expires = match req.head.get(&HeaderName::Expires) {
            None => None,
            Some(v) => match delta_seconds(v) {
                Some(s) => Some(s),
                None => return self.respond(400, "Bad Expires", Vec::new(), Some(operator)),
            },
        };
        if req.head.contact_star {
            // RFC 3261 §10.3 step 6: `*` only with Expires: 0 and no other contact.
            if header_expires != Some(0) || !req.head.contact.is_empty() {
                return self.respond(
                    400,
                    "Contact * needs Expires: 0",
                    Vec::new(),
                    Some(operator),
                );
            }
            self.remove_all(&operator);
            return self.ok(now, &operator);
        }
        let wanted = match self.wanted_expiries(req, header_expires, &operator) {
            Ok(w) => w,
            Err(reply) => return reply,
        };
        let update = Update {
            now,
            source,
            relay,
            transport,
            call_id: &req.head.call_id,
            cseq: req.head.cseq.seq,
        };
        for (contact, exp) in wanted {
            self.apply(&update, &operator, contact, exp);
        }
        if self.bindings.get(&operator).is_some_and(Vec::is_empty) {
            self.bindings.remove(&operator);
        }
        self.ok(now, &operator)
    }

    /// `Contact: *` with `Expires: 0`: every binding of the operator goes.
    fn remove_all(&mut self, operator: &OperatorId) {
        let old = self.bindings.remove(operator).unwrap_or_default();
        let n = old.len();
        for (i, b) in old.into_iter().enumerate() {
            self.events.push_back(RegistrarEvent::Unregistered {
                operator: operator.clone(),
                contact: b.contact,
                remaining: n - i - 1,
            });
        }
    }

    /// Every contact's expiry in seconds (its `expires` parameter, else the Expires
    /// header, else the default; capped at the maximum), worked out before anything
    /// is applied: a 400 or 423 for one contact applies nothing (§10.3 step 7).
    fn wanted_expiries(
        &self,
        req: &Request,
        header_expires: Option<u64>,
        operator: &OperatorId,
    ) -> Result<Vec<(String, u64)>, RegisterOutcome> {
        let mut wanted: Vec<(String, u64)> = Vec::new();
        for c in &req.head.contact {
            let exp = match crate::sip::uri::find_param(&c.params, "expires") {
                Some(p) => match p.value.as_deref().and_then(delta_seconds) {
                    Some(s) => s,
                    None => {
                        return Err(self.respond(
                            400,
                            "Bad Contact expires",
                            Vec::new(),
                            Some(operator.clone()),
                        ))
                    }
                },
                None => header_expires.unwrap_or(self.cfg.default_expires.as_secs()),
            };
            if exp != 0 && exp < self.cfg.min_expires.as_secs() {
                let mut r = self.respond(
                    423,
                    "Interval Too Brief",
                    Vec::new(),
                    Some(operator.clone()),
                );
                if let RegisterOutcome::Respond(resp) = &mut r {
                    resp.headers
                        .push(("Min-Expires", self.cfg.min_expires.as_secs().to_string()));
                }
                return Err(r);
            }
            wanted.push((
                c.uri.as_str().to_string(),
                exp.min(self.cfg.max_expires.as_secs()),
            ));
        }
        Ok(wanted)
    }

    /// One contact of a REGISTER: removed (`exp` 0), refreshed, or added (evicting
    /// the binding closest to expiry past [`MAX_BINDINGS_PER_OPERATOR`]). A request
    /// older than the binding (same Call-ID, CSeq not higher) is ignored.
    fn apply(&mut self, update: &Update<'_>, operator: &OperatorId, contact: String, exp: u64) {
        let list = self.bindings.entry(operator.clone()).or_default();
        let existing = list.iter().position(|b| b.contact == contact);
        if let Some(i) = existing {
            if list
                .get(i)
                .is_some_and(|b| b.call_id == update.call_id && b.cseq >= update.cseq)
            {
                return; // out of order (§10.3 step 7)
            }
        }
        if exp == 0 {
            if let Some(i) = existing {
                list.remove(i);
                let remaining = list.len();
                self.events.push_back(RegistrarEvent::Unregistered {
                    operator: operator.clone(),
                    contact,
                    remaining,
                });
            }
            return;
        }
        let binding = Binding {
            contact: contact.clone(),
            source: update.source,
            next_hop: update.relay.next_hop,
            path: update.relay.path.clone(),
            transport: update.transport,
            registered_at: update.now,
            expires_at: update.now + Duration::from_secs(exp),
            call_id: update.call_id.to_owned(),
            cseq: update.cseq,
        };
        match existing.and_then(|i| list.get_mut(i)) {
            Some(b) => {
                // A refresh keeps the original registration time.
                let registered_at = b.registered_at;
                *b = Binding {
                    registered_at,
                    ..binding
                };
                let binding = b.clone();
                self.events.push_back(RegistrarEvent::Refreshed { operator: operator.clone(), binding });
            }
            None => {
                let first = list.is_empty();
                if list.len() >= MAX_BINDINGS_PER_OPERATOR {
                    if let Some(i) =
                        (0..list.len()).min_by_key(|i| list.get(*i).map(|b| b.expires_at))
                    {
                        let old = list.remove(i);
                        self.events.push_back(RegistrarEvent::Unregistered {
                            operator: operator.clone(),
                            contact: old.contact,
                            remaining: list.len() + 1,
                        });
                    }
                }
                list.push(binding.clone());
                self.events.push_back(RegistrarEvent::Registered {
                    operator: operator.clone(),
                    binding,
                    first,
                });
            }
        }
    }

    fn ok(&self, now: Instant, operator: &OperatorId) -> RegisterOutcome {
        let mut headers: Vec<(&'static str, String)> = self
            .contacts(operator)
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                ("Contact", format!("<{}>;expires={secs}", b.contact))
            })
            .collect();
        headers.push(("Date", http_date(self.wall(now))));
        self.respond(200, "OK", headers, Some(operator.clone()))
    }

    fn wall(&self, now: Instant) -> SystemTime {
        self.wall0 + now.saturating_duration_since(self.t0)
    }

    // ------------------------------------------------------------------ queries

    /// Every live contact of an operator: the engine INVITEs all of them at once.
    pub fn contacts(&self, operator: &OperatorId) -> Vec<Binding> {
        self.bindings.get(operator).cloned().unwrap_or_default()
    }

    /// True while the operator has at least one binding (is reachable).
    pub fn is_registered(&self, operator: &OperatorId) -> bool {
        self.bindings.get(operator).is_some_and(|l| !l.is_empty())
    }

    /// The account of `id`; `None` when no `[[operators]]` entry has it.
    pub fn operator(&self, id: &OperatorId) -> Option<&Operator> {
        self.accounts.get(id.as_str())
    }

    /// Operators with at least one binding.
    pub fn registered(&self) -> impl Iterator<Item = &OperatorId> {
        self.bindings.keys()
    }

    // ------------------------------------------------------------------- timers

    /// The next binding expiry. O(bindings): at most operators × 8, and only the
    /// engine's timer refresh asks.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Removes every binding expired by `now`, each reported as
    /// [`RegistrarEvent::Expired`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut emptied = Vec::new();
        for (op, list) in self.bindings.iter_mut() {
            let mut i = 0;
            while i < list.len() {
                if list.get(i).is_some_and(|b| b.expires_at <= now) {
                    let b = list.remove(i);
                    self.events.push_back(RegistrarEvent::Expired {
                        operator: op.clone(),
                        contact: b.contact,
                        remaining: list.len(),
                    });
                } else {
                    i += 1;
                }
            }
            if list.is_empty() {
                emptied.push(op.clone());
            }
        }
        for op in emptied {
            self.bindings.remove(&op);
        }
    }

    /// The next change, in order; `None` when drained.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }
}

/// The lockout's limits from the registrar config.
fn limits(cfg: &RegistrarConfig) -> Limits {
    Limits {
        per_source_user: cfg.failed_attempts,
        per_user: cfg.failed_attempts_per_user,
        window: cfg.failed_window,
    }
}

fn key_user(user: &str) -> String {
    user.chars().take(MAX_KEY_USER).collect()
}

/// What every binding a REGISTER writes shares: when, from where, and the
/// request's Call-ID and CSeq (RFC 3261 §10.3 step 7 orders refreshes by them).
struct Update<'a> {
    now: Instant,
    source: SocketAddr,
    relay: Relay,
    transport: Transport,
    call_id: &'a str,
    cseq: u32,
}

/// `delta-seconds` (RFC 3261 §25.1): digits only; huge values saturate (they are
/// clamped to max_expires anyway).
fn delta_seconds(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
