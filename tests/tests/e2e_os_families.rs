//! A Windows laptop and a MacBook report to the real collector over TLS
//! (reports built here in the shape the Windows and macOS agents send): they
//! are judged with the checks that apply to their OS (not applicable where a
//! check has no meaning there), appear in `/metrics` with their family, in
//! the compliance API and the CSV, raise data-protection alerts whose
//! description names the Windows setting, and the scrape passes `promtool
//! check metrics`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetwatch_e2e::*;
use fleetwatch_protocol as proto;
use serde_json::json;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A Windows 11 laptop: BitLocker on C:, suspended on D:, the public
/// firewall profile off, Defender current; Windows Update searched live.
fn windows_report(device_id: &str, t: i64) -> serde_json::Value {
    json!({
        "schema_version": 1,
        "report_id": format!("win-{t}"),
        "device_id": device_id,
        "agent_version": "0.1.0",
        "collected_at": t,
        "inventory": {"status": "ok", "duration_seconds": 0.8, "data": {
            "hostname": "LAPTOP-7F3K2",
            "fqdn": "LAPTOP-7F3K2.corp.example.com",
            "os": {"family": "windows", "id": "windows", "name": "Microsoft Windows 11 Enterprise",
                   "version_id": "10.0.22631", "pretty_name": "Windows 11 Enterprise 23H2",
                   "build": "22631.2861", "display_version": "23H2", "edition": "Enterprise"},
            "arch": "x86_64",
            "cpu": {"model": "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "physical_cores": 4, "logical_cpus": 8},
            "memory": {"total_bytes": 17_179_869_184u64, "available_bytes": 8_589_934_592u64},
            "disks": [{"mount_point": "C:", "device": "\\\\?\\Volume{4c1b02c1-0000-0000-0000-100000000000}\\",
                       "filesystem": "NTFS", "total_bytes": 510_770_802_688u64, "available_bytes": 201_326_592_000u64}],
            "hardware": {"vendor": "LENOVO", "model": "20XW0055GE", "serial": "PF2XK3LM"},
            "boot_time": t - 86_400,
            "users": [{"name": "Administrator", "uid": 500}, {"name": "alice", "uid": 1001}]
        }},
        "checks": {
            "patches": {"status": "ok", "duration_seconds": 12.5, "data": {
                "manager": "windows_update", "pending_total": 2, "pending_security": 0,
                "last_install_at": t - 3 * 86_400, "reboot_required": false}},
            "backup": {"status": "ok", "duration_seconds": 0.0, "data": {"jobs": []}},
            "password_policy": {"status": "ok", "duration_seconds": 0.3, "data": {
                "settings": {"min_length": 14, "min_classes": 3, "history": 24,
                             "lockout_threshold": 5, "lockout_unlock_seconds": 900,
                             "max_days": 60, "min_days": 1},
                "sources": ["NetUserModalsGet", "secedit"],
                "accounts": [
                    {"name": "Administrator", "has_password": true, "empty_password": false, "locked": true,
                     "max_days": 60, "expired": false, "interactive": true},
                    {"name": "alice", "has_password": true, "empty_password": false, "locked": false,
                     "last_change_at": t - 10 * 86_400, "max_days": 60, "expired": false, "interactive": true}
                ]}},
            "data_protection": {"status": "ok", "duration_seconds": 1.1, "data": {
                "volumes": [
                    {"mount_point": "C:", "method": "bitlocker", "state": "encrypted", "protection_on": true, "system_volume": true},
                    {"mount_point": "D:", "method": "bitlocker", "state": "encrypted", "protection_on": false, "system_volume": false}
                ],
                "firewall": {"product": "windows_firewall", "enabled": false, "profiles": [
                    {"name": "domain", "enabled": true}, {"name": "private", "enabled": true},
                    {"name": "public", "enabled": false}]},
                "antivirus": {"product": "microsoft_defender", "real_time_protection": true,
                              "signatures_updated_at": t - 86_400, "signature_version": "1.403.1205.0"},
                "platform_protections": [{"name": "secure_boot", "enabled": true}]
            }}
        }
    })
}

/// A MacBook: FileVault on, the application firewall on, XProtect current;
/// pwpolicy settings, no account passwords readable.
fn macos_report(device_id: &str, t: i64) -> serde_json::Value {
    json!({
        "schema_version": 1,
        "report_id": format!("mac-{t}"),
        "device_id": device_id,
        "agent_version": "0.1.0",
        "collected_at": t,
        "inventory": {"status": "ok", "duration_seconds": 0.6, "data": {
            "hostname": "alices-mbp",
            "os": {"family": "macos", "id": "macos", "name": "macOS", "version_id": "14.4.1",
                   "pretty_name": "macOS Sonoma 14.4.1", "build": "23E224"},
            "kernel_version": "23.4.0",
            "arch": "aarch64",
            "cpu": {"model": "Apple M1 Pro", "logical_cpus": 10},
            "memory": {"total_bytes": 34_359_738_368u64},
            "disks": [{"mount_point": "/", "device": "/dev/disk3s1s1", "filesystem": "apfs",
                       "total_bytes": 994_662_584_320u64, "available_bytes": 512_000_000_000u64}],
            "hardware": {"vendor": "Apple Inc.", "model": "MacBookPro18,3", "serial": "C02FK1ZJMD6T"},
            "users": [{"name": "alice", "uid": 501}]
        }},
        "checks": {
            "patches": {"status": "ok", "duration_seconds": 0.1, "data": {
                "manager": "softwareupdate", "pending_total": 1, "pending_security": 0,
                "cache_updated_at": t - 2 * 86_400, "reboot_required": false}},
            "backup": {"status": "ok", "duration_seconds": 0.0, "data": {"jobs": []}},
            "password_policy": {"status": "ok", "duration_seconds": 0.2, "data": {
                "settings": {"min_length": 14, "min_classes": 3, "history": 5,
                             "lockout_threshold": 5, "max_days": 365},
                "sources": ["pwpolicy -getaccountpolicies"],
                "accounts": [{"name": "alice", "has_password": true, "empty_password": false, "locked": false,
                              "last_change_at": t - 30 * 86_400, "max_days": 365, "expired": false, "interactive": true}]
            }},
            "data_protection": {"status": "ok", "duration_seconds": 0.4, "data": {
                "volumes": [{"mount_point": "/", "method": "filevault", "state": "encrypted",
                             "protection_on": true, "system_volume": true}],
                "firewall": {"product": "macos_application_firewall", "enabled": true},
                "antivirus": {"product": "xprotect", "signatures_updated_at": t - 2 * 86_400,
                              "signature_version": "5281"},
                "platform_protections": [{"name": "gatekeeper", "enabled": true}, {"name": "sip", "enabled": true}]
            }}
        }
    })
}

fn enroll(c: &Collector, machine_id: &str) -> proto::EnrollResponse {
    let secret = std::fs::read_to_string(c.enroll_secret_file()).unwrap();
    let r = c
        .api_client()
        .post(format!("{}{}", c.url(), proto::ENROLL_PATH))
        .json(&proto::EnrollRequest {
            enroll_secret: secret.trim().into(),
            identity: proto::HostIdentity {
                machine_id: Some(machine_id.into()),
                ..Default::default()
            },
            agent_version: "0.1.0".into(),
        })
        .send()
        .unwrap();
    assert!(r.status().is_success(), "enroll: {}", r.status());
    r.json().unwrap()
}

fn send(c: &Collector, e: &proto::EnrollResponse, report: serde_json::Value) {
    // Through the protocol type, as the agents build it.
    let report: proto::Report = serde_json::from_value(report).unwrap();
    let r = c
        .api_client()
        .post(format!("{}{}", c.url(), proto::REPORTS_PATH))
        .bearer_auth(&e.node_key)
        .json(&report)
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "report: {} {}",
        r.status(),
        r.text().unwrap_or_default()
    );
}

