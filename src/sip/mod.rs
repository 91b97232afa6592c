//! sip (in progress)
