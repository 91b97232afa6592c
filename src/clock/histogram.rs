//! [`Histogram`]: durations counted into fixed buckets, as Prometheus histograms are
//! exposed (cumulative counts per upper bound, the sum and the count).
//!
//! Why a type of our own: the engine thread and the record writer count on their own
//! threads and publish plain values (snapshots), which the HTTP side renders. An
//! observation is a short scan of a handful of bounds and three additions: no
//! allocation, no lock, no atomics. The bounds are `'static` (chosen by the code, never
//! by the network), so the label set is fixed.

use std::time::Duration;

use serde::Serialize;

/// At most this many bounds (the `+Inf` bucket is the count).
pub const MAX_BOUNDS: usize = 15;

/// Durations counted into buckets by upper bound (in microseconds, inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Histogram {
    /// The upper bounds, ascending, at most [`MAX_BOUNDS`] of them (more are ignored).
    bounds_us: &'static [u64],
    /// Observations per bucket (not cumulative): `buckets[i]` holds those at most
    /// `bounds_us[i]` and above the bound before.
    buckets: [u64; MAX_BOUNDS],
    /// Observations in all.
    count: u64,
    /// Their sum, in microseconds.
    sum_us: u64,
}

impl Histogram {
    /// An empty histogram over `bounds_us` (ascending upper bounds in microseconds).
    pub const fn new(bounds_us: &'static [u64]) -> Histogram {
        Histogram { bounds_us, buckets: [0; MAX_BOUNDS], count: 0, sum_us: 0 }
    }

    /// Counts one duration.
    pub fn observe(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count = self.count.saturating_add(1);
        self.sum_us = self.sum_us.saturating_add(us);
        if let Some(i) = self.bounds_us.iter().take(MAX_BOUNDS).position(|b| us <= *b) {
            if let Some(b) = self.buckets.get_mut(i) {
                *b = b.saturating_add(1);
            }
        }
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_us as f64 / 1e6
    }

    /// `(upper bound in seconds, observations in that bucket)`, ascending, not
    /// cumulative; those above the last bound are the count less their sum.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.bounds_us.iter().take(MAX_BOUNDS).zip(self.buckets.iter()).map(|(b, n)| (*b as f64 / 1e6, *n))
    }

    /// Adds another histogram's counts (same bounds; otherwise only the count and sum).
    pub fn merge(&mut self, other: &Histogram) {
        self.count = self.count.saturating_add(other.count);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        if self.bounds_us == other.bounds_us {
            for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
                *a = a.saturating_add(*b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &[u64] = &[1_000_000, 2_000_000, 5_000_000];

    #[test]
    fn observations_land_in_the_first_bucket_at_least_as_large_and_accumulate() {
        let mut h = Histogram::new(B);
        for ms in [500, 1_000, 1_001, 4_000, 9_000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.buckets().collect::<Vec<_>>(), vec![(1.0, 2), (2.0, 1), (5.0, 1)]);
        assert_eq!(h.count(), 5);
        assert!((h.sum_seconds() - 15.501).abs() < 1e-9);
        let mut m = Histogram::new(B);
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.buckets().last(), Some((5.0, 2)));
        assert_eq!(m.count(), 10);
    }
}
