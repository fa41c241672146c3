//! Rendering tests, linted by the real `promtool`.

use super::*;
use crate::policy::compliance_facts::tests::full_report;
use crate::policy::{CheckStateTracker, Findings, Policy, evaluate};
use fleetwatch_protocol::{BackupJob, BackupStatus, CheckResult};
use std::io::Write;
use std::process::{Command, Stdio};

const T: i64 = 1_700_000_000;

struct Device {
    id: String,
    facts: ComplianceFacts,
    findings: Findings,
    since: FailingSince,
}

fn devices() -> Vec<Device> {
    let hostile = [
        "nightly \"full\"",
        "back\\slash",
        "multi\nline\r\nname",
        "ünïcødé ✓",
        "",
        "{}=,\"",
    ];
    let mut out = Vec::new();
    for i in 0..4 {
        let mut r = full_report(T);
        let jobs: Vec<BackupJob> = hostile
            .iter()
            .map(|name| BackupJob {
                name: (*name).into(),
                last_success_at: if i == 1 { None } else { Some(T - 60) },
                last_result: if i == 2 {
                    fleetwatch_protocol::BackupResult::Failure
                } else {
                    Default::default()
                },
                size_bytes: Some(1234),
                ..BackupJob::default()
            })
            .chain(std::iter::once(BackupJob {
                name: "x".repeat(300) + "é",
                ..BackupJob::default()
            }))
            .collect();
        r.checks.backup = Some(CheckResult::ok(0.0, BackupStatus { jobs }));
        if i == 3 {
            r.checks.password_policy = Some(CheckResult::failed(1.0, "pam parse error"));
            r.checks.patches = Some(CheckResult::unsupported(0.0, "no apt"));
        }
        if i == 2 {
            windows_protection(&mut r);
        }
        let facts = ComplianceFacts::from_report(&r, T);
        let findings = evaluate(&facts, T, &Policy::default(), T + 60);
        let since = CheckStateTracker::update(&FailingSince::default(), &findings, T + 60);
        out.push(Device {
            id: format!("dev-{i}"),
            facts,
            findings,
            since,
        });
    }
    out
}

/// dev-2 is a Windows laptop: BitLocker on C:, suspended on D:, a volume
/// of unknown state with a hostile name, a firewall profile off, Defender
/// with stale signatures.
fn windows_protection(r: &mut fleetwatch_protocol::Report) {
    use fleetwatch_protocol::{
        Antivirus, DataProtection, EncryptionState, Firewall, FirewallProfile, OsFamily,
        VolumeEncryption,
    };
    r.inventory.data.as_mut().unwrap().os.family = Some(OsFamily::Windows);
    let vol = |m: &str, state, on| VolumeEncryption {
        mount_point: m.into(),
        method: Some("bitlocker".into()),
        state,
        protection_on: on,
        system_volume: m == "C:",
        ..VolumeEncryption::default()
    };
    r.checks.data_protection = Some(CheckResult::ok(
        0.2,
        DataProtection {
            volumes: vec![
                vol("C:", EncryptionState::Encrypted, Some(true)),
                vol("D:", EncryptionState::Encrypted, Some(false)),
                vol("E:\\\"x\"\n", EncryptionState::Unknown, None),
            ],
            firewall: Some(Firewall {
                product: "windows_firewall".into(),
                enabled: Some(false),
                profiles: vec![FirewallProfile {
                    name: "public".into(),
                    enabled: Some(false),
                }],
            }),
            antivirus: Some(Antivirus {
                product: "microsoft_defender".into(),
                real_time_protection: Some(true),
                signatures_updated_at: Some(T - 10 * 86_400),
                signature_version: None,
            }),
            ..DataProtection::default()
        },
    ));
}

