//! The whole macOS path on this Linux machine: each `tests/hosts/macos-*`
//! fixture root is detected as macOS and every check runs against its files
//! and recorded command outputs (see tests/hosts/README.md for where each
//! recording comes from).
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetwatch_agent::checks::CheckContext;
use fleetwatch_agent::checks::backup::BackupJobConfig;
use fleetwatch_agent::config::{ChecksConfig, MacosConfig};
use fleetwatch_agent::host::{RecordedRunner, SysRoot};
use fleetwatch_agent::platform::{self, CheckPlan, Collection, Platform};
use fleetwatch_protocol::{
    BackupResult, CheckResult, CheckStatus, EncryptionState, OsFamily, Report, SCHEMA_VERSION,
};

/// "Now" for every fixture: 2026-11-22T08:00:00Z, as for the Linux hosts.
const NOW: i64 = 1_795_334_400;

fn host_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/hosts")
        .join(name)
}

fn time_machine_job() -> Vec<BackupJobConfig> {
    #[derive(serde::Deserialize)]
    struct Jobs {
        backup: Vec<BackupJobConfig>,
    }
    let jobs: Jobs =
        toml::from_str("[[backup]]\nname = \"time-machine\"\nkind = \"time_machine\"\n").unwrap();
    jobs.backup
}

/// Every check of the plan, as the agent runs them, on `root`.
fn collect_root(root: &SysRoot, runner: &RecordedRunner, macos: MacosConfig) -> Collection {
    let ctx = CheckContext {
        root,
        runner,
        now: NOW,
        command_timeout: Duration::from_secs(5),
    };
    let jobs = time_machine_job();
    let plan = CheckPlan {
        checks: ChecksConfig::default(),
        backup: &jobs,
        macos,
    };
    platform::collect(Platform::detect(root), &ctx, plan)
}

fn collect_with(name: &str, macos: MacosConfig) -> Collection {
    let dir = host_dir(name);
    let root = SysRoot::new(&dir);
    assert_eq!(Platform::detect(&root), Platform::Macos, "{name}");
    let runner = RecordedRunner::from_dir(&dir.join("commands")).unwrap();
    collect_root(&root, &runner, macos)
}

fn collect(name: &str) -> Collection {
    collect_with(name, MacosConfig::default())
}

fn ok<T: std::fmt::Debug>(r: &Option<CheckResult<T>>) -> &T {
    let r = r.as_ref().expect("check ran");
    assert_eq!(r.status, CheckStatus::Ok, "{:?}", r.error);
    r.data.as_ref().unwrap()
}

