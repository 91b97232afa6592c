//! The registrar's failure counts and the locks they close (the rules and their reasons
//! are in the parent module's doc). Only what a *counted* failure is, and where it is
//! counted, lives here:
//! - per source (IP address and port) and user name: `failed_attempts` per window,
//!   then that source's REGISTERs for that name are dropped;
//! - per source over every user name: ten times that, then everything from the source
//!   is dropped (one socket spraying a password over all operators);
//! - per configured operator from every source: `failed_attempts_per_user` per window,
//!   then that operator's answers are no longer verified.
//!
//! Fixed windows: a count starts at its first failure and is forgotten one window later.
//! The per-source tables are capped ([`MAX_FAILURE_ENTRIES`] each, oldest forgotten
//! first); the per-operator table holds configured operators only, so it is as large as
//! the config, and an attacker cannot flush it.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::OperatorId;
use crate::sink::printable;

/// Entries in each per-source failure table (per source and user, per source).
pub const MAX_FAILURE_ENTRIES: usize = 10_000;
/// One source may fail this many times the per-(source, user) limit, over all users.
const PER_SOURCE_FACTOR: u32 = 10;

/// A lock a failure closed, for the security log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    /// One source for one user name: its REGISTERs for that name are dropped.
    SourceUser {
        /// The address and port the failing answers came from.
        source: SocketAddr,
        /// The user name they tried, cut to 64 characters.
        user: String,
    },
    /// One source over every user name: all its REGISTERs are dropped.
    Source(SocketAddr),
    /// One operator from every source: answers are challenged again, unverified, except
    /// the refreshes of the operator's live bindings.
    User(OperatorId),
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lock::SourceUser { source, user } => write!(
                f,
                "REGISTERs from {source} for user {} are dropped",
                printable(user)
            ),
            Lock::Source(source) => write!(f, "every REGISTER from {source} is dropped"),
            Lock::User(op) => write!(
                f,
                "answers for operator {op} from anywhere are no longer checked; \
                 only its live registrations refresh"
            ),
        }
    }
}

/// The limits in force (from `[registrar]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Failures per (source, user name) per window.
    pub per_source_user: u32,
    /// Failures per configured operator, from all sources, per window.
    pub per_user: u32,
    /// The window.
    pub window: Duration,
}

/// A fixed-window failure count.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    count: u32,
}

/// The failure tables.
#[derive(Debug)]
pub(super) struct Lockout {
    limits: Limits,
    source_user: HashMap<(SocketAddr, String), Window>,
    source: HashMap<SocketAddr, Window>,
    user: HashMap<OperatorId, Window>,
    max_entries: usize,
}

impl Lockout {
    pub(super) fn new(limits: Limits) -> Lockout {
        Lockout {
            limits,
            source_user: HashMap::new(),
            source: HashMap::new(),
            user: HashMap::new(),
            max_entries: MAX_FAILURE_ENTRIES,
        }
    }

    /// Caps each per-source table at `n` entries (at least 1).
    pub(super) fn set_max_entries(&mut self, n: usize) {
        self.max_entries = n.max(1);
    }

    /// New limits; counts of operators for whom `keep` is false are forgotten.
    pub(super) fn reconfigure(&mut self, limits: Limits, keep: impl Fn(&OperatorId) -> bool) {
        self.limits = limits;
        self.user.retain(|op, _| keep(op));
    }

    fn over<K: Hash + Eq>(
        &self,
        now: Instant,
        table: &HashMap<K, Window>,
        key: &K,
        limit: u32,
    ) -> bool {
        table.get(key).is_some_and(|w| {
            now.saturating_duration_since(w.since) < self.limits.window && w.count >= limit.max(1)
        })
    }

    /// Whether this source is cut off for this user name (or for every name).
    pub(super) fn source_locked(&self, now: Instant, key: &(SocketAddr, String)) -> bool {
        let l = self.limits;
        self.over(now, &self.source_user, key, l.per_source_user)
            || self.over(
                now,
                &self.source,
                &key.0,
                l.per_source_user.saturating_mul(PER_SOURCE_FACTOR),
            )
    }

    /// Whether this operator's answers are no longer verified.
    pub(super) fn user_locked(&self, now: Instant, op: &OperatorId) -> bool {
        self.over(now, &self.user, op, self.limits.per_user)
    }

    /// Counts one failure: a wrong answer to a live nonce of ours, from `key.0` for the
    /// user name `key.1` (`operator` when it names a configured one). Returns the locks
    /// this failure closed, with when each opens again.
    pub(super) fn fail(
        &mut self,
        now: Instant,
        key: (SocketAddr, String),
        operator: Option<&OperatorId>,
    ) -> Vec<(Lock, Instant)> {
        let Limits {
            per_source_user,
            per_user,
            window,
        } = self.limits;
        let max = self.max_entries;
        let mut closed = Vec::new();
        let source = key.0;
        let lock = Lock::SourceUser {
            source,
            user: key.1.clone(),
        };
        if let Some(until) = bump(
            &mut self.source_user,
            key,
            now,
            window,
            max,
            per_source_user,
        ) {
            closed.push((lock, until));
        }
        let source_limit = per_source_user.saturating_mul(PER_SOURCE_FACTOR);
        if let Some(until) = bump(&mut self.source, source, now, window, max, source_limit) {
            closed.push((Lock::Source(source), until));
        }
        if let Some(op) = operator {
            // No cap: one entry per configured operator at most.
            if let Some(until) = bump(
                &mut self.user,
                op.clone(),
                now,
                window,
                usize::MAX,
                per_user,
            ) {
                closed.push((Lock::User(op.clone()), until));
            }
        }
        closed
    }

    /// A right answer from this source for this name: its own count starts over. The
    /// operator's count does not (a phone refreshing every few minutes would otherwise
    /// hand a guesser a fresh allowance each time).
    pub(super) fn succeeded(&mut self, key: &(SocketAddr, String)) {
        self.source_user.remove(key);
    }

    /// Entries in the three tables (for tests and metrics).
    pub(super) fn entries(&self) -> usize {
        self.source_user.len() + self.source.len() + self.user.len()
    }
}

/// Adds one failure to a window table bounded at `max` entries. Returns when the lock
/// opens again if this failure made the count reach `limit`.
fn bump<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, Window>,
    key: K,
    now: Instant,
    window: Duration,
    max: usize,
    limit: u32,
) -> Option<Instant> {
    if !table.contains_key(&key) && table.len() >= max {
        table.retain(|_, w| now.saturating_duration_since(w.since) < window);
        if table.len() >= max {
            // Still full of live windows: an attack from very many sources. Forget the
            // oldest; its owner gets a few more tries (the per-operator count still
            // holds them), memory stays bounded.
            if let Some(oldest) = table
                .iter()
                .min_by_key(|(_, w)| w.since)
                .map(|(k, _)| k.clone())
            {
                table.remove(&oldest);
            }
        }
    }
    let w = table.entry(key).or_insert(Window {
        since: now,
        count: 0,
    });
    if now.saturating_duration_since(w.since) >= window {
        *w = Window {
            since: now,
            count: 0,
        };
    }
    w.count = w.count.saturating_add(1);
    (w.count == limit.max(1)).then_some(w.since + window)
}
