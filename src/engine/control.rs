//! Supervisor commands: one entry point the CLI (and later the admin API) share.
//!
//! Commands are plain values answered synchronously by the engine, so they act on the
//! same state the calls see, in order with everything else, without locks.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::call::acd::Acd;
use crate::call::registrar::Registrar;
use crate::config::{Config, OperatorId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Every configured operator with state, registration and current call.
    ListOperators,
    /// Stop offering calls to an operator (a call in progress is not touched).
    Pause { operator: String, reason: String },
    Resume { operator: String },
    /// Take an operator out of service until they register again.
    Logout { operator: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRow {
    pub id: String,
    pub name: String,
    pub departments: Vec<String>,
    pub state: String,
    pub reason: Option<String>,
    pub registered: bool,
    pub call: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Operators { operators: Vec<OperatorRow> },
    State { operator: String, state: String },
    Error { message: String },
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
            Command::Pause { operator, reason } => {
                let r = acd.pause(now, &OperatorId::new(operator.clone()), &reason);
                state_reply(operator, r)
            }
            Command::Resume { operator } => {
                let r = acd.resume(now, &OperatorId::new(operator.clone()));
                state_reply(operator, r)
            }
            Command::Logout { operator } => {
                let r = acd.logout(now, &OperatorId::new(operator.clone()));
                state_reply(operator, r)
            }
    }
}

fn state_reply(operator: String, r: Result<crate::call::acd::OperatorStatus, crate::call::acd::AcdError>) -> Reply {
    match r {
        Ok(s) => Reply::State { operator, state: s.as_str().to_string() },
        Err(e) => Reply::Error { message: e.to_string() },
    }
}
