//! `GET /api/v1/devices`, `GET /api/v1/devices/{id}` and
//! `DELETE /api/v1/devices/{id}` (retire), all with the admin token; the
//! detail carries the device's compliance facts and its findings, judged now.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::bearer_matches;
use serde::Serialize;

use super::{App, AppState, write_error};
use crate::judge::judge_device;
use crate::policy::ComplianceFacts;
use crate::policy::api::{DeviceFindings, device_findings};
use crate::store::{DeviceDetail, DeviceSummary, WriteOp, WriteOutcome};
use crate::unix_now;

/// The devices API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(detail).delete(retire))
}

/// `DELETE /api/v1/devices/{id}`: retires a decommissioned device. It leaves
/// `/metrics`, the alerts and the compliance view at once, and stays in the
/// database (its history is kept for audits); if it reports again, it is back.
async fn retire(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&app, &headers)?;
    match app.writer.submit(WriteOp::Retire(id.clone())).await {
        Ok(WriteOutcome::Retired(true)) => {
            tracing::info!(device_id = %id, "device retired");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(WriteOutcome::Retired(false)) => Err(ApiError::NotFound("no such device")),
        Ok(other) => Err(ApiError::Internal(format!("retire produced {other:?}"))),
        Err(e) => Err(write_error(e)),
    }
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
