//! The time type the sans-IO media state machines are generic over.
//!
//! Why not `std::time::Instant` directly: the sans-IO core never reads a clock (every
//! input carries its `now`), so tests can drive it on a virtual clock. Anything
//! `Copy + Ord` that can move by a `Duration` will do: the runtime passes `Instant`s,
//! tests pass a `Duration` since call start.

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// A point in time supplied by the caller.
pub trait Moment: Copy + Ord + Debug {
    /// `self + d`. Saturates (or stays put for `Instant`) instead of panicking on overflow.
    fn after(self, d: Duration) -> Self;
    /// `self - d`, saturating at the earliest representable point.
    fn before(self, d: Duration) -> Self;
    /// `self - earlier`, or zero when `earlier` is later.
    fn since(self, earlier: Self) -> Duration;
}

impl Moment for Instant {
    fn after(self, d: Duration) -> Self {
        self.checked_add(d).unwrap_or(self)
    }
    fn before(self, d: Duration) -> Self {
        self.checked_sub(d).unwrap_or(self)
    }
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Time since the start of a call: the virtual clock of tests and simulations.
impl Moment for Duration {
    fn after(self, d: Duration) -> Self {
        self.saturating_add(d)
    }
    fn before(self, d: Duration) -> Self {
        self.saturating_sub(d)
    }
    fn since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }
}
