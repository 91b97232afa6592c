//! The pool of RTP ports (RTP on an even port, RTCP on the next odd one, RFC 3550 §11).
//!
//! Ports are handed out least-recently-used first, so a port freed by a call that just
//! ended is the last to be reused: late packets of the old call do not land in a new one.

use std::collections::{HashSet, VecDeque};

/// The even RTP ports of the configured range, free ones in the order they were
/// freed.
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    in_use: HashSet<u16>,
}

impl PortPool {
    /// Every even port `p` with `min <= p` and `p + 1 <= max`.
    pub fn new(min: u16, max: u16) -> Self {
        let start = min + (min % 2);
        let free = (start..max).step_by(2).collect();
        PortPool { free, in_use: HashSet::new() }
    }

    /// Take the least recently used free port.
    pub fn take(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        self.in_use.insert(p);
        Some(p)
    }

    /// Return a port after its call ended. Unknown ports are ignored (no double free).
    pub fn release(&mut self, port: u16) {
        if self.in_use.remove(&port) {
            self.free.push_back(port);
        }
    }

    /// Ports taken and not yet released: one per call with media.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Ports that [`take`](Self::take) can still hand out.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_lru_no_leak() {
        let mut p = PortPool::new(10001, 10010);
        assert_eq!(p.available(), 4); // 10002, 10004, 10006, 10008
        let a = p.take().unwrap();
        assert_eq!(a, 10002);
        p.release(a);
        p.release(a);
        assert_eq!(p.take(), Some(10004), "just-freed port goes to the back");
        for _ in 0..10_000 {
            let x = p.take().unwrap();
            p.release(x);
        }
        assert_eq!(p.in_use(), 1);
        assert_eq!(p.available(), 3);
    }

    #[test]
    fn exhaustion() {
        let mut p = PortPool::new(10000, 10004);
        assert!(p.take().is_some());
        assert!(p.take().is_some());
        assert_eq!(p.take(), None);
    }
}
