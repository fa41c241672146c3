//! restic and borg jobs under the shipped unit's sandbox
//! (`deploy/systemd/fleetwatch-agent.service`): the real agent binary
//! (`collect`) reads real repositories made in a temp dir.
//!
//! Where systemd runs the machine (PID 1, `/run/systemd/system`), the agent
//! runs through `systemd-run --wait --pipe` with the unit's own `[Service]`
//! properties. Where it does not (containers: this crate's CI container runs
//! a plain init as PID 1, so `systemd-run` has no manager to talk to), the
//! same file-system sandbox is built by hand: a private mount namespace with
//! every mount read-only (`ProtectSystem=strict`, which also covers
//! `ProtectHome=read-only`), only the state and cache directories writable,
//! fresh `/tmp` and `/var/tmp` (`PrivateTmp`), and the unit's capability
//! bounding set and `NoNewPrivileges` through `setpriv`. Both need root.

use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = include_str!("../../deploy/systemd/fleetwatch-agent.service");

/// The unit's `[Service]` settings, in order.
fn service_properties() -> Vec<(String, String)> {
    let mut in_service = false;
    let mut props = Vec::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').expect("key=value");
        props.push((k.to_string(), v.to_string()));
    }
    props
}

fn property(key: &str) -> String {
    service_properties()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("the unit sets {key}"))
        .1
}

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

fn systemd_is_pid1() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The hand-built sandbox: `writable` stay writable, everything else is
/// read-only, /tmp and /var/tmp are private, then `argv` runs with the
/// unit's capability bounding set and no new privileges.
fn emulated_unit(writable: &[&Path], env: &[(String, String)], argv: &[&str]) -> Command {
    assert_eq!(property("ProtectSystem"), "strict");
    assert_eq!(property("ProtectHome"), "read-only");
    assert_eq!(property("PrivateTmp"), "yes");
    assert_eq!(property("NoNewPrivileges"), "yes");
    let caps = property("CapabilityBoundingSet");
    let caps: Vec<String> = caps
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect();
    let script = r#"
set -e
n=$1; shift
i=0
while [ $i -lt "$n" ]; do mount --bind "$1" "$1"; keep="$keep|$1|"; shift; i=$((i+1)); done
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do
  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac
  case "$keep" in *"|$mp|"*) continue;; esac
  mount -o remount,bind,ro "$mp"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
exec "$@"
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(writable.len().to_string())
        .args(writable)
        .args(["setpriv", "--no-new-privs"])
        .arg(format!("--bounding-set=-all,{}", caps.join(",")))
        .args(["env", "-i"])
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .args(argv);
    cmd
}

/// `systemd-run` with the unit's `[Service]` properties (what only the
/// unit file itself can say is left out: how to start, restart, install).
fn systemd_unit(argv: &[&str]) -> Command {
    let mut cmd = Command::new("systemd-run");
    cmd.args(["--wait", "--pipe", "--collect", "--quiet"]);
    for (k, v) in service_properties() {
        if ["Type", "ExecStart", "Restart", "RestartSec"].contains(&k.as_str()) {
            continue;
        }
        cmd.arg("-p").arg(format!("{k}={v}"));
    }
    cmd.arg("--").args(argv);
    cmd
}

struct Repos {
    _dir: tempfile::TempDir,
    base: PathBuf,
}

/// A restic and a borg repository with one backup each, outside /tmp (the
/// sandbox's /tmp is private) and readable, as a local repository on a
/// server would be.
fn make_repos() -> Repos {
    let dir = tempfile::Builder::new()
        .prefix("hardened-unit-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let base = dir.path().to_path_buf();
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), vec![1u8; 20_000]).unwrap();
    let data = data.to_str().unwrap();
    let pw = base.join("repo.pass");
    std::fs::write(&pw, "FW-SANDBOX-SECRET-77\n").unwrap();
    let pw = pw.to_str().unwrap();
    let restic = base.join("restic");
    let restic = restic.to_str().unwrap();
    let setup_cache = base.join("setup-cache");
    let env = [
        ("RESTIC_CACHE_DIR", setup_cache.to_str().unwrap()),
        ("BORG_BASE_DIR", setup_cache.to_str().unwrap()),
        ("BORG_PASSPHRASE", "FW-SANDBOX-SECRET-77"),
    ];
    sh(
        "restic",
        &["init", "-q", "-r", restic, "--password-file", pw],
        &env,
    );
    sh(
        "restic",
        &["backup", "-q", "-r", restic, "--password-file", pw, data],
        &env,
    );
    let borg = base.join("borg");
    let borg = borg.to_str().unwrap();
    sh("borg", &["init", "-e", "repokey", borg], &env);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    sh(
        "borg",
        &["create", &format!("{borg}::{}-1", host.trim()), data],
        &env,
    );
    Repos { _dir: dir, base }
}

