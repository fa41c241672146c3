//! The three compliance checks on every fixture host tree
//! (`tests/hosts/<scenario>/`) with its recorded command outputs; the
//! sections are snapshot-tested (`tests/snapshots/`).
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use fleetwatch_agent::checks::backup::{BackupCheck, BackupJobConfig};
use fleetwatch_agent::checks::password_policy::PasswordPolicyCheck;
use fleetwatch_agent::checks::patches::PatchCheck;
use fleetwatch_agent::checks::{CheckContext, run_check};
use fleetwatch_agent::host::{RecordedRunner, SysRoot};
use fleetwatch_protocol::{BackupStatus, CheckResult, CheckStatus, PasswordPolicy, Patches};

/// "Now" for every fixture: 2026-11-22T08:00:00Z.
const NOW: i64 = 1_795_334_400;

fn scenario_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/hosts")
        .join(name)
}

/// git keeps no mtimes: each scenario lists the ones its checks read.
fn apply_mtimes(dir: &Path) {
    let Ok(list) = std::fs::read_to_string(dir.join("mtimes.txt")) else {
        return;
    };
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (path, secs) = line.rsplit_once(' ').expect("`path seconds`");
        let secs: u64 = secs.parse().expect("seconds");
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        file.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }
}

/// The backup jobs every fixture host has recordings for.
fn fixture_jobs() -> Vec<BackupJobConfig> {
    #[derive(serde::Deserialize)]
    struct Jobs {
        backup: Vec<BackupJobConfig>,
    }
    let jobs: Jobs = toml::from_str(
        r#"
        [[backup]]
        name = "restic-nightly"
        kind = "restic"
        repository = "/srv/backup/restic"
        password_file = "/etc/fleetwatch/restic.pass"
        # The recordings were made on a host named "vm".
        host = "vm"

        [[backup]]
        name = "borg-home"
        kind = "borg"
        repository = "/srv/backup/borg"
        password_file = "/etc/fleetwatch/borg.pass"
        host = "vm"

        [[backup]]
        name = "db-dump"
        kind = "marker"
        path = "/var/lib/fleetwatch/db-dump.ok"

        [[backup]]
        name = "vendor"
        kind = "command"
        command = ["/usr/local/bin/backup-status", "--json"]
        "#,
    )
    .unwrap();
    jobs.backup
}

struct Sections {
    patches: CheckResult<Patches>,
    backup: CheckResult<BackupStatus>,
    password_policy: CheckResult<PasswordPolicy>,
}

/// Runs `f` with the host's root and recorded commands at [`NOW`].
fn on_host<T>(dir: &Path, f: impl FnOnce(&CheckContext<'_>) -> T) -> T {
    let root = SysRoot::new(dir);
    let runner = RecordedRunner::from_dir(&dir.join("commands")).unwrap();
    let ctx = CheckContext {
        root: &root,
        runner: &runner,
        now: NOW,
        command_timeout: Duration::from_secs(5),
    };
    f(&ctx)
}

fn run_scenario(name: &str) -> Sections {
    let dir = scenario_dir(name);
    apply_mtimes(&dir);
    // The marker's mtime is the last success; pin it too.
    let marker = dir.join("var/lib/fleetwatch/db-dump.ok");
    std::fs::File::options()
        .write(true)
        .open(&marker)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs((NOW - 5 * 3600) as u64))
        .unwrap();
    let mut s = on_host(&dir, |ctx| Sections {
        patches: run_check(&PatchCheck, ctx),
        backup: run_check(&BackupCheck::new(fixture_jobs()), ctx),
        password_policy: run_check(&PasswordPolicyCheck, ctx),
    });
    // Wall time is the only non-deterministic field.
    s.patches.duration_seconds = 0.0;
    s.backup.duration_seconds = 0.0;
    s.password_policy.duration_seconds = 0.0;
    s
}

