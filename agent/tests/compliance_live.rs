//! The compliance checks against this real machine: its apt state, and
//! real restic and borg repositories made in a temp dir. restic and borg
//! must be installed (`/usr/bin`); these tests fail, never skip, without them.

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
