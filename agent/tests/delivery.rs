//! `once` against a fake HTTPS collector: enrollment, gzip + bearer upload,
//! remembered answers, 401 re-enrollment, rejection, Retry-After, and the
//! spool delivered in order once the collector is back.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{FakeCollector, Request, Response};
use fleetwatch_agent::config::{AgentConfig, ChecksConfig, FileConfig, Overrides, build};
use fleetwatch_agent::modes::{OnceError, once};
use fleetwatch_agent::state::StateDir;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/hosts/inventory-debian12"
);

fn config(url: &str, fingerprint: &str, dir: &Path) -> AgentConfig {
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let file = FileConfig {
        once_deadline_secs: Some(3),
        checks: ChecksConfig {
            inventory: true,
            patches: false,
            backup: false,
            password_policy: false,
            data_protection: false,
        },
        ..FileConfig::default()
    };
    build(
        file,
        &Overrides {
            collector_url: Some(url.into()),
            ca_fingerprint: Some(fingerprint.into()),
            enroll_secret_file: Some(secret),
            state_dir: Some(dir.join("state")),
            root: Some(FIXTURE.into()),
            ..Overrides::default()
        },
    )
    .unwrap()
}

fn enroll_answer(n: usize) -> Response {
    Response::json(
        200,
        serde_json::json!({"device_id": "dev-1", "node_key": format!("key-{n}"), "report_interval_secs": 60}),
    )
}

/// Accepts every report and echoes its package hash, like the real collector.
fn accepting(req: &Request) -> Response {
    let body = req.json();
    let hash = body["inventory"]["data"]["packages"]["hash"].clone();
    Response::json(
        200,
        serde_json::json!({"accepted": true, "report_interval_secs": 120, "packages_hash": hash}),
    )
}

#[tokio::test]
async fn once_enrolls_uploads_gzip_and_remembers_the_answer() {
    let enrolls = Arc::new(AtomicUsize::new(0));
    let e = enrolls.clone();
    let collector = FakeCollector::start(Box::new(move |req| {
        if req.path == "/api/v1/enroll" {
            enroll_answer(e.fetch_add(1, Ordering::SeqCst))
        } else {
            accepting(req)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&collector.url, &collector.fingerprint(), dir.path());

    let outcome = once(&cfg).await.unwrap();
    assert_eq!(outcome.device_id, "dev-1");
    assert_eq!(outcome.delivered, 1);
    assert_eq!(outcome.report_interval_secs, Some(120));
    let reqs = collector.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/v1/enroll", "/api/v1/reports"]);
    let report = &reqs[1];
    assert_eq!(report.header("content-encoding"), Some("gzip"));
    assert_eq!(report.header("authorization"), Some("Bearer key-0"));
    let body = report.json();
    assert_eq!(body["device_id"], "dev-1");
    assert_eq!(body["report_id"], outcome.report_id.as_str());
    assert_eq!(body["inventory"]["data"]["hostname"], "ws-0042");
    assert!(body["inventory"]["data"]["packages"]["items"].is_array());
    // The enrollment identity came from the fixture host.
    let identity = &reqs[0].json()["identity"];
    assert_eq!(identity["machine_id"], "5f3c1a9e8b7d4c2a9e1f0b6d3c8a7e21");
    assert_eq!(identity["serial"], "PF1ABCDE");

    let state = StateDir::new(dir.path().join("state"));
    let device = state.device().unwrap().unwrap();
    assert_eq!(device.report_interval_secs, Some(120));
    assert!(device.packages_hash.is_some());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.node_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(std::fs::read_dir(state.spool_dir()).unwrap().count(), 0);

    // Second report: same package set, so only the hash is sent; no re-enrollment.
    once(&cfg).await.unwrap();
    let reqs = collector.requests();
    assert_eq!(reqs.len(), 3);
    let body = reqs[2].json();
    let packages = &body["inventory"]["data"]["packages"];
    assert!(packages.get("items").is_none(), "{packages}");
    assert_eq!(packages["hash"].as_str(), device.packages_hash.as_deref());
    assert_eq!(enrolls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_makes_the_agent_enroll_again_once() {
    let enrolls = Arc::new(AtomicUsize::new(0));
    let e = enrolls.clone();
    let collector = FakeCollector::start(Box::new(move |req| {
        if req.path == "/api/v1/enroll" {
            return enroll_answer(e.fetch_add(1, Ordering::SeqCst));
        }
        if req.header("authorization") == Some("Bearer key-0") {
            Response::json(401, serde_json::json!({"error": "unknown node key"}))
        } else {
            accepting(req)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&collector.url, &collector.fingerprint(), dir.path());
    once(&cfg).await.unwrap();
    let paths: Vec<_> = collector
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v1/enroll",
            "/api/v1/reports",
            "/api/v1/enroll",
            "/api/v1/reports"
        ]
    );
    let key = StateDir::new(dir.path().join("state")).node_key().unwrap();
    assert_eq!(key.as_deref(), Some("key-1"));
}

#[tokio::test]
async fn a_rejected_report_is_dropped_not_spooled() {
    let collector = FakeCollector::start(Box::new(|req| {
        if req.path == "/api/v1/enroll" {
            enroll_answer(0)
        } else {
            Response::json(
                400,
                serde_json::json!({"error": "hostname too long", "field": "inventory.data.hostname"}),
            )
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&collector.url, &collector.fingerprint(), dir.path());
    let err = once(&cfg).await.unwrap_err();
    assert!(matches!(err, OnceError::Rejected(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("hostname too long") && msg.contains("inventory.data.hostname"),
        "{msg}"
    );
    let spool = dir.path().join("state/spool");
    assert_eq!(std::fs::read_dir(spool).unwrap().count(), 0);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let reports = Arc::new(AtomicUsize::new(0));
    let r = reports.clone();
    let collector = FakeCollector::start(Box::new(move |req| {
        if req.path == "/api/v1/enroll" {
            return enroll_answer(0);
        }
        if r.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut resp = Response::json(503, serde_json::json!({"error": "ingest queue full"}));
            resp.headers.push(("retry-after".into(), "1".into()));
            resp
        } else {
            accepting(req)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&collector.url, &collector.fingerprint(), dir.path());
    let started = std::time::Instant::now();
    once(&cfg).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(reports.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn reports_spooled_while_the_collector_is_down_arrive_in_order() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let collector = FakeCollector::start(Box::new(|req| {
        if req.path == "/api/v1/enroll" {
            enroll_answer(0)
        } else {
            accepting(req)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let down = config(
        &format!("https://127.0.0.1:{port}"),
        &collector.fingerprint(),
        dir.path(),
    );
    let mut spooled_ids = Vec::new();
    for _ in 0..2 {
        match once(&down).await.unwrap_err() {
            OnceError::Spooled {
                report_id,
                cause,
                waiting,
                ..
            } => {
                assert!(cause.contains("127.0.0.1"), "{cause}");
                spooled_ids.push(report_id);
                assert_eq!(waiting, spooled_ids.len());
            }
            other => panic!("expected a spooled report, got {other}"),
        }
    }
    let up = config(&collector.url, &collector.fingerprint(), dir.path());
    let outcome = once(&up).await.unwrap();
    assert_eq!(outcome.delivered, 3);
    let sent: Vec<String> = collector
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/reports")
        .map(|r| r.json()["report_id"].as_str().unwrap().to_string())
        .collect();
    spooled_ids.push(outcome.report_id);
    assert_eq!(sent, spooled_ids);
}
