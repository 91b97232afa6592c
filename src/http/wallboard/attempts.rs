//! Failed wallboard logins, counted per peer address: past [`MAX_FAILURES`] in
//! [`WINDOW`], the address is refused (429) until the window has passed. The table
//! holds at most [`MAX_ADDRESSES`] addresses (expired ones are dropped to make room;
//! when it is still full, a new address is not counted: with tokens of 256 random bits
//! the limit is a second line, not the defence).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failed logins an address may make per [`WINDOW`].
pub(super) const MAX_FAILURES: u32 = 10;
/// The window failed logins are counted in.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are counted at most.
pub(super) const MAX_ADDRESSES: usize = 1024;

/// Failed logins per address.
#[derive(Default)]
pub(super) struct Attempts {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Attempts {
    /// Whether `ip` may try now.
    pub fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(map.get(&ip), Some((since, n)) if now.duration_since(*since) < WINDOW && *n >= MAX_FAILURES)
    }

    /// `ip` failed once more.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
            if map.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_limited_per_address_and_forgotten_after_the_window() {
        let a = Attempts::default();
        let ip: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(a.allowed(ip, t0));
            a.failed(ip, t0);
        }
        assert!(!a.allowed(ip, t0));
        assert!(a.allowed(other, t0));
        assert!(a.allowed(ip, t0 + WINDOW));
        a.failed(ip, t0 + WINDOW);
        assert!(a.allowed(ip, t0 + WINDOW));
    }

    #[test]
    fn the_table_stays_bounded() {
        let a = Attempts::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            a.failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(a.failures.lock().unwrap().len(), MAX_ADDRESSES);
        // Once the first ones have expired, they make room.
        a.failed([10, 0, 0, 1].into(), t0 + WINDOW);
        assert_eq!(a.failures.lock().unwrap().len(), 1);
    }
}