#[test]
fn macos14_compliant_inventory() {
    let c = collect("macos14-compliant");
    assert_eq!(
        c.inventory.status,
        CheckStatus::Ok,
        "{:?}",
        c.inventory.error
    );
    let inv = c.inventory.data.as_ref().unwrap();
    assert_eq!(inv.hostname, "mbp-0042");
    assert_eq!(inv.fqdn, None, "HostName is not set");
    assert_eq!(
        inv.computer_name.as_deref(),
        Some("Alice\u{2019}s MacBook Pro")
    );
    assert_eq!(inv.machine_id, None);
    assert_eq!(inv.os.family, Some(OsFamily::Macos));
    assert_eq!(inv.os.id, "macos");
    assert_eq!(inv.os.version_id.as_deref(), Some("14.4.1"));
    assert_eq!(inv.os.build.as_deref(), Some("23E224"));
    assert_eq!(inv.os.pretty_name.as_deref(), Some("macOS Sonoma 14.4.1"));
    assert_eq!(inv.os.display_version, None);
    assert_eq!(inv.kernel_version.as_deref(), Some("23.4.0"));
    assert_eq!(inv.arch, "arm64");
    assert_eq!(inv.cpu.model.as_deref(), Some("Apple M2"));
    assert_eq!((inv.cpu.logical_cpus, inv.cpu.physical_cores), (8, Some(8)));
    assert_eq!(inv.memory.total_bytes, 16 * 1024 * 1024 * 1024);
    assert_eq!(inv.memory.available_bytes, (5832 + 281_905 + 4013) * 16384);
    assert_eq!(inv.memory.swap_total_bytes, 1024 * 1024 * 1024);
    assert_eq!(inv.boot_time, Some(NOW - 3 * 86_400));
    let hw = &inv.hardware;
    assert_eq!(hw.vendor.as_deref(), Some("Apple Inc."));
    assert_eq!(hw.model.as_deref(), Some("MacBook Pro (Mac14,7)"));
    assert_eq!(hw.serial.as_deref(), Some("FW0042MBPX"));
    assert_eq!(
        hw.uuid.as_deref(),
        Some("5e2a7c11-9b3d-5f4e-8a21-6c0d9e3f1b42")
    );
    assert_eq!(hw.bios_version.as_deref(), Some("10151.101.3"));
    let mounts: Vec<_> = inv.disks.iter().map(|d| d.mount_point.as_str()).collect();
    assert_eq!(
        mounts,
        ["/", "/System/Volumes/Data", "/Volumes/Backups of mbp-0042"]
    );
    assert_eq!(inv.disks[0].filesystem, "apfs");
    assert!(inv.disks[2].removable && !inv.disks[0].removable);
    let nics: Vec<_> = inv.network.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nics, ["anpi0", "awdl0", "en0", "utun0"]);
    let en0 = inv.network.iter().find(|n| n.name == "en0").unwrap();
    assert_eq!(en0.mac.as_deref(), Some("f8:4d:89:12:34:56"));
    assert!(en0.addresses.contains(&"10.20.30.42/24".to_string()));
    let interactive: Vec<_> = inv
        .users
        .iter()
        .filter(|u| u.interactive)
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(interactive, ["root", "alice", "itadmin"]);
    let pkgs = inv.packages.as_ref().unwrap();
    assert_eq!(pkgs.manager, "macos_apps");
    let items = pkgs.items.as_ref().unwrap();
    let apps: Vec<_> = items
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.identifier.as_deref()))
        .collect();
    // Broken.app has no Info.plist; Word's is a binary plist; Acrobat sits one folder down.
    assert_eq!(
        apps,
        [
            (
                "Adobe Acrobat",
                "24.001.20604",
                Some("com.adobe.Acrobat.Pro")
            ),
            ("Microsoft Word", "16.83", Some("com.microsoft.Word")),
            ("Safari", "17.4.1", Some("com.apple.Safari")),
            ("Slack", "4.38.125", Some("com.tinyspeck.slackmacgap")),
        ]
    );
    assert_eq!(pkgs.count, 4);
    assert_eq!(
        pkgs.hash,
        fleetwatch_agent::checks::inventory::packages::packages_hash(items)
    );
}

