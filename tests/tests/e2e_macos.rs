//! End to end on this Linux machine: the real agent binary runs against
//! the macOS fixture roots (`tests/hosts/macos-*`) with their recorded
//! command outputs (the hidden `--recorded-commands` switch), enrolls with
//! and reports to the real collector over TLS, and both Macs appear in
//! `/metrics` as macOS with their policy verdicts; the scrape passes
//! `promtool check metrics`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use fleetwatch_e2e::*;

/// The dates the compliant fixture's plists hold, moved to "now" so the
/// collector (which judges with the real clock) sees a fresh cache and a
/// fresh backup.
const COMPLIANT_DATES: [(&str, i64); 4] = [
    ("2026-11-22T05:00:00Z", 3_600), // Software Update: LastSuccessfulDate
    ("2026-11-21T05:00:00Z", 86_400), // LastFullSuccessfulDate
    ("2026-11-22T06:30:12Z", 1_800), // Time Machine: newest snapshot
    ("2026-11-21T18:30:40Z", 12 * 3_600), // an older snapshot
];

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (civil-from-days, H. Hinnant).
fn iso8601(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A copy of fixture host `name`, with the compliant host's dates made recent.
fn prepared_host(tmp: &Path, name: &str) -> std::path::PathBuf {
    let root = tmp.join(name);
    copy_tree(&workspace_root().join("tests/hosts").join(name), &root);
    for plist in [
        "Library/Preferences/com.apple.SoftwareUpdate.plist",
        "Library/Preferences/com.apple.TimeMachine.plist",
    ] {
        let path = root.join(plist);
        let Ok(mut text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if name.ends_with("-compliant") {
            for (old, age) in COMPLIANT_DATES {
                text = text.replace(old, &iso8601(now() - age));
            }
        }
        std::fs::write(&path, text).unwrap();
    }
    root
}

/// Runs `fleetwatch-agent once` for the fixture Mac; returns its device id.
fn report_once(collector: &Collector, tmp: &Path, name: &str) -> String {
    let root = prepared_host(tmp, name);
    let state = tmp.join(format!("{name}-state"));
    let config = tmp.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        "[[backup]]\nname = \"time-machine\"\nkind = \"time_machine\"\n",
    )
    .unwrap();
    let mut args: Vec<String> = vec!["once".into()];
    args.extend(agent_args(collector, &state));
    args[2] = config.display().to_string(); // replace --config /dev/null
    args.extend([
        "--root".to_string(),
        root.display().to_string(),
        "--recorded-commands".to_string(),
        root.join("commands").display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(&args);
    assert!(out.status.success(), "{name}: {}", output_text(&out));
    enrolled_device_id(&state).unwrap_or_else(|| panic!("{name} did not enroll"))
}

fn verdict(body: &str, id: &str, check: &str) -> Option<f64> {
    let device = format!("device_id=\"{id}\"");
    let check = format!("check=\"{check}\"");
    sample_value(body, "fleetwatch_check_passing", &[&device, &check])
}

#[test]
fn macs_report_through_the_real_collector_and_are_judged() {
    let tmp = tempfile::tempdir().unwrap();
    // The default policy leaves patch_cache off: switch it on to judge the caches.
    let config = tmp.path().join("collector.toml");
    std::fs::write(&config, "[policy]\npatch_cache_max_age = \"7d\"\n").unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    let good = report_once(&collector, tmp.path(), "macos14-compliant");
    let bad = report_once(&collector, tmp.path(), "macos13-noncompliant");
    assert_ne!(good, bad);

    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();

    let info = |id: &str| {
        body.lines()
            .find(|l| {
                l.starts_with("fleetwatch_device_info{")
                    && l.contains(&format!("device_id=\"{id}\""))
            })
            .unwrap_or_else(|| panic!("no device_info for {id}:\n{body}"))
            .to_string()
    };
    let good_info = info(&good);
    assert!(good_info.contains("os=\"macos\""), "{good_info}");
    assert!(good_info.contains("os_version=\"14.4.1\""), "{good_info}");
    assert!(good_info.contains("hostname=\"mbp-0042\""), "{good_info}");
    assert!(
        good_info.contains("model=\"MacBook Pro (Mac14,7)\""),
        "{good_info}"
    );
    let bad_info = info(&bad);
    assert!(
        bad_info.contains("os=\"macos\"") && bad_info.contains("os_version=\"13.4.1\""),
        "{bad_info}"
    );
    assert!(bad_info.contains("arch=\"x86_64\""), "{bad_info}");

    // The compliant Mac passes what its facts prove.
    for check in [
        "agent_checks",
        "security_updates",
        "reboot",
        "patch_cache",
        "backup",
        "password_length",
        "password_complexity",
        "password_history",
        "password_lockout",
    ] {
        assert_eq!(
            verdict(&body, &good, check),
            Some(1.0),
            "{check} on the compliant Mac:\n{body}"
        );
    }
    // The non-compliant one fails its weak policy and stale update cache.
    for check in [
        "patch_cache",
        "password_length",
        "password_history",
        "password_lockout",
        "password_max_age",
    ] {
        assert_eq!(
            verdict(&body, &bad, check),
            Some(0.0),
            "{check} on the non-compliant Mac:\n{body}"
        );
    }
    // Time Machine without Full Disk Access is unknown, never "overdue".
    assert_eq!(verdict(&body, &bad, "backup"), None, "{body}");
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_device_compliant",
            &[&format!("device_id=\"{bad}\"")]
        ),
        Some(0.0)
    );
    // The pending Rapid Security Response is counted as security.
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_patches_pending",
            &[&format!("device_id=\"{bad}\""), "category=\"security\""]
        ),
        Some(1.0)
    );
    // The installed applications reached the collector.
    assert_eq!(
        sample_value(
            &body,
            "fleetwatch_device_packages_installed",
            &[&format!("device_id=\"{good}\"")]
        ),
        Some(4.0)
    );
}

#[test]
fn the_recorded_commands_switch_is_hidden_from_help() {
    let out = run_agent(&["once", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--state-dir"), "{help}");
    assert!(!help.contains("recorded-commands"), "{help}");
}