/// Hashes and passwords of the scenario that must never reach a report.
fn secrets_of(name: &str) -> Vec<String> {
    let dir = scenario_dir(name);
    let shadow = std::fs::read_to_string(dir.join("etc/shadow")).unwrap();
    let mut secrets: Vec<String> = shadow
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|h| h.trim_start_matches('!').to_string())
        .filter(|h| h.starts_with('$'))
        .collect();
    assert!(!secrets.is_empty(), "{name}: fixture shadow has hashes");
    for f in ["etc/fleetwatch/restic.pass", "etc/fleetwatch/borg.pass"] {
        secrets.push(
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_string(),
        );
    }
    secrets
}

fn check_scenario(name: &str) -> Sections {
    let s = run_scenario(name);
    assert_eq!(
        s.patches.status,
        CheckStatus::Ok,
        "{name}: {:?}",
        s.patches.error
    );
    assert_eq!(
        s.backup.status,
        CheckStatus::Ok,
        "{name}: {:?}",
        s.backup.error
    );
    assert_eq!(
        s.password_policy.status,
        CheckStatus::Ok,
        "{name}: {:?}",
        s.password_policy.error
    );
    let json = serde_json::to_string(&(&s.patches, &s.backup, &s.password_policy)).unwrap();
    for secret in secrets_of(name) {
        assert!(!json.contains(&secret), "{name}: a secret leaked: {secret}");
    }
    insta::assert_json_snapshot!(format!("{name}-patches"), s.patches);
    insta::assert_json_snapshot!(format!("{name}-backup"), s.backup);
    insta::assert_json_snapshot!(format!("{name}-password_policy"), s.password_policy);
    s
}

fn patches(s: &Sections) -> &Patches {
    s.patches.data.as_ref().unwrap()
}

fn policy(s: &Sections) -> &PasswordPolicy {
    s.password_policy.data.as_ref().unwrap()
}

#[test]
fn debian12_compliant() {
    let s = check_scenario("debian12-compliant");
    let p = patches(&s);
    assert_eq!((p.manager.as_str(), p.pending_total), ("apt", 0));
    assert_eq!(p.cache_updated_at, Some(NOW - 3 * 3600));
    assert_eq!(p.running_kernel, p.newest_kernel);
    let pol = policy(&s);
    // libpwquality reads pwquality.conf.d/*.conf first and pwquality.conf
    // last: the main file's minlen 12 and minclass 3 win over 50's 14 and
    // 60's 4; 50's credits, which the main file does not set, stay.
    assert_eq!(pol.settings.min_length, Some(12));
    assert_eq!(pol.settings.min_classes, Some(3));
    assert_eq!(pol.settings.dcredit, Some(-1));
    assert_eq!(pol.settings.hash_algorithm.as_deref(), Some("yescrypt"));
    assert_eq!(pol.settings.lockout_threshold, Some(5));
    assert_eq!(pol.settings.history, Some(24));
}

#[test]
fn debian12_noncompliant() {
    let s = check_scenario("debian12-noncompliant");
    let p = patches(&s);
    // Real `apt-get -s dist-upgrade` output recorded on a Debian 12 machine
    // (124 upgrades, nothing newly installed), and its real sources.
    assert_eq!(p.pending_total, 124);
    assert!(p.new_packages.is_empty());
    assert_eq!(p.pending_security, Some(81));
    assert_eq!(p.reboot_required_state(), Some(true));
    assert_eq!(
        p.reboot_required_packages,
        vec!["linux-image-6.1.0-28-amd64", "libc6"]
    );
    assert_eq!(p.newest_kernel.as_deref(), Some("6.1.0-28-amd64"));
    assert_eq!(p.running_kernel.as_deref(), Some("6.1.0-26-amd64"));
    let pol = policy(&s);
    // pwquality.conf says 14, but pam_pwquality is not in the stack (its line is commented).
    assert_eq!(pol.settings.min_length, None);
    assert_eq!(pol.settings.max_days, Some(99999));
    // `PASS_MIN_DAYS` without a value and `PASS_WARN_AGE seven` are skipped.
    assert_eq!(pol.settings.min_days, Some(0));
    assert_eq!(pol.settings.warn_days, Some(7));
    let accounts = pol.accounts.as_ref().unwrap();
    let by = |n: &str| accounts.iter().find(|a| a.name == n).unwrap();
    assert!(by("bob").empty_password);
    assert!(by("carol").expired);
    assert!(by("dave").expired);
    assert!(by("eve").locked);
    let backup = s.backup.data.as_ref().unwrap();
    assert!(
        backup
            .jobs
            .iter()
            .all(|j| j.name != "restic-nightly" || j.error.is_some())
    );
}

