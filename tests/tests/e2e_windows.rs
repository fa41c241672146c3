//! End to end under Wine: the cross-built `fleetwatch-agent.exe` collects
//! from Wine's own WMI and registry (no recording), names Windows and carries
//! no fact of the Linux machine underneath (whose root Wine shows as `Z:`),
//! reports a marker backup job with a Windows path, and enrolls with and
//! reports to the real Linux collector over TLS, trusting it through a CA
//! file and through a pinned fingerprint. The device is then in `/metrics`
//! as Windows and the scrape passes `promtool check metrics`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use fleetwatch_e2e::wine::{WinePrefix, wait_for_windows_device, win_path};
use fleetwatch_e2e::*;
use fleetwatch_protocol::{CheckStatus, EncryptionState, OsFamily, Report};

/// The Uninstall entry the tests add to the prefix's real registry.
const TEST_PRODUCT_KEY: &str = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\{8F3B6C21-0D7E-4E5A-9C1B-2A6F4D9E7B10}";

/// A prefix with one installed product and a backup marker on `C:`.
fn prepared_prefix() -> WinePrefix {
    let prefix = WinePrefix::shared();
    prefix.reg_add(
        TEST_PRODUCT_KEY,
        "DisplayName",
        "REG_SZ",
        "Fleetwatch Test Tool",
    );
    prefix.reg_add(TEST_PRODUCT_KEY, "DisplayVersion", "REG_SZ", "1.2.3");
    prefix.reg_add(TEST_PRODUCT_KEY, "Publisher", "REG_SZ", "fleetwatch tests");
    let marker = prefix.drive_c().join("fleetwatch-tests/backup.ok");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "").unwrap();
    prefix
}

/// An agent config with a marker job whose path is a Windows path.
fn agent_config(dir: &Path) -> String {
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        "[[backup]]\nname = \"nightly\"\nkind = \"marker\"\npath = 'C:\\fleetwatch-tests\\backup.ok'\n",
    )
    .unwrap();
    win_path(&config)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Strings only the Linux machine under Wine could have put in a report.
fn linux_facts() -> Vec<String> {
    let mut facts: Vec<String> = [
        "/etc/os-release",
        "/proc/",
        "dpkg",
        "\"apt\"",
        "linux",
        "Linux",
        "debian",
        "Debian",
        "systemd",
    ]
    .map(String::from)
    .to_vec();
    // The build machine's own OS name, whatever it is.
    if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("PRETTY_NAME=") {
                facts.push(v.trim_matches('"').to_string());
            }
        }
    }
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        facts.push(kernel.trim().to_string());
    }
    facts
}

