//! What every handler of the API uses: the error answer (`{"error": "..."}` with its
//! status, a store error mapped to one) and the two sources it reads: the last
//! published snapshot, and the records opened read-only on a blocking thread.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::warn;
use utoipa::ToSchema;

use crate::http::{Live, Shared};
use crate::store::query::Reader;
use crate::store::StoreError;

/// An error answer: `{"error": "..."}` with its status.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ErrorBody {
    /// What went wrong, for a person.
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.message })).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NoSuchCall(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::BadTime(_) | StoreError::Shift(_) => ApiError::bad_request(e.to_string()),
            StoreError::NoDatabase(_) => ApiError::unavailable(e.to_string()),
            e => {
                warn!(error = %e, "API: reading the call records failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reading the call records failed")
            }
        }
    }
}

/// The last published snapshot; 503 before the first.
pub(super) fn snapshot(shared: &Shared) -> Result<Arc<Live>, ApiError> {
    shared.live.borrow().clone().ok_or_else(|| ApiError::unavailable("the gateway is starting: no snapshot yet"))
}

/// Record readers open at once. Each holds a SQLite connection and its page cache
/// (a report over 100,000 calls: about 5 MB and 0.2 s): more requests wait their turn
/// (within the request timeout, else 503) rather than each taking memory and a thread.
pub(super) const MAX_READERS: usize = 4;

static READERS: Semaphore = Semaphore::const_new(MAX_READERS);

/// Runs `f` on a read-only connection to the records, on a blocking thread (SQLite
/// blocks), at most [`MAX_READERS`] at once; 503 when the gateway keeps no records.
pub(super) async fn with_reader<T: Send + 'static>(shared: &Shared, f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    let Some(path) = shared.records.clone() else {
        return Err(ApiError::unavailable("the gateway keeps no call records"));
    };
    let turn = READERS.acquire().await.map_err(|_| ApiError::unavailable("the records reader is closed"))?;
    // The turn is held by the blocking task: a request that timed out does not free it
    // while its query still runs.
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        f(&Reader::open(&path)?)
    })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the records reader failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_http_statuses() {
        let s = |e: StoreError| ApiError::from(e).status;
        assert_eq!(s(StoreError::NoSuchCall("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(s(StoreError::BadTime("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(s(StoreError::NoDatabase("x".into())), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(s(StoreError::Durability("x".into())), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