#[test]
fn ubuntu2404_compliant() {
    let s = check_scenario("ubuntu2404-compliant");
    let p = patches(&s);
    // Recorded from Debian's apt against a local repository whose Release
    // files say `Label: Ubuntu`, `Suite: noble-updates`/`noble-security`.
    assert_eq!((p.pending_total, p.pending_security), (3, Some(0)));
    let pol = policy(&s);
    // PAM arguments override pwquality.conf (8) and faillock.conf (10).
    assert_eq!(pol.settings.min_length, Some(16));
    assert_eq!(pol.settings.min_classes, Some(2));
    assert_eq!(pol.settings.ucredit, Some(-1));
    assert_eq!(pol.settings.lockout_threshold, Some(3));
    assert_eq!(pol.settings.lockout_unlock_seconds, Some(600));
    assert_eq!(pol.settings.history, Some(12));
}

#[test]
fn ubuntu2404_noncompliant() {
    let s = check_scenario("ubuntu2404-noncompliant");
    let p = patches(&s);
    assert_eq!((p.pending_total, p.pending_security), (6, Some(3)));
    // The kernel fix arrives as a new package the metapackage pulls in.
    let new: Vec<_> = p.new_packages.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(new, ["linux-image-6.8.0-51-generic"]);
    assert!(p.reboot_required);
    assert_eq!(policy(&s).settings.min_length, Some(6));
}

#[test]
fn rocky9_compliant() {
    let s = check_scenario("rocky9-compliant");
    let p = patches(&s);
    assert_eq!(
        (p.manager.as_str(), p.pending_total, p.pending_security),
        ("dnf", 0, Some(0))
    );
    assert_eq!(p.reboot_required_state(), Some(false));
    assert_eq!(p.cache_updated_at, Some(NOW - 5 * 3600));
    let pol = policy(&s);
    assert_eq!(pol.settings.min_length, Some(14));
    assert_eq!(pol.settings.hash_algorithm.as_deref(), Some("sha512"));
    assert_eq!(pol.origins["min_length"].enforced, Some(true));
}

#[test]
fn rocky9_noncompliant() {
    let s = check_scenario("rocky9-noncompliant");
    let p = patches(&s);
    // Recorded from the real dnf -C against local repositories with updateinfo.
    assert_eq!((p.pending_total, p.pending_security), (4, Some(3)));
    assert_eq!(p.reboot_required_state(), Some(true));
    assert_eq!(p.reboot_required_packages, ["kernel", "systemd"]);
    let openssl = p.pending.iter().find(|u| u.name == "openssl-libs").unwrap();
    assert_eq!(openssl.installed_version.as_deref(), Some("1:3.0.7-27.el9"));
    assert!(openssl.security);
    assert_eq!(
        p.newest_kernel.as_deref(),
        Some("5.14.0-503.14.1.el9_5.x86_64")
    );
    let pol = policy(&s);
    assert_eq!(pol.settings.lockout_threshold, None);
    // pam_pwquality is in the stack and nothing sets minlen: libpwquality's 8.
    assert_eq!(pol.settings.min_length, Some(8));
    assert_eq!(
        pol.origins["min_length"].source,
        fleetwatch_protocol::SettingSource::ModuleDefault
    );
}

