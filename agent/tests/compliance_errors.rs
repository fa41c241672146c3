//! How the compliance checks fail: a missing tool is `unsupported`, a hung
//! one is `failed` with the reason, a broken backup job is that job's
//! error only, and secrets in a tool's error output are scrubbed.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use fleetwatch_agent::checks::backup::{BackupCheck, BackupJobConfig, BackupKind};
use fleetwatch_agent::checks::password_policy::PasswordPolicyCheck;
use fleetwatch_agent::checks::patches::PatchCheck;
use fleetwatch_agent::checks::{CheckContext, run_check};
use fleetwatch_agent::host::{RecordedRunner, SysRoot};
use fleetwatch_protocol::CheckStatus;

fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn ctx<'a>(root: &'a SysRoot, runner: &'a RecordedRunner) -> CheckContext<'a> {
    CheckContext {
        root,
        runner,
        now: 1_795_334_400,
        command_timeout: Duration::from_secs(3),
    }
}

const APT: [&str; 5] = [
    "apt-get",
    "-s",
    "-o",
    "Debug::NoLocking=true",
    "dist-upgrade",
];

#[test]
fn missing_package_tool_is_unsupported() {
    for os in [
        "ID=debian\n",
        "ID=rocky\n",
        "ID=opensuse-leap\n",
        "ID=arch\n",
    ] {
        let dir = host(&[("/etc/os-release", os)]);
        let root = SysRoot::new(dir.path());
        let runner = RecordedRunner::new();
        let r = run_check(&PatchCheck, &ctx(&root, &runner));
        assert_eq!(r.status, CheckStatus::Unsupported, "{os}: {r:?}");
        assert!(r.error.unwrap().contains("installed"), "{os}");
    }
    let dir = host(&[("/etc/os-release", "ID=gentoo\n")]);
    let root = SysRoot::new(dir.path());
    let r = run_check(&PatchCheck, &ctx(&root, &RecordedRunner::new()));
    assert_eq!(r.status, CheckStatus::Unsupported);
}

#[test]
fn hung_package_tool_fails_with_the_reason() {
    let dir = host(&[("/etc/os-release", "ID=debian\n")]);
    let root = SysRoot::new(dir.path());
    let runner = RecordedRunner::new().with_timeout(&APT);
    let r = run_check(&PatchCheck, &ctx(&root, &runner));
    assert_eq!(r.status, CheckStatus::Failed);
    assert_eq!(
        r.error.as_deref(),
        Some("apt-get did not finish within 3s and was killed")
    );

    let dir = host(&[("/etc/os-release", "ID=rocky\n")]);
    let root = SysRoot::new(dir.path());
    let runner = RecordedRunner::new().with_timeout(&["dnf", "-C", "check-update"]);
    let r = run_check(&PatchCheck, &ctx(&root, &runner));
    assert_eq!(r.status, CheckStatus::Failed);
    assert!(r.error.unwrap().contains("dnf did not finish"));
}

#[test]
fn hung_needs_restarting_makes_the_reboot_state_unknown_not_false() {
    let dir = host(&[("/etc/os-release", "ID=rocky\n")]);
    let root = SysRoot::new(dir.path());
    let runner = RecordedRunner::new()
        .with(&["dnf", "-C", "check-update"], 0, "")
        .with_timeout(&["needs-restarting", "-r"]);
    let r = run_check(&PatchCheck, &ctx(&root, &runner));
    assert_eq!(r.status, CheckStatus::Ok, "{:?}", r.error);
    assert_eq!(r.data.unwrap().reboot_required_state(), None);
}

#[test]
fn failing_package_tool_is_failed_with_stderr() {
    let dir = host(&[("/etc/os-release", "ID=rocky\n")]);
    let root = SysRoot::new(dir.path());
    let runner = RecordedRunner::new().with(&["dnf", "-C", "check-update"], 1, "");
    let r = run_check(&PatchCheck, &ctx(&root, &runner));
    assert_eq!(r.status, CheckStatus::Failed);
    assert!(
        r.error
            .unwrap()
            .starts_with("dnf -C check-update exited with 1")
    );
}

