//! End-to-end compliance: a running agent reports a finished marker-file
//! backup within seconds; failing-since survives a collector restart; the
//! compliance API and CSV export answer from the real binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleetwatch_e2e::promstack::eventually;
use fleetwatch_e2e::*;

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fleetwatch-agent once` against fixture host `host` (`tests/hosts/`).
fn once_args(collector: &Collector, state: &std::path::Path, host: &str) -> Vec<String> {
    let root = workspace_root().join("tests/hosts").join(host);
    let mut args: Vec<String> = vec!["once".into()];
    args.extend(agent_args(collector, state));
    args.extend(["--root".to_string(), root.display().to_string()]);
    args
}

#[test]
fn a_finished_marker_backup_is_reported_within_seconds_by_the_running_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let state = tmp.path().join("agent");
    let marker_dir = tmp.path().join("backups");
    std::fs::create_dir_all(&marker_dir).unwrap();
    let marker = marker_dir.join("nightly.done");
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[checks]\npatches = false\npassword_policy = false\n\n[[backup]]\nname = \"nightly\"\nkind = \"marker\"\npath = \"{}\"\n",
            marker.display()
        ),
    )
    .unwrap();
    let mut args = agent_args(&collector, &state);
    args[1] = config.display().to_string(); // replace --config /dev/null
    let child = Command::new(binary("fleetwatch-agent"))
        .arg("run")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let _agent = KillOnDrop(child);

    // First report: the marker does not exist yet, so no success is known.
    let id =
        eventually(Duration::from_secs(30), || enrolled_device_id(&state)).expect("agent enrolled");
    let needle = format!("device_id=\"{id}\"");
    eventually(Duration::from_secs(30), || {
        sample_value(
            &collector.scrape(),
            "fleetwatch_device_last_seen_timestamp_seconds",
            &[&needle],
        )
    })
    .expect("first report arrived");

    // The backup script finishes: touch the marker. The agent watches it
    // and reports at once, not at the next one-minute interval.
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&marker, "").unwrap();
    let touched = Instant::now();
    let mtime = std::fs::metadata(&marker)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let seen = eventually(Duration::from_secs(15), || {
        sample_value(
            &collector.scrape(),
            "fleetwatch_backup_last_success_timestamp_seconds",
            &[&needle, "backup=\"nightly\""],
        )
        .filter(|v| *v >= mtime)
    });
    let log = std::fs::read_to_string(tmp.path().join("agent.log")).unwrap_or_default();
    let seen =
        seen.unwrap_or_else(|| panic!("marker backup not reported within 15s; agent log:\n{log}"));
    assert_eq!(seen, mtime);
    assert!(touched.elapsed() < Duration::from_secs(15));
}

#[test]
fn failing_since_survives_a_restart_and_the_compliance_api_and_csv_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("collector");
    let collector = Collector::start(&data, &[]);
    let state = tmp.path().join("agent");
    let args = once_args(&collector, &state, "debian12-noncompliant");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(&args);
    assert!(out.status.success(), "{}", output_text(&out));
    let id = enrolled_device_id(&state).unwrap();
    let needle = format!("device_id=\"{id}\"");

    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    let since = sample_value(
        &body,
        "fleetwatch_check_failing_since_timestamp_seconds",
        &[&needle, "check=\"empty_passwords\""],
    )
    .unwrap_or_else(|| panic!("empty_passwords failing-since:\n{body}"));
    assert!(since > 1.7e9);

    let compliance = collector.admin_get("/api/v1/compliance");
    assert!(compliance.to_string().contains(&id), "{compliance}");
    let csv = collector
        .api_client()
        .get(format!("{}/api/v1/compliance.csv", collector.url()))
        .bearer_auth(collector.admin_token())
        .send()
        .unwrap();
    assert!(csv.status().is_success(), "{}", csv.status());
    let csv = csv.text().unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("device_id,hostname,os_family,compliant"),
        "{header}"
    );
    assert!(csv.lines().any(|l| l.starts_with(&id)), "{csv}");

    // Report again later, restart: failing-since keeps the first value.
    std::thread::sleep(Duration::from_secs(1));
    let out = run_agent(&args);
    assert!(out.status.success(), "{}", output_text(&out));
    let (api, metrics) = (collector.api_port, collector.metrics_port);
    collector.stop();
    let collector = Collector::start_on(&data, api, metrics, &[]);
    let body = collector.scrape();
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_check_failing_since_timestamp_seconds",
            &[&needle, "check=\"empty_passwords\""]
        ),
        Some(since),
        "failing-since after a restart:\n{body}"
    );
}

#[test]
fn a_warn_only_pwquality_host_fails_its_password_checks() {
    // debian12-warnonly is debian12-compliant with `enforcing = 0` in
    // pwquality.conf: the configured minlen 12 / minclass 3 only warn.
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let state = tmp.path().join("agent");
    let args = once_args(&collector, &state, "debian12-warnonly");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(&args);
    assert!(out.status.success(), "{}", output_text(&out));
    let id = enrolled_device_id(&state).unwrap();
    let needle = format!("device_id=\"{id}\"");

    let body = collector.scrape();
    let passing = |check: &str| {
        sample_value(
            &body,
            "fleetwatch_check_passing",
            &[&needle, &format!("check=\"{check}\"")],
        )
    };
    assert_eq!(passing("password_complexity"), Some(0.0), "{body}");
    assert_eq!(passing("password_length"), Some(0.0), "{body}");
    // pam_pwhistory and pam_faillock enforce on this host: only the
    // pwquality checks fail.
    assert_eq!(passing("password_history"), Some(1.0), "{body}");
    assert_eq!(passing("password_lockout"), Some(1.0), "{body}");
    let compliance = collector.admin_get("/api/v1/compliance").to_string();
    assert!(
        compliance.contains("configured but not enforced"),
        "{compliance}"
    );
}
