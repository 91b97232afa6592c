//! The current shift's figures for the wallboard, from the record store: the
//! answered-within-15-s share, the abandoned calls, the answer times per priority
//! class and the last calls.
//!
//! Read at most once every [`REFRESH`] (or ten times as long as the last read took,
//! if longer: a shift of hundreds of thousands of calls, as in a benchmark, keeps a
//! reader on the records' WAL for a while), whatever the number of wallboards open, and
//! only while one asks (no wallboard, no reads): a request that finds the figures older
//! than that reads them again, on a blocking thread (`spawn_blocking`, never the
//! engine's, never a tokio worker), while the requests that come meanwhile wait for
//! that one read rather than start their own. The shift is `cc112 report`'s current
//! shift: the config's roster at its local time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tracing::debug;

use crate::clock::{ShiftSpan, UtcMs};
use crate::config::Config;
use crate::store::query::TimeRange;
use crate::store::summary::{ClassTotals, RecentCall, ShiftTotals, Summary};

/// The figures are read again when older than this.
pub(super) const REFRESH: Duration = Duration::from_secs(3);
/// Last calls listed.
pub(super) const RECENT: usize = 8;
/// The service level's threshold.
pub(super) const WITHIN_SECONDS: u32 = 15;

/// The shift's figures at one moment.
#[derive(Debug, Clone)]
pub(super) struct ShiftFigures {
    /// The shift (name and bounds).
    pub span: ShiftSpan,
    /// Its counts; `None` when the records could not be read.
    pub totals: Option<ShiftTotals>,
    /// Its last calls, newest first.
    pub recent: Vec<RecentCall>,
    /// Answer times per priority class, highest first (issue 16).
    pub classes: Vec<ClassTotals>,
}

impl ShiftFigures {
    /// The figures of a shift whose records could not be read.
    pub fn unread(span: ShiftSpan) -> ShiftFigures {
        ShiftFigures { span, totals: None, recent: Vec::new(), classes: Vec::new() }
    }
}

/// The figures last read, shared by every wallboard.
pub(super) struct ShiftCache {
    records: Option<PathBuf>,
    last: Mutex<Option<Read>>,
}

/// The figures last read: when, what the read took, what it found.
struct Read {
    at: Instant,
    took: Duration,
    figures: Arc<ShiftFigures>,
}

/// How long figures read in `took` are kept: [`REFRESH`], or ten times the read.
fn keep_for(took: Duration) -> Duration {
    REFRESH.max(took.saturating_mul(10))
}

impl ShiftCache {
    /// A cache over the record database at `records` (`None`: the gateway keeps none).
    pub fn new(records: Option<PathBuf>) -> ShiftCache {
        ShiftCache { records, last: Mutex::new(None) }
    }

    /// The figures of the shift now, read again if older than [`keep_for`] the last
    /// read's duration, or of another shift.
    pub async fn get(&self, config: &Config) -> Arc<ShiftFigures> {
        let now = UtcMs::now();
        let span = config.store.shifts(config.routing.utc_offset).current(now);
        let mut last = self.last.lock().await;
        if let Some(r) = last.as_ref() {
            if r.at.elapsed() < keep_for(r.took) && r.figures.span == span {
                return r.figures.clone();
            }
        }
        let started = Instant::now();
        let figures = Arc::new(read(self.records.clone(), span).await);
        *last = Some(Read { at: Instant::now(), took: started.elapsed(), figures: figures.clone() });
        figures
    }
}

/// Reads the figures on a blocking thread.
async fn read(records: Option<PathBuf>, span: ShiftSpan) -> ShiftFigures {
    let range = TimeRange::of_shift(&span);
    let Some(path) = records else { return ShiftFigures::unread(span) };
    let read = tokio::task::spawn_blocking(move || {
        let summary = Summary::open(&path)?;
        Ok::<_, crate::store::StoreError>((summary.totals(range, WITHIN_SECONDS)?, summary.recent(range, RECENT)?, summary.classes(range, WITHIN_SECONDS)?))
    })
    .await;
    match read {
        Ok(Ok((totals, recent, classes))) => ShiftFigures { span, totals: Some(totals), recent, classes },
        Ok(Err(e)) => {
            debug!(error = %e, "wallboard: the call records could not be read");
            ShiftFigures::unread(span)
        }
        Err(e) => {
            debug!(error = %e, "wallboard: the records reader did not finish");
            ShiftFigures::unread(span)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_read_is_repeated_less_often() {
        assert_eq!(keep_for(Duration::from_millis(20)), REFRESH);
        assert_eq!(keep_for(Duration::from_millis(300)), REFRESH);
        assert_eq!(keep_for(Duration::from_millis(800)), Duration::from_secs(8));
        assert_eq!(keep_for(Duration::MAX), Duration::MAX);
    }
}
