//! The watchdog: keeps an eye on the engine thread and the record writer, and tells a
//! supervisor (systemd, through the `sd_notify` protocol) how the node stands.
//!
//! Every [`Pace::beat`] it reads the [`Vitals`] and the writer's health. The writer
//! makes progress while it has nothing to do or finishes commits (a failed one counts:
//! a full disk is reported by the writer itself and records wait in memory, which a
//! restart would not help); it is stalled when it has work and has finished no commit
//! for [`Pace::writer_stall_after`] (a disk that blocks, a wedged thread). The engine is
//! told, so that OPTIONS get 503 meanwhile.
//!
//! To the supervisor: `WATCHDOG=1` on each look, but only while the engine thread and
//! the writer both make progress, so a wedged gateway is restarted instead of being
//! hidden by a healthy-looking timer; `STATUS=` with the calls in progress when it
//! changes; during the drain `EXTEND_TIMEOUT_USEC=`, so that a drain still making
//! progress is not killed by the stop timeout. `READY=1` and `STOPPING=1` are sent by
//! the gateway's start and stop ([`ready`], [`stopping`]). Without `NOTIFY_SOCKET`
//! nothing is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::input::EngineInput;
use super::vitals::{NodeState, Pace, Vitals};
use crate::store::{Health, StoreHandle};

/// How long a drain that makes progress asks the supervisor to wait for the next word.
const EXTEND_STOP: Duration = Duration::from_secs(30);

/// The supervisor's watchdog interval (`WATCHDOG_USEC`, for this process), if any.
pub(super) fn supervisor_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Sends `states` to the supervisor, if there is one (`NOTIFY_SOCKET`).
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// The sockets are open and the store checked: `READY=1`, with the state.
pub(super) fn ready(vitals: &Vitals) {
    let line = vitals.assess(Instant::now()).line();
    notify(&[NotifyState::Ready, NotifyState::Status(&line)]);
}

/// The drain begins: `STOPPING=1`.
pub(super) fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("draining: new calls get 503")]);
}

/// What the watchdog needs.
pub(super) struct Watchdog {
    pub(super) vitals: Arc<Vitals>,
    pub(super) store: Option<StoreHandle>,
    /// To tell the engine the node is unhealthy (OPTIONS 503) or healthy again.
    pub(super) engine: mpsc::Sender<EngineInput>,
    /// Ping the supervisor's watchdog (it asked for it with `WATCHDOG_USEC`).
    pub(super) pings: bool,
}

impl Watchdog {
    /// Looks every [`Pace::beat`] until `shutdown`.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let pace = self.vitals.pace();
        let mut tick = tokio::time::interval(pace.beat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut writer = WriterWatch::default();
        let mut status = String::new();
        let mut was_ok = true;
        // The engine's word on the writer, until its queue has taken it.
        let mut untold: Option<Option<String>> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let now = Instant::now();
            if let Some(change) = writer.look(now, self.store.as_ref().map(StoreHandle::health), pace) {
                self.vitals.set_writer_stall(change.clone());
                match &change {
                    Some(why) => warn!(%why, "record writer stalled: OPTIONS get 503 and the supervisor's watchdog is no longer fed"),
                    None => info!("record writer making progress again"),
                }
                untold = Some(change);
            }
            if let Some(word) = untold.take() {
                if let Err(mpsc::error::TrySendError::Full(EngineInput::Unhealthy(word))) = self.engine.try_send(EngineInput::Unhealthy(word)) {
                    untold = Some(word);
                }
            }
            let state = self.vitals.assess(now);
            let ok = !matches!(state, NodeState::Stalled { .. });
            if ok != was_ok {
                if ok {
                    info!(state = %state.line(), "node making progress again");
                } else {
                    warn!(state = %state.line(), "node stalled");
                }
                was_ok = ok;
            }
            self.tell_supervisor(&state, ok, &mut status);
        }
    }

    fn tell_supervisor(&self, state: &NodeState, ok: bool, status: &mut String) {
        let line = state.line();
        let mut states = Vec::new();
        if ok && self.pings {
            states.push(NotifyState::Watchdog);
        }
        if ok && matches!(state, NodeState::Draining { .. }) {
            states.push(NotifyState::ExtendTimeoutUsec(u32::try_from(EXTEND_STOP.as_micros()).unwrap_or(u32::MAX)));
        }
        if line != *status {
            states.push(NotifyState::Status(&line));
        }
        if !states.is_empty() {
            notify(&states);
        }
        if line != *status {
            *status = line;
        }
    }
}

/// The record writer's progress, as the watchdog last saw it.
#[derive(Default)]
struct WriterWatch {
    /// What changes when a commit finishes: batches committed, failures, the last error.
    seen: Option<(u64, u32, Option<i64>)>,
    progress_at: Option<Instant>,
    stalled: bool,
}

impl WriterWatch {
    /// Looks at the writer; `Some(new state)` when it changed from progressing to
    /// stalled (`Some(why)`) or back (`None`).
    fn look(&mut self, now: Instant, health: Option<Health>, pace: Pace) -> Option<Option<String>> {
        let h = health?;
        let sign = (h.committed_batches, h.consecutive_failures, h.last_error_at.map(|t| t.0));
        if h.queue_depth == 0 || self.seen != Some(sign) {
            self.progress_at = Some(now);
        }
        self.seen = Some(sign);
        let since = now.saturating_duration_since(self.progress_at.unwrap_or(now));
        let why = if !h.writer_running {
            Some("the record writer thread has stopped".to_string())
        } else if since > pace.writer_stall_after {
            Some(format!("the record writer has finished no commit for {:.1} s with {} records waiting", since.as_secs_f64(), h.queue_depth))
        } else {
            None
        };
        if why.is_some() == self.stalled {
            return None;
        }
        self.stalled = why.is_some();
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(depth: usize, batches: u64, failures: u32) -> Option<Health> {
        Some(Health { queue_depth: depth, committed_batches: batches, consecutive_failures: failures, writer_running: true, ..Health::default() })
    }

    #[test]
    fn a_writer_with_work_and_no_finished_commit_for_five_seconds_is_stalled_a_failing_one_is_not() {
        let pace = Pace::for_watchdog(Some(Duration::from_secs(30)));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = WriterWatch::default();
        assert_eq!(w.look(at(0), health(0, 1, 0), pace), None, "idle");
        assert_eq!(w.look(at(10), health(0, 1, 0), pace), None, "idle for long is not a stall");
        assert_eq!(w.look(at(11), health(50, 1, 0), pace), None, "work arrives");
        assert_eq!(w.look(at(14), health(50, 2, 0), pace), None, "a commit finished");
        assert_eq!(w.look(at(17), health(50, 2, 1), pace), None, "a failed commit is progress too (disk full: records wait in memory)");
        let stalled = w.look(at(23), health(80, 2, 1), pace);
        assert!(matches!(&stalled, Some(Some(why)) if why.contains("no commit for 6.0 s with 80 records waiting")), "{stalled:?}");
        assert_eq!(w.look(at(24), health(80, 2, 1), pace), None, "told once");
        assert_eq!(w.look(at(25), health(0, 3, 0), pace), Some(None), "and once when it moves again");
        let mut gone = WriterWatch::default();
        let dead = Some(Health { writer_running: false, ..Health::default() });
        assert!(matches!(gone.look(at(0), dead, pace), Some(Some(why)) if why.contains("stopped")));
        assert_eq!(WriterWatch::default().look(at(0), None, pace), None, "no store, nothing to watch");
    }
}
