//! What a restarted engine takes back from the store before its first packet: the
//! operators' contacts ([`Engine::restore_registrations`]; the caller book is
//! [`Engine::load_callers`]).

use std::time::Instant;

use super::Engine;
use crate::store::registrations::SavedBinding;

impl Engine {
    /// The contacts the store kept (`store::registrations::live`), at start: each one
    /// still valid makes its operator reachable at once, as a REGISTER would; the
    /// phones' next refreshes carry on from there. Returns how many were taken back.
    pub fn restore_registrations(&mut self, now: Instant, saved: Vec<SavedBinding>) -> usize {
        let (ops, ctx) = self.split();
        ops.restore_registrations(now, saved, ctx)
    }
}
