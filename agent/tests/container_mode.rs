//! Container mode (`root = "/host"`): commands run against the host root
//! (through `chroot`), never the container's own tools; without the right
//! to chroot, the checks that need commands are `unsupported` with the
//! reason. Uses a fixture root holding its own `sh`, `true` and `rpm`
//! (the real dash and its libraries, and scripts), and the real `chroot`
//! and `setpriv` (util-linux).
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleetwatch_agent::config::{Overrides, build, parse};
use fleetwatch_agent::report::ReportBuilder;
use fleetwatch_protocol::CheckStatus;

/// Copies `file` into `root` at the same path.
fn copy_in(root: &Path, file: &Path) {
    let target = root.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(file, &target).unwrap();
}

fn script(root: &Path, path: &str, body: &str) {
    let target = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A host root that can run shell scripts: dash as /bin/sh with the
/// libraries `ldd` names, and `true`.
fn runnable_root(dir: &Path, os_id: &str) -> PathBuf {
    let root = dir.join("host");
    let dash = Path::new("/bin/dash");
    copy_in(&root, dash);
    std::fs::rename(root.join("bin/dash"), root.join("bin/sh")).unwrap();
    let ldd = Command::new("ldd").arg(dash).output().expect("run ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        copy_in(&root, Path::new(lib));
    }
    script(&root, "/bin/true", "exit 0");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        format!("ID={os_id}\nVERSION_ID=\"9\"\nPRETTY_NAME=\"fixture\"\n"),
    )
    .unwrap();
    std::fs::write(root.join("etc/hostname"), "container-host\n").unwrap();
    root
}

const INVENTORY_ONLY: &str =
    "[checks]\npatches = false\nbackup = false\npassword_policy = false\ndata_protection = false\n";

#[test]
fn commands_run_with_the_host_roots_tools_not_the_containers() {
    let dir = tempfile::tempdir().unwrap();
    let root = runnable_root(dir.path(), "rocky");
    std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
    // The host's rpm: only a chroot into the root runs this one.
    script(
        &root,
        "/usr/bin/rpm",
        "printf 'host-only-package\\t2:1.0-1.el9\\tx86_64\\n'",
    );
    let cfg = build(
        parse(INVENTORY_ONLY, Path::new("agent.toml")).unwrap(),
        &Overrides {
            root: Some(root.clone()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let report = ReportBuilder::from_config(&cfg).collect("d", None);
    assert_eq!(
        report.inventory.status,
        CheckStatus::Ok,
        "{:?}",
        report.inventory.error
    );
    let packages = report.inventory.data().unwrap().packages.clone().unwrap();
    assert_eq!(packages.manager, "rpm");
    let names: Vec<_> = packages
        .items
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(
        names,
        [("host-only-package".to_string(), "2:1.0-1.el9".to_string())]
    );
}

#[test]
fn without_the_right_to_chroot_command_checks_are_unsupported_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = runnable_root(dir.path(), "debian");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n\n",
    )
    .unwrap();
    // A marker job needs no command; a restic job does.
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[checks]\npassword_policy = false\n\n[[backup]]\nname = \"files\"\nkind = \"restic\"\nrepository = \"/srv/restic\"\npassword_file = \"/etc/restic.pw\"\n",
    )
    .unwrap();
    // util-linux's setpriv drops CAP_SYS_CHROOT for the agent and its children.
    let out = Command::new("setpriv")
        .args([
            "--bounding-set",
            "-sys_chroot",
            "--inh-caps",
            "-sys_chroot",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_fleetwatch-agent"))
        .args(["collect", "--config"])
        .arg(&config)
        .arg("--root")
        .arg(&root)
        .output()
        .expect("run setpriv (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for section in ["patches", "data_protection", "backup"] {
        let result = &report["checks"][section];
        assert_eq!(result["status"], "unsupported", "{section}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("container mode") && error.contains("CAP_SYS_CHROOT"),
            "{section}: {error}"
        );
    }
    // File-based facts are still the host's.
    assert_eq!(report["inventory"]["status"], "ok");
    assert_eq!(report["inventory"]["data"]["packages"]["count"], 1);
}
