//! The agent's TLS trust against a real rustls server with an rcgen
//! self-signed certificate: pinned fingerprint (right and wrong) and the
//! certificate itself used as the CA file.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

mod common;

use common::{FakeCollector, Response};
use fleetwatch_agent::config::{FileConfig, Overrides, build};
use fleetwatch_agent::upload::{Client, UploadError};

fn enroll_ok() -> common::Handler {
    Box::new(|_req| {
        Response::json(
            200,
            serde_json::json!({"device_id": "dev-1", "node_key": "k".repeat(64), "report_interval_secs": 60}),
        )
    })
}

fn config(
    collector: &FakeCollector,
    dir: &std::path::Path,
    o: Overrides,
) -> fleetwatch_agent::config::AgentConfig {
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    build(
        FileConfig::default(),
        &Overrides {
            collector_url: Some(collector.url.clone()),
            enroll_secret_file: Some(secret),
            state_dir: Some(dir.join("state")),
            root: Some(dir.join("emptyroot")),
            ..o
        },
    )
    .unwrap()
}

/// [`config`] trusting the CA file `ca`.
fn ca_file_config(
    collector: &FakeCollector,
    dir: &std::path::Path,
    ca: std::path::PathBuf,
) -> fleetwatch_agent::config::AgentConfig {
    config(
        collector,
        dir,
        Overrides {
            ca_file: Some(ca),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn the_right_pinned_fingerprint_is_accepted() {
    let collector = FakeCollector::start(enroll_ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let fp = collector
        .fingerprint()
        .to_uppercase()
        .replace("SHA256:", "sha256:");
    let cfg = config(
        &collector,
        dir.path(),
        Overrides {
            ca_fingerprint: Some(fp),
            ..Default::default()
        },
    );
    let device = Client::new(&cfg).unwrap().enroll().await.unwrap();
    assert_eq!(device.device_id, "dev-1");
    let req = &collector.requests()[0];
    assert_eq!(req.path, "/api/v1/enroll");
    assert_eq!(req.json()["enroll_secret"], "s3cret");
}

#[tokio::test]
async fn a_wrong_pinned_fingerprint_is_rejected() {
    let collector = FakeCollector::start(enroll_ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let cfg = config(
        &collector,
        dir.path(),
        Overrides {
            ca_fingerprint: Some(wrong),
            ..Default::default()
        },
    );
    let err = Client::new(&cfg).unwrap().enroll().await.unwrap_err();
    assert!(matches!(err, UploadError::Transport { .. }), "{err}");
    assert!(
        err.to_string().contains("does not match the pinned"),
        "{err}"
    );
    // The handshake failed, so no request reached the server.
    assert!(collector.requests().is_empty());
    assert!(!dir.path().join("state/node_key").exists());
}

#[tokio::test]
async fn the_self_signed_certificate_works_as_ca_file() {
    let collector = FakeCollector::start(enroll_ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = collector.write_ca(dir.path());
    let cfg = ca_file_config(&collector, dir.path(), ca);
    let device = Client::new(&cfg).unwrap().enroll().await.unwrap();
    assert_eq!(device.device_id, "dev-1");
}

#[tokio::test]
async fn an_unrelated_ca_file_is_rejected() {
    let collector = FakeCollector::start(enroll_ok()).await;
    let other = FakeCollector::start(enroll_ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = other.write_ca(dir.path());
    let cfg = ca_file_config(&collector, dir.path(), ca);
    let err = Client::new(&cfg).unwrap().enroll().await.unwrap_err();
    assert!(matches!(err, UploadError::Transport { .. }), "{err}");
    assert!(collector.requests().is_empty());
}

/// A collector that queues TLS handshakes (a reconnect storm) answers
/// after the TCP connect took no time but the handshake waited 11 s: the
/// agent waits for it (its request timeout bounds the whole exchange)
/// instead of calling it a connection error at 10 s.
#[tokio::test]
async fn a_handshake_queued_for_longer_than_ten_seconds_is_waited_for() {
    let delay = std::time::Duration::from_secs(11);
    let collector = FakeCollector::start_with_handshake_delay(enroll_ok(), delay).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = collector.write_ca(dir.path());
    let cfg = ca_file_config(&collector, dir.path(), ca);
    let started = std::time::Instant::now();
    let device = Client::new(&cfg).unwrap().enroll().await.unwrap();
    assert_eq!(device.device_id, "dev-1");
    assert!(started.elapsed() >= delay);
    assert!(fleetwatch_agent::upload::client::REQUEST_TIMEOUT > delay);
}
