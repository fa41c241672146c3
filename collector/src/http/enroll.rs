//! `POST /api/v1/enroll`: enroll secret in, device id and node key out.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::post;
use axum::{Json, Router};
use fleetwatch_protocol::{ENROLL_PATH, EnrollRequest, EnrollResponse};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::{hash_node_key, parse_json, read_body};
use super::{AppState, write_error};
use crate::bootstrap::random_hex_secret;
use crate::exposition::self_metrics::EnrollResult;
use crate::store::writer::WriteError;
use crate::store::{EnrollOp, StoreError, WriteOp, WriteOutcome};
use crate::unix_now;

/// Largest enrollment body.
const MAX_ENROLL_BYTES: usize = 64 * 1024;
/// Longest identity value (characters).
const MAX_IDENTITY_CHARS: usize = 256;

/// The enrollment router.
pub fn router() -> Router<AppState> {
    Router::new().route(ENROLL_PATH, post(enroll))
}

/// The peer address, when the server recorded it (as `ConnectInfo`
/// resolves it: the connection's, else a `MockConnectInfo` layer's; router
/// tests without either are not rate limited).
pub(crate) fn source(request: &Request) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| extensions.get::<MockConnectInfo<SocketAddr>>().map(|m| m.0))
        .map(|addr| addr.ip())
}

async fn enroll(
    State(app): State<AppState>,
    request: Request,
) -> Result<Json<EnrollResponse>, ApiError> {
    let source = source(&request);
    let result = enroll_inner(&app, source, request.into_body()).await;
    app.metrics.enrollment(match &result {
        Ok((_, true)) => EnrollResult::Reenrolled,
        Ok((_, false)) => EnrollResult::New,
        Err(ApiError::Unauthorized(_)) => EnrollResult::Denied,
        Err(ApiError::TooManyRequests { .. }) => EnrollResult::RateLimited,
        Err(ApiError::Forbidden { .. }) => EnrollResult::LimitReached,
        Err(_) => EnrollResult::Error,
    });
    result.map(|(response, _)| Json(response))
}

async fn enroll_inner(
    app: &super::App,
    source: Option<IpAddr>,
    body: Body,
) -> Result<(EnrollResponse, bool), ApiError> {
    // Before the body is read or the secret compared: a limited source
    // costs nothing and cannot guess the secret at full speed.
    if let Some(ip) = source
        && let Err(wait) = app.enroll_limiter.check(ip, Instant::now())
    {
        tracing::warn!(source = %ip, "enrollment refused: too many from this address");
        return Err(ApiError::TooManyRequests {
            message: "too many enrollments from this address",
            retry_after: wait,
        });
    }
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
            source = ?source, "enrollment refused: wrong enroll secret");
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
        max_devices: app.settings.max_devices,
    };
    match app.writer.submit(WriteOp::Enroll(op)).await {
        Ok(WriteOutcome::Enrolled(outcome)) => {
            let device_id = &outcome.device.device_id;
            if outcome.reused {
                // Every key replacement is on record: it is also what a
                // takeover would look like.
                tracing::warn!(device_id = %device_id, source = ?source,
                    "re-enrollment replaced the device's node key; the old key stops working");
            } else if let Some(other) = &outcome.weaker_match {
                tracing::warn!(device_id = %device_id, same_machine_id_as = %other, source = ?source,
                    "enrolled as a new device: the host shares a machine-id with a device \
                     but not the hardware UUID (or serial) that device enrolled with");
            } else {
                tracing::info!(device_id = %device_id, source = ?source, "device enrolled");
            }
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
        Err(WriteError::Store(StoreError::DeviceLimit(max))) => {
            tracing::warn!(max_devices = max, source = ?source, "enrollment refused: max_devices reached");
            Err(ApiError::Forbidden {
                message: format!(
                    "max_devices ({max}) devices are enrolled; retire devices or raise max_devices"
                ),
                field: None,
            })
        }
        Err(e) => Err(write_error(e)),
    }
}
