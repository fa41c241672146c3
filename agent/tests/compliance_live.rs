//! The compliance checks against this real machine: its apt state, and
//! real restic and borg repositories made in a temp dir. restic and borg
//! must be installed (`/usr/bin`); these tests fail, never skip, without them.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetwatch_agent::checks::backup::{BackupCheck, BackupJobConfig, BackupKind};
use fleetwatch_agent::checks::patches::PatchCheck;
use fleetwatch_agent::checks::{CheckContext, run_check};
use fleetwatch_agent::host::{SysRoot, SystemRunner};
use fleetwatch_protocol::{BackupJob, BackupResult, CheckStatus};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn job(name: &str, kind: BackupKind) -> BackupJobConfig {
    BackupJobConfig::new(name, kind)
}

/// Runs the backup check live (root `/`, real commands) and returns its jobs
/// plus the serialized section.
fn run_backup(jobs: Vec<BackupJobConfig>) -> (Vec<BackupJob>, String) {
    let root = SysRoot::live();
    let runner = SystemRunner::new();
    let ctx = CheckContext {
        root: &root,
        runner: &runner,
        now: now(),
        command_timeout: Duration::from_secs(120),
    };
    let result = run_check(&BackupCheck::new(jobs), &ctx);
    let json = serde_json::to_string(&result).unwrap();
    assert_eq!(result.status, CheckStatus::Ok, "{json}");
    (result.data.unwrap().jobs, json)
}

/// Runs a setup command of the test itself; a missing tool fails the test.
fn sh(program: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed for this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn small_tree(dir: &Path) -> String {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "fleetwatch live backup test\n").unwrap();
    std::fs::write(data.join("sub/b.bin"), vec![7u8; 10_000]).unwrap();
    data.to_str().unwrap().to_string()
}

#[test]
fn live_apt_patch_check_on_this_machine() {
    let root = SysRoot::live();
    let runner = SystemRunner::new();
    let ctx = CheckContext {
        root: &root,
        runner: &runner,
        now: now(),
        command_timeout: Duration::from_secs(120),
    };
    let result = run_check(&PatchCheck, &ctx);
    assert_eq!(result.status, CheckStatus::Ok, "{:?}", result.error);
    let p = result.data.unwrap();
    assert_eq!(p.manager, "apt");
    assert!(p.pending_security.is_some());
    assert!(p.pending_security.unwrap() <= p.pending_total);
    assert!(p.pending.len() <= 200);
    assert!(
        p.cache_updated_at.is_some(),
        "apt lists exist on a Debian host"
    );
    assert!(p.running_kernel.is_some());
}

#[test]
fn live_restic_repository_reports_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = small_tree(d);
    let repo = d.join("repo");
    let repo = repo.to_str().unwrap();
    let pw = d.join("password");
    std::fs::write(&pw, "FW-LIVE-RESTIC-SECRET-7f3a\n").unwrap();
    let pw = pw.to_str().unwrap();
    let cache = d.join("cache");
    let cache = cache.to_str().unwrap();
    let env = [("RESTIC_CACHE_DIR", cache)];
    sh(
        "/usr/bin/restic",
        &["init", "-q", "-r", repo, "--password-file", pw],
        &env,
    );
    let before = now();
    sh(
        "/usr/bin/restic",
        &["backup", "-q", "-r", repo, "--password-file", pw, &data],
        &env,
    );
    let after = now();

    let mut j = job("restic-live", BackupKind::Restic);
    j.repository = Some(repo.into());
    j.password_file = Some(pw.into());
    j.env.insert("RESTIC_CACHE_DIR".into(), cache.into());
    let (jobs, json) = run_backup(vec![j]);
    let r = &jobs[0];
    assert_eq!(r.error, None, "{json}");
    assert_eq!(r.snapshot_count, Some(1));
    assert_eq!(r.last_result, BackupResult::Success);
    let t = r.last_success_at.unwrap();
    assert!(
        before - 2 <= t && t <= after + 2,
        "{t} not in [{before}, {after}]"
    );
    assert!(r.size_bytes.unwrap() >= 10_000, "{json}");
    assert!(!json.contains("FW-LIVE-RESTIC-SECRET"), "{json}");
}

