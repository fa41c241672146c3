//! Policy benchmark: 100,000 devices carrying every section; times fact
//! extraction, evaluation of all devices and rendering of every compliance
//! family. Prints numbers, asserts nothing.
//!
//! `cargo run --release -p fleetwatch-collector --example bench_policy [devices]`

use std::time::Instant;

use fleetwatch_collector::exposition::compliance::{self, DeviceCompliance, FleetCheckCounts};
use fleetwatch_collector::exposition::text::{DeviceIds, Sink};
use fleetwatch_collector::policy::{
    CheckStateTracker, ComplianceFacts, FailingSince, Findings, Outcomes, Policy, evaluate,
};
use fleetwatch_protocol::{
    AccountPasswordState, BackupJob, BackupResult, BackupStatus, CheckResult, Checks, Inventory,
    PasswordPolicy, PasswordSettings, Patches, Report,
};

const NOW: i64 = 1_700_000_000;

fn report(i: usize) -> Report {
    let t = NOW - (i % 600) as i64;
    let accounts = (0..6)
        .map(|a| AccountPasswordState {
            name: format!("user{a}"),
            has_password: true,
            empty_password: i.is_multiple_of(97) && a == 0,
            locked: a == 5,
            max_days: Some(if i.is_multiple_of(5) { 99_999 } else { 365 }),
            expired: i.is_multiple_of(89) && a == 1,
            ..AccountPasswordState::default()
        })
        .collect();
    Report {
        schema_version: 1,
        report_id: format!("r{i}"),
        device_id: format!("dev-{i:06}"),
        agent_version: "0.1.0".into(),
        collected_at: t,
        inventory: CheckResult::ok(
            0.1,
            Inventory {
                hostname: format!("host-{i}"),
                ..Inventory::default()
            },
        ),
        checks: Checks {
            patches: Some(CheckResult::ok(
                0.2,
                Patches {
                    manager: "apt".into(),
                    pending_total: (i % 17) as u32,
                    pending_security: Some((i % 3) as u32),
                    cache_updated_at: Some(t - 3_600),
                    last_install_at: Some(t - 86_400 * (i % 30) as i64),
                    reboot_required: i.is_multiple_of(4),
                    reboot_required_since: i
                        .is_multiple_of(4)
                        .then_some(t - 86_400 * (i % 12) as i64),
                    ..Patches::default()
                },
            )),
            backup: Some(CheckResult::ok(
                0.3,
                BackupStatus {
                    jobs: ["home", "etc"]
                        .iter()
                        .map(|name| BackupJob {
                            name: (*name).into(),
                            kind: "restic".into(),
                            last_success_at: Some(t - 3_600 * (i % 40) as i64),
                            last_result: if i.is_multiple_of(11) {
                                BackupResult::Failure
                            } else {
                                BackupResult::Success
                            },
                            size_bytes: Some(1 << 30),
                            ..BackupJob::default()
                        })
                        .collect(),
                },
            )),
            password_policy: Some(CheckResult::ok(
                0.1,
                PasswordPolicy {
                    settings: PasswordSettings {
                        min_length: Some(if i.is_multiple_of(3) { 8 } else { 14 }),
                        min_classes: Some(3),
                        history: Some(5),
                        lockout_threshold: Some(5),
                        lockout_unlock_seconds: Some(900),
                        max_days: Some(365),
                        min_days: Some(1),
                        warn_days: Some(7),
                        ..PasswordSettings::default()
                    },
                    accounts: Some(accounts),
                    ..PasswordPolicy::default()
                },
            )),
            data_protection: None,
        },
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let policy = Policy {
        patch_cache_max_age_secs: Some(7 * 86_400),
        ..Policy::default()
    };

    let start = Instant::now();
    let devices: Vec<(String, ComplianceFacts)> = (0..n)
        .map(|i| {
            (
                format!("dev-{i:06}"),
                ComplianceFacts::from_report(&report(i), NOW),
            )
        })
        .collect();
    println!(
        "build reports + extract facts: {:8.1} ms ({n} devices)",
        ms(start)
    );
    let heap: usize = devices.iter().map(|(_, f)| f.heap_bytes()).sum();
    println!(
        "facts size: {} B inline + {:.0} B heap per device (avg)",
        size_of::<ComplianceFacts>(),
        heap as f64 / n as f64
    );

    let start = Instant::now();
    let findings: Vec<_> = devices
        .iter()
        .map(|(_, f)| evaluate(f, f.as_of, &policy, NOW))
        .collect();
    let t_eval = ms(start);
    let start = Instant::now();
    let since: Vec<FailingSince> = findings
        .iter()
        .map(|f| CheckStateTracker::update(&FailingSince::default(), f, NOW))
        .collect();
    let t_track = ms(start);

    // Rendered twice: the first pass grows its buffer as it goes, the
    // second starts with the size the first needed.
    let outcomes: Vec<Outcomes> = findings.iter().map(Findings::outcomes).collect();
    // The ids need no escaping.
    let ids = DeviceIds::new(devices.iter().map(|(id, _)| id.as_str()));
    let mut out = Vec::new();
    let mut t_render_cold = 0.0;
    let mut t_render = 0.0;
    for pass in 0..2 {
        let start = Instant::now();
        let views =
            devices
                .iter()
                .zip(&outcomes)
                .zip(&since)
                .map(|(((_, facts), outcomes), since)| DeviceCompliance {
                    facts,
                    outcomes: *outcomes,
                    failing_since: *since,
                });
        let mut sink = Sink::collecting(out.capacity());
        compliance::render_compliance_families(&mut sink, views, &ids);
        let mut counts = FleetCheckCounts::default();
        for o in &outcomes {
            counts.add(*o);
        }
        compliance::render_fleet_checks(&mut sink, &counts);
        out = sink.finish();
        if pass == 0 {
            t_render_cold = ms(start);
        } else {
            t_render = ms(start);
        }
    }
    let samples = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count();

    println!("evaluate all:                  {t_eval:8.1} ms");
    println!("render, fresh buffer:          {t_render_cold:8.1} ms");
    println!("failing-since tracker:         {t_track:8.1} ms");
    println!(
        "render compliance families:    {t_render:8.1} ms ({samples} samples, {:.1} MiB)",
        out.len() as f64 / (1 << 20) as f64
    );
    println!(
        "evaluate + render:             {:8.1} ms",
        t_eval + t_render
    );
    let non_compliant = findings
        .iter()
        .filter(|f| f.compliant == Some(false))
        .count();
    println!("non-compliant devices: {non_compliant}");
}
