//! An operator taken out of the queues for a call the gateway places (a click-to-call-
//! back, issue 16): `reserve` takes an available operator for `call` (on a call from
//! then on, so no queue call is offered to them meanwhile); if the call back never
//! reached anyone, `release` gives them back their place in the idle order; if it did,
//! `call_ended` ends it as for any call (wrap-up).

use std::time::Instant;

use super::tables::OpState;
use super::{Acd, AcdError};
use crate::call::CallId;
use crate::config::OperatorId;

impl Acd {
    /// Takes `operator` for `call` if they are available; `Ok(false)` if they are not
    /// (offline, ringing, on a call, in wrap-up or paused: the caller says why).
    pub fn reserve(&mut self, now: Instant, operator: &OperatorId, call: CallId) -> Result<bool, AcdError> {
        let op = self.op(operator)?;
        let Some(OpState::Available { since }) = self.ops.get(op).map(|o| o.state.clone()) else { return Ok(false) };
        if let Some(o) = self.ops.get_mut(op) {
            o.reserved_since = Some(since);
        }
        self.set_state(op, OpState::OnCall { call });
        self.dispatch(now);
        Ok(true)
    }

    /// The call back of `call` ended before anyone answered: the operator is available
    /// again, in the place they had (or offline / paused if asked meanwhile).
    pub fn release(&mut self, now: Instant, operator: &OperatorId, call: CallId) {
        let Some(&op) = self.op_index.get(operator) else { return };
        if !matches!(self.ops.get(op).map(|o| &o.state), Some(OpState::OnCall { call: c }) if *c == call) {
            return;
        }
        let since = self.ops.get_mut(op).and_then(|o| o.reserved_since.take()).unwrap_or(now);
        if self.ops.get_mut(op).is_some_and(|o| o.after_call.is_none() && o.registered) {
            self.set_available(op, since);
            self.dispatch(now);
        } else {
            self.call_ended(now, operator);
        }
    }
}