fn check<'a>(findings: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    findings["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} in {findings}"))
}

#[test]
fn windows_and_macos_devices_are_judged_for_their_os() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "[policy]\npatch_cache_max_age = \"7d\"\nrequire_backup = false\n\n\
         [alerts]\nevaluation_interval = \"1s\"\nstartup_grace = \"1s\"\n",
    )
    .unwrap();
    let c = Collector::start(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let t = now();
    let win = enroll(&c, "win-laptop-7f3k2");
    let mac = enroll(&c, "mac-alices-mbp");
    send(&c, &win, windows_report(&win.device_id, t));
    send(&c, &mac, macos_report(&mac.device_id, t));

    // /metrics: the family on device_info, the verdicts, not-applicable checks.
    let body = c.scrape();
    promtool_check_metrics(&body).unwrap();
    let w = format!("device_id=\"{}\"", win.device_id);
    let m = format!("device_id=\"{}\"", mac.device_id);
    for (id, family, host) in [(&w, "windows", "LAPTOP-7F3K2"), (&m, "macos", "alices-mbp")] {
        assert_eq!(
            sample_value(
                &body,
                "fleetwatch_device_info",
                &[id, &format!("os_family=\"{family}\""), host]
            ),
            Some(1.0),
            "{family}: {body}"
        );
    }
    let value = |metric: &str, needles: &[&str]| sample_value(&body, metric, needles);
    assert_eq!(
        value(
            "fleetwatch_check_not_applicable",
            &[&w, "check=\"patch_cache\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("fleetwatch_check_passing", &[&w, "check=\"patch_cache\""]),
        None
    );
    assert_eq!(
        value("fleetwatch_check_passing", &[&m, "check=\"patch_cache\""]),
        Some(1.0)
    );
    assert_eq!(
        value(
            "fleetwatch_check_not_applicable",
            &[&m, "check=\"empty_passwords\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "fleetwatch_check_passing",
            &[&w, "check=\"empty_passwords\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "fleetwatch_check_passing",
            &[&w, "check=\"disk_encryption\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        value("fleetwatch_check_passing", &[&w, "check=\"firewall\""]),
        Some(0.0)
    );
    assert_eq!(
        value("fleetwatch_check_passing", &[&w, "check=\"antivirus\""]),
        Some(1.0)
    );
    for check in [
        "disk_encryption",
        "firewall",
        "antivirus",
        "password_length",
        "security_updates",
    ] {
        let needle = format!("check=\"{check}\"");
        assert_eq!(
            value("fleetwatch_check_passing", &[&m, &needle]),
            Some(1.0),
            "mac {check}"
        );
    }
    assert_eq!(
        value("fleetwatch_disk_encrypted", &[&w, "volume=\"C:\""]),
        Some(1.0)
    );
    assert_eq!(
        value("fleetwatch_disk_encrypted", &[&w, "volume=\"D:\""]),
        Some(0.0)
    );
    assert_eq!(value("fleetwatch_firewall_enabled", &[&w]), Some(0.0));
    assert_eq!(value("fleetwatch_firewall_enabled", &[&m]), Some(1.0));
    assert_eq!(
        value("fleetwatch_antivirus_real_time_protection", &[&w]),
        Some(1.0)
    );
    assert_eq!(
        value("fleetwatch_antivirus_real_time_protection", &[&m]),
        None,
        "XProtect has no switch"
    );
    assert_eq!(
        value("fleetwatch_antivirus_signature_timestamp_seconds", &[&w]),
        Some((t - 86_400) as f64)
    );
    assert_eq!(value("fleetwatch_device_compliant", &[&m]), Some(1.0));
    assert_eq!(value("fleetwatch_device_compliant", &[&w]), Some(0.0));
    assert_eq!(
        value(
            "fleetwatch_fleet_checks",
            &["check=\"patch_cache\"", "result=\"not_applicable\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "fleetwatch_fleet_checks",
            &["check=\"empty_passwords\"", "result=\"not_applicable\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "fleetwatch_agent_check_failed",
            &[&w, "check=\"data_protection\""]
        ),
        Some(0.0)
    );

    // The compliance API and the auditors' CSV.
    let summary = c.admin_get("/api/v1/compliance");
    let cache = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == "patch_cache")
        .unwrap();
    assert_eq!(
        (cache["passing"].as_u64(), cache["not_applicable"].as_u64()),
        (Some(1), Some(1))
    );
    let device = c.admin_get(&format!("/api/v1/devices/{}", win.device_id));
    let findings = if device["findings"].is_object() {
        &device["findings"]
    } else {
        &device
    };
    let na = check(findings, "patch_cache");
    assert_eq!(na["result"], "not_applicable", "{na}");
    assert!(na["reason"].as_str().unwrap().contains("Windows Update"));
    let fw = check(findings, "firewall");
    assert_eq!(fw["result"], "failing");
    assert!(fw["reason"].as_str().unwrap().contains("public"), "{fw}");

    let csv = c
        .api_client()
        .get(format!("{}/api/v1/compliance.csv", c.url()))
        .bearer_auth(c.admin_token())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row = |id: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no row for {id}: {csv}"))
            .split(',')
            .map(String::from)
            .collect()
    };
    let win_row = row(&win.device_id);
    let mac_row = row(&mac.device_id);
    assert_eq!(win_row[col("os_family")], "windows");
    assert_eq!(win_row[col("patch_cache")], "not_applicable");
    assert_eq!(win_row[col("firewall")], "failing");
    assert_eq!(mac_row[col("os_family")], "macos");
    assert_eq!(mac_row[col("empty_passwords")], "not_applicable");
    assert_eq!(mac_row[col("compliant")], "true");

    // Collector-native alerts: the description names the Windows setting.
    let alerts = promstack::eventually(Duration::from_secs(30), || {
        let list = c.admin_get("/api/v1/alerts");
        let found = list.as_array()?.iter().any(|a| {
            a["labels"]["alertname"] == "FleetwatchDataProtectionViolation"
                && a["labels"]["check"] == "firewall"
        });
        found.then_some(list)
    })
    .expect("a FleetwatchDataProtectionViolation alert");
    let find = |check: &str| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["labels"]["alertname"] == "FleetwatchDataProtectionViolation"
                    && a["labels"]["check"] == check
                    && a["labels"]["device_id"] == win.device_id.as_str()
            })
            .unwrap_or_else(|| panic!("no {check} alert in {alerts}"))
    };
    let description = |check: &str| {
        find(check)["annotations"]["description"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        description("firewall").contains("Set-NetFirewallProfile"),
        "{}",
        description("firewall")
    );
    assert!(
        description("disk_encryption").contains("BitLocker"),
        "{}",
        description("disk_encryption")
    );
    assert!(
        !alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["device_id"] == mac.device_id.as_str()),
        "the compliant Mac raises nothing: {alerts}"
    );
}
