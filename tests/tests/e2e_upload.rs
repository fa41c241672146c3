//! Reports never get stuck: a host whose package list is larger than the
//! real collector's body limit keeps reporting (the list goes in parts over
//! `POST /api/v1/packages`, halved until the parts fit), and the collector
//! ends up holding the whole list.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleetwatch_e2e::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hosts/inventory-debian12");

/// A copy of the inventory fixture whose dpkg database lists `n` packages.
fn host_with_packages(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("host");
    let status = Command::new("cp")
        .args(["-a", FIXTURE])
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let mut text = String::new();
    for i in 0..n {
        writeln!(
            text,
            "Package: generated-package-with-a-long-name-{i:05}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:{i}.0.{}-1+deb12u1\nDescription: filler\n",
            i * 7
        )
        .unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), text).unwrap();
    root
}

fn agent_once(
    collector: &Collector,
    state: &Path,
    config: &Path,
    root: &Path,
) -> std::process::Output {
    let mut args = agent_args(collector, state);
    args[1] = config.display().to_string(); // replace --config /dev/null
    let mut all: Vec<String> = vec!["once".into()];
    all.extend(args);
    all.extend(["--root".into(), root.display().to_string()]);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run_agent(&refs)
}

fn stats(state: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join("upload-stats.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_package_list_over_the_body_limit_arrives_in_parts_and_reports_keep_flowing() {
    let tmp = tempfile::tempdir().unwrap();
    // 64 KiB decoded: the ~450 KB package list cannot ride in a report.
    let collector_config = tmp.path().join("collector.toml");
    std::fs::write(&collector_config, "max_report_bytes = 65536\n").unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", collector_config.to_str().unwrap()],
    );
    let agent_config = tmp.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        "[checks]\npatches = false\nbackup = false\npassword_policy = false\ndata_protection = false\n",
    )
    .unwrap();
    let root = host_with_packages(tmp.path(), 4000);
    let state = tmp.path().join("state");

    let out = agent_once(&collector, &state, &agent_config, &root);
    assert!(out.status.success(), "first report:\n{}", output_text(&out));
    let id = enrolled_device_id(&state).unwrap();
    let detail = collector.admin_get(&format!("/api/v1/devices/{id}"));
    let packages = detail["packages"]
        .as_array()
        .expect("the collector holds the list");
    assert_eq!(packages.len(), 4000, "{}", output_text(&out));
    assert_eq!(
        packages[3999]["name"],
        "generated-package-with-a-long-name-03999"
    );
    let hash = detail["inventory"]["packages"]["hash"].clone();
    assert_eq!(detail["packages_hash"], hash);
    let s = stats(&state);
    assert_eq!(s["package_lists_sent_in_parts"], 1, "{s}");
    // 256 KiB parts are halved until they fit in 64 KiB.
    assert!(s["package_parts_too_large"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["packages_withheld"], 0, "{s}");

    // The next report knows the collector holds the list: no list, no 413.
    let out = agent_once(&collector, &state, &agent_config, &root);
    assert!(
        out.status.success(),
        "second report:\n{}",
        output_text(&out)
    );
    assert_eq!(stats(&state)["package_lists_sent_in_parts"], 1);
    let detail = collector.admin_get(&format!("/api/v1/devices/{id}"));
    assert_eq!(detail["reports_stored"], 2);
}

#[test]
fn a_report_refused_as_too_large_is_resent_without_its_package_list() {
    let tmp = tempfile::tempdir().unwrap();
    // Below the inline threshold (no parts first) but over the limit: the
    // report gets a 413, the list goes in parts, the report goes without it.
    let collector_config = tmp.path().join("collector.toml");
    std::fs::write(&collector_config, "max_report_bytes = 65536\n").unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", collector_config.to_str().unwrap()],
    );
    let agent_config = tmp.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        "[checks]\npatches = false\nbackup = false\npassword_policy = false\ndata_protection = false\n",
    )
    .unwrap();
    let root = host_with_packages(tmp.path(), 1500);
    let state = tmp.path().join("state");
    let out = agent_once(&collector, &state, &agent_config, &root);
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(text.contains("too large"), "the 413 is logged:\n{text}");
    let s = stats(&state);
    assert_eq!(s["reports_too_large"], 1, "{s}");
    assert_eq!(s["package_lists_sent_in_parts"], 1, "{s}");
    let id = enrolled_device_id(&state).unwrap();
    let detail = collector.admin_get(&format!("/api/v1/devices/{id}"));
    assert_eq!(detail["packages"].as_array().map(Vec::len), Some(1500));
}
