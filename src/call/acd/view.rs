//! What the outside sees of the ACD: an operator's status, and the wallboard
//! snapshot of every queue and operator. Plain data: [`super::Acd`] fills it in.

use std::fmt;
use std::time::Duration;

use super::lanes::Priority;
use crate::call::CallId;
use crate::config::{OperatorId, QueueId};

/// An operator's state as the outside sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorStatus {
    /// No contact registered, or logged out by a supervisor.
    Offline,
    /// Idle and registered: may be offered the next call.
    Available,
    /// An offer rings the operator's phones.
    Ringing,
    /// Bridged to a caller.
    OnCall,
    /// The pause after a call (`wrap_up`), then available.
    WrapUp,
    /// Takes no calls until `resume`: paused by a supervisor, or not responding.
    Paused,
}

impl OperatorStatus {
    /// The name in the operator-state history, the wallboard and control replies.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorStatus::Offline => "offline",
            OperatorStatus::Available => "available",
            OperatorStatus::Ringing => "ringing",
            OperatorStatus::OnCall => "on_call",
            OperatorStatus::WrapUp => "wrap_up",
            OperatorStatus::Paused => "paused",
        }
    }
}

impl fmt::Display for OperatorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wallboard view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdSnapshot {
    /// Every queue, in the routing plan's order (the fallback last if the plan
    /// lacked it).
    pub queues: Vec<QueueSnapshot>,
    /// Every operator account, in configuration order.
    pub operators: Vec<OperatorSnapshot>,
}

/// One queue on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// The queue (a department).
    pub id: QueueId,
    /// Calls waiting (not counting ones being offered).
    pub waiting: usize,
    /// Calls of this queue currently ringing an operator.
    pub offering: usize,
    /// Age of the oldest waiting or offered call.
    pub longest_wait: Option<Duration>,
    /// Operators of this queue available right now.
    pub available: usize,
    /// The callers held, in the order they will be offered: those waiting by place,
    /// then those being offered; at most [`MAX_LISTED_CALLERS`].
    pub callers: Vec<QueuedCaller>,
}

/// A queue lists at most this many callers in a snapshot (the counts stay whole).
pub const MAX_LISTED_CALLERS: usize = 500;

/// One caller held by a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCaller {
    /// The call.
    pub call: CallId,
    /// Place among the waiting (1 = next); `None` while being offered.
    pub position: Option<usize>,
    /// How long since the call joined the queue.
    pub waited: Duration,
    /// The operator whose phone rings for it, while offered.
    pub offered_to: Option<OperatorId>,
    /// The class it joined with.
    pub class: Priority,
    /// Its class now, raised by waiting.
    pub effective: Priority,
}

/// One operator on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSnapshot {
    /// The operator's account id.
    pub id: OperatorId,
    /// Their state now.
    pub state: OperatorStatus,
    /// The pause reason while [`OperatorStatus::Paused`], else `None`.
    pub reason: Option<String>,
    /// The call ringing them or bridged to them, else `None`.
    pub call: Option<CallId>,
    /// At least one contact registered (an operator on a call may have lost it).
    pub registered: bool,
}
