//! A stop, however it is asked for (`SIGTERM`, `SIGINT`, `cc112 drain`): the first
//! begins the drain (the engine refuses new calls from its next turn on, `cc112 health`
//! says draining at once, a supervisor hears `STOPPING=1`); the next hurries it.

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::input::EngineInput;
use super::vitals::Vitals;
use super::watchdog;

/// Whether a stop asked for while a drain is on hurries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Again {
    /// A second signal: at most `engine::HURRY` left.
    Hurries,
    /// `cc112 drain` again: nothing changes.
    Ignored,
}

/// Asks the engine to stop; `true` when this began the drain.
pub(super) async fn stop(vitals: &Vitals, engine: &mpsc::Sender<EngineInput>, why: &str, again: Again) -> bool {
    let first = vitals.start_draining();
    if first {
        info!(%why, "stop asked for: draining");
        watchdog::stopping();
    } else if again == Again::Ignored {
        return false;
    } else {
        warn!(%why, "stop asked for again: the drain is hurried");
    }
    if engine.send(EngineInput::Stop).await.is_err() {
        warn!("the engine has already stopped");
    }
    first
}
