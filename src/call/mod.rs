//! The call layer: what happens to an emergency call between the answer and an
//! operator, sans-IO like the SIP layer below it.
//!
//! - [`ivr`]: the greeting and menu machine that picks a department queue.
//!
//! The queue (ACD), operator legs and the call aggregate come with issue 4.

pub mod acd;
pub mod ivr;
pub mod registrar;

pub use ivr::{
    Entry, Ivr, IvrAction, IvrPath, PathEvent, PathStep, PromptRef, RouteReason, Routing,
};
