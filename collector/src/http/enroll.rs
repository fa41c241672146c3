//! `POST /api/v1/enroll`: enroll secret in, device id and node key out.

use axum::body::Body;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fleetwatch_protocol::{ENROLL_PATH, EnrollRequest, EnrollResponse};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::{hash_node_key, parse_json, read_body};
use super::{AppState, write_error};
use crate::bootstrap::random_hex_secret;
use crate::exposition::self_metrics::EnrollResult;
use crate::store::{EnrollOp, WriteOp, WriteOutcome};
use crate::unix_now;

/// Largest enrollment body.
const MAX_ENROLL_BYTES: usize = 64 * 1024;
/// Longest identity value (characters).
const MAX_IDENTITY_CHARS: usize = 256;

/// The enrollment router.
pub fn router() -> Router<AppState> {
    Router::new().route(ENROLL_PATH, post(enroll))
}

async fn enroll(State(app): State<AppState>, body: Body) -> Result<Json<EnrollResponse>, ApiError> {
    let result = enroll_inner(&app, body).await;
    app.metrics.enrollment(match &result {
        Ok((_, true)) => EnrollResult::Reenrolled,
        Ok((_, false)) => EnrollResult::New,
        Err(ApiError::Unauthorized(_)) => EnrollResult::Denied,
        Err(_) => EnrollResult::Error,
    });
    result.map(|(response, _)| Json(response))
}

async fn enroll_inner(app: &super::App, body: Body) -> Result<(EnrollResponse, bool), ApiError> {
    let bytes = read_body(body, MAX_ENROLL_BYTES).await?;
    let request: EnrollRequest = parse_json(&bytes)?;
    let secret_ok: bool = request
        .enroll_secret
        .trim()
        .as_bytes()
        .ct_eq(app.secrets.enroll_secret.as_bytes())
        .into();
    if !secret_ok {
        tracing::warn!(hostname = %request.identity.hostname.chars().take(64).collect::<String>(),
            "enrollment refused: wrong enroll secret");
        return Err(ApiError::Unauthorized("wrong enroll secret"));
    }
    let id = &request.identity;
    for (field, value) in [
        ("identity.hostname", Some(&id.hostname)),
        ("identity.machine_id", id.machine_id.as_ref()),
        ("identity.hardware_uuid", id.hardware_uuid.as_ref()),
        ("identity.serial", id.serial.as_ref()),
    ] {
        if value.is_some_and(|v| v.chars().count() > MAX_IDENTITY_CHARS) {
            return Err(ApiError::field(
                field,
                format!("longer than {MAX_IDENTITY_CHARS} characters"),
            ));
        }
    }
    let node_key = random_hex_secret();
    let op = EnrollOp {
        identity: request.identity,
        node_key_hash: hash_node_key(&node_key),
        new_device_id: format!("dev-{}", &random_hex_secret()[..16]),
        now: unix_now(),
    };
    match app.writer.submit(WriteOp::Enroll(op)).await {
        Ok(WriteOutcome::Enrolled(outcome)) => {
            tracing::info!(device_id = %outcome.device.device_id, reused = outcome.reused, "device enrolled");
            Ok((
                EnrollResponse {
                    device_id: outcome.device.device_id,
                    node_key,
                    report_interval_secs: app.settings.report_interval_secs,
                },
                outcome.reused,
            ))
        }
        Ok(other) => Err(ApiError::Internal(format!("enroll produced {other:?}"))),
        Err(e) => Err(write_error(e)),
    }
}