fn render(devs: &[Device]) -> String {
    let mut out = Sink::collecting(0);
    let views = devs.iter().map(|d| DeviceCompliance {
        facts: &d.facts,
        outcomes: d.findings.outcomes(),
        failing_since: d.since,
    });
    // The ids need no escaping.
    let ids = DeviceIds::new(devs.iter().map(|d| d.id.as_str()));
    render_compliance_families(&mut out, views, &ids);
    let mut counts = FleetCheckCounts::default();
    for d in devs {
        counts.add(d.findings.outcomes());
    }
    render_fleet_checks(&mut out, &counts);
    String::from_utf8(out.finish()).expect("the exposition is UTF-8")
}

fn promtool_check(text: &str) -> std::process::Output {
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/promtool is required for this test (Debian package `prometheus`)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn rendered_families_pass_promtool_check_metrics() {
    let text = render(&devices());
    let out = promtool_check(&text);
    assert!(
        out.status.success(),
        "promtool refused the output:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Sanity: the linter really looked at it (an empty body would pass too).
    assert!(text.contains("fleetwatch_backup_last_success_timestamp_seconds{device_id=\"dev-0\",backup=\"nightly \\\"full\\\"\"}"));
}

#[test]
fn promtool_really_rejects_broken_text() {
    let out = promtool_check("# TYPE x gauge\nx{a=\"unterminated} 1\n");
    assert!(!out.status.success());
}

#[test]
fn hostile_backup_names_are_escaped_and_capped() {
    let text = render(&devices());
    assert!(text.contains("backup=\"back\\\\slash\""));
    // \r is a control character: a space, like everywhere in the exposition.
    assert!(text.contains("backup=\"multi\\nline \\nname\""));
    assert!(text.contains("backup=\"{}=,\\\"\""));
    let long = format!("backup=\"{}\"", "x".repeat(128));
    assert!(text.contains(&long), "capped at 128 bytes");
    // Every sample line has exactly one value after the label set.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.rsplit_once("} ")
                .is_some_and(|(_, v)| v.parse::<i64>().is_ok()),
            "{line:?}"
        );
    }
}

#[test]
fn check_passing_omits_unknown_and_compliant_omits_unknown() {
    let devs = devices();
    let text = render(&devs);
    // dev-3: password section failed -> password checks unknown -> no sample.
    assert!(
        !text.contains("fleetwatch_check_passing{device_id=\"dev-3\",check=\"password_length\"}")
    );
    assert!(
        text.contains("fleetwatch_check_passing{device_id=\"dev-3\",check=\"agent_checks\"} 0\n")
    );
    assert!(
        text.contains(
            "fleetwatch_check_passing{device_id=\"dev-0\",check=\"password_length\"} 1\n"
        )
    );
    // dev-1: backups never succeeded -> failing with a since.
    assert!(text.contains("fleetwatch_check_passing{device_id=\"dev-1\",check=\"backup\"} 0\n"));
    assert!(text.contains("fleetwatch_check_failing_since_timestamp_seconds{device_id=\"dev-1\",check=\"backup\"} 1700000060\n"));
    assert!(text.contains("fleetwatch_backup_last_success_timestamp_seconds{device_id=\"dev-1\",backup=\"back\\\\slash\"} 0\n"));
    assert!(text.contains("fleetwatch_device_compliant{device_id=\"dev-1\"} 0\n"));
    // dev-0's jobs include one never-succeeded one too (the long name).
    assert!(text.contains("fleetwatch_device_compliant{device_id=\"dev-0\"} 0\n"));
    assert!(
        text.contains("fleetwatch_patches_pending{device_id=\"dev-0\",category=\"security\"} 0\n")
    );
    assert!(
        text.contains("fleetwatch_patches_pending{device_id=\"dev-0\",category=\"other\"} 3\n")
    );
    assert!(!text.contains("fleetwatch_patches_pending{device_id=\"dev-3\""));
    assert!(text.contains(
        "fleetwatch_backup_last_run_success{device_id=\"dev-2\",backup=\"back\\\\slash\"} 0\n"
    ));
    assert!(text.contains(
        "fleetwatch_password_policy_setting{device_id=\"dev-0\",setting=\"min_length\"} 14\n"
    ));
    assert!(text.contains("fleetwatch_password_accounts{device_id=\"dev-0\",state=\"total\"} 2\n"));
    assert!(text.contains("fleetwatch_fleet_checks{check=\"backup\",result=\"failing\"} 4\n"));
    assert!(
        text.contains("fleetwatch_fleet_checks{check=\"password_length\",result=\"unknown\"} 1\n")
    );
    // Each family's HELP/TYPE appears exactly once.
    for family in COMPLIANCE_FAMILIES {
        assert_eq!(
            text.matches(&format!("# TYPE {} gauge\n", family.name()))
                .count(),
            1
        );
    }
}

