//! Giving memory back to the system after a surge.
//!
//! glibc's malloc keeps freed memory inside its arenas: after a surge of calls (tens of
//! thousands of transactions held for Timer H/J's 32 s) ends, the gateway's RSS would
//! stay at its peak for good, which on a shared machine starves its neighbours and
//! hides real leaks. `malloc_trim` hands the free pages back. It walks every arena, so
//! it runs only when the live state has fallen to two thirds of its peak, on a blocking
//! thread (never on a worker that paces RTP).

/// Live state (calls and transactions) under this is too little to be worth a trim.
const MIN_PEAK: usize = 2_000;

/// Watches the engine's live state and says when a trim is worth it.
#[derive(Debug, Default)]
pub(super) struct Trimmer {
    peak: usize,
}

impl Trimmer {
    /// `live`: the engine's calls and transactions now. True when memory should be
    /// trimmed: the state has fallen by a third since the highest point seen after the
    /// last trim (a surge of twice the usual load that ends qualifies).
    pub(super) fn observe(&mut self, live: usize) -> bool {
        self.peak = self.peak.max(live);
        if self.peak >= MIN_PEAK && live.saturating_mul(3) <= self.peak.saturating_mul(2) {
            self.peak = live;
            true
        } else {
            false
        }
    }
}

/// Returns free heap pages to the system (glibc); elsewhere nothing to do.
pub(super) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only reorganises the allocator's own
    // free lists under its locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_the_state_has_fallen_by_a_third_from_a_real_peak() {
        let mut t = Trimmer::default();
        assert!(!t.observe(1_000), "too small to matter");
        assert!(!t.observe(500));
        assert!(!t.observe(10_000));
        assert!(!t.observe(6_700), "not down by a third yet");
        assert!(t.observe(6_600), "down by a third: trim");
        assert!(!t.observe(4_500), "the peak restarts from the trim");
        assert!(t.observe(4_400), "down by a third again (6600 -> 4400)");
    }
}
