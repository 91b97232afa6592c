//! Operators and how calls reach them: `[acd]` (queue timing), `[registrar]` (digest
//! realm, nonce lifetime, registration expiry, brute-force limits) and `[[operators]]`
//! (accounts with the departments they serve and stored HA1 hashes).
//!
//! Why HA1 and never a password: the config file is read by several people and
//! backed up; an HA1 lets a softphone register but is not the password an operator
//! may reuse elsewhere. A `password` key is refused with a pointer to `cc112
//! operator-hash`, which computes both hashes for the configured realm. (An HA1
//! depends on the realm: changing `registrar.realm` means rehashing every operator.)

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problems::span::S;
use super::ids::QueueId;
use super::routing_plan::RoutingPlan;
use super::problems::{duration_in, int_in, Problems};
use crate::sip::digest::{self, Algorithm};

// ------------------------------------------------------------------------ raw tables

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcd {
    pub wrap_up: Option<S<toml::Value>>,
    pub ring_timeout: Option<S<toml::Value>>,
    pub overflow_after: Option<S<toml::Value>>,
    pub stay_on_line_every: Option<S<toml::Value>>,
    pub max_priority_wait: Option<S<toml::Value>>,
    pub not_responding_reason: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistrar {
    pub realm: Option<S<String>>,
    pub nonce_ttl: Option<S<toml::Value>>,
    pub min_expires: Option<S<toml::Value>>,
    pub max_expires: Option<S<toml::Value>>,
    pub default_expires: Option<S<toml::Value>>,
    pub failed_attempts: Option<S<i64>>,
    pub failed_attempts_per_user: Option<S<i64>>,
    pub failed_window: Option<S<toml::Value>>,
    pub algorithms: Option<S<Vec<S<String>>>>,
    pub nonce_secret_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOperator {
    pub id: Option<S<String>>,
    pub name: Option<S<String>>,
    pub departments: Option<S<Vec<S<String>>>>,
    pub ha1_md5: Option<S<String>>,
    pub ha1_sha256: Option<S<String>>,
    /// Accepted by the parser only to be refused with a helpful message: a typo'd
    /// "unknown key" error would not tell the admin what to do instead.
    pub password: Option<S<toml::Value>>,
}

// ------------------------------------------------------------------------ typed plan

/// An operator account id: the SIP user name the softphone registers with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperatorId(pub String);

impl OperatorId {
    /// Wraps a user name; validation has checked the ones from the file.
    pub fn new(s: impl Into<String>) -> Self {
        OperatorId(s.into())
    }

    /// The user name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The SIP user name, also the digest user.
    pub id: OperatorId,
    /// What the wallboard and call records show.
    pub name: String,
    /// Queues this operator answers, in the order written; never empty.
    pub departments: Vec<QueueId>,
    /// Lowercase hex HA1 for MD5 digest; this or `ha1_sha256` is set.
    pub ha1_md5: Option<String>,
    /// Lowercase hex HA1 for SHA-256 digest.
    pub ha1_sha256: Option<String>,
}

impl Operator {
    /// The stored HA1 for an algorithm, if this account has one.
    pub fn ha1(&self, alg: Algorithm) -> Option<&str> {
        match alg {
            Algorithm::Md5 => self.ha1_md5.as_deref(),
            Algorithm::Sha256 => self.ha1_sha256.as_deref(),
        }
    }
}

/// Queue timing for the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// After each call the operator is not offered a call for this long (notes,
    /// dispatching a unit).
    pub wrap_up: Duration,
    /// An offer not answered within this is withdrawn and the operator paused.
    pub ring_timeout: Duration,
    /// After this wait a call also becomes eligible for its queue's overflow target,
    /// and after each further multiple for the next target in the chain.
    pub overflow_after: Duration,
    /// "Please stay on the line" this often while waiting.
    pub stay_on_line_every: Duration,
    /// A call that has waited this long is in the highest priority class, whatever it
    /// joined with, so that no class starves (issue 16).
    pub max_priority_wait: Duration,
    /// The pause reason given to an operator who let an offer fail.
    pub not_responding_reason: String,
}

/// Registrar and digest settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm; the HA1s are computed with it, so changing it locks out every
    /// operator until their hashes are recomputed.
    pub realm: String,
    /// How long a nonce is accepted (at most 300 s).
    pub nonce_ttl: Duration,
    /// Below this a registration gets 423 Interval Too Brief.
    pub min_expires: Duration,
    /// Longer registrations are shortened to this.
    pub max_expires: Duration,
    /// When the REGISTER names no expiry.
    pub default_expires: Duration,
    /// Failed attempts per (source address and port, user) within `failed_window`
    /// before further REGISTERs from that pair are dropped silently.
    pub failed_attempts: u32,
    /// Failed attempts per operator from all sources within `failed_window` before
    /// that operator's answers are no longer verified (only its live registrations
    /// refresh until the window has passed).
    pub failed_attempts_per_user: u32,
    /// The window those failures are counted in.
    pub failed_window: Duration,
    /// Digest algorithms offered, in order of preference: one WWW-Authenticate each.
    /// Some phones read only the first challenge and know only MD5 (SIPp, older
    /// softphones); for them an admin puts "MD5" first.
    pub algorithms: Vec<crate::sip::digest::Algorithm>,
    /// A file whose bytes (at least 32, SHA-256 hashed) key the Digest nonces instead
    /// of 32 random bytes per start: nodes behind one proxy share it, so a nonce one
    /// node issued is valid at the other (the phone's one answer registers it at both)
    /// and survives a restart. Read by the runtime at start; `None`: random.
    pub nonce_secret_file: Option<std::path::PathBuf>,
}

