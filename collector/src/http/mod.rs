//! The collector's HTTP side: one router per concern, merged by [`router`]
//! (agent API) and [`metrics_router`] (metrics listener). Tests drive them
//! with `tower::ServiceExt::oneshot`, no sockets.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use crate::app::{App, AppSettings, AppState, Secrets};
use crate::store::StoreError;
use crate::store::writer::{SubmitError, WriteError};

pub mod alerts;
pub mod compliance;
pub mod devices;
pub mod drain;
pub mod enroll;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod packages;
pub mod reports;

use error::ApiError;

/// Maps a failed write to what the client sees.
pub(crate) fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Submit(SubmitError::QueueFull) => ApiError::TooManyRequests {
            message: "ingest queue is full",
            retry_after: error::RETRY_AFTER_SECS,
        },
        WriteError::Submit(SubmitError::Stopped) => {
            ApiError::Unavailable("collector is shutting down")
        }
        WriteError::Store(StoreError::UnknownDevice(_)) => {
            ApiError::Unauthorized("device is not enrolled; enroll again")
        }
        WriteError::Store(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "write refused: the database is failing");
            ApiError::Unavailable("the database cannot store this right now")
        }
        WriteError::Store(e) => ApiError::Internal(e.to_string()),
    }
}

/// Answers 503 (JSON, `Retry-After`) when a request takes longer than
/// `request_timeout` (a report waiting that long for its commit: the agent
/// resends it later and the duplicate is harmless).
async fn time_limit(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limit = Duration::from_secs(app.settings.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable("request timed out").into_response(),
    }
}

/// What every listener's routes get: the time limit, then (outermost) the
/// drain that makes every early answer reach the client.
fn guarded(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::from_fn(drain::drain_unread_body))
        .with_state(state)
}

/// The agent API (served over HTTPS).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(enroll::router())
        .merge(reports::router())
        .merge(packages::router())
        .merge(devices::router())
        .merge(compliance::router())
        .merge(alerts::router())
        .merge(health::router())
        .merge(crate::console::router());
    guarded(routes, state)
}

/// The metrics listener: `/metrics` plus health.
pub fn metrics_router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(metrics::router())
        .merge(health::router());
    guarded(routes, state)
}
