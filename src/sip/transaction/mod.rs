//! transactions (in progress)