pub(crate) fn default_acd() -> AcdConfig {
    AcdConfig {
        wrap_up: Duration::from_secs(10),
        ring_timeout: Duration::from_secs(15),
        overflow_after: Duration::from_secs(30),
        stay_on_line_every: Duration::from_secs(30),
        max_priority_wait: Duration::from_secs(60),
        not_responding_reason: "not_responding".to_string(),
    }
}

pub(crate) fn default_registrar() -> RegistrarConfig {
    RegistrarConfig {
        realm: "cc112".to_string(),
        nonce_ttl: Duration::from_secs(300),
        min_expires: Duration::from_secs(60),
        max_expires: Duration::from_secs(3600),
        default_expires: Duration::from_secs(600),
        failed_attempts: 5,
        failed_attempts_per_user: 20,
        failed_window: Duration::from_secs(15 * 60),
        algorithms: crate::sip::digest::Algorithm::ALL.to_vec(),
        nonce_secret_file: None,
    }
}

/// Both HA1s for an operator, as `cc112 operator-hash` prints them: `(md5, sha256)`.
pub fn operator_hash(user: &str, realm: &str, password: &str) -> (String, String) {
    (
        digest::ha1(Algorithm::Md5, user, realm, password),
        digest::ha1(Algorithm::Sha256, user, realm, password),
    )
}

// ------------------------------------------------------------------------ validation

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn dur(
    raw: Option<&S<toml::Value>>,
    path: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
    text: &str,
    p: &mut Problems<'_>,
) -> Duration {
    duration_in(raw, path, default, range, text, p)
}

/// Short printable text that may end up in a SIP header or a log line.
fn text_problem(s: &str, what: &str, max: usize, extra_forbidden: &[char]) -> Option<String> {
    if s.trim().is_empty() {
        Some(format!("{what} is empty"))
    } else if s
        .chars()
        .any(|c| c.is_control() || extra_forbidden.contains(&c))
    {
        Some(format!(
            "{s:?} contains control characters or quotes; expected plain printable text"
        ))
    } else if s.chars().count() > max {
        Some(format!(
            "{what} is {} characters long; expected at most {max}",
            s.chars().count()
        ))
    } else {
        None
    }
}

pub(crate) fn acd(raw: Option<S<RawAcd>>, p: &mut Problems<'_>) -> AcdConfig {
    let d = default_acd();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let not_responding_reason = match &raw.not_responding_reason {
        None => d.not_responding_reason.clone(),
        Some(r) => match text_problem(r.get_ref(), "not_responding_reason", 64, &['"', '\\']) {
            None => r.get_ref().clone(),
            Some(m) => {
                p.at("acd.not_responding_reason", r.span(), m);
                d.not_responding_reason.clone()
            }
        },
    };
    AcdConfig {
        wrap_up: dur(
            raw.wrap_up.as_ref(),
            "acd.wrap_up",
            d.wrap_up,
            secs(0)..=secs(600),
            "between 0s and 10m",
            p,
        ),
        ring_timeout: dur(
            raw.ring_timeout.as_ref(),
            "acd.ring_timeout",
            d.ring_timeout,
            secs(5)..=secs(120),
            "between 5s and 2m",
            p,
        ),
        overflow_after: dur(
            raw.overflow_after.as_ref(),
            "acd.overflow_after",
            d.overflow_after,
            secs(5)..=secs(3600),
            "between 5s and 1h",
            p,
        ),
        stay_on_line_every: dur(
            raw.stay_on_line_every.as_ref(),
            "acd.stay_on_line_every",
            d.stay_on_line_every,
            secs(10)..=secs(600),
            "between 10s and 10m",
            p,
        ),
        max_priority_wait: dur(raw.max_priority_wait.as_ref(), "acd.max_priority_wait", d.max_priority_wait, secs(5)..=secs(600), "between 5s and 10m", p),
        not_responding_reason,
    }
}

