//! `GET /api/v1/alerts` (admin token): the alerts firing now, in the shape
//! of Alertmanager's alert list (labels, annotations, startsAt). Listed also
//! when no destination is configured.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::devices::require_admin;
use super::error::ApiError;
use crate::time::rfc3339;

/// The alerts router.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/alerts", get(list))
}

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FiringAlert {
    /// Labels incl. `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
}

async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<FiringAlert>>, ApiError> {
    require_admin(&app, &headers)?;
    let mut alerts: Vec<FiringAlert> = app
        .dispatcher
        .firing()
        .into_iter()
        .map(|a| FiringAlert {
            labels: a.labels,
            annotations: a.annotations,
            starts_at: rfc3339(a.starts_at),
        })
        .collect();
    alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Json(alerts))
}
