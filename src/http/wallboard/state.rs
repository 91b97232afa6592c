//! What the wallboard's handlers share: the HTTP side's [`Shared`], the shift's
//! figures (read at most every few seconds for every wallboard together) and the
//! failed logins per address.

use std::sync::Arc;

use super::attempts::Attempts;
use super::shift::ShiftCache;
use crate::http::Shared;

/// The wallboard's state (cheap to clone).
#[derive(Clone)]
pub(super) struct Wall {
    /// Snapshots, events, tokens, config.
    pub shared: Shared,
    /// The shift's figures.
    pub shift: Arc<ShiftCache>,
    /// Failed logins.
    pub attempts: Arc<Attempts>,
}

impl Wall {
    /// The state over `shared`.
    pub fn new(shared: Shared) -> Wall {
        let shift = Arc::new(ShiftCache::new(shared.records.clone()));
        Wall { shared, shift, attempts: Arc::new(Attempts::default()) }
    }
}