pub(crate) fn registrar(raw: Option<S<RawRegistrar>>, p: &mut Problems<'_>) -> RegistrarConfig {
    let d = default_registrar();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let realm = match &raw.realm {
        None => d.realm.clone(),
        Some(r) => match text_problem(r.get_ref(), "realm", 64, &['"', '\\']) {
            None => r.get_ref().clone(),
            Some(m) => {
                p.at("registrar.realm", r.span(), m);
                d.realm.clone()
            }
        },
    };
    let nonce_ttl = dur(
        raw.nonce_ttl.as_ref(),
        "registrar.nonce_ttl",
        d.nonce_ttl,
        secs(10)..=secs(300),
        "between 10s and 300s (an old nonce is a replay risk)",
        p,
    );
    let (min_expires, max_expires, default_expires) = expiries(&raw, &d, p);
    let failed_attempts = int_in(
        raw.failed_attempts.as_ref(),
        "registrar.failed_attempts",
        1..=100,
        "a count between 1 and 100",
        p,
    )
    .map_or(d.failed_attempts, |v| v as u32);
    let failed_attempts_per_user = per_user_limit(&raw, failed_attempts, p);
    let failed_window = dur(
        raw.failed_window.as_ref(),
        "registrar.failed_window",
        d.failed_window,
        secs(60)..=secs(86_400),
        "between 1m and 24h",
        p,
    );
    let algorithms = algorithms(raw.algorithms.as_ref(), &d, p);
    RegistrarConfig {
        realm,
        nonce_ttl,
        min_expires,
        max_expires,
        default_expires,
        failed_attempts,
        failed_attempts_per_user,
        failed_window,
        algorithms,
        nonce_secret_file: match &raw.nonce_secret_file {
            Some(f) if f.get_ref().trim().is_empty() || f.get_ref().chars().any(char::is_control) => {
                p.at("registrar.nonce_secret_file", f.span(), "expected the path of a file of at least 32 random bytes, like \"/etc/cc112/nonce.key\"");
                None
            }
            f => f.as_ref().map(|f| std::path::PathBuf::from(f.get_ref())),
        },
    }
}

/// `failed_attempts_per_user`: in range and not below `failed_attempts`, or one source
/// would lock the operator out everywhere before it is cut off itself.
fn per_user_limit(raw: &RawRegistrar, per_source: u32, p: &mut Problems<'_>) -> u32 {
    let d = default_registrar().failed_attempts_per_user;
    let Some(v) = raw.failed_attempts_per_user.as_ref() else {
        return d.max(per_source);
    };
    let path = "registrar.failed_attempts_per_user";
    let Some(n) = int_in(Some(v), path, 1..=1000, "a count between 1 and 1000", p) else {
        return d.max(per_source);
    };
    if (n as u32) < per_source {
        p.at(
            path,
            v.span(),
            format!(
                "{n} is below failed_attempts ({per_source}); expected at least failed_attempts: \
                 one address would otherwise lock the operator out everywhere before it is cut off itself"
            ),
        );
        return d.max(per_source);
    }
    n as u32
}

/// `min_expires`, `max_expires` and `default_expires`, each in range and, when all
/// three are, in order.
fn expiries(
    raw: &RawRegistrar,
    d: &RegistrarConfig,
    p: &mut Problems<'_>,
) -> (Duration, Duration, Duration) {
    let expiry_range = secs(10)..=secs(86_400);
    let expiry_text = "between 10s and 24h";
    let before = p.errors.len();
    let min_expires = dur(
        raw.min_expires.as_ref(),
        "registrar.min_expires",
        d.min_expires,
        expiry_range.clone(),
        expiry_text,
        p,
    );
    let max_expires = dur(
        raw.max_expires.as_ref(),
        "registrar.max_expires",
        d.max_expires,
        expiry_range.clone(),
        expiry_text,
        p,
    );
    let default_expires = dur(
        raw.default_expires.as_ref(),
        "registrar.default_expires",
        d.default_expires,
        expiry_range,
        expiry_text,
        p,
    );
    // Cross-checks only when each key is itself fine, so one typo is one error.
    if p.errors.len() == before {
        if min_expires > max_expires {
            let span = raw
                .max_expires
                .as_ref()
                .or(raw.min_expires.as_ref())
                .map(|v| v.span());
            p.maybe_at(
                "registrar.max_expires",
                span,
                format!("max_expires {max_expires:?} is below min_expires {min_expires:?}; expected min <= max"),
            );
        } else if default_expires < min_expires || default_expires > max_expires {
            let span = raw
                .default_expires
                .as_ref()
                .or(raw.min_expires.as_ref())
                .or(raw.max_expires.as_ref())
                .map(|v| v.span());
            p.maybe_at(
                "registrar.default_expires",
                span,
                format!(
                    "default_expires {default_expires:?} is outside min_expires..max_expires \
                     ({min_expires:?}..{max_expires:?})"
                ),
            );
        }
    }
    (min_expires, max_expires, default_expires)
}

