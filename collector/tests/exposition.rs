//! Exposition: snapshot of a small fixed fleet, `promtool check metrics`,
//! hostile input, sharding and retirement.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use fleetwatch_collector::alerts::AlertStats;
use fleetwatch_collector::exposition::self_metrics::SelfMetrics;
use fleetwatch_collector::exposition::{self, RenderClock, Selection};
use fleetwatch_collector::judge::Judge;
use fleetwatch_collector::policy::{ComplianceFacts, FailingSince, Policy, PolicyHandle};
use fleetwatch_collector::report_facts::{
    CheckKind, CheckOutcome, DiskFacts, InventoryFacts, ReportFacts,
};
use fleetwatch_collector::state::{DeviceMetrics, FleetState, LiveState};
use fleetwatch_collector::store::StoredDevice;
use fleetwatch_protocol::{BackupJob, BackupResult, CheckStatus, LocalUser, Report};

const NOW: i64 = 1_800_000_000;

fn clock() -> RenderClock {
    RenderClock {
        now: NOW,
        stale_after_secs: 900,
        retire_after_secs: 90 * 86_400,
    }
}

/// Every compliance section, collected at `at`, with hostile backup job names.
fn compliance(at: i64) -> ComplianceFacts {
    let text = include_str!("../../protocol/fixtures/report-v1-0.1.0-full.json");
    let mut r: Report = serde_json::from_str(text).unwrap();
    r.collected_at = at;
    let backup = r.checks.backup.as_mut().unwrap().data.as_mut().unwrap();
    backup.jobs[0].last_success_at = Some(at - 3_600);
    for (i, name) in [
        "nightly \"full\"",
        "back\\slash\nnext} 1",
        "ünïcødé ✓\t\r",
        "",
    ]
    .iter()
    .enumerate()
    {
        backup.jobs.push(BackupJob {
            name: (*name).into(),
            kind: "marker".into(),
            last_success_at: (i > 0).then_some(at - 40 * 3_600),
            last_result: if i == 2 {
                BackupResult::Failure
            } else {
                BackupResult::Success
            },
            ..BackupJob::default()
        });
    }
    ComplianceFacts::from_report(&r, at)
}

fn device(n: u8, last_seen: i64, with_inventory: bool) -> StoredDevice {
    StoredDevice {
        device_id: format!("dev-{n:02}"),
        hostname: format!("enrolled-{n}"),
        enrolled_at: (NOW - 86_400).min(last_seen - 86_400),
        last_seen,
        retired: false,
        node_key_hash: [n; 32],
        inventory: with_inventory.then(|| InventoryFacts {
            hostname: format!("host-{n}"),
            fqdn: format!("host-{n}.corp.example"),
            os_family: "linux".into(),
            os: "debian".into(),
            os_version: "12".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            os_support_end: Some(1_844_208_000),
            kernel_version: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            vendor: "Dell Inc.".into(),
            model: "Latitude 7420".into(),
            serial: format!("SER{n}"),
            boot_time: Some(NOW - 3600),
            memory_bytes: 16 << 30,
            swap_bytes: 1 << 30,
            cpus: 8,
            disks: vec![
                DiskFacts {
                    mountpoint: "/".into(),
                    size_bytes: 500 << 30,
                    available_bytes: 300 << 30,
                },
                DiskFacts {
                    mountpoint: "/home".into(),
                    size_bytes: 100 << 30,
                    available_bytes: 1 << 30,
                },
            ],
            packages_installed: Some(1234),
        }),
        report: Some(ReportFacts {
            agent_version: "0.1.0".into(),
            collected_at: last_seen,
            outcomes: vec![
                CheckOutcome {
                    check: CheckKind::Inventory,
                    status: if with_inventory {
                        CheckStatus::Ok
                    } else {
                        CheckStatus::Failed
                    },
                    duration_seconds: 0.012,
                },
                CheckOutcome {
                    check: CheckKind::Patches,
                    status: CheckStatus::Ok,
                    duration_seconds: 0.25,
                },
                CheckOutcome {
                    check: CheckKind::Backup,
                    status: CheckStatus::Unsupported,
                    duration_seconds: 0.0,
                },
            ],
        }),
        compliance: (n != 3).then(|| compliance(last_seen)),
        failing_since: FailingSince::default(),
    }
}

