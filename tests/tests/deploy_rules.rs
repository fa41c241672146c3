//! The deploy files operators install: Prometheus rules (`promtool check
//! rules` / `promtool test rules`), the Prometheus and Alertmanager example
//! configs (`promtool check config`, `amtool check-config`), the systemd
//! units (`systemd-analyze verify` and `security`), the compose file and the
//! cargo-deb metadata. The tools are required: a missing tool fails the test.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fleetwatch_e2e::{require_tool, workspace_root as repo_root};
use support::dashboards::{
    exported_metric_names, load_rules, markdown_anchors, metric_names_in, read_repo_file, run,
};

const ALERT_RULES: &str = "deploy/prometheus/fleetwatch-alerts.rules.yml";
const RECORDING_RULES: &str = "deploy/prometheus/fleetwatch-recording.rules.yml";
const RULES_TEST: &str = "deploy/prometheus/fleetwatch-rules.test.yml";

/// The alerts the collector sends itself; the Prometheus rules must have them all.
const COLLECTOR_ALERTS: &[&str] = &[
    "FleetwatchDeviceNotReporting",
    "FleetwatchBackupOverdue",
    "FleetwatchSecurityUpdatesPending",
    "FleetwatchRebootRequired",
    "FleetwatchPasswordPolicyViolation",
    "FleetwatchDataProtectionViolation",
    "FleetwatchCheckFailing",
    "FleetwatchManyDevicesNotReporting",
];

fn yaml(rel: &str) -> serde_norway::Value {
    serde_norway::from_str(&read_repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn promtool_check_rules_passes() {
    let promtool = require_tool("promtool");
    let root = repo_root();
    let (ok, out) = run(Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(root.join(RECORDING_RULES))
        .arg(root.join(ALERT_RULES)));
    assert!(ok, "promtool check rules failed:\n{out}");
}

#[test]
fn promtool_test_rules_passes() {
    let promtool = require_tool("promtool");
    let (ok, out) = run(Command::new(promtool)
        .current_dir(repo_root().join("deploy/prometheus"))
        .args(["test", "rules", "fleetwatch-rules.test.yml"]));
    assert!(
        ok && out.contains("SUCCESS"),
        "promtool test rules failed:\n{out}"
    );
}

/// The rule tests have teeth: a wrong staleness threshold or a lost hostname
/// join makes them fail.
#[test]
fn promtool_test_rules_catches_broken_rules() {
    let promtool = require_tool("promtool");
    let original = read_repo_file(ALERT_RULES);
    let mutations = [
        ("> 7200)", "> 9999999)"),
        ("group_left (hostname)", "group_left ()"),
    ];
    for (from, to) in mutations {
        assert!(
            original.contains(from),
            "mutation target `{from}` not in the alert rules"
        );
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "fleetwatch-recording.rules.yml",
            "fleetwatch-rules.test.yml",
        ] {
            fs::copy(
                repo_root().join("deploy/prometheus").join(f),
                dir.path().join(f),
            )
            .unwrap();
        }
        fs::write(
            dir.path().join("fleetwatch-alerts.rules.yml"),
            original.replacen(from, to, 1),
        )
        .unwrap();
        let (ok, out) = run(Command::new(&promtool).current_dir(dir.path()).args([
            "test",
            "rules",
            "fleetwatch-rules.test.yml",
        ]));
        assert!(
            !ok,
            "rule tests still pass after replacing `{from}` with `{to}`:\n{out}"
        );
    }
}

#[test]
fn alert_rules_match_the_collector_alerts() {
    let rules = load_rules(ALERT_RULES);
    let names: BTreeSet<_> = rules
        .iter()
        .filter(|r| r.is_alert)
        .map(|r| r.name.as_str())
        .collect();
    for alert in COLLECTOR_ALERTS {
        assert!(names.contains(alert), "{ALERT_RULES} lacks {alert}");
    }
    let anchors = markdown_anchors(&read_repo_file("docs/operations.md"));
    let tests = read_repo_file(RULES_TEST);
    for rule in rules.iter().filter(|r| r.is_alert) {
        let labels = &rule.yaml["labels"];
        let severity = labels["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{}: severity `{severity}`",
            rule.name
        );
        let annotations = &rule.yaml["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                annotations[key].as_str().is_some_and(|s| !s.is_empty()),
                "{}: annotation {key} missing",
                rule.name
            );
        }
        let url = annotations["runbook_url"].as_str().unwrap();
        let (base, anchor) = url.split_once('#').expect("runbook_url has an anchor");
        assert!(
            base.ends_with("docs/operations.md"),
            "{}: runbook_url {url}",
            rule.name
        );
        assert_eq!(anchor, rule.name.to_lowercase(), "{}: anchor", rule.name);
        assert!(
            anchors.contains(anchor),
            "docs/operations.md has no heading for #{anchor}"
        );
        // Per-device alerts carry the hostname from fleetwatch_device_info
        // (the setting-naming ones its os_family too).
        if rule.expr.contains("device_id") && rule.name != "FleetwatchManyDevicesNotReporting" {
            assert!(
                rule.expr
                    .contains("group_left (hostname) fleetwatch_device_info")
                    || rule
                        .expr
                        .contains("group_left (hostname, os_family) fleetwatch_device_info"),
                "{}: no hostname join",
                rule.name
            );
        }
        // Each alert is tested firing and not firing.
        let mentions = tests
            .matches(&format!("alertname: {}\n", rule.name))
            .count();
        assert!(
            mentions >= 2,
            "{}: {mentions} alert_rule_test cases in {RULES_TEST}",
            rule.name
        );
    }
    assert!(
        tests.contains(r#"hostname: 'we"ird\host'"#),
        "rule tests must cover a hostname with a quote and a backslash"
    );
}

#[test]
fn rules_only_use_exported_metrics() {
    let exported = exported_metric_names();
    // `up` is Prometheus' own scrape-health series.
    let mut known: BTreeSet<String> = exported.clone();
    known.insert("up".into());
    for rule in load_rules(RECORDING_RULES) {
        let used = metric_names_in(&rule.expr).unwrap_or_else(|e| panic!("{}: {e}", rule.name));
        let unknown: Vec<_> = used.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "recording rule {} uses unknown metrics {unknown:?}",
            rule.name
        );
        assert!(
            rule.name.starts_with("fleetwatch:"),
            "{}: recorded names start with fleetwatch:",
            rule.name
        );
        known.insert(rule.name);
    }
    for rule in load_rules(ALERT_RULES) {
        let used = metric_names_in(&rule.expr).unwrap_or_else(|e| panic!("{}: {e}", rule.name));
        let unknown: Vec<_> = used
            .iter()
            .filter(|m| !exported.contains(*m) && m.as_str() != "up")
            .collect();
        assert!(
            unknown.is_empty(),
            "alert {} uses metrics the collector does not export: {unknown:?}",
            rule.name
        );
    }
}

