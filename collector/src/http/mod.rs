//! The collector's HTTP side: one router per concern, merged by [`router`]
//! (agent API) and [`metrics_router`] (metrics listener). Tests drive them
//! with `tower::ServiceExt::oneshot`, no sockets.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tower_http::timeout::TimeoutLayer;

pub use crate::app::{App, AppSettings, AppState, Secrets};
use crate::store::StoreError;
use crate::store::writer::{SubmitError, WriteError};

pub mod alerts;
pub mod compliance;
pub mod devices;
pub mod enroll;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod reports;

use error::ApiError;

/// Per-request time limit (a report waiting this long for its commit gets
/// 503; the agent resends it and the duplicate is harmless).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Maps a failed write to what the client sees.
pub(crate) fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Submit(SubmitError::QueueFull) => ApiError::Unavailable("ingest queue is full"),
        WriteError::Submit(SubmitError::Stopped) => {
            ApiError::Unavailable("collector is shutting down")
        }
        WriteError::Store(StoreError::UnknownDevice(_)) => {
            ApiError::Unauthorized("device is not enrolled; enroll again")
        }
        WriteError::Store(e) => ApiError::Internal(e.to_string()),
    }
}

fn timeout() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT)
}

/// The agent API (served over HTTPS).
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(enroll::router())
        .merge(reports::router())
        .merge(devices::router())
        .merge(compliance::router())
        .merge(alerts::router())
        .merge(health::router())
        .layer(timeout())
        .with_state(state)
}

/// The metrics listener: `/metrics` plus health.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .merge(metrics::router())
        .merge(health::router())
        .layer(timeout())
        .with_state(state)
}
