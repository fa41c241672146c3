//! The collector's HTTP side: one router per concern, merged by [`router`]
//! (agent API) and [`metrics_router`] (metrics listener). Tests drive them
//! with `tower::ServiceExt::oneshot`, no sockets.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tower_http::timeout::TimeoutLayer;

use crate::bootstrap::Bootstrapped;
use crate::config::Config;
use crate::exposition::self_metrics::SelfMetrics;
use crate::state::{FleetState, LiveState};
use crate::store::writer::{SubmitError, WriteError, WriterHandle, WriterOptions};
use crate::store::{DeviceQueries, SqliteQueries, SqliteStore, Store, StoreError};

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

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Told to agents.
    pub report_interval_secs: u64,
    /// Stale threshold.
    pub stale_after_secs: u64,
    /// Retirement threshold, seconds.
    pub retire_after_secs: u64,
    /// Report body limit (decoded).
    pub max_report_bytes: usize,
}

/// Secrets the handlers compare against.
#[derive(Clone)]
pub struct Secrets {
    /// Fleet-wide enroll secret.
    pub enroll_secret: String,
    /// Admin API token.
    pub admin_token: String,
    /// Optional `/metrics` token.
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Everything the handlers share.
pub struct App {
    /// Settings.
    pub settings: AppSettings,
    /// Secrets.
    pub secrets: Secrets,
    /// Live device state (metrics, node keys).
    pub live: Arc<LiveState>,
    /// The group-commit writer.
    pub writer: WriterHandle,
    /// Read side of the store.
    pub queries: Arc<dyn DeviceQueries>,
    /// The collector's own metrics.
    pub metrics: SelfMetrics,
}

/// Shared handler state.
pub type AppState = Arc<App>;

impl App {
    /// Opens the SQLite store in the data dir, loads the live state and
    /// starts the writer.
    pub fn open(config: &Config, files: &Bootstrapped) -> Result<AppState, StoreError> {
        let path = config.database_path();
        let mut store = SqliteStore::open(&path)?;
        let started = std::time::Instant::now();
        let mut fleet = FleetState::default();
        store.load_devices(&mut |d| {
            fleet.insert_stored(&d);
            Ok(())
        })?;
        tracing::info!(
            devices = fleet.len(),
            seconds = started.elapsed().as_secs_f64(),
            "device state loaded"
        );
        let live = Arc::new(LiveState::new(fleet));
        let queries = Arc::new(SqliteQueries::open(&path)?);
        let writer = WriterHandle::spawn(
            store,
            live.clone(),
            WriterOptions {
                queue_capacity: config.ingest_queue,
                retention_secs: (config.report_retention_days * 86_400) as i64,
                ..WriterOptions::default()
            },
        );
        Ok(Arc::new(App {
            settings: AppSettings {
                report_interval_secs: config.report_interval_secs,
                stale_after_secs: config.stale_after_secs,
                retire_after_secs: config.retire_after_days * 86_400,
                max_report_bytes: config.max_report_bytes,
            },
            secrets: Secrets {
                enroll_secret: files.enroll_secret.clone(),
                admin_token: files.admin_token.clone(),
                metrics_token: files.metrics_token.clone(),
            },
            live,
            writer,
            queries,
            metrics: SelfMetrics::new(),
        }))
    }
}

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