#[test]
fn data_protection_families_and_not_applicable_checks() {
    let text = render(&devices());
    // dev-0 (Linux): LUKS root, plain /boot, nftables on; no antivirus asked.
    assert!(text.contains("fleetwatch_disk_encrypted{device_id=\"dev-0\",volume=\"/\"} 1\n"));
    assert!(text.contains("fleetwatch_disk_encrypted{device_id=\"dev-0\",volume=\"/boot\"} 0\n"));
    assert!(text.contains("fleetwatch_firewall_enabled{device_id=\"dev-0\"} 1\n"));
    assert!(!text.contains("fleetwatch_antivirus_real_time_protection{device_id=\"dev-0\"}"));
    assert!(
        text.contains(
            "fleetwatch_check_not_applicable{device_id=\"dev-0\",check=\"antivirus\"} 1\n"
        )
    );
    assert!(!text.contains("fleetwatch_check_passing{device_id=\"dev-0\",check=\"antivirus\"}"));
    assert!(
        text.contains(
            "fleetwatch_check_passing{device_id=\"dev-0\",check=\"disk_encryption\"} 1\n"
        )
    );
    // dev-2 (Windows): suspended D: is 0, the unknown volume has no sample.
    assert!(text.contains("fleetwatch_disk_encrypted{device_id=\"dev-2\",volume=\"C:\"} 1\n"));
    assert!(text.contains("fleetwatch_disk_encrypted{device_id=\"dev-2\",volume=\"D:\"} 0\n"));
    assert!(!text.contains("volume=\"E:"));
    assert!(text.contains("fleetwatch_firewall_enabled{device_id=\"dev-2\"} 0\n"));
    assert!(text.contains("fleetwatch_antivirus_real_time_protection{device_id=\"dev-2\"} 1\n"));
    assert!(text.contains(&format!(
        "fleetwatch_antivirus_signature_timestamp_seconds{{device_id=\"dev-2\"}} {}\n",
        T - 10 * 86_400
    )));
    for check in ["disk_encryption", "firewall", "antivirus"] {
        assert!(
            text.contains(&format!(
                "fleetwatch_check_passing{{device_id=\"dev-2\",check=\"{check}\"}} 0\n"
            )),
            "{check}"
        );
    }
    assert!(
        !text.contains("fleetwatch_check_not_applicable{device_id=\"dev-2\",check=\"antivirus\"}")
    );
    assert!(
        text.contains("fleetwatch_fleet_checks{check=\"antivirus\",result=\"not_applicable\"} 3\n")
    );
    assert!(text.contains("fleetwatch_fleet_checks{check=\"antivirus\",result=\"failing\"} 1\n"));
    assert!(text.contains("fleetwatch_fleet_checks{check=\"firewall\",result=\"passing\"} 3\n"));
}

#[test]
fn escape_caps_on_char_boundary() {
    let mut s = Vec::new();
    escape_label_value(&mut s, "aé", 2);
    assert_eq!(s, b"a");
    s.clear();
    escape_label_value(&mut s, "\"\\\n", 128);
    assert_eq!(s, b"\\\"\\\\\\n");
    s.clear();
    escape_label_value(&mut s, "ü\"\t\r\u{85}©", 128);
    assert_eq!(String::from_utf8(s).unwrap(), "ü\\\"   ©");
}
