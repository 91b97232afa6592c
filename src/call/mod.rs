//! The call layer: what happens to an emergency call between the answer and an
//! operator, sans-IO like the SIP layer below it.
//!
//! - [`ivr`]: the greeting and menu machine that picks a department queue.
//! - [`acd`]: department queues and operator states; decides which operator is
//!   offered which call, and when a waiting caller hears what.
//! - [`registrar`]: operators' REGISTER with Digest authentication, their contacts.
//!
//! The operator legs (the client INVITE to an operator's phones, bridging the two
//! calls) live in the engine's operator-legs part (`src/engine/`).

pub mod acd;
mod id;
pub mod ivr;
pub mod registrar;

pub use id::CallId;
pub use ivr::{
    Entry, Ivr, IvrAction, IvrPath, PathEvent, PathStep, PromptRef, RouteReason, Routing,
};