#[test]
fn collect_under_wine_reports_windows_from_wine_and_no_linux_fact() {
    let prefix = prepared_prefix();
    let tmp = tempfile::tempdir().unwrap();
    let config = agent_config(tmp.path());
    let state = win_path(&tmp.path().join("state"));
    let before = now();
    let out = prefix.run_agent(&["collect", "--config", &config, "--state-dir", &state]);
    assert!(out.status.success(), "collect: {}", output_text(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let report: Report =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a valid report ({e}):\n{text}"));
    assert_eq!(report.schema_version, 1);

    assert_eq!(report.inventory.status, CheckStatus::Ok, "{text}");
    let inv = report.inventory.data.as_ref().unwrap();
    assert_eq!(inv.os.family, Some(OsFamily::Windows), "{text}");
    assert_eq!(inv.os.id, "windows");
    // Wine's WMI: its own OS caption and hardware, not the Linux machine's DMI.
    assert!(
        inv.os
            .pretty_name
            .as_deref()
            .is_some_and(|n| n.starts_with("Microsoft Windows")),
        "{text}"
    );
    assert_eq!(inv.hardware.vendor.as_deref(), Some("The Wine Project"));
    assert!(inv.cpu.logical_cpus > 0 && inv.memory.total_bytes > 0);
    let c = inv
        .disks
        .iter()
        .find(|d| d.device == "C:")
        .unwrap_or_else(|| panic!("no C: volume:\n{text}"));
    assert!(c.total_bytes > 0, "{text}");
    // The prefix's real registry, read through winreg.
    let packages = inv.packages.as_ref().expect("installed software");
    assert_eq!(packages.manager, "windows_uninstall");
    assert!(packages.count >= 1, "{text}");
    assert!(!inv.hostname.is_empty());
    // Wine's WMI has no Win32_UserAccount rows; the account list comes from
    // NetUserEnum level 20 instead of being reported as "no users".
    assert!(
        !inv.users.is_empty() && inv.users.iter().all(|u| !u.name.is_empty()),
        "{text}"
    );

    // Wine has no Windows Update Agent: failed with the HRESULT, never zero.
    let patches = report.checks.patches.as_ref().unwrap();
    assert_eq!(patches.status, CheckStatus::Failed, "{text}");
    assert!(patches.data.is_none());
    let why = patches.error.as_deref().unwrap();
    assert!(
        why.contains("HRESULT 0x80004001") && why.contains("E_NOTIMPL"),
        "{why}"
    );

    // Wine's Net API has no account policy (NERR_InternalError) and there
    // is no secedit: the password policy is failed, never passing or empty.
    let password = report.checks.password_policy.as_ref().unwrap();
    assert_eq!(password.status, CheckStatus::Failed, "{text}");
    let why = password.error.as_deref().unwrap();
    assert!(why.contains("NetUserModalsGet"), "{why}");

    // Wine has no BitLocker or Defender provider and no firewall settings:
    // each volume's encryption and both products are unknown, never "off".
    let protection = report.checks.data_protection.as_ref().unwrap();
    assert_eq!(protection.status, CheckStatus::Ok, "{text}");
    let dp = protection.data.as_ref().unwrap();
    assert!(
        dp.volumes
            .iter()
            .any(|v| v.mount_point == "C:" && v.system_volume)
    );
    assert!(
        dp.volumes
            .iter()
            .all(|v| v.state == EncryptionState::Unknown && v.protection_on.is_none()),
        "{text}"
    );
    assert!(
        dp.firewall.is_none() && dp.firewall_error.is_some(),
        "{text}"
    );
    assert!(dp.antivirus.is_none(), "{text}");
    assert!(
        dp.antivirus_error
            .as_deref()
            .is_some_and(|e| e.contains("WBEM_E_INVALID_NAMESPACE")),
        "{text}"
    );

    // The marker job with a Windows path.
    let backup = report.checks.backup.as_ref().unwrap();
    assert_eq!(backup.status, CheckStatus::Ok, "{text}");
    let job = &backup.data.as_ref().unwrap().jobs[0];
    assert_eq!(job.name, "nightly");
    let last = job
        .last_success_at
        .unwrap_or_else(|| panic!("no last success:\n{text}"));
    assert!((before - 120..=now() + 5).contains(&last), "{last} {text}");

    for fact in linux_facts() {
        assert!(
            !text.contains(&fact),
            "the Windows report carries the Linux fact {fact:?}:\n{text}"
        );
    }
}

fn once(
    prefix: &WinePrefix,
    collector: &Collector,
    dir: &Path,
    trust: &[&str],
) -> std::process::Output {
    let config = agent_config(dir);
    let state = win_path(&dir.join("state"));
    let secret = win_path(&collector.enroll_secret_file());
    let url = collector.url();
    let mut args = vec![
        "once",
        "--config",
        &config,
        "--collector",
        &url,
        "--enroll-secret-file",
        &secret,
        "--state-dir",
        &state,
    ];
    args.extend_from_slice(trust);
    prefix.run_agent(&args)
}

#[test]
fn once_under_wine_enrolls_over_tls_and_the_device_is_in_metrics_as_windows() {
    let prefix = prepared_prefix();
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);

    // Trust through the CA file.
    let ca_dir = tmp.path().join("ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    let ca = win_path(&collector.cert());
    let out = once(&prefix, &collector, &ca_dir, &["--ca", &ca]);
    assert!(
        out.status.success(),
        "once with --ca: {}",
        output_text(&out)
    );
    let id = enrolled_device_id(&ca_dir.join("state")).expect("enrolled with the CA file");

    // Trust through the pinned fingerprint (a fresh state: enrolls again).
    let pin_dir = tmp.path().join("pin");
    std::fs::create_dir_all(&pin_dir).unwrap();
    let fp = collector.logged_fingerprint();
    let out = once(&prefix, &collector, &pin_dir, &["--ca-fingerprint", &fp]);
    assert!(out.status.success(), "once pinned: {}", output_text(&out));
    let pinned_id = enrolled_device_id(&pin_dir.join("state")).expect("enrolled pinned");
    // The same machine (SMBIOS UUID, MachineGuid) is the same device.
    assert_eq!(pinned_id, id);

    // A wrong pin is refused: nothing is sent.
    let wrong_dir = tmp.path().join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let out = once(
        &prefix,
        &collector,
        &wrong_dir,
        &["--ca-fingerprint", &wrong],
    );
    assert!(
        !out.status.success(),
        "a wrong pin was accepted: {}",
        output_text(&out)
    );
    assert!(enrolled_device_id(&wrong_dir.join("state")).is_none());

    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    let dev = format!("device_id=\"{id}\"");
    let info = body
        .lines()
        .find(|l| l.starts_with("fleetwatch_device_info{") && l.contains(&dev))
        .unwrap_or_else(|| panic!("no device_info for {id}:\n{body}"));
    assert!(info.contains("os_family=\"windows\""), "{info}");
    assert!(info.contains("os=\"windows\""), "{info}");
    assert!(!info.to_lowercase().contains("debian"), "{info}");
    // The marker job reached the collector with its Windows path's mtime.
    let last = sample_value(
        &body,
        "fleetwatch_backup_last_success_timestamp_seconds",
        &[&dev, "backup=\"nightly\""],
    )
    .unwrap_or_else(|| panic!("no backup sample:\n{body}"));
    assert!(last > (now() - 3600) as f64, "{last}");
    assert_eq!(
        sample_value(&body, "fleetwatch_device_packages_installed", &[&dev]).map(|v| v >= 1.0),
        Some(true),
        "{body}"
    );
    // What Wine cannot tell is unknown in the verdicts: no passing, no failing sample.
    for check in [
        "disk_encryption",
        "firewall",
        "antivirus",
        "security_updates",
        "password_length",
    ] {
        assert_eq!(
            sample_value(
                &body,
                "fleetwatch_check_passing",
                &[&dev, &format!("check=\"{check}\"")]
            ),
            None,
            "{check}: {body}"
        );
    }
    // The failed Windows Update search is a failed agent check, not "0 pending".
    assert_eq!(
        sample_value(&body, "fleetwatch_patches_pending", &[&dev]),
        None,
        "{body}"
    );
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_agent_check_failed",
            &[&dev, "check=\"patches\""]
        ),
        Some(1.0),
        "{body}"
    );
}