/// Writes the Prometheus example into `dir` with its token file pointing
/// inside `dir`; `sharded` swaps the plain job for the commented sharded one.
fn prometheus_example_variant(dir: &Path, sharded: bool) -> std::path::PathBuf {
    let token = dir.join("token");
    fs::write(&token, "secret\n").unwrap();
    let text = read_repo_file("deploy/prometheus/prometheus.example.yml").replace(
        "/etc/prometheus/fleetwatch-metrics-token",
        token.to_str().unwrap(),
    );
    let text = if sharded {
        let lines: Vec<&str> = text.lines().collect();
        let find = |prefix: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("prometheus.example.yml: no line `{prefix}`"))
        };
        let plain = find("  - job_name: fleetwatch-collector");
        let prose = find("  # Large fleets");
        let commented = find("  # - job_name: fleetwatch-collector");
        let mut out: Vec<String> = lines[..plain].iter().map(|l| l.to_string()).collect();
        out.extend(lines[prose..commented].iter().map(|l| l.to_string()));
        out.extend(
            lines[commented..]
                .iter()
                .map(|l| l.strip_prefix("  # ").unwrap_or(l).to_string()),
        );
        out.join("\n")
    } else {
        text
    };
    let name = if sharded { "sharded.yml" } else { "plain.yml" };
    fs::write(dir.join(name), text).unwrap();
    dir.join(name)
}

