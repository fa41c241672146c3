//! `POST /api/v1/reports`: authenticate the node key, read (gunzip, bound),
//! parse, validate, queue for the group commit, answer after the commit.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fleetwatch_protocol::{
    CheckResult, CheckStatus, REPORTS_PATH, Report, ReportResponse, SCHEMA_VERSION,
};
use tower_http::decompression::RequestDecompressionLayer;

use super::error::{ApiError, RETRY_AFTER_SECS};
use super::extract::{bearer, hash_node_key, parse_json, read_body};
use super::{App, AppState, write_error};
use crate::exposition::self_metrics::ReportErrorReason;
use crate::report_facts::CLOCK_SKEW_ALLOWANCE_SECS;
use crate::store::writer::{SubmitError, WriteError};
use crate::store::{IngestOp, StoreError, WriteOp, WriteOutcome};
use crate::unix_now;

/// Longest accepted `report_id`.
pub const MAX_REPORT_ID_CHARS: usize = 128;

/// The reports router (gzip bodies decoded before the size limit applies).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(REPORTS_PATH, post(post_report))
        .layer(body_decoder())
        // Outside the decoder, which drops the header with the encoding.
        .layer(middleware::from_fn(remember_length))
}

/// The decoder report bodies pass through before the size limit
/// (`Content-Encoding: gzip`; other encodings are refused with 415).
pub fn body_decoder() -> RequestDecompressionLayer {
    RequestDecompressionLayer::new()
}

/// The body's length as sent (compressed, for a gzip body).
#[derive(Debug, Clone, Copy)]
struct SentLength(usize);