#[test]
fn opensuse_compliant() {
    let s = check_scenario("opensuse-compliant");
    let p = patches(&s);
    assert_eq!(
        (p.manager.as_str(), p.pending_total, p.pending_security),
        ("zypper", 0, Some(0))
    );
    let pol = policy(&s);
    assert_eq!(pol.settings.lockout_unlock_seconds, Some(0));
    assert_eq!(pol.settings.min_classes, Some(3));
}

#[test]
fn opensuse_noncompliant() {
    let s = check_scenario("opensuse-noncompliant");
    let p = patches(&s);
    // Two security patches fix four packages: the count is of packages
    // (zypper's `list-patches --category security` lists three patches).
    assert_eq!((p.pending_total, p.pending_security), (5, Some(4)));
    assert_eq!(p.reboot_required_state(), Some(true));
    assert_eq!(p.reboot_required_since, Some(NOW - 6 * 86400));
    // pam_cracklib does not read pwquality.conf.
    assert_eq!(policy(&s).settings.min_length, None);
}

#[test]
fn arch_compliant() {
    let s = check_scenario("arch-compliant");
    let p = patches(&s);
    assert_eq!(
        (p.manager.as_str(), p.pending_total, p.pending_security),
        ("pacman", 0, None)
    );
    assert_eq!(p.reboot_required_state(), Some(false));
    assert_eq!(policy(&s).settings.min_length, Some(15));
}

#[test]
fn arch_noncompliant() {
    let s = check_scenario("arch-noncompliant");
    let p = patches(&s);
    // Recorded from the real `pacman -Qu` on a root synced with a local repository.
    assert_eq!(p.pending_total, 4);
    assert_eq!(
        p.reboot_required_state(),
        Some(true),
        "running kernel's modules are gone"
    );
}

/// A host with only the patch check's files: runs it, snapshots the
/// section (the collector's tests read these snapshots).
fn patches_only(name: &str) -> CheckResult<Patches> {
    let dir = scenario_dir(name);
    apply_mtimes(&dir);
    let mut r = on_host(&dir, |ctx| run_check(&PatchCheck, ctx));
    r.duration_seconds = 0.0;
    insta::assert_json_snapshot!(format!("{name}-patches"), r);
    r
}

#[test]
fn centos9_reposync_mirror_without_updateinfo_is_unknown_not_zero() {
    let r = patches_only("centos9-reposync");
    assert_eq!(r.status, CheckStatus::Ok, "{:?}", r.error);
    let p = r.data.unwrap();
    assert_eq!(p.pending_total, 1);
    // The mirror has no updateinfo: its update may be a security fix.
    assert_eq!(p.pending_security, None);
    // needs-restarting is not installed: unknown, not "no reboot".
    assert_eq!(p.reboot_required_state(), None);
    // RPM order: 1.4~rc1 is older than 1.4.
    assert_eq!(
        p.pending[0].installed_version.as_deref(),
        Some("1.4~rc1-1.el9")
    );
}

#[test]
fn centos9_uncached_repository_fails_instead_of_undercounting() {
    let r = patches_only("centos9-uncached");
    assert_eq!(r.status, CheckStatus::Failed);
    assert!(
        r.error.as_deref().unwrap().contains("never-cached"),
        "{:?}",
        r.error
    );
}

#[test]
fn debian12_mirror_without_security_suite_is_unknown() {
    let r = patches_only("debian12-mirror");
    assert_eq!(r.status, CheckStatus::Ok, "{:?}", r.error);
    let p = r.data.unwrap();
    assert_eq!((p.pending_total, p.pending_security), (2, None));
    // The lists are newer than the periodic stamp (a manual `apt update`).
    assert_eq!(p.cache_updated_at, Some(NOW - 18_000));
    // dpkg.log was just rotated: the last install is in dpkg.log.1.
    assert_eq!(p.last_install_at, Some(1_795_155_786));
}

#[test]
fn zypper_interrupted_by_a_signal_is_a_failure() {
    let r = patches_only("opensuse-interrupted");
    assert_eq!(r.status, CheckStatus::Failed);
    assert!(r.error.as_deref().unwrap().contains("105"), "{:?}", r.error);
}
