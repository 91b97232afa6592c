//! Supervisor commands: one entry point the CLI (control socket) and the HTTP API share.
//! A command that acts on an operator says who asked (`by`: the API token's name, `cli`),
//! and the engine writes that into the operator's history.
//!
//! Commands are plain values answered synchronously by the engine, so they act on the
//! same state the calls see, in order with everything else, without locks.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::call::acd::Acd;
use crate::call::registrar::Registrar;
use crate::config::{Config, OperatorId};

/// A supervisor's command, as JSON on the control socket (`{"command": "pause", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Every configured operator with state, registration and current call.
    ListOperators,
    /// Stop offering calls to an operator (a call in progress is not touched).
    Pause {
        /// The operator's id.
        operator: String,
        /// Why, kept in the operator's history (`break`, `training`...).
        reason: String,
        /// Who asked (an API token's name, `cli`), kept in the operator's history.
        #[serde(default)]
        by: Option<String>,
    },
    /// Offer calls to a paused operator again.
    Resume {
        /// The operator's id.
        operator: String,
        /// Who asked (an API token's name, `cli`), kept in the operator's history.
        #[serde(default)]
        by: Option<String>,
    },
    /// Take an operator out of service until they register again.
    Logout {
        /// The operator's id.
        operator: String,
        /// Who asked (an API token's name, `cli`), kept in the operator's history.
        #[serde(default)]
        by: Option<String>,
    },
    /// Click to call back (issue 16): ring the operator's phones; once they answer,
    /// call `number` through `[callbacks] trunk` and bridge them.
    CallBack {
        /// The worklist item's id (the abandoned call's record id).
        item: String,
        /// The number to call (digits and a leading `+` only, checked again here).
        number: String,
        /// The operator who calls; they must be available.
        operator: String,
        /// Who asked (an API token's name, `cli`).
        #[serde(default)]
        by: Option<String>,
    },
}

impl Command {
    /// For a command that acts on an operator: the operator, what is done (`pause`,
    /// `resume`, `logout`), who asked and the reason given; `None` for a query.
    pub fn action(&self) -> Option<Action<'_>> {
        let (operator, verb, by, reason) = match self {
            Command::ListOperators | Command::CallBack { .. } => return None,
            Command::Pause { operator, reason, by } => (operator, "pause", by, Some(reason.as_str())),
            Command::Resume { operator, by } => (operator, "resume", by, None),
            Command::Logout { operator, by } => (operator, "logout", by, None),
        };
        Some(Action { operator, verb, by: by.as_deref(), reason })
    }
}

/// What a supervisor's command does, for the operator's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action<'a> {
    /// The operator acted on.
    pub operator: &'a str,
    /// `pause`, `resume` or `logout`.
    pub verb: &'static str,
    /// Who asked, when they said.
    pub by: Option<&'a str>,
    /// The pause reason.
    pub reason: Option<&'a str>,
}

impl Action<'_> {
    /// The history's line: `pause by alice: break`, `resume by cli`, `logout by control socket` (a client that did not say).
    pub fn describe(&self) -> String {
        let by = self.by.unwrap_or("control socket");
        match self.reason {
            Some(r) => format!("{} by {by}: {r}", self.verb),
            None => format!("{} by {by}", self.verb),
        }
    }
}

/// One operator as `cc112 operators` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRow {
    /// The operator's id (their SIP user name).
    pub id: String,
    /// Their display name.
    pub name: String,
    /// The queues they answer, in the config's order.
    pub departments: Vec<String>,
    /// ACD state: `offline`, `available`, `ringing`, `on_call`, `wrap_up`, `paused`.
    pub state: String,
    /// Why paused (a supervisor's reason, or `not responding`).
    pub reason: Option<String>,
    /// Whether at least one of their phones is registered.
    pub registered: bool,
    /// The call they are on or being offered, as the engine's call id.
    pub call: Option<String>,
}

/// The engine's answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Every configured operator.
    Operators {
        /// In the config's order.
        operators: Vec<OperatorRow>,
    },
    /// An operator's state after the command.
    State {
        /// The operator's id.
        operator: String,
        /// The new ACD state.
        state: String,
    },
    /// A call back started: the operator's phones ring.
    CallingBack {
        /// The call back's own record id.
        record: String,
        /// The operator being rung.
        operator: String,
    },
    /// The command could not be carried out (unknown operator, not paused...).
    Error {
        /// Why, for the supervisor.
        message: String,
    },
}

/// Carry out one command on the ACD (the engine drains the ACD's actions afterwards).
pub(crate) fn apply(cmd: Command, now: Instant, acd: &mut Acd, registrar: &Registrar, config: &Config) -> Reply {
    match cmd {
            Command::ListOperators => {
                let snap = acd.snapshot(now);
                let operators = config
                    .operators
                    .iter()
                    .map(|o| {
                        let s = snap.operators.iter().find(|s| s.id == o.id);
                        OperatorRow {
                            id: o.id.to_string(),
                            name: o.name.clone(),
                            departments: o.departments.iter().map(ToString::to_string).collect(),
                            state: s.map_or("offline", |s| s.state.as_str()).to_string(),
                            reason: s.and_then(|s| s.reason.clone()),
                            registered: registrar.is_registered(&o.id),
                            call: s.and_then(|s| s.call).map(|c| c.to_string()),
                        }
                    })
                    .collect();
                Reply::Operators { operators }
            }
            Command::Pause { operator, reason, .. } => {
                let r = acd.pause(now, &OperatorId::new(operator.clone()), &reason);
                state_reply(operator, r)
            }
            Command::Resume { operator, .. } => {
                let r = acd.resume(now, &OperatorId::new(operator.clone()));
                state_reply(operator, r)
            }
            Command::Logout { operator, .. } => {
                let r = acd.logout(now, &OperatorId::new(operator.clone()));
                state_reply(operator, r)
            }
            // Placed by the operator side (`dial_out.rs`), which has what a call needs.
            Command::CallBack { .. } => Reply::Error { message: "call back not handled here".into() },
    }
}

fn state_reply(operator: String, r: Result<crate::call::acd::OperatorStatus, crate::call::acd::AcdError>) -> Reply {
    match r {
        Ok(s) => Reply::State { operator, state: s.as_str().to_string() },
        Err(e) => Reply::Error { message: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_without_by_still_parses_and_says_who_asked_when_given() {
        let old: Command = serde_json::from_str(r#"{"command":"pause","operator":"op-budi","reason":"break"}"#).unwrap();
        assert_eq!(old, Command::Pause { operator: "op-budi".into(), reason: "break".into(), by: None });
        assert_eq!(old.action().map(|a| a.describe()).as_deref(), Some("pause by control socket: break"));
        let api = Command::Resume { operator: "op-budi".into(), by: Some("lead-1".into()) };
        let back: Command = serde_json::from_str(&serde_json::to_string(&api).unwrap()).unwrap();
        assert_eq!(back, api);
        let a = api.action().unwrap();
        assert_eq!((a.operator, a.verb, a.by, a.reason), ("op-budi", "resume", Some("lead-1"), None));
        assert_eq!(Command::Logout { operator: "2001".into(), by: Some("cli".into()) }.action().map(|a| a.describe()).as_deref(), Some("logout by cli"));
        assert_eq!(Command::ListOperators.action(), None);
    }
}