/// `algorithms = [...]`: each known Digest algorithm once, in order of preference.
fn algorithms(
    raw: Option<&S<Vec<S<String>>>>,
    d: &RegistrarConfig,
    p: &mut Problems<'_>,
) -> Vec<Algorithm> {
    let mut algorithms = d.algorithms.clone();
    if let Some(list) = raw {
        let mut seen = Vec::new();
        for (i, a) in list.get_ref().iter().enumerate() {
            match crate::sip::digest::Algorithm::from_token(a.get_ref()) {
                Some(alg) if !seen.contains(&alg) => seen.push(alg),
                Some(_) => p.at(format!("registrar.algorithms[{i}]"), a.span(), format!("{:?} is listed twice", a.get_ref())),
                None => p.at(format!("registrar.algorithms[{i}]"), a.span(), format!("{:?} is not a Digest algorithm; expected \"SHA-256\" or \"MD5\"", a.get_ref())),
            }
        }
        if seen.is_empty() && list.get_ref().is_empty() {
            p.at("registrar.algorithms", list.span(), "at least one algorithm is needed: [\"SHA-256\", \"MD5\"]");
        } else if !seen.is_empty() {
            algorithms = seen;
        }
    }
    algorithms
}

fn id_problem(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    (!ok).then(|| {
        format!(
            "{s:?} is not an operator id; expected the SIP user name the softphone registers \
             with: 1 to 64 letters, digits, '.', '_' or '-', like \"op-budi\" or \"2001\""
        )
    })
}

fn ha1_value(
    raw: Option<&S<String>>,
    path: &str,
    alg: Algorithm,
    p: &mut Problems<'_>,
) -> Option<String> {
    let raw = raw?;
    let v = raw.get_ref().trim();
    if v.len() == alg.hex_len() && v.bytes().all(|c| c.is_ascii_hexdigit()) {
        Some(v.to_ascii_lowercase())
    } else {
        p.at(
            path,
            raw.span(),
            format!(
                "expected the {alg} HA1 as {} hex characters (found {} characters); \
                 compute it with `cc112 operator-hash`",
                alg.hex_len(),
                v.chars().count()
            ),
        );
        None
    }
}

/// `[[operators]]`. Departments are checked against the routing plan's queues unless
/// the queues themselves had errors (then the admin fixes those first).
pub(crate) fn operators(
    raw: Option<S<Vec<S<RawOperator>>>>,
    routing: &RoutingPlan,
    queues_ok: bool,
    p: &mut Problems<'_>,
) -> Vec<Operator> {
    let Some(raw) = raw else { return Vec::new() };
    let mut out: Vec<(usize, Operator)> = Vec::new();
    for (i, entry) in raw.get_ref().iter().enumerate() {
        let departments = Departments { routing, queues_ok };
        if let Some(o) = operator(entry, &format!("operators[{i}]"), &out, departments, p) {
            out.push((i, o));
        }
    }
    out.into_iter().map(|(_, o)| o).collect()
}

/// What departments are checked against: the plan's queues, when they validated.
#[derive(Clone, Copy)]
struct Departments<'a> {
    routing: &'a RoutingPlan,
    queues_ok: bool,
}