#[test]
fn macos14_compliant_checks() {
    let c = collect("macos14-compliant");
    let p = ok(&c.checks.patches);
    assert_eq!(p.manager, "softwareupdate");
    assert_eq!((p.pending_total, p.pending_security), (1, Some(0)));
    assert_eq!(p.pending[0].name, "Safari");
    assert!(!p.reboot_required, "a Safari update needs no restart");
    // The newest of LastSuccessfulDate and LastFullSuccessfulDate.
    assert_eq!(p.cache_updated_at, Some(NOW - 3 * 3600));
    assert_eq!(p.last_install_at, Some(1_795_146_069)); // 2026-11-20T03:41:09Z

    let b = ok(&c.checks.backup);
    let job = &b.jobs[0];
    assert_eq!(
        (job.kind.as_str(), job.unsupported),
        ("time_machine", false)
    );
    assert_eq!(job.error, None);
    assert_eq!(job.last_result, BackupResult::Success);
    assert_eq!(job.last_success_at, Some(NOW - 5400 + 12)); // 06:30:12Z
    assert_eq!(job.snapshot_count, Some(3));

    let pol = ok(&c.checks.password_policy);
    // The managed profile (15) wins over the local account policy (8).
    assert_eq!(pol.settings.min_length, Some(15));
    assert_eq!(pol.settings.min_classes, Some(3));
    assert_eq!(pol.settings.history, Some(5));
    assert_eq!(pol.settings.lockout_threshold, Some(5));
    assert_eq!(pol.settings.lockout_unlock_seconds, Some(900));
    assert_eq!(pol.settings.max_days, Some(365));
    assert_eq!(pol.sources.len(), 2);
    assert_eq!(
        pol.origins["min_length"].path.as_deref(),
        Some("/Library/Managed Preferences/com.apple.mobiledevice.passwordpolicy.plist")
    );
    assert_eq!(pol.origins["min_length"].enforced, Some(true));
    assert_eq!(pol.accounts, None);
    assert!(pol.accounts_error.is_some());

    let dp = ok(&c.checks.data_protection);
    assert_eq!(dp.volumes[0].state, EncryptionState::Encrypted);
    assert_eq!(dp.volumes[0].protection_on, Some(true));
    assert_eq!(dp.firewall.as_ref().unwrap().enabled, Some(true));
    let av = dp.antivirus.as_ref().unwrap();
    assert_eq!(av.signature_version.as_deref(), Some("5287"));
    assert_eq!(av.signatures_updated_at, Some(1_795_146_069));
    let prot: Vec<_> = dp
        .platform_protections
        .iter()
        .map(|p| (p.name.as_str(), p.enabled))
        .collect();
    assert_eq!(prot, [("gatekeeper", Some(true)), ("sip", Some(true))]);
}

#[test]
fn macos13_noncompliant_from_the_cache() {
    let c = collect("macos13-noncompliant");
    let inv = c.inventory.data.as_ref().unwrap();
    assert_eq!(inv.os.display_version.as_deref(), Some("13.4.1 (a)"));
    assert_eq!(
        inv.os.pretty_name.as_deref(),
        Some("macOS Ventura 13.4.1 (a)")
    );
    assert_eq!(inv.fqdn.as_deref(), Some("mbp-intel-07.corp.example.com"));
    assert_eq!(inv.arch, "x86_64");
    assert_eq!(
        inv.hardware.model.as_deref(),
        Some("MacBook Pro (MacBookPro16,1)")
    );
    assert_eq!(
        inv.memory.available_bytes,
        (81_234 + 2_890_123 + 40_321) * 4096
    );

    let p = ok(&c.checks.patches);
    assert_eq!((p.pending_total, p.pending_security), (3, Some(1)));
    assert!(p.pending[0].security, "security first");
    assert_eq!(p.pending[0].name, "macOS Security Response 13.4.1 (c)");
    assert!(p.reboot_required);
    assert_eq!(
        p.reboot_required_packages,
        ["macOS Security Response 13.4.1 (c)", "macOS Ventura 13.6.1"]
    );
    assert_eq!(p.cache_updated_at, Some(NOW - 73 * 86_400));

    // Without Full Disk Access: unsupported with the reason, never "no backup".
    let job = &ok(&c.checks.backup).jobs[0];
    assert!(job.unsupported);
    assert!(job.error.as_deref().unwrap().contains("Full Disk Access"));
    assert_eq!(
        (job.last_success_at, job.last_result),
        (None, BackupResult::Unknown)
    );

    let pol = ok(&c.checks.password_policy);
    assert_eq!(pol.settings.min_length, Some(8));
    assert_eq!(pol.settings.min_classes, Some(1));
    assert_eq!(pol.settings.dcredit, Some(-1));
    assert_eq!(pol.settings.history, Some(1));
    assert_eq!(pol.settings.max_days, Some(730));
    assert_eq!(pol.settings.lockout_threshold, None);
    assert_eq!(pol.sources, ["pwpolicy -getaccountpolicies"]);
    assert_eq!(
        pol.origins["max_days"].path.as_deref(),
        Some("pwpolicy -getaccountpolicies")
    );
    assert!(!pol.origins.contains_key("lockout_threshold"));

    let dp = ok(&c.checks.data_protection);
    assert_eq!(dp.volumes[0].state, EncryptionState::EncryptionInProgress);
    assert_eq!(dp.firewall.as_ref().unwrap().enabled, Some(false));
    let prot: Vec<_> = dp.platform_protections.iter().map(|p| p.enabled).collect();
    assert_eq!(prot, [Some(false), Some(false)]);
    assert_eq!(
        dp.antivirus.as_ref().unwrap().signatures_updated_at,
        Some(1_772_359_200) // 2026-03-01T10:00:00Z
    );
}