#[test]
fn prometheus_configs_pass_promtool_check_config() {
    let promtool = require_tool("promtool");
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "fleetwatch-recording.rules.yml",
        "fleetwatch-alerts.rules.yml",
    ] {
        fs::copy(
            repo_root().join("deploy/prometheus").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    fs::copy(
        repo_root().join("deploy/compose/prometheus.yml"),
        dir.path().join("compose.yml"),
    )
    .unwrap();
    let plain = prometheus_example_variant(dir.path(), false);
    let sharded = prometheus_example_variant(dir.path(), true);
    let sharded_text = fs::read_to_string(&sharded).unwrap();
    assert!(
        sharded_text.contains("__param_shard"),
        "sharded variant not uncommented:\n{sharded_text}"
    );
    for config in [plain, sharded, dir.path().join("compose.yml")] {
        let (ok, out) = run(Command::new(&promtool)
            .arg("check")
            .arg("config")
            .arg(&config));
        assert!(
            ok,
            "promtool check config {} failed:\n{out}",
            config.display()
        );
        assert!(
            out.contains("2 rule files found"),
            "{}: rules not loaded:\n{out}",
            config.display()
        );
    }
}

#[test]
fn alertmanager_configs_pass_amtool_check_config() {
    let amtool = require_tool("amtool");
    for rel in [
        "deploy/alertmanager/alertmanager.example.yml",
        "deploy/compose/alertmanager.yml",
    ] {
        let (ok, out) = run(Command::new(&amtool)
            .arg("check-config")
            .arg(repo_root().join(rel)));
        assert!(ok, "amtool check-config {rel} failed:\n{out}");
    }
}

#[test]
fn alertmanager_routes_by_severity() {
    let amtool = require_tool("amtool");
    let config = repo_root().join("deploy/alertmanager/alertmanager.example.yml");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "alertname=FleetwatchManyDevicesNotReporting",
                "severity=critical",
            ],
            "fleetwatch-pagerduty,fleetwatch-slack",
        ),
        (
            &[
                "alertname=FleetwatchBackupOverdue",
                "severity=warning",
                "device_id=d1",
            ],
            "fleetwatch-slack",
        ),
        (&["alertname=Other", "severity=info"], "fleetwatch-webhook"),
    ];
    for (labels, receivers) in cases {
        let (ok, out) = run(Command::new(&amtool)
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", config.display()))
            .args(*labels));
        assert!(ok, "amtool config routes test {labels:?}:\n{out}");
        let first = out.lines().next().unwrap_or_default().trim();
        assert_eq!(first, *receivers, "{labels:?} routed to {out}");
    }
}

#[test]
fn many_devices_not_reporting_inhibits_device_not_reporting() {
    for rel in [
        "deploy/alertmanager/alertmanager.example.yml",
        "deploy/compose/alertmanager.yml",
    ] {
        let config = yaml(rel);
        let found = config["inhibit_rules"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|rule| {
                let has = |key: &str, want: &str| {
                    rule[key]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .any(|m| m.as_str() == Some(want))
                };
                has(
                    "source_matchers",
                    r#"alertname="FleetwatchManyDevicesNotReporting""#,
                ) && has(
                    "target_matchers",
                    r#"alertname="FleetwatchDeviceNotReporting""#,
                )
            });
        assert!(
            found,
            "{rel}: no inhibit rule ManyDevicesNotReporting -> DeviceNotReporting"
        );
    }
}

/// The installed binary each unit starts.
const UNITS: &[(&str, &str)] = &[
    ("fleetwatch-agent.service", "/usr/bin/fleetwatch-agent"),
    (
        "fleetwatch-collector.service",
        "/usr/bin/fleetwatch-collector",
    ),
];

