//! [`CentralError`], and the time bound every wait on PostgreSQL goes through (a
//! network that drops packets must stall the shipper's round, never forever).

use std::time::Duration;

use thiserror::Error;

/// How long a connection attempt may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the central view could not be shipped to or read.
#[derive(Debug, Error)]
pub enum CentralError {
    /// PostgreSQL refused or the connection failed (the text includes the cause).
    #[error("postgresql: {0}")]
    Postgres(String),
    /// The node's journal could not be read.
    #[error("local records: {0}")]
    Store(#[from] crate::store::StoreError),
    /// SQLite failed (local journal or the in-memory copy).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL did not answer in time.
    #[error("postgresql did not answer within {0:?}")]
    Timeout(Duration),
    /// The shipper's thread or runtime could not be started.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A value read from the central view is not what the schema says.
    #[error("central view: {0}")]
    Bad(String),
}

impl From<tokio_postgres::Error> for CentralError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The error's own text is often just "db error"; the cause says which.
        let mut text = e.to_string();
        if let Some(s) = std::error::Error::source(&e) {
            text = format!("{text}: {s}");
        }
        CentralError::Postgres(crate::sink::printable(&text).to_string())
    }
}


pub(super) async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Result<T, CentralError> {
    tokio::time::timeout(limit, f).await.map_err(|_| CentralError::Timeout(limit))
}