#[test]
fn macos13_noncompliant_with_a_scan_reads_softwareupdate_list() {
    let c = collect_with(
        "macos13-noncompliant",
        MacosConfig {
            softwareupdate_scan: true,
        },
    );
    let p = ok(&c.checks.patches);
    // The scan also lists the non-recommended Safari update.
    assert_eq!((p.pending_total, p.pending_security), (4, Some(1)));
    assert_eq!(p.cache_updated_at, Some(NOW), "a scan just ran");
    assert_eq!(
        p.reboot_required_packages,
        ["macOS Security Response 13.4.1 (c)", "macOS Ventura 13.6.1"]
    );
    let safari = p.pending.iter().find(|u| u.name == "Safari").unwrap();
    assert_eq!(safari.candidate_version.as_deref(), Some("16.6"));
}

#[test]
fn a_report_from_a_macos_root_round_trips_and_holds_no_password_data() {
    let c = collect("macos14-compliant");
    let report = Report {
        schema_version: SCHEMA_VERSION,
        report_id: "r".into(),
        device_id: "d".into(),
        agent_version: "t".into(),
        collected_at: NOW,
        inventory: c.inventory,
        checks: c.checks,
    };
    let json = serde_json::to_string(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    for forbidden in ["ShadowHash", "AuthenticationAuthority", "passwordHash"] {
        assert!(!json.contains(forbidden), "{forbidden}");
    }
}

#[test]
fn a_mac_without_recordings_reports_unknown_not_zero() {
    // Only the version plist: every command is "not installed".
    let dir = tempfile::tempdir().unwrap();
    let src = host_dir("macos14-compliant").join("System/Library/CoreServices/SystemVersion.plist");
    let dst = dir.path().join("System/Library/CoreServices");
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src, dst.join("SystemVersion.plist")).unwrap();
    let c = collect_root(
        &SysRoot::new(dir.path()),
        &RecordedRunner::new(),
        MacosConfig::default(),
    );
    let inv = c.inventory.data.as_ref().unwrap();
    assert_eq!(
        inv.os.version_id.as_deref(),
        Some("14.4.1"),
        "from the plist"
    );
    assert_eq!(inv.hardware.serial, None);
    // No cached Software Update state: failed, never "0 pending".
    assert_eq!(
        c.checks.patches.as_ref().unwrap().status,
        CheckStatus::Failed
    );
    assert_eq!(
        c.checks.password_policy.as_ref().unwrap().status,
        CheckStatus::Failed
    );
    let job = &ok(&c.checks.backup).jobs[0];
    assert!(job.error.is_some() && job.last_success_at.is_none());
    let dp = ok(&c.checks.data_protection);
    assert_eq!(dp.volumes[0].state, EncryptionState::Unknown);
    assert_eq!(dp.volumes[0].protection_on, None);
    assert!(dp.firewall.is_none() && dp.firewall_error.is_some());
    assert!(dp.platform_protections.iter().all(|p| p.enabled.is_none()));
}
