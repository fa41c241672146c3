//! Wire compatibility of the package parts route: a collector older than
//! `POST /api/v1/packages` (404) still gets a large package list inline,
//! and a 413 for a report without a list is a rejection (no loop).
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{FakeCollector, Request, Response};
use fleetwatch_agent::config::{AgentConfig, ChecksConfig, FileConfig, Overrides, build};
use fleetwatch_agent::modes::{OnceError, once};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/hosts/inventory-debian12"
);

/// The inventory fixture with `n` generated dpkg packages.
fn host(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("host");
    let status = std::process::Command::new("cp")
        .args(["-a", FIXTURE])
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let mut text = String::new();
    for i in 0..n {
        writeln!(
            text,
            "Package: generated-package-with-a-long-name-{i:05}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}-1\n"
        )
        .unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), text).unwrap();
    root
}

fn config(url: &str, fingerprint: &str, dir: &Path, root: PathBuf) -> AgentConfig {
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let file = FileConfig {
        once_deadline_secs: Some(5),
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
            root: Some(root),
            ..Overrides::default()
        },
    )
    .unwrap()
}

fn enroll() -> Response {
    Response::json(
        200,
        serde_json::json!({"device_id": "dev-1", "node_key": "key", "report_interval_secs": 60}),
    )
}

#[tokio::test]
async fn a_collector_without_the_parts_route_gets_the_list_inline() {
    let collector = FakeCollector::start(Box::new(|req: &Request| match req.path.as_str() {
        "/api/v1/enroll" => enroll(),
        "/api/v1/reports" => {
            let hash = req.json()["inventory"]["data"]["packages"]["hash"].clone();
            Response::json(
                200,
                serde_json::json!({"accepted": true, "report_interval_secs": 60, "packages_hash": hash}),
            )
        }
        _ => Response::json(404, serde_json::json!({"error": "not found"})),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &collector.url,
        &collector.fingerprint(),
        dir.path(),
        host(dir.path(), 4000),
    );
    once(&cfg).await.unwrap();
    let reqs = collector.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/api/v1/enroll", "/api/v1/packages", "/api/v1/reports"]
    );
    let items = &reqs[2].json()["inventory"]["data"]["packages"]["items"];
    assert_eq!(items.as_array().map(Vec::len), Some(4000));
}

#[tokio::test]
async fn a_413_for_a_report_without_a_list_is_a_rejection() {
    let collector = FakeCollector::start(Box::new(|req: &Request| match req.path.as_str() {
        "/api/v1/enroll" => enroll(),
        _ => Response::json(
            413,
            serde_json::json!({"error": "request body is larger than 10 bytes"}),
        ),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &collector.url,
        &collector.fingerprint(),
        dir.path(),
        host(dir.path(), 10),
    );
    let err = once(&cfg).await.unwrap_err();
    assert!(matches!(err, OnceError::Rejected(_)), "{err}");
    let reqs = collector.requests();
    let reports: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == "/api/v1/reports")
        .collect();
    // With its list, then without it; then the report is dropped.
    assert_eq!(reports.len(), 2);
    assert!(reports[0].json()["inventory"]["data"]["packages"]["items"].is_array());
    assert!(
        reports[1].json()["inventory"]["data"]["packages"]
            .get("items")
            .is_none()
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/upload-stats.json")).unwrap())
            .unwrap();
    assert_eq!(stats["reports_too_large"], 2, "{stats}");
    assert_eq!(stats["packages_withheld"], 1, "{stats}");
}
