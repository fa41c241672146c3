//! Compliance and alerts through the routers: findings in the device
//! detail, the compliance summary and CSV, the alert list, failing-since
//! across a restart. Reports are "fresh" (collected now) so the policy
//! judges them instead of calling them stale.

mod common;

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::*;
use fleetwatch_collector::unix_now;
use fleetwatch_protocol::{AccountPasswordState, CheckResult};

/// A fresh full report whose password minimum length (12) fails the default
/// policy (14) and with an account that has an empty password.
fn noncompliant(device_id: &str, report_id: &str) -> fleetwatch_protocol::Report {
    let mut r = full_report(device_id, report_id);
    r.collected_at = unix_now();
    let p = r
        .checks
        .password_policy
        .as_mut()
        .unwrap()
        .data
        .as_mut()
        .unwrap();
    p.accounts.as_mut().unwrap().push(AccountPasswordState {
        name: "guest".into(),
        has_password: false,
        empty_password: true,
        ..AccountPasswordState::default()
    });
    r
}

fn metric(scrape: &str, needle: &str) -> Option<f64> {
    lines_with(scrape, needle)
        .first()
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn a_report_is_judged_at_commit_and_shown_in_metrics_and_the_device_detail() {
    let c = TestCollector::start();
    let dev = enroll(&c.api, identity(1)).await;
    let answer = post_report(&c.api, &dev.node_key, &noncompliant(&dev.device_id, "r1")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    // The very next scrape shows the verdicts: no wait for a periodic pass.
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    let id = format!("device_id=\"{}\"", dev.device_id);
    let passing = |check: &str| {
        metric(
            &scrape,
            &format!("fleetwatch_check_passing{{{id},check=\"{check}\"}}"),
        )
    };
    assert_eq!(passing("password_length"), Some(0.0), "{scrape}");
    assert_eq!(passing("empty_passwords"), Some(0.0));
    assert_eq!(passing("reporting"), Some(1.0));
    assert_eq!(
        metric(&scrape, &format!("fleetwatch_device_compliant{{{id}}}")),
        Some(0.0)
    );
    assert!(
        metric(
            &scrape,
            "fleetwatch_fleet_checks{check=\"password_length\",result=\"failing\"}"
        ) == Some(1.0)
    );

    let uri = format!("/api/v1/devices/{}", dev.device_id);
    assert_eq!(
        get(&c.api, &uri, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let detail = get(&c.api, &uri, Some(ADMIN_TOKEN)).await.json();
    assert_eq!(detail["findings"]["compliant"], false, "{detail}");
    let checks = detail["findings"]["checks"].as_array().unwrap();
    let length = checks
        .iter()
        .find(|c| c["check"] == "password_length")
        .unwrap();
    assert_eq!(length["result"], "failing");
    assert!(
        length["reason"].as_str().unwrap().contains("14"),
        "{length}"
    );
    assert!(length["failing_since"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        detail["compliance_facts"]["password"]["data"]["min_length"],
        12
    );
}

#[tokio::test]
async fn compliance_summary_and_csv_need_the_admin_token() {
    let c = TestCollector::start();
    let dev = enroll(&c.api, identity(1)).await;
    post_report(&c.api, &dev.node_key, &noncompliant(&dev.device_id, "r1")).await;

    for uri in [
        "/api/v1/compliance",
        "/api/v1/compliance.csv",
        "/api/v1/alerts",
    ] {
        assert_eq!(
            get(&c.api, uri, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        assert_eq!(
            get(&c.api, uri, Some("wrong")).await.status,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }

    let summary = get(&c.api, "/api/v1/compliance", Some(ADMIN_TOKEN))
        .await
        .json();
    assert_eq!(summary["devices"], 1);
    assert_eq!(summary["compliant"]["non_compliant"], 1);
    let length = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "password_length")
        .unwrap();
    assert_eq!(length["failing"], 1);
    assert_eq!(
        length["failing_devices"][0]["device_id"],
        dev.device_id.as_str()
    );

    let csv = get(&c.api, "/api/v1/compliance.csv", Some(ADMIN_TOKEN)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"fleetwatch-compliance.csv\""
    );
    let text = csv.text();
    assert!(
        text.starts_with("device_id,hostname,os_family,compliant,"),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{},laptop-042,linux,false,", dev.device_id)),
        "{text}"
    );
}

#[tokio::test]
async fn the_alert_list_shows_what_fires_even_without_a_destination() {
    let c = TestCollector::start_with(
        "[alerts]\nevaluation_interval = \"1s\"\nstartup_grace = \"1s\"\n",
    );
    let dev = enroll(&c.api, identity(1)).await;
    let mut r = noncompliant(&dev.device_id, "r1");
    r.checks.patches = Some(CheckResult::failed(0.1, "apt-get timed out"));
    post_report(&c.api, &dev.node_key, &r).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(c.app.clone().run_alerts(async {
        let _ = stopped.await;
    }));
    let mut alerts = serde_json::Value::Null;
    for _ in 0..50 {
        alerts = get(&c.api, "/api/v1/alerts", Some(ADMIN_TOKEN))
            .await
            .json();
        if alerts.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    task.await.unwrap();

    let list = alerts.as_array().unwrap();
    let find = |name: &str, check: &str| {
        list.iter()
            .find(|a| a["labels"]["alertname"] == name && a["labels"]["check"] == check)
            .unwrap_or_else(|| panic!("{name}/{check} not in {alerts}"))
    };
    let pw = find("FleetwatchPasswordPolicyViolation", "password_length");
    assert_eq!(pw["labels"]["device_id"], dev.device_id.as_str());
    assert_eq!(pw["labels"]["hostname"], "laptop-042");
    assert!(
        pw["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("14")
    );
    assert!(
        pw["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("#fleetwatchpasswordpolicyviolation")
    );
    assert!(pw["startsAt"].as_str().unwrap().ends_with('Z'));
    find("FleetwatchPasswordPolicyViolation", "empty_passwords");
    find("FleetwatchCheckFailing", "agent_checks");
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    assert!(
        metric(&scrape, "fleetwatch_collector_alerts_firing ").unwrap() >= 3.0,
        "{scrape}"
    );
}

#[tokio::test]
async fn failing_since_survives_a_restart() {
    let c = TestCollector::start();
    let dev = enroll(&c.api, identity(1)).await;
    post_report(&c.api, &dev.node_key, &noncompliant(&dev.device_id, "r1")).await;
    let needle = format!(
        "fleetwatch_check_failing_since_timestamp_seconds{{device_id=\"{}\",check=\"empty_passwords\"}}",
        dev.device_id
    );
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    let since = metric(&scrape, &needle).unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    post_report(&c.api, &dev.node_key, &noncompliant(&dev.device_id, "r2")).await;
    let dir = c.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = TestCollector::open(dir, "", None);
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    assert_eq!(metric(&scrape, &needle), Some(since), "{scrape}");
}
