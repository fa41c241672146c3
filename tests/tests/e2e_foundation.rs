//! End-to-end: the real collector binary over TLS on loopback, the real
//! agent binary reporting to it, `/metrics` checked by the real promtool.

use std::path::Path;

use fleetwatch_e2e::*;
use fleetwatch_protocol as proto;

fn agent_once(collector: &Collector, state: &Path) -> std::process::Output {
    let mut args: Vec<String> = vec!["once".into()];
    args.extend(agent_args(collector, state));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_agent(&args)
}

fn device_id(state: &Path) -> String {
    enrolled_device_id(state).expect("device_id in device.json after enrollment")
}

#[test]
fn agent_reports_over_tls_and_state_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("collector");
    let state = tmp.path().join("agent");
    let collector = Collector::start(&data, &[]);
    let log = collector.log_text();
    assert!(
        log.contains("sha256:"),
        "start-up output names the fingerprint:\n{log}"
    );

    let out = agent_once(&collector, &state);
    assert!(
        out.status.success(),
        "agent once failed:\n{}",
        output_text(&out)
    );
    let id = device_id(&state);

    // The node key is stored 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("node_key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "node_key mode {mode:o}");

    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    let needle = format!("device_id=\"{id}\"");
    let last_seen = sample_value(
        &body,
        "fleetwatch_device_last_seen_timestamp_seconds",
        &[&needle],
    )
    .expect("last_seen sample for the device");
    assert!(last_seen > 1.7e9, "last_seen {last_seen}");
    assert!(
        sample_value(&body, "fleetwatch_device_info", &[&needle]).is_some(),
        "{body}"
    );
    let memory = sample_value(&body, "fleetwatch_device_memory_bytes", &[&needle]).unwrap();
    assert!(memory > 0.0);
    assert_eq!(
        sample_value(&body, "fleetwatch_devices", &["state=\"reporting\""]),
        Some(1.0)
    );

    // The devices API needs the admin token and shows the device.
    let anon = collector
        .api_client()
        .get(format!("{}/api/v1/devices", collector.url()))
        .send()
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let devices = collector.admin_get("/api/v1/devices");
    assert!(devices.to_string().contains(&id), "{devices}");
    let detail = collector.admin_get(&format!("/api/v1/devices/{id}"));
    assert!(detail.to_string().contains("hostname"), "{detail}");

    // Restart: the device and its last-seen value are still there.
    let (api, metrics) = (collector.api_port, collector.metrics_port);
    collector.stop();
    let collector = Collector::start_on(&data, api, metrics, &[]);
    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_device_last_seen_timestamp_seconds",
            &[&needle]
        ),
        Some(last_seen),
        "last_seen after restart:\n{body}"
    );
    // The same secret and certificate were kept: the agent reports again without re-enrolling.
    let out = agent_once(&collector, &state);
    assert!(
        out.status.success(),
        "agent once after restart:\n{}",
        output_text(&out)
    );
    assert_eq!(device_id(&state), id);
}

#[test]
fn a_report_made_while_the_collector_is_down_is_spooled_and_delivered_later() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("collector");
    let state = tmp.path().join("agent");
    let collector = Collector::start(&data, &[]);
    let out = agent_once(&collector, &state);
    assert!(out.status.success(), "{}", output_text(&out));
    let (api, metrics) = (collector.api_port, collector.metrics_port);
    let url = collector.url();
    let cert = collector.cert();
    let secret = collector.enroll_secret_file();
    collector.stop();

    let args = [
        "once",
        "--config",
        "/dev/null",
        "--collector",
        &url,
        "--ca",
        cert.to_str().unwrap(),
        "--enroll-secret-file",
        secret.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let out = run_agent(&args);
    assert!(
        !out.status.success(),
        "once must fail while the collector is down:\n{}",
        output_text(&out)
    );
    let spooled: Vec<_> = std::fs::read_dir(state.join("spool")).unwrap().collect();
    assert_eq!(
        spooled.len(),
        1,
        "one report spooled:\n{}",
        output_text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spool"),
        "the failure message says the report was spooled:\n{stderr}"
    );

    let collector = Collector::start_on(&data, api, metrics, &[]);
    let out = run_agent(&args);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        std::fs::read_dir(state.join("spool")).unwrap().count(),
        0,
        "spool drained"
    );
    let body = collector.scrape();
    assert_eq!(
        sample_value(&body, "fleetwatch_collector_reports_received_total", &[]),
        Some(2.0),
        "the spooled report and the new one both arrived:\n{body}"
    );
}

fn enroll(
    client: &reqwest::blocking::Client,
    collector: &Collector,
    machine_id: &str,
) -> proto::EnrollResponse {
    let secret = std::fs::read_to_string(collector.enroll_secret_file()).unwrap();
    let req = proto::EnrollRequest {
        enroll_secret: secret.trim().to_string(),
        identity: proto::HostIdentity {
            machine_id: Some(machine_id.into()),
            hostname: "e2e".into(),
            ..Default::default()
        },
        agent_version: "0.0.0-test".into(),
    };
    let r = client
        .post(format!("{}{}", collector.url(), proto::ENROLL_PATH))
        .json(&req)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "enroll: {}", r.status());
    r.json().unwrap()
}