/// `systemd-analyze verify` insists the ExecStart binary exists. Instead of
/// touching /usr/bin, each unit is copied to a temp dir with only the
/// ExecStart binary path rewritten to an executable stub there; every other
/// directive is verified as shipped. Verify reports unknown keys and bad
/// values as warnings with exit code 0, so any output naming the unit fails.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = require_tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (unit, binary) in UNITS {
        let text = read_repo_file(&format!("deploy/systemd/{unit}"));
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart"));
        assert!(
            exec.starts_with(&format!("ExecStart={binary} ")),
            "{unit}: {exec}"
        );
        let stub = dir.path().join(Path::new(binary).file_name().unwrap());
        fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.path().join(unit);
        fs::write(
            &copy,
            text.replace(
                &format!("ExecStart={binary} "),
                &format!("ExecStart={} ", stub.display()),
            ),
        )
        .unwrap();
        units.push(copy);
    }
    let (ok, out) = run(Command::new(&analyze).arg("verify").args(&units));
    let complaints: Vec<_> = out.lines().filter(|l| l.contains("fleetwatch-")).collect();
    assert!(
        ok && complaints.is_empty(),
        "systemd-analyze verify:\n{out}"
    );

    // The check is real: a typo in a directive is reported.
    let broken = dir.path().join("fleetwatch-broken.service");
    let text = fs::read_to_string(&units[0])
        .unwrap()
        .replace("ProtectSystem=strict", "ProtectSytem=strict");
    fs::write(&broken, text).unwrap();
    let (_, out) = run(Command::new(&analyze).arg("verify").arg(&broken));
    assert!(
        out.contains("ProtectSytem"),
        "verify did not report a misspelt key:\n{out}"
    );
}

fn directives(unit: &str) -> Vec<(String, String)> {
    read_repo_file(&format!("deploy/systemd/{unit}"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_units_are_hardened() {
    let common = [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
    ];
    let unit_specific: [(&str, &[(&str, &str)]); 2] = [
        (
            "fleetwatch-agent.service",
            &[
                ("ProtectHome", "read-only"),
                ("StateDirectory", "fleetwatch-agent"),
                ("CapabilityBoundingSet", "CAP_DAC_READ_SEARCH"),
                (
                    "RestrictAddressFamilies",
                    "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                ),
            ],
        ),
        (
            "fleetwatch-collector.service",
            &[
                ("User", "fleetwatch"),
                ("ProtectHome", "yes"),
                ("StateDirectory", "fleetwatch-collector"),
                ("CapabilityBoundingSet", ""),
                ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ],
        ),
    ];
    for (unit, specific) in unit_specific {
        let have = directives(unit);
        for (key, value) in common.iter().chain(specific.iter()) {
            assert!(
                have.iter().any(|(k, v)| k == key && v == value),
                "{unit}: expected {key}={value}"
            );
        }
    }
    let collector_exec = directives("fleetwatch-collector.service");
    let exec = &collector_exec
        .iter()
        .find(|(k, _)| k == "ExecStart")
        .unwrap()
        .1;
    assert!(
        exec.contains("--data-dir /var/lib/fleetwatch-collector"),
        "collector data dir must be its StateDirectory"
    );
}

/// `systemd-analyze security --offline` scores the shipped units: the agent
/// runs as root (documented) and must stay "OK", the collector better.
#[test]
fn systemd_units_have_low_exposure() {
    let analyze = require_tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    for ((unit, _), max) in UNITS.iter().zip([3.0, 2.0]) {
        let copy = dir.path().join(unit);
        fs::copy(repo_root().join("deploy/systemd").join(unit), &copy).unwrap();
        let (_, out) = run(Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&copy));
        let score: f64 = out
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for ").map(|(_, r)| r))
            .and_then(|r| r.split(':').nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exposure score for {unit}:\n{out}"));
        assert!(score <= max, "{unit}: exposure {score} > {max}:\n{out}");
    }
}

#[test]
fn compose_file_parses_and_references_existing_files() {
    let compose_dir = repo_root().join("deploy/compose");
    let compose = yaml("deploy/compose/compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    for name in ["collector", "prometheus", "alertmanager", "grafana"] {
        assert!(
            services.contains_key(name),
            "compose.yml lacks service {name}"
        );
    }
    let build = &compose["services"]["collector"]["build"];
    let context = compose_dir.join(build["context"].as_str().expect("build.context"));
    assert!(
        context.join("Cargo.toml").is_file(),
        "build context {} is not the workspace",
        context.display()
    );
    let dockerfile = context.join(build["dockerfile"].as_str().expect("build.dockerfile"));
    assert!(dockerfile.is_file(), "{} missing", dockerfile.display());

    let mut mounts = 0;
    for (name, service) in services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            let source = spec.split(':').next().unwrap();
            if source.starts_with('.') {
                let path = compose_dir.join(source);
                assert!(
                    path.exists(),
                    "service {name:?}: {} does not exist",
                    path.display()
                );
                mounts += 1;
            }
        }
    }
    assert!(mounts >= 9, "only {mounts} bind mounts checked");

    // Prometheus in the stack loads the shipped rule files.
    let prom = compose["services"]["prometheus"]["volumes"]
        .as_sequence()
        .unwrap();
    for rules in [
        "fleetwatch-recording.rules.yml",
        "fleetwatch-alerts.rules.yml",
    ] {
        assert!(
            prom.iter().any(|v| v
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("../prometheus/{rules}:")))),
            "compose prometheus does not mount {rules}"
        );
    }

    let dockerfile = fs::read_to_string(dockerfile).unwrap();
    assert!(
        dockerfile.contains(" AS builder"),
        "Dockerfile must be multi-stage"
    );
    assert!(
        dockerfile.contains("FROM debian:bookworm-slim"),
        "runtime must be debian-slim"
    );
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("USER ") && !l.contains("root")),
        "runtime must not be root"
    );
}