/// Keeps `Content-Length` for admission: the decoder removes it.
async fn remember_length(mut request: Request, next: Next) -> Response {
    if let Some(n) = content_length(request.headers()) {
        request.extensions_mut().insert(SentLength(n));
    }
    next.run(request).await
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

async fn post_report(
    State(app): State<AppState>,
    headers: HeaderMap,
    sent: Option<Extension<SentLength>>,
    body: Body,
) -> Response {
    let started = Instant::now();
    // Decoded bodies have no length header any more: what was sent.
    let sent = content_length(&headers).or(sent.map(|Extension(SentLength(n))| n));
    match ingest(&app, &headers, sent, body).await {
        Ok(response) => {
            app.metrics.report_accepted(started.elapsed().as_secs_f64());
            Json(response).into_response()
        }
        Err((reason, error)) => {
            app.metrics.report_refused(reason);
            error.into_response()
        }
    }
}

type Refusal = (ReportErrorReason, ApiError);

fn queue_full() -> Refusal {
    (
        ReportErrorReason::QueueFull,
        ApiError::TooManyRequests {
            message: "ingest queue is full",
            retry_after: RETRY_AFTER_SECS,
        },
    )
}

fn malformed(e: ApiError) -> Refusal {
    match e {
        ApiError::TooLarge { .. } => (ReportErrorReason::TooLarge, e),
        _ => (ReportErrorReason::Malformed, e),
    }
}

async fn ingest(
    app: &App,
    headers: &HeaderMap,
    length: Option<usize>,
    body: Body,
) -> Result<ReportResponse, Refusal> {
    let unauthorized = |m| (ReportErrorReason::Unauthorized, ApiError::Unauthorized(m));
    let key = bearer(headers).ok_or_else(|| unauthorized("missing bearer node key"))?;
    let hash = hash_node_key(key);
    let device_id = app
        .live
        .read()
        .authenticate(&hash)
        .map(str::to_owned)
        .ok_or_else(|| unauthorized("unknown node key; enroll again"))?;

    // Admitted before the body is read or parsed: a full queue costs a
    // refusal, not memory and CPU. The size sent is reserved (compressed,
    // for gzip), the decoded size once known.
    let limit = app.settings.max_report_bytes;
    let plain = !headers.contains_key(header::CONTENT_ENCODING)
        && headers.contains_key(header::CONTENT_LENGTH);
    if plain && length.is_some_and(|n| n > limit) {
        return Err(malformed(ApiError::TooLarge { limit }));
    }
    let mut admitted = app
        .writer
        .admit(length.unwrap_or(0))
        .map_err(|_| queue_full())?;
    let bytes = read_body(body, limit).await.map_err(malformed)?;
    admitted.grow_to(bytes.len()).map_err(|_| queue_full())?;
    let report: Report = parse_json(&bytes).map_err(malformed)?;
    validate(&report, &device_id)?;

    let op = IngestOp::prepare(report, unix_now()).map_err(|e| {
        (
            ReportErrorReason::Internal,
            ApiError::Internal(e.to_string()),
        )
    })?;
    let skew = op.report_facts.clock_skew_secs();
    let previous_skew = app
        .live
        .read()
        .device(&device_id)
        .and_then(|d| d.clock_skew_secs);
    match app.writer.submit(WriteOp::Ingest(Box::new(op))).await {
        Ok(WriteOutcome::Ingested(outcome)) => {
            if skew > CLOCK_SKEW_ALLOWANCE_SECS {
                clock_skewed(app, &device_id, skew, previous_skew);
            }
            Ok(ReportResponse {
                accepted: true,
                duplicate: outcome.duplicate,
                report_interval_secs: app.settings.report_interval_secs,
                packages_hash: outcome.packages_hash,
            })
        }
        Ok(other) => Err((
            ReportErrorReason::Internal,
            ApiError::Internal(format!("ingest produced {other:?}")),
        )),
        Err(WriteError::Submit(SubmitError::QueueFull)) => Err(queue_full()),
        Err(WriteError::Store(StoreError::ReportIdTaken(id))) => Err((
            ReportErrorReason::Invalid,
            ApiError::field(
                "report_id",
                format!("report_id {id:?} was already used by another device"),
            ),
        )),
        Err(e) => Err((ReportErrorReason::Internal, write_error(e))),
    }
}

/// Counts a committed report from a clock running ahead; logs when the
/// device's previous report was not skewed (not once a report forever).
fn clock_skewed(app: &App, device_id: &str, skew: i64, previous: Option<i64>) {
    app.metrics.report_clock_skewed();
    if previous.is_none_or(|p| p <= CLOCK_SKEW_ALLOWANCE_SECS) {
        tracing::warn!(
            device_id,
            skew_seconds = skew,
            "the agent's clock is ahead of the collector's; its reports are ordered by arrival"
        );
    }
}

fn check_has_data<T>(field: &str, result: Option<&CheckResult<T>>) -> Result<(), Refusal> {
    match result {
        Some(r) if r.status == CheckStatus::Ok && r.data.is_none() => Err((
            ReportErrorReason::Invalid,
            ApiError::field(format!("{field}.data"), "status is ok but data is missing"),
        )),
        _ => Ok(()),
    }
}

/// The checks a parsed report passes before it is stored, as for a report
/// from `device_id`: the refusal the client would get (the fuzz targets'
/// entry point; the route also counts the reason).
pub fn check_report(report: &Report, device_id: &str) -> Result<(), ApiError> {
    validate(report, device_id).map_err(|(_, e)| e)
}

/// Checks what serde cannot: version, ids, ok-means-data.
fn validate(report: &Report, device_id: &str) -> Result<(), Refusal> {
    let invalid = |field: &str, message: String| {
        (ReportErrorReason::Invalid, ApiError::field(field, message))
    };
    if report.schema_version != SCHEMA_VERSION {
        return Err(invalid(
            "schema_version",
            format!(
                "schema_version {} is not supported (expected {SCHEMA_VERSION})",
                report.schema_version
            ),
        ));
    }
    let id_chars = report.report_id.chars().count();
    if id_chars == 0 || id_chars > MAX_REPORT_ID_CHARS {
        return Err(invalid(
            "report_id",
            format!("report_id must have 1 to {MAX_REPORT_ID_CHARS} characters"),
        ));
    }
    if report.report_id.chars().any(char::is_control) {
        return Err(invalid(
            "report_id",
            "report_id must not contain control characters".into(),
        ));
    }
    if report.device_id != device_id {
        return Err((
            ReportErrorReason::DeviceMismatch,
            ApiError::Forbidden {
                message: "device_id does not belong to this node key".into(),
                field: Some("device_id".into()),
            },
        ));
    }
    check_has_data("inventory", Some(&report.inventory))?;
    check_has_data("checks.patches", report.checks.patches.as_ref())?;
    check_has_data("checks.backup", report.checks.backup.as_ref())?;
    check_has_data(
        "checks.password_policy",
        report.checks.password_policy.as_ref(),
    )?;
    Ok(())
}
