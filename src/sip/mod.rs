//! sip (in progress)

pub mod framing;
