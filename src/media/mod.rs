//! media (in progress)