/// Stops and removes the test's service even when an assertion failed.
struct InstalledService<'p>(&'p WinePrefix);

impl Drop for InstalledService<'_> {
    fn drop(&mut self) {
        let _ = self.0.run_agent(&["service", "stop"]);
        let _ = self.0.run_agent(&["service", "uninstall"]);
    }
}

fn service_key(prefix: &WinePrefix) -> std::process::Output {
    prefix
        .command("reg")
        .args([
            "query",
            r"HKLM\System\CurrentControlSet\Services\fleetwatch-agent",
            "/v",
            "ImagePath",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_windows_service_installs_runs_reports_and_uninstalls_under_wine() {
    let prefix = prepared_prefix();
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let state = tmp.path().join("service-state");
    let config = tmp.path().join("service.toml");
    std::fs::write(
        &config,
        format!(
            "collector_url = \"{}\"\nca_file = '{}'\nenroll_secret_file = '{}'\nstate_dir = '{}'\n",
            collector.url(),
            win_path(&collector.cert()),
            win_path(&collector.enroll_secret_file()),
            win_path(&state),
        ),
    )
    .unwrap();

    let out = prefix.run_agent(&["service", "install", "--config", &win_path(&config)]);
    assert!(out.status.success(), "install: {}", output_text(&out));
    let _installed = InstalledService(&prefix);
    let key = service_key(&prefix);
    let image = String::from_utf8_lossy(&key.stdout).to_string();
    assert!(
        image.contains("fleetwatch-agent.exe") && image.contains("service run --config"),
        "ImagePath: {image}"
    );

    let out = prefix.run_agent(&["service", "start"]);
    assert!(out.status.success(), "start: {}", output_text(&out));
    // The service enrolls and reports on its own.
    let id = wait_for_windows_device(&collector, &state, "the service");
    assert!(!id.is_empty());

    let out = prefix.run_agent(&["service", "stop"]);
    assert!(out.status.success(), "stop: {}", output_text(&out));
    let out = prefix.run_agent(&["service", "uninstall"]);
    assert!(out.status.success(), "uninstall: {}", output_text(&out));
    assert!(
        !service_key(&prefix).status.success(),
        "the service key is still there"
    );
}