fn report(
    device_id: &str,
    report_id: &str,
    hostname: &str,
    model: &str,
    user: &str,
) -> proto::Report {
    let inventory = proto::Inventory {
        hostname: hostname.into(),
        os: proto::OsInfo {
            id: "debian".into(),
            version_id: Some("12".into()),
            ..Default::default()
        },
        arch: "x86_64".into(),
        memory: proto::MemoryInfo {
            total_bytes: 1 << 30,
            ..Default::default()
        },
        hardware: proto::Hardware {
            model: Some(model.into()),
            ..Default::default()
        },
        users: vec![proto::LocalUser {
            name: user.into(),
            uid: 1000,
            ..Default::default()
        }],
        disks: vec![proto::Disk {
            mount_point: format!("/mnt/{user}"),
            total_bytes: 10,
            available_bytes: 5,
            ..Default::default()
        }],
        ..Default::default()
    };
    proto::Report {
        schema_version: proto::SCHEMA_VERSION,
        report_id: report_id.into(),
        device_id: device_id.into(),
        agent_version: "0.0.0-test".into(),
        collected_at: 1_795_000_000,
        inventory: proto::CheckResult::ok(0.01, inventory),
        checks: Default::default(),
    }
}

fn post(client: &reqwest::blocking::Client, collector: &Collector, key: &str, body: String) -> u16 {
    client
        .post(format!("{}{}", collector.url(), proto::REPORTS_PATH))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn lines_of(body: &str, device_id: &str) -> Vec<String> {
    let needle = format!("device_id=\"{device_id}\"");
    body.lines()
        .filter(|l| l.contains(&needle) && !l.starts_with("fleetwatch_device_last_seen"))
        .map(String::from)
        .collect()
}

#[test]
fn hostile_report_values_are_escaped_capped_and_touch_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let client = collector.api_client();
    let good = enroll(&client, &collector, "machine-good");
    let bad = enroll(&client, &collector, "machine-hostile");
    let ok = report(&good.device_id, "good-1", "good-host", "Latitude", "alice");
    assert_eq!(
        post(
            &client,
            &collector,
            &good.node_key,
            serde_json::to_string(&ok).unwrap()
        ),
        200
    );
    let before = collector.scrape();
    let good_lines = lines_of(&before, &good.device_id);
    assert!(!good_lines.is_empty());

    let long = "x".repeat(10 * 1024);
    let hostile = report(
        &bad.device_id,
        "hostile-1",
        "evil\"host\\name\nnext_line{label=\"x\"} 1",
        &format!("Ünïcødé 💻 {long}"),
        "bob\"\\\n",
    );
    assert_eq!(
        post(
            &client,
            &collector,
            &bad.node_key,
            serde_json::to_string(&hostile).unwrap()
        ),
        200
    );
    let after = collector.scrape();
    promtool_check_metrics(&after).unwrap();
    assert_eq!(
        lines_of(&after, &good.device_id),
        good_lines,
        "the good device's series did not change"
    );
    let info = after
        .lines()
        .find(|l| l.starts_with("fleetwatch_device_info{") && l.contains(&bad.device_id))
        .expect("info line of the hostile device");
    assert!(
        info.contains(r#"hostname="evil\"host\\name\nnext_line{label=\"x\"} 1""#),
        "{info}"
    );
    assert!(
        info.len() < 4096,
        "label values are capped: line is {} bytes",
        info.len()
    );
    assert!(
        !after.lines().any(|l| l.starts_with("next_line")),
        "no injected series"
    );

    // A malformed report from the same device is refused and changes nothing.
    let snapshot = lines_of(&after, &bad.device_id);
    let mut broken =
        serde_json::to_value(report(&bad.device_id, "hostile-2", "changed", "m", "u")).unwrap();
    broken["inventory"]["data"]["memory"]["total_bytes"] = serde_json::json!("lots");
    assert_eq!(
        post(&client, &collector, &bad.node_key, broken.to_string()),
        400
    );
    assert_eq!(
        post(&client, &collector, &bad.node_key, "{not json".into()),
        400
    );
    let later = collector.scrape();
    assert_eq!(lines_of(&later, &bad.device_id), snapshot);
    assert_eq!(lines_of(&later, &good.device_id), good_lines);
}

#[test]
fn the_collected_report_never_contains_password_hashes() {
    let root = workspace_root().join("tests/hosts/inventory-debian12");
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).expect("fixture shadow file");
    let hashes: Vec<&str> = shadow
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .filter(|h| h.starts_with('$'))
        .collect();
    assert!(!hashes.is_empty(), "the fixture has hashes to leak");
    let out = run_agent(&[
        "collect",
        "--config",
        "/dev/null",
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let json = String::from_utf8(out.stdout).unwrap();
    let report: proto::Report = serde_json::from_str(&json).expect("collect prints a report");
    assert!(
        report.inventory.data().is_some(),
        "inventory collected from the fixture"
    );
    for h in hashes {
        assert!(!json.contains(h), "hash {h} leaked");
        for part in h.split('$').filter(|p| p.len() >= 8) {
            assert!(!json.contains(part), "part {part} of a hash leaked");
        }
    }
}