#[test]
fn live_borg_repository_reports_its_archive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = small_tree(d);
    let repo = d.join("repo");
    let repo = repo.to_str().unwrap();
    let pw = d.join("pass phrase"); // a space: BORG_PASSCOMMAND quoting matters
    std::fs::write(&pw, "FW-LIVE-BORG-SECRET-91c2\n").unwrap();
    let pw = pw.to_str().unwrap();
    let base = d.join("borg-base");
    let base = base.to_str().unwrap();
    let passcommand = format!("cat '{pw}'");
    let env = [
        ("BORG_PASSCOMMAND", passcommand.as_str()),
        ("BORG_BASE_DIR", base),
    ];
    sh("/usr/bin/borg", &["init", "-e", "repokey", repo], &env);
    let before = now();
    let archive = format!("{repo}::live-{before}");
    sh("/usr/bin/borg", &["create", &archive, &data], &env);
    let after = now();

    let mut j = job("borg-live", BackupKind::Borg);
    j.repository = Some(repo.into());
    j.password_file = Some(pw.into());
    j.env.insert("BORG_BASE_DIR".into(), base.into());
    let (jobs, json) = run_backup(vec![j]);
    let b = &jobs[0];
    assert_eq!(b.error, None, "{json}");
    assert_eq!(b.snapshot_count, Some(1));
    let t = b.last_success_at.unwrap();
    // borg keeps whole seconds.
    assert!(
        before - 2 <= t && t <= after + 2,
        "{t} not in [{before}, {after}]"
    );
    assert!(b.size_bytes.unwrap() >= 10_000, "{json}");
    assert!(!json.contains("FW-LIVE-BORG-SECRET"), "{json}");
}

#[test]
fn live_failures_never_leak_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = d.join("repo");
    let repo = repo.to_str().unwrap();
    let good = d.join("good");
    std::fs::write(&good, "right-password\n").unwrap();
    let cache = d.join("cache");
    let cache = cache.to_str().unwrap();
    sh(
        "/usr/bin/restic",
        &[
            "init",
            "-q",
            "-r",
            repo,
            "--password-file",
            good.to_str().unwrap(),
        ],
        &[("RESTIC_CACHE_DIR", cache)],
    );
    let wrong = d.join("wrong");
    std::fs::write(&wrong, "FW-SECRET-MARKER-wrong-pw\n").unwrap();

    let mut restic = job("restic-wrong-password", BackupKind::Restic);
    restic.repository = Some(repo.into());
    restic.password_file = Some(wrong.clone());
    restic.env.insert("RESTIC_CACHE_DIR".into(), cache.into());

    let mut borg = job("borg-missing-repo", BackupKind::Borg);
    borg.repository = Some(d.join("no-such-repo").to_str().unwrap().into());
    borg.password_file = Some(wrong.clone());

    // A status command that echoes its secret environment on failure.
    let mut cmd = job("chatty-command", BackupKind::Command);
    cmd.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo \"auth failed for token $FW_TOKEN\" >&2; exit 3".into(),
    ]);
    cmd.env
        .insert("FW_TOKEN".into(), "FW-SECRET-MARKER-token".into());

    let (jobs, json) = run_backup(vec![restic, borg, cmd]);
    for j in &jobs {
        assert!(j.error.is_some(), "{json}");
        assert_eq!(j.last_result, BackupResult::Unknown);
    }
    assert!(
        jobs[0].error.as_ref().unwrap().contains("wrong password"),
        "{json}"
    );
    assert!(
        jobs[2].error.as_ref().unwrap().contains("token ***"),
        "{json}"
    );
    assert!(!json.contains("FW-SECRET-MARKER"), "{json}");
}

