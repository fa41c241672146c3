//! `GET /api/v1/compliance` (per check: counts and the failing devices) and
//! `GET /api/v1/compliance.csv` (the per-device table for auditors), admin
//! token. Both judge every device afresh, so reasons are current.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::devices::require_admin;
use super::error::{ApiError, RETRY_AFTER_SECS};
use crate::judge::{Judgement, judge_device};
use crate::policy::api::{
    CSV_CONTENT_TYPE, ComplianceSummary, DeviceRow, compliance_csv, compliance_summary,
};
use crate::unix_now;

/// Failing devices listed per check in the summary (the rest are counted).
pub const MAX_FAILING_DEVICES: usize = 1000;

/// The compliance router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/compliance", get(summary))
        .route("/api/v1/compliance.csv", get(csv))
}

/// Every visible device (not retired, not past retirement) judged now: id,
/// host name, OS family, judgement. From a snapshot: the fleet lock is held
/// only to copy the device list, never while judging (the writer needs it
/// to acknowledge reports).
pub(crate) fn judged(app: &AppState) -> Vec<(Box<str>, Box<str>, &'static str, Judgement)> {
    let now = unix_now();
    let policy = app.judge.policy().current();
    let retire_after = app.settings.retire_after_secs as i64;
    let snapshot = app.live.read().snapshot();
    snapshot
        .iter()
        .filter(|d| !d.retired && now - d.last_heard() <= retire_after)
        .map(|d| {
            (
                d.device_id.clone(),
                d.hostname.clone(),
                d.compliance_facts().os_family().as_str(),
                judge_device(d, &policy, now),
            )
        })
        .collect()
}

pub(crate) fn rows<'a>(
    judged: &'a [(Box<str>, Box<str>, &'static str, Judgement)],
) -> impl Iterator<Item = DeviceRow<'a>> {
    judged.iter().map(|(id, host, family, j)| DeviceRow {
        device_id: id,
        hostname: host,
        os_family: family,
        findings: &j.findings,
        failing_since: &j.failing_since,
    })
}

/// A place among the exports running at once, or 429.
fn export_permit(app: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    app.limits
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests {
            message: "too many compliance exports at once",
            retry_after: RETRY_AFTER_SECS,
        })
}

async fn summary(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ComplianceSummary>, ApiError> {
    require_admin(&app, &headers)?;
    let permit = export_permit(&app)?;
    let summary = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        compliance_summary(rows(&judged(&app)), MAX_FAILING_DEVICES)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(summary))
}

async fn csv(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    require_admin(&app, &headers)?;
    let permit = export_permit(&app)?;
    let body = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        compliance_csv(rows(&judged(&app)))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CSV_CONTENT_TYPE),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"fleetwatch-compliance.csv\""),
    );
    Ok(response)
}
