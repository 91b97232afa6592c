//! The engine's ids and the randomness it puts on the wire.
//!
//! Transactions, offers and calls are numbered from one counter, so an id is never
//! reused in a process's life: a stale reference (a transaction naming a call that has
//! ended) finds nothing and does nothing. Tags, branches, Call-IDs of our own requests,
//! the registrar's nonce secret and SDP session ids come from one cryptographic
//! generator (ChaCha, `StdRng`): whoever sees our tags and branches cannot predict the
//! next ones, to forge responses or nonces. The gateway seeds it from the operating
//! system; scenario tests seed it with a number and replay exactly.

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::call::CallId;

/// One server or client transaction in the engine's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// One offer of a call to an operator (all the forks that ring their phones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub u64);

impl fmt::Display for OfferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "o{}", self.0)
    }
}

/// The id counter and the generator.
pub(crate) struct Ids {
    rng: StdRng,
    next: u64,
}

impl Ids {
    /// Seeded with a number: the same ids, tags and branches every run (tests).
    pub(crate) fn new(seed: u64) -> Ids {
        Ids { rng: StdRng::seed_from_u64(seed), next: 1 }
    }

    /// Seeded from the operating system's entropy (the running gateway).
    pub(crate) fn from_entropy() -> Ids {
        Ids { rng: StdRng::from_entropy(), next: 1 }
    }

    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub(crate) fn tx(&mut self) -> TxId {
        TxId(self.next())
    }

    pub(crate) fn call(&mut self) -> CallId {
        CallId(self.next())
    }

    pub(crate) fn offer(&mut self) -> OfferId {
        OfferId(self.next())
    }

    /// An SDP session id (RFC 4566 §5.2: a numeric string; 32 bits keep it short).
    pub(crate) fn session_id(&mut self) -> u64 {
        u64::from(self.rng.gen::<u32>())
    }

    /// A To or From tag: 48 random bits in hex.
    pub(crate) fn tag(&mut self) -> String {
        format!("{:012x}", self.rng.gen::<u64>() & 0xffff_ffff_ffff)
    }

    /// 32 random bytes (the registrar's nonce secret).
    pub(crate) fn secret(&mut self) -> [u8; 32] {
        self.rng.gen()
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub(crate) fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.rng.gen::<u64>())
    }

    /// The Call-ID of a dialog we start (operator legs).
    pub(crate) fn sip_call_id(&mut self) -> String {
        format!("{:016x}@cc112", self.rng.gen::<u64>())
    }

    /// A ULID for a new call record made at `utc`, from this generator (scenario tests
    /// stay reproducible).
    pub(crate) fn record(&mut self, utc: std::time::SystemTime) -> String {
        crate::store::RecordId::generate(crate::store::UtcMs::from_system_time(utc), &mut self.rng).0
    }
}
