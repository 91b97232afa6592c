//! Giving memory back to the system after a surge.
//!
//! The gateway's own allocations go through mimalloc (`main.rs`), which returns freed
//! pages to the system by itself shortly after they fall empty; the engine compacts its
//! tables when this module says so, so their emptied capacity is freed too. The C side
//! (SQLite's page cache and statements) still uses glibc's malloc, which
//! keeps freed memory inside its arenas: after a surge of calls (tens of
//! thousands of transactions held for Timer H/J's 32 s, queued INVITEs, records waiting
//! for the disk) ends, the gateway's RSS would stay at its peak for good, which on a
//! shared machine starves its neighbours and hides real leaks. `malloc_trim` hands the
//! free pages back. It walks every arena, so it runs on a blocking thread (never on a
//! worker that paces RTP), at most once per [`MIN_INTERVAL`], and only when the memory
//! held has grown out of proportion to the live state (calls and transactions).
//!
//! Why a proportion and not the live state alone: much of a surge's memory is not in
//! the engine's tables (the INVITE queue, the record writer's queue, 503 transactions
//! that live 5 s), so after a surge of twice the usual calls the live state is back
//! where it was while the RSS stayed 18 % higher (measured in the overload benchmark).

use std::time::{Duration, Instant};

/// Live state (calls and transactions) under this is too little to be worth a trim.
const MIN_LIVE: usize = 2_000;

/// Memory per live item this much above the reference means memory to give back.
const GROWTH: f64 = 1.10;

/// Trims are at least this far apart: each walks the whole heap.
const MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Watches RSS against the engine's live state and says when a trim is worth it.
#[derive(Debug, Default)]
pub(super) struct Trimmer {
    /// The lowest bytes per live item seen since the last trim (or its first reading
    /// after the trim): what the gateway needs when nothing is left over.
    reference: Option<f64>,
    last_trim: Option<Instant>,
    /// A trim happened: the next reading becomes the reference.
    rebase: bool,
}

impl Trimmer {
    /// `live`: the engine's calls and transactions now; `rss`: the process's resident
    /// bytes now. True when memory should be trimmed.
    pub(super) fn observe(&mut self, now: Instant, live: usize, rss: u64) -> bool {
        if live < MIN_LIVE || rss == 0 {
            return false;
        }
        let per = rss as f64 / live as f64;
        let reference = match self.reference {
            Some(r) if !self.rebase => r.min(per),
            _ => per,
        };
        self.rebase = false;
        self.reference = Some(reference);
        let due = self.last_trim.is_none_or(|t| now.saturating_duration_since(t) >= MIN_INTERVAL);
        if per > reference * GROWTH && due {
            self.last_trim = Some(now);
            self.rebase = true;
            true
        } else {
            false
        }
    }
}

/// The process's resident set in bytes (Linux `/proc/self/statm`); 0 where unknown,
/// which never triggers a trim.
pub(super) fn rss() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // statm's second field is resident pages; pages here are 4 KiB on every
        // platform this runs on, and a wrong page size only scales the ratio.
        if let Ok(s) = std::fs::read_to_string("/proc/self/statm") {
            if let Some(pages) = s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()) {
                return pages.saturating_mul(4096);
            }
        }
    }
    0
}

/// Returns glibc's free heap pages to the system (the C side, see the module doc);
/// elsewhere nothing to do.
#[allow(unsafe_code)] // malloc_trim (the other unsafe code of the crate: src/media/opus.rs, src/http/serve.rs)
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

    const MB: u64 = 1_000_000;

    #[test]
    fn trims_when_memory_outgrows_the_live_state_at_most_every_30_s() {
        let (mut t, t0) = (Trimmer::default(), Instant::now());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!t.observe(at(0), 1_000, 500 * MB), "too small to matter");
        // Ramping up: memory grows with the calls, less than in proportion (fixed costs).
        assert!(!t.observe(at(5), 20_000, 60 * MB));
        assert!(!t.observe(at(10), 100_000, 240 * MB));
        assert!(!t.observe(at(15), 136_000, 316 * MB));
        // A surge: both grow, still in proportion.
        assert!(!t.observe(at(20), 147_000, 350 * MB));
        // The surge is over, the live state is back, the memory is not: trim.
        assert!(t.observe(at(25), 136_000, 370 * MB), "18 % more per live item");
        // The trim gave back what it could: the new reading is the reference.
        assert!(!t.observe(at(30), 136_000, 340 * MB));
        assert!(!t.observe(at(35), 136_000, 352 * MB), "under 10 % above the new reference");
        // Grown again, but the last trim was under 30 s ago.
        assert!(!t.observe(at(40), 136_000, 380 * MB));
        assert!(t.observe(at(55), 136_000, 380 * MB), "30 s after the last trim");
    }

    #[test]
    fn a_quiet_night_after_a_busy_day_trims_once_not_every_time() {
        let (mut t, t0) = (Trimmer::default(), Instant::now());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!t.observe(at(0), 100_000, 250 * MB));
        // The load falls to a tenth; the heap keeps its pages: one trim.
        assert!(t.observe(at(60), 10_000, 200 * MB));
        // Afterwards steady at the new level: no more trims.
        for s in 1..10 {
            assert!(!t.observe(at(60 + 35 * s), 10_000, 40 * MB));
        }
    }

    #[test]
    fn the_resident_set_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss() > MB, "a test process holds more than a megabyte: {}", rss());
        }
    }
}