fn small_fleet() -> Vec<Arc<DeviceMetrics>> {
    let mut fleet = FleetState::default();
    fleet.insert_stored(&device(1, NOW - 30, true));
    fleet.insert_stored(&device(2, NOW - 7200, true)); // stale, still shown
    fleet.insert_stored(&device(3, NOW - 60, false)); // never had a good inventory
    fleet.insert_stored(&device(4, NOW - 100 * 86_400, true)); // past retirement
    // Judged like the collector does, at NOW.
    let live = LiveState::new(fleet);
    let judge = Judge::new(PolicyHandle::new(Policy {
        stale_after_secs: 900,
        ..Policy::default()
    }));
    judge.judge_fleet(&live, NOW, |_, _| {});
    live.read().snapshot()
}

fn promtool_check(body: &[u8]) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (Debian package `prometheus`); this test never skips");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn snapshot_of_a_small_fleet() {
    let body = exposition::render(&small_fleet(), Selection::default(), clock(), None);
    insta::assert_snapshot!(String::from_utf8(body).unwrap());
}

#[test]
fn promtool_accepts_the_full_output_with_self_metrics() {
    let metrics = SelfMetrics::new();
    metrics.report_accepted(0.004);
    metrics.watch(
        &PolicyHandle::new(Policy::default()),
        std::sync::Arc::new(AlertStats::default()),
    );
    let body = exposition::render(
        &small_fleet(),
        Selection::default(),
        clock(),
        Some(&metrics),
    );
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("fleetwatch_collector_build_info{version=\""));
    for family in [
        "fleetwatch_patches_pending{",
        "fleetwatch_backup_last_success_timestamp_seconds{",
        "fleetwatch_password_policy_setting{",
        "fleetwatch_check_passing{",
        "fleetwatch_check_failing_since_timestamp_seconds{",
        "fleetwatch_device_compliant{",
        "fleetwatch_fleet_checks{",
        "fleetwatch_collector_policy_reloads_total ",
        "fleetwatch_collector_policy_reload_errors_total ",
        "fleetwatch_collector_policy_last_reload_success_timestamp_seconds ",
        "fleetwatch_collector_alerts_firing ",
        "fleetwatch_collector_alert_notifications_sent_total ",
        "fleetwatch_collector_alert_notification_errors_total ",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(text.contains(r#"backup="back\\slash\nnext} 1""#), "escaped");
    promtool_check(&body);
}

#[test]
fn help_and_type_appear_once_per_family() {
    let text = String::from_utf8(exposition::render(
        &small_fleet(),
        Selection::default(),
        clock(),
        Some(&SelfMetrics::new()),
    ))
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(seen.insert(name.to_string()), "TYPE twice for {name}");
    }
    assert!(seen.len() >= 20, "{seen:?}");
}

#[test]
fn stale_devices_stay_retired_devices_leave() {
    let text = String::from_utf8(exposition::render(
        &small_fleet(),
        Selection::default(),
        clock(),
        None,
    ))
    .unwrap();
    assert_eq!(
        lines_with(&text, "fleetwatch_device_last_seen_timestamp_seconds{").len(),
        3
    );
    assert!(text.contains(&format!(
        "fleetwatch_device_last_seen_timestamp_seconds{{device_id=\"dev-02\"}} {}\n",
        NOW - 7200
    )));
    assert!(!text.contains("dev-04"));
    assert!(text.contains("fleetwatch_devices{state=\"reporting\"} 2\n"));
    assert!(text.contains("fleetwatch_devices{state=\"stale\"} 1\n"));
}

#[test]
fn shards_partition_devices_and_aggregates_come_once() {
    let fleet = small_fleet();
    let all = String::from_utf8(exposition::render(
        &fleet,
        Selection::default(),
        clock(),
        None,
    ))
    .unwrap();
    let all_info = lines_with(&all, "fleetwatch_device_info{");
    let mut union = Vec::new();
    let mut aggregates = 0;
    for i in 0..3 {
        let sel = Selection {
            shard: Some((i, 3)),
            aggregates_only: false,
        };
        let text = String::from_utf8(exposition::render(&fleet, sel, clock(), None)).unwrap();
        union.extend(
            lines_with(&text, "fleetwatch_device_info{")
                .into_iter()
                .map(str::to_owned),
        );
        aggregates += lines_with(&text, "fleetwatch_devices{").len();
    }
    union.sort();
    let mut expected: Vec<String> = all_info.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(union, expected);
    assert_eq!(aggregates, 2, "reporting + stale, from shard 0 only");

    let sel = Selection {
        shard: None,
        aggregates_only: true,
    };
    let text = String::from_utf8(exposition::render(&fleet, sel, clock(), None)).unwrap();
    assert!(!text.contains("device_id="));
    assert!(text.contains("fleetwatch_fleet_devices_by_os{os=\"debian\",os_version=\"12\"} 2\n"));
}

#[tokio::test]
async fn hostile_input_is_escaped_capped_and_touches_nothing_else() {
    let c = TestCollector::start();
    let good = enroll(&c.api, identity(1)).await;
    let evil = enroll(&c.api, identity(2)).await;
    assert_eq!(
        post_report(&c.api, &good.node_key, &full_report(&good.device_id, "g1"))
            .await
            .status,
        StatusCode::OK
    );
    let before = get(&c.metrics, "/metrics", None).await.text();
    let good_before = lines_with(&before, &good.device_id);
    let good_detail_before = get(
        &c.api,
        &format!("/api/v1/devices/{}", good.device_id),
        Some(ADMIN_TOKEN),
    )
    .await
    .json();

    let nasty =
        "a\"b\\c\nd} 1\nfleetwatch_device_info{device_id=\"dev-x\"} 1 # Zürich ✓ 東京 \u{0}\t\r";
    let long = "é".repeat(10_000);
    let mut r = full_report(&evil.device_id, "e1");
    let inv = r.inventory.data.as_mut().unwrap();
    inv.hostname = nasty.into();
    inv.hardware.model = Some(long.clone());
    inv.hardware.vendor = Some("\\".repeat(10_000));
    inv.os.id = "\"".repeat(300);
    inv.disks[0].mount_point = format!("/mnt/{nasty}");
    inv.users = vec![
        LocalUser {
            name: nasty.into(),
            uid: 1000,
            ..Default::default()
        },
        LocalUser {
            name: long.clone(),
            uid: 1001,
            ..Default::default()
        },
    ];
    r.agent_version = format!("1.0\n{nasty}");
    let answer = post_report(&c.api, &evil.node_key, &r).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    let scrape = get(&c.metrics, "/metrics", None).await;
    let text = scrape.text();
    promtool_check(&scrape.body);

    // Every sample line is one line: the newlines were escaped.
    let info = lines_with(
        &text,
        &format!("fleetwatch_device_info{{device_id=\"{}\"", evil.device_id),
    );
    assert_eq!(info.len(), 1);
    assert!(info[0].contains(r#"hostname="a\"b\\c\nd} 1\nfleetwatch_device_info{device_id=\"dev-x\"} 1 # Zürich ✓ 東京"#), "{}", info[0]);
    assert!(info[0].contains(&format!("model=\"{}\"", "é".repeat(256))));
    assert!(!info[0].contains(&"é".repeat(257)));
    assert!(info[0].contains(&format!("vendor=\"{}\"", "\\\\".repeat(256))));
    assert!(
        !text.contains("device_id=\"dev-x\"} 1\n"),
        "an injected sample must not appear"
    );
    assert!(info[0].len() < 4096, "capped: {} bytes", info[0].len());

    // The good device is untouched, in metrics and in the store.
    let after = get(&c.metrics, "/metrics", None).await.text();
    assert_eq!(lines_with(&after, &good.device_id), good_before);
    let good_detail_after = get(
        &c.api,
        &format!("/api/v1/devices/{}", good.device_id),
        Some(ADMIN_TOKEN),
    )
    .await
    .json();
    assert_eq!(good_detail_before, good_detail_after);
    // The evil device's data is stored as sent (the API is JSON, no escaping problem).
    let evil_detail = get(
        &c.api,
        &format!("/api/v1/devices/{}", evil.device_id),
        Some(ADMIN_TOKEN),
    )
    .await
    .json();
    assert_eq!(evil_detail["inventory"]["hostname"], nasty);
    assert_eq!(evil_detail["inventory"]["users"][1]["name"], long.as_str());
}