#[test]
fn live_marker_file_reports_its_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("backup.ok");
    std::fs::write(&marker, "").unwrap();
    let mtime = std::fs::metadata(&marker)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut m = job("marker-live", BackupKind::Marker);
    m.path = Some(marker);
    let mut missing = job("marker-missing", BackupKind::Marker);
    missing.path = Some(dir.path().join("never-touched"));
    let (jobs, json) = run_backup(vec![m, missing]);
    assert_eq!(jobs[0].last_success_at, Some(mtime), "{json}");
    assert_eq!(jobs[0].last_result, BackupResult::Success);
    assert!(
        jobs[1].error.as_ref().unwrap().contains("does not exist"),
        "{json}"
    );
}

/// This machine's host name as restic and borg record it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn live_restic_shared_repository_counts_only_this_hosts_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = small_tree(d);
    let repo = d.join("repo");
    let repo = repo.to_str().unwrap();
    let pw = d.join("password");
    std::fs::write(&pw, "FW-LIVE-RESTIC-SHARED-1\n").unwrap();
    let pw = pw.to_str().unwrap();
    let cache = d.join("cache");
    let env = [("RESTIC_CACHE_DIR", cache.to_str().unwrap())];
    sh(
        "/usr/bin/restic",
        &["init", "-q", "-r", repo, "--password-file", pw],
        &env,
    );
    let r = ["-q", "-r", repo, "--password-file", pw];
    let mine_before = now();
    sh(
        "/usr/bin/restic",
        &[&["backup"], &r[..], &["--tag", "nightly", &data]].concat(),
        &env,
    );
    let mine_after = now();
    // restic keeps sub-second times: make the other host's clearly newer.
    std::thread::sleep(Duration::from_millis(2100));
    sh(
        "/usr/bin/restic",
        &[
            &["backup"],
            &r[..],
            &["--host", "other-host", "--tag", "db", &data],
        ]
        .concat(),
        &env,
    );

    let mut mine = job("restic-mine", BackupKind::Restic);
    mine.repository = Some(repo.into());
    mine.password_file = Some(pw.into());
    mine.cache_dir = Some(cache.clone());
    let mut other = mine.clone();
    other.name = "restic-other".into();
    other.host = Some("other-host".into());
    let mut tagged = mine.clone();
    tagged.name = "restic-db-any-host".into();
    tagged.host = Some(fleetwatch_agent::checks::backup::ANY_HOST.into());
    tagged.tags = vec!["db".into()];
    let mut nobody = mine.clone();
    nobody.name = "restic-nobody".into();
    nobody.host = Some("never-backed-up".into());
    let (jobs, json) = run_backup(vec![mine, other, tagged, nobody]);
    assert!(jobs.iter().all(|j| j.error.is_none()), "{json}");
    assert_eq!(jobs[0].snapshot_count, Some(1), "{json}");
    let t = jobs[0].last_success_at.unwrap();
    assert!(
        mine_before - 2 <= t && t <= mine_after + 1,
        "this host's snapshot {t} not in [{mine_before}, {mine_after}]: {json}"
    );
    assert!(jobs[1].last_success_at.unwrap() > t, "{json}");
    assert_eq!(jobs[2].snapshot_count, Some(1), "{json}");
    assert_eq!(jobs[2].last_success_at, jobs[1].last_success_at, "{json}");
    assert_eq!(jobs[3].snapshot_count, Some(0), "{json}");
    assert_eq!(jobs[3].last_success_at, None, "{json}");
    assert_eq!(jobs[3].last_result, BackupResult::Unknown, "{json}");
    // The size is this host's snapshot's (`stats latest --host`).
    assert!(jobs[0].size_bytes.unwrap() >= 10_000, "{json}");
}