fn write_config(repos: &Repos, config_dir: &Path) -> PathBuf {
    let b = repos.base.display();
    let path = config_dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"[checks]
inventory = false
patches = false
password_policy = false
data_protection = false
backup = true

[[backup]]
name = "restic-local"
kind = "restic"
repository = "{b}/restic"
password_file = "{b}/repo.pass"

[[backup]]
name = "borg-local"
kind = "borg"
repository = "{b}/borg"
password_file = "{b}/repo.pass"
"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

fn assert_both_jobs_read(stdout: &[u8], stderr: &[u8]) {
    let text = String::from_utf8_lossy(stdout);
    assert!(
        !text.contains("FW-SANDBOX-SECRET"),
        "the password leaked: {text}"
    );
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(stderr)
        )
    });
    let jobs = report["checks"]["backup"]["data"]["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no backup jobs: {text}"));
    assert_eq!(jobs.len(), 2, "{text}");
    for job in jobs {
        assert!(job["error"].is_null(), "{job}");
        assert_eq!(job["snapshot_count"], 1, "{job}");
        assert!(job["last_success_at"].is_i64(), "{job}");
        assert!(job["size_bytes"].as_u64().unwrap() >= 20_000, "{job}");
    }
}

#[test]
fn restic_and_borg_jobs_work_under_the_hardened_unit() {
    let repos = make_repos();
    let agent = env!("CARGO_BIN_EXE_fleetwatch-agent");
    let config_dir = repos.base.join("etc");
    std::fs::create_dir(&config_dir).unwrap();
    let config = write_config(&repos, &config_dir);
    let config = config.to_str().unwrap();
    let output = if systemd_is_pid1() {
        // StateDirectory/CacheDirectory are the unit's own; XDG_CACHE_HOME
        // comes from its Environment= line.
        let argv = [agent, "collect", "--config", config];
        systemd_unit(&argv).output().unwrap()
    } else {
        let state = repos.base.join("state");
        let cache = repos.base.join("cache");
        std::fs::create_dir(&state).unwrap();
        std::fs::create_dir(&cache).unwrap();
        // The unit's Environment= lines, its cache directory standing in for
        // /var/cache/fleetwatch-agent; HOME is root's (read-only) home.
        assert!(UNIT.contains("Environment=XDG_CACHE_HOME=/var/cache/fleetwatch-agent"));
        let env = [
            ("HOME".to_string(), "/root".to_string()),
            ("LC_ALL".to_string(), "C".to_string()),
            ("XDG_CACHE_HOME".to_string(), cache.display().to_string()),
        ];
        // The sandbox bites: root's home and the repositories are read-only,
        // and borg without a writable cache and security dir refuses to run.
        let probe = emulated_unit(
            &[&state, &cache],
            &env,
            &[
                "sh",
                "-c",
                &format!(
                    "touch /root/.fw-probe 2>/dev/null && echo HOME-WRITABLE; touch {b}/borg/x 2>/dev/null && echo REPO-WRITABLE; BORG_PASSPHRASE=FW-SANDBOX-SECRET-77 borg list {b}/borg >/dev/null && echo BORG-RAN; true",
                    b = repos.base.display()
                ),
            ],
        )
        .output()
        .unwrap();
        assert!(probe.status.success(), "{probe:?}");
        assert_eq!(String::from_utf8_lossy(&probe.stdout), "", "{probe:?}");
        let why = String::from_utf8_lossy(&probe.stderr);
        assert!(why.contains("Read-only file system"), "{why}");
        let argv = [
            agent,
            "collect",
            "--config",
            config,
            "--state-dir",
            state.to_str().unwrap(),
        ];
        emulated_unit(&[&state, &cache], &env, &argv)
            .output()
            .unwrap()
    };
    assert!(output.status.success(), "{output:?}");
    assert_both_jobs_read(&output.stdout, &output.stderr);
}
