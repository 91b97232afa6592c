//! The rule "a call that was answered has a record before its 200 OK", on the engine's
//! side: a new call's 200 waits for the runtime's word on its first record.
//!
//! Three words can come: the record is durable ([`Engine::handle_record_committed`] with
//! `ok`), it is kept in memory but not yet on disk (the disk stalls or fails: `!ok`, or
//! the wait of [`Engine::set_record_wait`] ran out), or the record store had no room
//! for it at all ([`Engine::handle_record_refused`]: its queue is at its capacity
//! because the disk has not taken records for a while). In the first two cases the call
//! is answered: its record exists, at worst in memory, and is written when the disk
//! recovers. In the third nothing would hold its record, so the call is refused with
//! 503 and Retry-After, like a call past the `[overload]` limits, and the carrier sends
//! it to another center at once. The store says so the moment the record is offered, so
//! this always comes before the 200 could.

use std::time::Instant;

use tracing::{error, warn};

use super::admission;
use super::call::CallState;
use super::output::EndReason;
use super::timers::TimerKey;
use super::transactions::Answer;
use super::Engine;
use crate::call::CallId;

impl Engine {
    /// The runtime's word on a new call's first record: durable (`ok`) or not (kept in
    /// memory, logged); either way the call may be answered.
    pub fn handle_record_committed(&mut self, now: Instant, id: CallId, ok: bool) {
        self.tick(now);
        if !ok && self.calls.contains(id) {
            warn!(call = %id, "answering before the call's record is on disk");
        }
        self.record_ready(now, id);
    }

    /// The record store had no room for a new call's first record: the call is refused
    /// with 503 and Retry-After rather than answered without a record. A call the
    /// engine does not know (one already refused, whose record only told the refusal)
    /// needs nothing.
    pub fn handle_record_refused(&mut self, now: Instant, id: CallId) {
        self.tick(now);
        let Some(call) = self.calls.get(id) else { return };
        if !matches!(call.state, CallState::Opening { .. }) {
            // Cannot happen: the store refuses at once, before any 200 could go out.
            error!(call = %id, "a call's record was refused after the call was answered");
            return;
        }
        let key = call.invite_tx.clone();
        self.stats.refused_no_record += 1;
        if let Some(key) = key {
            let retry = [("Retry-After", admission::retry_after(&self.config.overload))];
            self.txs.final_ist(now, &key, Answer::new(503, "No room for the call record", &retry), None, &mut self.fx);
        }
        self.end_call(now, id, EndReason::NoRecord);
    }

    /// The call's first record is durable, or the wait for it is over: answer it if
    /// its port is open too.
    pub(super) fn record_ready(&mut self, now: Instant, id: CallId) {
        self.fx.timers.set(TimerKey::Record(id), None);
        if let Some(port) = self.calls.recorded(id) {
            self.answer_call(now, id, port);
        }
    }
}
