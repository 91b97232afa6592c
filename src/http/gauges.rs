//! [`CentralGauges`]: what the shell's shipper to the central view (`runtime::central`)
//! tells `/metrics`, through atomics it writes and the scrape reads (the HTTP layer
//! never sees the shipper itself).

/// The shipper to the central view's state, written by it (`runtime::central`) and
/// read here at each scrape.
#[derive(Debug, Default)]
pub struct CentralGauges {
    /// Local rows not yet in the central view (by rowid: what the cursor is behind the
    /// journal's end, summed over the shipped tables).
    pub rows_behind: std::sync::atomic::AtomicI64,
    /// Whether the shipper's last round reached PostgreSQL.
    pub up: std::sync::atomic::AtomicBool,
}
