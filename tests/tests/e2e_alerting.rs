//! End-to-end alerting against the real Prometheus and Alertmanager
//! (Debian packages) started on loopback ports: the collector's own
//! alerts reach Alertmanager, resolve, and survive an Alertmanager outage;
//! the shipped Prometheus rules evaluate against a real scrape.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetwatch_e2e::promstack::{Alertmanager, Prometheus, eventually};
use fleetwatch_e2e::*;

fn agent_once_with(collector: &Collector, state: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["once".into()];
    args.extend(agent_args(collector, state));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_agent(&args)
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("collector.toml");
    std::fs::write(&p, body).unwrap();
    p
}

fn not_reporting_alert(am: &Alertmanager, device_id: &str) -> Option<serde_json::Value> {
    am.active_alerts().into_iter().find(|a| {
        a["labels"]["alertname"] == "FleetwatchDeviceNotReporting"
            && a["labels"]["device_id"] == device_id
    })
}

fn device_id(state: &Path) -> String {
    enrolled_device_id(state).expect("device_id in device.json after enrollment")
}

#[test]
fn a_stale_device_fires_in_alertmanager_and_resolves_when_it_reports_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::start(&tmp.path().join("am"));
    let config = write_config(
        &tmp.path().join("etc"),
        &format!(
            r#"
[policy]
stale_after = "4s"

[alerts]
alertmanager_urls = ["{}"]
evaluation_interval = "1s"
resend_interval = "2s"
startup_grace = "1s"
"#,
            am.url()
        ),
    );
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    let state = tmp.path().join("agent");
    let out = agent_once_with(&collector, &state, &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    let id = device_id(&state);

    // Silent for longer than stale_after: the alert reaches Alertmanager.
    let alert = eventually(Duration::from_secs(30), || not_reporting_alert(&am, &id))
        .unwrap_or_else(|| {
            panic!(
                "no FleetwatchDeviceNotReporting in Alertmanager:\n{}",
                collector.log_text()
            )
        });
    assert!(
        alert["labels"]["hostname"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{alert}"
    );
    assert!(alert["labels"]["severity"].is_string(), "{alert}");
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .contains("#fleetwatchdevicenotreporting")
    );
    let alerts_api = collector.admin_get("/api/v1/alerts");
    assert!(
        alerts_api
            .to_string()
            .contains("FleetwatchDeviceNotReporting"),
        "{alerts_api}"
    );

    // It reports again: the alert resolves in Alertmanager.
    let out = agent_once_with(&collector, &state, &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        eventually(Duration::from_secs(20), || not_reporting_alert(&am, &id)
            .is_none()
            .then_some(()))
        .is_some(),
        "alert still active after the device reported again"
    );

    // Alertmanager down while the device goes stale again: the alert arrives once it is back.
    let port = am.port;
    let am_dir = am.dir().to_path_buf();
    am.stop();
    std::thread::sleep(Duration::from_secs(7));
    let body = collector.scrape();
    assert!(
        sample_value(
            &body,
            "fleetwatch_collector_alert_notification_errors_total",
            &[]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "delivery failures are counted:\n{body}"
    );
    let am = Alertmanager::start_on(&am_dir, port);
    assert!(
        eventually(Duration::from_secs(30), || not_reporting_alert(&am, &id)).is_some(),
        "alert not delivered after Alertmanager came back:\n{}",
        collector.log_text()
    );
}

#[test]
fn prometheus_scrapes_the_collector_and_the_shipped_rules_fire_for_a_noncompliant_device() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let state = tmp.path().join("agent");
    let root = workspace_root().join("tests/hosts/debian12-noncompliant");
    let out = agent_once_with(&collector, &state, &["--root", root.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    let id = device_id(&state);

    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    let needle = format!("device_id=\"{id}\"");
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_check_passing",
            &[&needle, "check=\"password_length\""]
        ),
        Some(0.0),
        "the non-compliant fixture fails the password length check:\n{body}"
    );
    assert_eq!(
        sample_value(&body, "fleetwatch_device_compliant", &[&needle]),
        Some(0.0)
    );

    let rules_dir = workspace_root().join("deploy/prometheus");
    let rule_files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    assert!(
        rule_files.len() >= 2,
        "recording and alerting rules in {}",
        rules_dir.display()
    );
    let prom = Prometheus::start(
        &tmp.path().join("prom"),
        &format!("127.0.0.1:{}", collector.metrics_port),
        &rule_files,
    );

    // The scrape works and the device is visible through PromQL.
    let up = eventually(Duration::from_secs(30), || {
        let r = prom.query(&format!("fleetwatch_device_info{{device_id=\"{id}\"}}"));
        (!r.is_empty()).then_some(r)
    });
    assert!(
        up.is_some(),
        "Prometheus never saw the device:\n{}",
        prom.log_text()
    );

    // Every shipped rule group loaded and evaluated without error.
    let groups = eventually(Duration::from_secs(30), || {
        let g = prom.rule_groups();
        let evaluated = !g.is_empty()
            && g.iter().all(|g| {
                g["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["health"] == "ok")
            });
        evaluated.then_some(g)
    });
    assert!(
        groups.is_some(),
        "rules unhealthy: {:?}",
        prom.rule_groups()
    );

    // The password-policy alert is pending or firing for this device.
    let alert = eventually(Duration::from_secs(30), || {
        prom.alerts().into_iter().find(|a| {
            a["labels"]["alertname"] == "FleetwatchPasswordPolicyViolation"
                && a["labels"]["device_id"] == id
        })
    });
    let alert = alert
        .unwrap_or_else(|| panic!("no FleetwatchPasswordPolicyViolation: {:?}", prom.alerts()));
    assert!(
        alert["state"] == "pending" || alert["state"] == "firing",
        "{alert}"
    );
}