#[test]
fn pending_list_is_capped_at_200() {
    let mut out = String::from("Reading package lists...\n");
    for i in 0..250 {
        out.push_str(&format!(
            "Inst pkg{i:03} [1.0-1] (1.0-2 Debian:12.8/stable [amd64])\n"
        ));
    }
    let dir = host(&[("/etc/os-release", "ID=debian\n")]);
    let root = SysRoot::new(dir.path());
    let runner = RecordedRunner::new().with(&APT, 0, &out);
    let r = run_check(&PatchCheck, &ctx(&root, &runner));
    let p = r.data.unwrap();
    assert_eq!(p.pending_total, 250);
    assert_eq!(p.pending.len(), 200);
    assert!(p.pending_truncated);
}

#[test]
fn one_broken_job_does_not_fail_the_others_and_secrets_are_scrubbed() {
    let dir = host(&[
        ("/etc/fleetwatch/restic.pass", "S3CRET-in-password-file\n"),
        ("/var/backups/ok", ""),
    ]);
    let root = SysRoot::new(dir.path());
    // A (contrived) tool that echoes the password and a URL credential.
    let runner_dir = host(&[(
        "commands.toml",
        r#"
[[command]]
argv = ["restic", "snapshots", "--json", "--no-lock", "-r", "rest:https://backup:hunter22@backup.example/host", "--password-file", "/etc/fleetwatch/restic.pass", "--host", "vm"]
exit = 1
stderr = "Fatal: rest:https://backup:hunter22@backup.example/host rejected password S3CRET-in-password-file\n"
"#,
    )]);
    let runner = RecordedRunner::from_dir(runner_dir.path()).unwrap();
    let jobs: Vec<BackupJobConfig> = vec![
        BackupJobConfig {
            name: "offsite".into(),
            kind: BackupKind::Restic,
            repository: Some("rest:https://backup:hunter22@backup.example/host".into()),
            password_file: Some("/etc/fleetwatch/restic.pass".into()),
            env: [(
                "AWS_SECRET_ACCESS_KEY".to_string(),
                "AKIA-SECRET-KEY".to_string(),
            )]
            .into(),
            path: None,
            command: None,
            timeout_secs: None,
            host: Some("vm".into()),
            ..BackupJobConfig::new("", BackupKind::Marker)
        },
        BackupJobConfig {
            name: "local".into(),
            kind: BackupKind::Marker,
            repository: None,
            password_file: None,
            env: Default::default(),
            path: Some("/var/backups/ok".into()),
            command: None,
            timeout_secs: None,
            ..BackupJobConfig::new("", BackupKind::Marker)
        },
    ];
    let r = run_check(&BackupCheck::new(jobs), &ctx(&root, &runner));
    assert_eq!(r.status, CheckStatus::Ok);
    let json = serde_json::to_string(&r).unwrap();
    for secret in ["S3CRET", "hunter22", "AKIA-SECRET-KEY"] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    let jobs = r.data.unwrap().jobs;
    assert!(
        jobs[0]
            .error
            .as_ref()
            .unwrap()
            .contains("rejected password ***")
    );
    assert!(jobs[1].error.is_none() && jobs[1].last_success_at.is_some());
}

#[test]
fn no_jobs_is_unsupported() {
    let root = SysRoot::new(Path::new("/nonexistent"));
    let r = run_check(
        &BackupCheck::new(Vec::new()),
        &ctx(&root, &RecordedRunner::new()),
    );
    assert_eq!(r.status, CheckStatus::Unsupported);
}

#[test]
fn policy_without_any_config_is_unsupported_and_partial_config_is_reported() {
    let root = SysRoot::new(Path::new("/nonexistent"));
    let r = run_check(&PasswordPolicyCheck, &ctx(&root, &RecordedRunner::new()));
    assert_eq!(r.status, CheckStatus::Unsupported);

    // Garbage everywhere: still a section, never a failure.
    let dir = host(&[
        (
            "/etc/login.defs",
            "\u{0}\u{1}PASS_MAX_DAYS\nPASS_MAX_DAYS 12 13\n####\n",
        ),
        (
            "/etc/pam.d/common-password",
            "password [ pam_pwquality.so minlen=x\n\u{fffd}\n",
        ),
        ("/etc/shadow", "::::::\nroot\n:x:\n"),
    ]);
    let root = SysRoot::new(dir.path());
    let r = run_check(&PasswordPolicyCheck, &ctx(&root, &RecordedRunner::new()));
    assert_eq!(r.status, CheckStatus::Ok, "{r:?}");
    assert_eq!(r.data.unwrap().settings.max_days, Some(12));
}
