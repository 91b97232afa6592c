//! The registrar's contacts kept across a restart (issue 18): each change goes out as
//! [`Output::Registration`] for the store, and at start the store's copy is handed back
//! ([`OperatorSide::restore_registrations`]) so the operators are reachable at once.
//!
//! The registrar's times are on the process's monotonic clock; the store's are wall
//! clock. A contact saved at `expires_at` (UTC) is taken back with the time it has left
//! then: a clock stepped meanwhile shortens or lengthens that, and the phone's next
//! refresh sets it right.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Ctx, OperatorSide};
use crate::call::registrar::Binding;
use crate::config::OperatorId;
use crate::engine::output::{Output, RegistrationChange};
use crate::sip::Transport;
use crate::store::registrations::SavedBinding;

impl OperatorSide {
    /// The store's copy of a contact registered or refreshed.
    pub(super) fn saved(&self, operator: &OperatorId, b: &Binding) -> Output {
        Output::Registration(RegistrationChange::Saved(Box::new(SavedBinding {
            operator: operator.to_string(),
            contact: b.contact.clone(),
            source: b.source.to_string(),
            next_hop: b.next_hop.to_string(),
            path: b.path.clone(),
            transport: b.transport.as_str().to_string(),
            registered_at: self.utc(b.registered_at),
            expires_at: self.utc(b.expires_at),
            call_id: b.call_id.clone(),
            cseq: b.cseq,
        })))
    }

    /// Takes back the contacts the store kept (at start): each one still valid (see
    /// `call::registrar::restore`) makes its operator reachable as a REGISTER would.
    /// Returns how many were taken.
    pub(crate) fn restore_registrations(&mut self, now: Instant, saved: Vec<SavedBinding>, ctx: Ctx<'_>) -> usize {
        let utc_now = self.utc(now).millis();
        let mut taken = 0;
        for s in saved {
            let left = Duration::from_millis(u64::try_from(s.expires_at.millis().saturating_sub(utc_now)).unwrap_or(0));
            let (Ok(source), Ok(next_hop)) = (s.source.parse::<SocketAddr>(), s.next_hop.parse::<SocketAddr>()) else { continue };
            let id = OperatorId::new(s.operator);
            let transport = if s.transport == Transport::Udp.as_str() { Transport::Udp } else { Transport::Tcp };
            let registered = Duration::from_millis(u64::try_from(utc_now.saturating_sub(s.registered_at.millis())).unwrap_or(0));
            let binding = Binding {
                contact: s.contact,
                source,
                next_hop,
                path: s.path,
                transport,
                registered_at: now.checked_sub(registered).unwrap_or(now),
                expires_at: now.checked_add(left).unwrap_or(now),
                call_id: s.call_id,
                cseq: s.cseq,
            };
            taken += usize::from(self.registrar.restore(now, &id, binding));
        }
        self.drain_registrar(now, ctx);
        taken
    }
}
