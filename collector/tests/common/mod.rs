//! Shared helpers for the collector's router tests (no sockets: `oneshot`).
#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use fleetwatch_collector::bootstrap::Bootstrapped;
use fleetwatch_collector::config::{Config, Overrides, RawConfig};
use fleetwatch_collector::http::{self, App, AppState};
use fleetwatch_protocol::{EnrollRequest, EnrollResponse, HostIdentity, Report};
use serde_json::Value;
use tower::ServiceExt as _;

pub const ENROLL_SECRET: &str = "test-enroll-secret-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A collector app on a temp data dir.
pub struct TestCollector {
    pub dir: tempfile::TempDir,
    pub app: AppState,
    pub api: Router,
    pub metrics: Router,
}

pub fn config_for(data_dir: &Path, extra_toml: &str) -> Config {
    let raw = RawConfig::parse(extra_toml, Path::new("test.toml")).unwrap();
    Config::build(
        raw,
        Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            ..Overrides::default()
        },
    )
    .unwrap()
}

pub fn files(metrics_token: Option<&str>) -> Bootstrapped {
    Bootstrapped {
        cert_path: "unused-cert.pem".into(),
        key_path: "unused-key.pem".into(),
        fingerprint: "sha256:00".into(),
        enroll_secret_path: "unused".into(),
        enroll_secret: ENROLL_SECRET.into(),
        admin_token_path: "unused".into(),
        admin_token: ADMIN_TOKEN.into(),
        metrics_token: metrics_token.map(str::to_owned),
    }
}

impl TestCollector {
    pub fn start() -> Self {
        Self::start_with("")
    }

    pub fn start_with(extra_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open(dir, extra_toml, None)
    }

    pub fn open(dir: tempfile::TempDir, extra_toml: &str, metrics_token: Option<&str>) -> Self {
        let config = config_for(dir.path(), extra_toml);
        let app = App::open(&config, &files(metrics_token)).unwrap();
        TestCollector {
            api: http::router(app.clone()),
            metrics: http::metrics_router(app.clone()),
            app,
            dir,
        }
    }

    /// Stops the writer (flushing) and hands back the data dir.
    pub fn stop(self) -> tempfile::TempDir {
        self.app.writer.shutdown();
        self.dir
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn identity(n: u32) -> HostIdentity {
    HostIdentity {
        machine_id: Some(format!("machine-{n:04}")),
        hardware_uuid: Some(format!("uuid-{n:04}")),
        serial: Some(format!("SER{n:04}")),
        hostname: format!("host-{n}"),
    }
}

pub async fn enroll_raw(router: &Router, secret: &str, identity: HostIdentity) -> Answer {
    let body = serde_json::to_vec(&EnrollRequest {
        enroll_secret: secret.into(),
        identity,
        agent_version: "0.1.0".into(),
    })
    .unwrap();
    call(
        router,
        Request::post("/api/v1/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

pub async fn enroll(router: &Router, identity: HostIdentity) -> EnrollResponse {
    let answer = enroll_raw(router, ENROLL_SECRET, identity).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    serde_json::from_slice(&answer.body).unwrap()
}

/// The full shipped fixture, re-addressed to `device_id`.
pub fn full_report(device_id: &str, report_id: &str) -> Report {
    let text = include_str!("../../../protocol/fixtures/report-v1-0.1.0-full.json");
    let mut report: Report = serde_json::from_str(text).unwrap();
    report.device_id = device_id.into();
    report.report_id = report_id.into();
    report
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub async fn post_report_bytes(
    router: &Router,
    key: Option<&str>,
    body: Vec<u8>,
    gzipped: bool,
) -> Answer {
    // As a real client sends it: with its length.
    let mut request = Request::post("/api/v1/reports")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if gzipped {
        request = request.header(header::CONTENT_ENCODING, "gzip");
    }
    call(router, request.body(Body::from(body)).unwrap()).await
}

/// Posts a report: a `Report`, or a JSON value for shapes the types cannot make.
pub async fn post_report(router: &Router, key: &str, report: &impl serde::Serialize) -> Answer {
    post_report_bytes(
        router,
        Some(key),
        serde_json::to_vec(report).unwrap(),
        false,
    )
    .await
}

pub async fn get(router: &Router, uri: &str, bearer: Option<&str>) -> Answer {
    let mut request = Request::get(uri);
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    call(router, request.body(Body::empty()).unwrap()).await
}

/// `GET /api/v1/devices/{id}` with the admin token, as JSON.
pub async fn device_detail(router: &Router, device_id: &str) -> Value {
    get(
        router,
        &format!("/api/v1/devices/{device_id}"),
        Some(ADMIN_TOKEN),
    )
    .await
    .json()
}

/// Asserts a 429 with `Retry-After`.
pub fn assert_too_many(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text()
    );
    assert!(answer.headers.contains_key(header::RETRY_AFTER));
}

/// The sample lines of a scrape that mention `needle`.
pub fn lines_with<'a>(scrape: &'a str, needle: &str) -> Vec<&'a str> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(needle))
        .collect()
}
