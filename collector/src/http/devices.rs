//! `GET /api/v1/devices` and `GET /api/v1/devices/{id}` (admin token).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::bearer_matches;
use super::{App, AppState};
use crate::store::{DeviceDetail, DeviceSummary};

/// The devices API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(detail))
}

fn require_admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if bearer_matches(headers, &app.secrets.admin_token) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("admin token required"))
    }
}

async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceSummary>>, ApiError> {
    require_admin(&app, &headers)?;
    let queries = app.queries.clone();
    let devices = tokio::task::spawn_blocking(move || queries.list_devices())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(devices))
}

async fn detail(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    require_admin(&app, &headers)?;
    let queries = app.queries.clone();
    tokio::task::spawn_blocking(move || queries.device(&id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map(Json)
        .ok_or(ApiError::NotFound("no such device"))
}