/// One entry at `here`; `seen` are the valid operators before it. `None` after any
/// problem: an operator half understood must not be able to log in.
fn operator(
    entry: &S<RawOperator>,
    here: &str,
    seen: &[(usize, Operator)],
    known: Departments<'_>,
    p: &mut Problems<'_>,
) -> Option<Operator> {
    let r = entry.get_ref();
    let mut ok = true;
    if let Some(pw) = &r.password {
        p.at(
            format!("{here}.password"),
            pw.span(),
            "plaintext passwords are not accepted; store ha1_sha256 and ha1_md5 instead, \
             as printed by `cc112 operator-hash <id> <realm>`",
        );
        ok = false;
    }
    let id = operator_id(entry, here, seen, p, &mut ok);
    let name = match &r.name {
        None => id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
        Some(n) => match text_problem(n.get_ref(), "name", 64, &['"', '\\']) {
            None => n.get_ref().clone(),
            Some(m) => {
                p.at(format!("{here}.name"), n.span(), m);
                ok = false;
                String::new()
            }
        },
    };
    let departments = departments(entry, here, known, p, &mut ok);
    let (ha1_md5, ha1_sha256) = credentials(entry, here, p, &mut ok);
    match (ok, id) {
        (true, Some(id)) => Some(Operator {
            id,
            name,
            departments,
            ha1_md5,
            ha1_sha256,
        }),
        _ => None,
    }
}

/// The entry's `id`; a duplicate is reported (and clears `ok`) but still returned.
fn operator_id(
    entry: &S<RawOperator>,
    here: &str,
    seen: &[(usize, Operator)],
    p: &mut Problems<'_>,
    ok: &mut bool,
) -> Option<OperatorId> {
    let Some(id) = &entry.get_ref().id else {
        p.at(
            here,
            entry.span(),
            "missing key id; expected the operator's SIP user name",
        );
        *ok = false;
        return None;
    };
    if let Some(m) = id_problem(id.get_ref()) {
        p.at(format!("{here}.id"), id.span(), m);
        *ok = false;
        return None;
    }
    if let Some((j, _)) = seen.iter().find(|(_, o)| o.id.as_str() == id.get_ref()) {
        p.at(
            format!("{here}.id"),
            id.span(),
            format!("operator {} is listed twice (also at operators[{j}]); expected each id once", id.get_ref()),
        );
        *ok = false;
    }
    Some(OperatorId::new(id.get_ref().clone()))
}

/// The entry's `departments`: queues of the plan, each once.
fn departments(
    entry: &S<RawOperator>,
    here: &str,
    known: Departments<'_>,
    p: &mut Problems<'_>,
    ok: &mut bool,
) -> Vec<QueueId> {
    let mut departments: Vec<QueueId> = Vec::new();
    let list = match &entry.get_ref().departments {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key departments; expected the queue ids this operator answers, like [\"medical\", \"general\"]",
            );
            *ok = false;
            return departments;
        }
        Some(list) if list.get_ref().is_empty() => {
            p.at(
                format!("{here}.departments"),
                list.span(),
                "departments is empty; expected at least one queue id",
            );
            *ok = false;
            return departments;
        }
        Some(list) => list,
    };
    for (k, d) in list.get_ref().iter().enumerate() {
        let q = QueueId::new(d.get_ref().clone());
        let exists = known.routing.queue(&q).is_some();
        if !exists && known.queues_ok {
            let ids: Vec<&str> = known.routing.queues.iter().map(|q| q.id.as_str()).collect();
            p.at(
                format!("{here}.departments[{k}]"),
                d.span(),
                format!(
                    "queue {q} is not defined in [[queues]]; expected one of: {}",
                    ids.join(", ")
                ),
            );
            *ok = false;
        } else if departments.contains(&q) {
            p.at(
                format!("{here}.departments[{k}]"),
                d.span(),
                format!("queue {q} is listed twice; expected each department once"),
            );
            *ok = false;
        } else {
            departments.push(q);
        }
    }
    departments
}

/// The entry's HA1 values `(md5, sha256)`; at least one is required.
fn credentials(
    entry: &S<RawOperator>,
    here: &str,
    p: &mut Problems<'_>,
    ok: &mut bool,
) -> (Option<String>, Option<String>) {
    let r = entry.get_ref();
    let before = p.errors.len();
    let ha1_md5 = ha1_value(
        r.ha1_md5.as_ref(),
        &format!("{here}.ha1_md5"),
        Algorithm::Md5,
        p,
    );
    let ha1_sha256 = ha1_value(
        r.ha1_sha256.as_ref(),
        &format!("{here}.ha1_sha256"),
        Algorithm::Sha256,
        p,
    );
    if p.errors.len() != before {
        *ok = false;
    } else if ha1_md5.is_none() && ha1_sha256.is_none() && r.password.is_none() {
        p.at(
            here,
            entry.span(),
            "no credentials; expected ha1_sha256 and/or ha1_md5, as printed by \
             `cc112 operator-hash <id> <realm>`",
        );
        *ok = false;
    }
    (ha1_md5, ha1_sha256)
}

#[cfg(test)]
mod tests;