#[test]
fn live_borg_shared_repository_counts_only_this_hosts_archives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = small_tree(d);
    let repo = d.join("repo");
    let repo = repo.to_str().unwrap();
    let pw = d.join("pass");
    std::fs::write(&pw, "FW-LIVE-BORG-SHARED-2\n").unwrap();
    let pw = pw.to_str().unwrap();
    let base = d.join("borg-base");
    let base = base.to_str().unwrap();
    let passcommand = format!("cat '{pw}'");
    let env = [
        ("BORG_PASSCOMMAND", passcommand.as_str()),
        ("BORG_BASE_DIR", base),
    ];
    sh("/usr/bin/borg", &["init", "-e", "repokey", repo], &env);
    let host = this_host();
    let before = now();
    sh(
        "/usr/bin/borg",
        &["create", &format!("{repo}::{host}-first"), &data],
        &env,
    );
    let after = now();
    std::thread::sleep(Duration::from_millis(1100));
    // Another host (its own UTS namespace) backs up later, once under a
    // name that looks like ours.
    for name in ["other-host-later", &format!("{host}-lookalike")] {
        let script = format!("hostname other-host && exec borg create '{repo}::{name}' '{data}'");
        sh("/usr/bin/unshare", &["-u", "sh", "-c", &script], &env);
    }

    let mut mine = job("borg-mine", BackupKind::Borg);
    mine.repository = Some(repo.into());
    mine.password_file = Some(pw.into());
    mine.env.insert("BORG_BASE_DIR".into(), base.into());
    let mut by_name_only = mine.clone();
    by_name_only.name = "borg-by-name-any-host".into();
    by_name_only.host = Some(fleetwatch_agent::checks::backup::ANY_HOST.into());
    by_name_only.archive_glob = Some("{hostname}-*".into());
    let mut both = mine.clone();
    both.name = "borg-host-and-name".into();
    both.archive_glob = Some("{hostname}-f*".into());
    let mut other = mine.clone();
    other.name = "borg-other".into();
    other.host = Some("other-host".into());
    let (jobs, json) = run_backup(vec![mine, by_name_only, both, other]);
    assert!(jobs.iter().all(|j| j.error.is_none()), "{json}");
    assert_eq!(jobs[0].snapshot_count, Some(1), "{json}");
    let t = jobs[0].last_success_at.unwrap();
    assert!(before - 2 <= t && t <= after + 1, "{t}: {json}");
    assert!(jobs[0].size_bytes.unwrap() >= 10_000, "{json}");
    // The glob alone lets the look-alike through: the host filter is the default.
    assert_eq!(jobs[1].snapshot_count, Some(2), "{json}");
    assert!(jobs[1].last_success_at.unwrap() > t, "{json}");
    assert_eq!(jobs[2].snapshot_count, Some(1), "{json}");
    assert_eq!(jobs[2].last_success_at, Some(t), "{json}");
    assert_eq!(jobs[3].snapshot_count, Some(2), "{json}");
    assert!(!json.contains("FW-LIVE-BORG-SHARED"), "{json}");
}

#[test]
fn live_status_command_arguments_never_leak_and_background_children_do_not_block() {
    let mut chatty = job("args-secret", BackupKind::Command);
    chatty.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo \"status API refused token $1\" >&2; exit 2".into(),
        "sh".into(),
        "FW-ARG-SECRET-token-5512".into(),
    ]);
    let mut daemonish = job("background-child", BackupKind::Command);
    daemonish.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "sleep 300 & echo '{\"result\":\"success\",\"last_success_at\":1700000000}'".into(),
    ]);
    daemonish.timeout_secs = Some(60);
    let started = std::time::Instant::now();
    let (jobs, json) = run_backup(vec![chatty, daemonish]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "collection waited {:?} for a background child",
        started.elapsed()
    );
    assert!(!json.contains("FW-ARG-SECRET"), "{json}");
    assert!(
        jobs[0]
            .error
            .as_ref()
            .unwrap()
            .contains("refused token ***"),
        "{json}"
    );
    assert_eq!(jobs[1].error, None, "{json}");
    assert_eq!(jobs[1].last_success_at, Some(1_700_000_000), "{json}");
}
