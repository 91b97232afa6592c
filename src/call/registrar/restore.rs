//! Bindings taken back at start from the copy the store keeps (issue 18: a restart
//! must not leave the operators unreachable until their phones register again).
//!
//! Only what is still true is taken back: a contact of an operator still configured,
//! not expired, over UDP (a TCP binding's connection died with the old process, and a
//! phone behind NAT cannot be reached on a new one), within the per-operator cap. The
//! operator becomes reachable at once ([`RegistrarEvent::Registered`] with `first`),
//! exactly as after a REGISTER; the phone's next refresh finds its binding (same
//! Call-ID, higher CSeq) and refreshes it as usual.

use std::time::Instant;

use super::{Binding, Registrar, RegistrarEvent, MAX_BINDINGS_PER_OPERATOR};
use crate::config::OperatorId;
use crate::sip::Transport;

impl Registrar {
    /// Takes back `binding` of `operator` (its times already on this process's clock);
    /// false, and nothing changes, when it is not taken (see the module doc).
    /// Its expiry is capped at `max_expires` from now, as a REGISTER's would be.
    pub fn restore(&mut self, now: Instant, operator: &OperatorId, mut binding: Binding) -> bool {
        if let Some(cap) = now.checked_add(self.cfg.max_expires) {
            binding.expires_at = binding.expires_at.min(cap);
        }
        if !self.accounts.contains_key(operator.as_str()) || binding.expires_at <= now || binding.transport != Transport::Udp {
            return false;
        }
        let list = self.bindings.entry(operator.clone()).or_default();
        if list.len() >= MAX_BINDINGS_PER_OPERATOR || list.iter().any(|b| b.contact == binding.contact) {
            return false;
        }
        let first = list.is_empty();
        list.push(binding.clone());
        self.events.push_back(RegistrarEvent::Registered { operator: operator.clone(), binding, first });
        true
    }
}