#[test]
fn debian_metadata_references_existing_files() {
    for (crate_dir, unit) in [
        ("agent", "fleetwatch-agent"),
        ("collector", "fleetwatch-collector"),
    ] {
        let rel = format!("deploy/debian/{crate_dir}-metadata.toml");
        let doc: toml::Value =
            toml::from_str(&read_repo_file(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let deb = &doc["package"]["metadata"]["deb"];
        assert_eq!(deb["name"].as_str(), Some(unit), "{rel}: name");
        let base = repo_root().join(crate_dir);
        let assets = deb["assets"].as_array().expect("assets");
        let mut binary = false;
        for asset in assets {
            let source = asset[0].as_str().expect("asset source");
            if source.starts_with("target/release/") {
                assert_eq!(source, format!("target/release/{unit}"), "{rel}");
                binary = true;
                continue;
            }
            let path = base.join(source);
            if source.contains('*') {
                let dir = path.parent().unwrap();
                let ext = source.rsplit('.').next().unwrap();
                let matches = fs::read_dir(dir)
                    .unwrap_or_else(|e| panic!("{rel}: {}: {e}", dir.display()))
                    .filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .path()
                            .extension()
                            .is_some_and(|x| x == ext)
                    })
                    .count();
                assert!(matches > 0, "{rel}: glob {source} matches nothing");
            } else {
                assert!(path.is_file(), "{rel}: asset {} missing", path.display());
            }
        }
        assert!(binary, "{rel}: the binary is not an asset");
        let scripts = base.join(
            deb["maintainer-scripts"]
                .as_str()
                .expect("maintainer-scripts"),
        );
        assert!(scripts.is_dir(), "{rel}: {}", scripts.display());
        let units = &deb["systemd-units"];
        assert_eq!(units["unit-name"].as_str(), Some(unit), "{rel}");
        let unit_dir = base.join(units["unit-scripts"].as_str().expect("unit-scripts"));
        assert!(
            unit_dir.join(format!("{unit}.service")).is_file(),
            "{rel}: unit file not in unit-scripts"
        );
        for conf in deb["conf-files"].as_array().into_iter().flatten() {
            let conf = conf.as_str().unwrap().trim_start_matches('/');
            assert!(
                assets.iter().any(|a| a[1].as_str() == Some(conf)),
                "{rel}: conf-file {conf} is not installed by an asset"
            );
        }
    }
}

#[test]
fn maintainer_scripts_are_valid_shell_with_debhelper_token() {
    let sh = require_tool("sh");
    for pkg in ["agent", "collector"] {
        let dir = repo_root().join("deploy/debian").join(pkg);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("#!/bin/sh\n"),
                "{}: shebang",
                path.display()
            );
            assert!(
                text.contains("\n#DEBHELPER#\n"),
                "{}: #DEBHELPER# token (cargo-deb inserts the systemd snippets there)",
                path.display()
            );
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{}: not executable", path.display());
            let (ok, out) = run(Command::new(&sh).arg("-n").arg(&path));
            assert!(ok, "sh -n {}:\n{out}", path.display());
        }
    }
    let postinst = read_repo_file("deploy/debian/collector/postinst");
    assert!(
        postinst.contains("adduser --system") && postinst.contains("fleetwatch"),
        "collector postinst must create the fleetwatch user"
    );
}
