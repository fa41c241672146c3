//! `GET /api/v1/devices` and `GET /api/v1/devices/{id}` (admin token); the
//! detail carries the device's compliance facts and its findings, judged now.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::bearer_matches;
use serde::Serialize;

use super::{App, AppState};
use crate::judge::judge_device;
use crate::policy::ComplianceFacts;
use crate::policy::api::{DeviceFindings, device_findings};
use crate::store::{DeviceDetail, DeviceSummary};
use crate::unix_now;

/// The devices API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(detail))
}

/// Refuses requests without the admin token.
pub(crate) fn require_admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
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

/// Body of `GET /api/v1/devices/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// What the store holds.
    #[serde(flatten)]
    pub detail: DeviceDetail,
    /// Merged compliance facts (none before the first report).
    pub compliance_facts: Option<ComplianceFacts>,
    /// Verdict, reason and failing-since per check, and `compliant`.
    pub findings: Option<DeviceFindings>,
}

async fn detail(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    require_admin(&app, &headers)?;
    let queries = app.queries.clone();
    let lookup = id.clone();
    let detail = tokio::task::spawn_blocking(move || queries.device(&lookup))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or(ApiError::NotFound("no such device"))?;
    let entry = app.live.read().device(&id).cloned();
    let policy = app.judge.policy().current();
    let (compliance_facts, findings) = match entry {
        Some(d) => {
            let j = judge_device(&d, &policy, unix_now());
            (
                d.facts.as_deref().cloned(),
                Some(device_findings(&j.findings, &j.failing_since)),
            )
        }
        None => (None, None),
    };
    Ok(Json(DeviceView {
        detail,
        compliance_facts,
        findings,
    }))
}
